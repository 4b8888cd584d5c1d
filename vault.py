"""Encrypts and decrypts exchange credentials with FERNET_KEYS (MultiFernet).

The first key encrypts, every key decrypts, so keys can be rotated by putting a new one first.
Plaintext credentials live only in memory: inside a worker job, or while /addkey checks them.
"""
from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class VaultError(Exception):
    """A stored token could not be decrypted with any configured key."""


class Vault:
    def __init__(self, keys: tuple[str, ...]):
        if not keys:
            raise ValueError("the vault needs at least one Fernet key")
        self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise VaultError("a stored credential cannot be decrypted with FERNET_KEYS") from None

    def rotate(self, token: str) -> str:
        """The same secret encrypted under the first key (MultiFernet.rotate: nothing in clear leaves here)."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken:
            raise VaultError("a stored credential cannot be decrypted with FERNET_KEYS") from None

    def __repr__(self) -> str:  # never show key material, even in a debugger or traceback
        return "Vault(<keys hidden>)"


def mask(key_tail: str) -> str:
    """The only form in which an API key is ever shown: its last four characters."""
    return f"...{key_tail}"
