"""Key rotation end to end: rotate under a new first key, drop the old key, bots still trade."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet

from models import ApiKey, Fill
from tests.harness import PROJECT_DIR
from tests.workers.conftest import act_for, make_bot, make_key, make_user, see_price
from vault import Vault, VaultError
from workers.context import context


def rotate(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "rotate_keys.py"], cwd=PROJECT_DIR, env=env, capture_output=True,
                          text=True, timeout=60)


def test_rotated_keys_trade_after_the_old_fernet_key_is_removed(ctx, fake_binance, monkeypatch, fernet_keys):
    old, new = fernet_keys, Fernet.generate_key().decode()
    user = make_user()
    key, api_key, secret = make_key(ctx, fake_binance, user)
    bot = make_bot(user, key)
    before = ApiKey.get_by_id(key.id)

    result = rotate({**os.environ, "FERNET_KEYS": f"{new},{old}"})
    assert result.returncode == 0, result.stderr
    assert "1 re-encrypted" in result.stdout and "can be removed" in result.stdout
    assert api_key not in result.stdout + result.stderr and secret not in result.stdout + result.stderr

    after = ApiKey.get_by_id(key.id)
    assert after.secret_token != before.secret_token
    with pytest.raises(VaultError):
        Vault((old,)).decrypt(after.secret_token)
    assert Vault((new,)).decrypt(after.secret_token) == secret

    monkeypatch.setenv("FERNET_KEYS", new)  # the old key is gone from every process
    context.cache_clear()
    fresh = context()
    see_price(fresh, fake_binance, "BTC/USDT", "59500")
    assert act_for(bot, "buy")["booked"] == 1
    assert [o["side"] for o in fake_binance.orders(api_key)] == ["BUY"]
    assert Fill.select().where(Fill.bot == bot).count() == 1


def test_rotation_without_the_old_key_changes_nothing_and_says_so(ctx, fake_binance, fernet_keys):
    user = make_user()
    key, _, _ = make_key(ctx, fake_binance, user)
    before = ApiKey.get_by_id(key.id).secret_token

    result = rotate({**os.environ, "FERNET_KEYS": Fernet.generate_key().decode()})

    assert result.returncode == 1 and f"[{key.id}]" in result.stderr
    assert ApiKey.get_by_id(key.id).secret_token == before


def test_rotating_twice_is_harmless(ctx, fake_binance, fernet_keys):
    user = make_user()
    make_key(ctx, fake_binance, user)
    env = {**os.environ, "FERNET_KEYS": f"{Fernet.generate_key().decode()},{fernet_keys}"}
    assert rotate(env).returncode == 0
    assert rotate(env).returncode == 0
