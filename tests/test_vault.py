"""vault.Vault: Fernet encryption of credentials with key rotation, and mask()."""
from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from vault import Vault, VaultError, mask

PLAINTEXT = "api-secret-ABCDEF123456"


def key() -> str:
    return Fernet.generate_key().decode()


def test_round_trip():
    vault = Vault((key(),))
    assert vault.decrypt(vault.encrypt(PLAINTEXT)) == PLAINTEXT


def test_token_differs_from_plaintext_and_between_encryptions():
    vault = Vault((key(),))
    first, second = vault.encrypt(PLAINTEXT), vault.encrypt(PLAINTEXT)
    assert PLAINTEXT not in first
    assert first != second


def test_token_from_an_old_key_decrypts_after_rotation():
    old, new = key(), key()
    token = Vault((old,)).encrypt(PLAINTEXT)
    assert Vault((new, old)).decrypt(token) == PLAINTEXT


def test_new_tokens_use_the_first_key():
    old, new = key(), key()
    token = Vault((new, old)).encrypt(PLAINTEXT)
    assert Vault((new,)).decrypt(token) == PLAINTEXT
    with pytest.raises(VaultError):
        Vault((old,)).decrypt(token)


def test_token_from_an_unknown_key_raises_vault_error_without_token_or_plaintext():
    token = Vault((key(),)).encrypt(PLAINTEXT)
    with pytest.raises(VaultError) as raised:
        Vault((key(),)).decrypt(token)
    assert token not in str(raised.value) and PLAINTEXT not in str(raised.value)
    assert raised.value.__suppress_context__


def test_garbage_token_raises_vault_error():
    with pytest.raises(VaultError):
        Vault((key(),)).decrypt("not-a-token")


def test_repr_hides_keys():
    secret = key()
    vault = Vault((secret,))
    assert secret not in repr(vault) and secret not in str(vault)
    assert repr(vault) == "Vault(<keys hidden>)"


def test_vault_needs_a_key():
    with pytest.raises(ValueError):
        Vault(())


def test_mask_shows_only_the_tail():
    assert mask("7LFx") == "...7LFx"
