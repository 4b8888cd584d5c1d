"""Key rotation: re-encrypts every stored exchange credential under the first of FERNET_KEYS.

1. Put a new key first in FERNET_KEYS and keep the old ones after it; restart the processes.
2. Run `python rotate_keys.py` (any time, as often as you like: it is idempotent and safe while
   the service runs; each key row is rewritten only if nobody changed it meanwhile).
3. When it reports every credential readable with the first key alone, drop the old keys.
"""
from __future__ import annotations

import sys

from cryptography.fernet import Fernet, InvalidToken

import models
import settings as settings_module
from models import ApiKey
from vault import Vault, VaultError

TOKEN_FIELDS = ("api_key_token", "secret_token", "passphrase_token")


def rotate_all(vault: Vault) -> dict:
    """{"keys", "rotated", "unreadable": [key ids]}: rotated counts the rows rewritten."""
    rotated, unreadable, total = 0, [], 0
    for key in ApiKey.select().order_by(ApiKey.id).iterator():
        total += 1
        old = {name: getattr(key, name) for name in TOKEN_FIELDS}
        try:
            new = {name: vault.rotate(token) if token else token for name, token in old.items()}
        except VaultError:
            unreadable.append(key.id)
            continue
        unchanged = [getattr(ApiKey, name) == token if token else getattr(ApiKey, name).is_null()
                     for name, token in old.items()]
        condition = ApiKey.id == key.id
        for clause in unchanged:
            condition &= clause
        rotated += ApiKey.update(**new).where(condition).execute()
    return {"keys": total, "rotated": rotated, "unreadable": unreadable}


def readable_with_first_key(first_key: str) -> list[int]:
    """Ids of key rows the first key alone cannot decrypt (they still need an older key)."""
    fernet, stale = Fernet(first_key.encode()), []
    for key in ApiKey.select().order_by(ApiKey.id).iterator():
        try:
            for name in TOKEN_FIELDS:
                token = getattr(key, name)
                if token:
                    fernet.decrypt(token.encode())
        except InvalidToken:
            stale.append(key.id)
    return stale


def main() -> int:
    try:
        config = settings_module.load()
        keys = config.require_fernet_keys()
    except settings_module.SettingsError as error:
        print(f"rotate_keys: {error}", file=sys.stderr)
        return 2
    models.connect(config.database_url)
    result = rotate_all(Vault(keys))
    stale = readable_with_first_key(keys[0])
    print(f"rotate_keys: {result['keys']} stored key(s), {result['rotated']} re-encrypted under the first key")
    if result["unreadable"]:
        print(f"rotate_keys: key id(s) {result['unreadable']} cannot be decrypted with any of FERNET_KEYS; "
              "keep the key that made them, or ask their owners to add them again", file=sys.stderr)
    if stale:
        print(f"rotate_keys: key id(s) {stale} still need an older key; run again before dropping it", file=sys.stderr)
        return 1
    print("rotate_keys: every stored credential reads with the first key alone: the others can be removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
