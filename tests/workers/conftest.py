"""Worker-side fixtures: the real job context (database, Redis, gateway, vault) in this process."""
from __future__ import annotations

import itertools
import json
import secrets
from decimal import Decimal

import pytest

import migrations
import models
from models import ApiKey, Bot, User
from workers import market_data, strategies
from workers.context import context

_chats = itertools.count(900001)


@pytest.fixture
def ctx(monkeypatch, database_url, redis_url, fernet_keys, fake_binance):
    """A job context bound to a fresh database, the test Redis and the fake exchange (1 s timeout)."""
    overrides = fake_binance.ccxt_overrides()
    overrides["timeout"] = 1000
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("FERNET_KEYS", fernet_keys)
    monkeypatch.setenv("EXCHANGE_OVERRIDES", json.dumps({"binance": overrides}))
    context.cache_clear()
    job_context = context()
    migrations.apply_migrations(models.db.obj)
    yield job_context
    models.db.close()
    context.cache_clear()


def make_user() -> User:
    chat = next(_chats)
    return User.create(chat_id=chat, name=f"user {chat}")


def make_key(ctx, fake_binance, user: User, usdt="10000") -> tuple[ApiKey, str, str]:
    api_key, secret = "k" + secrets.token_hex(16), secrets.token_hex(32)
    fake_binance.add_account(api_key, secret, {"USDT": usdt})
    key = ApiKey.create(
        user=user, exchange="binance", api_key_token=ctx.vault.encrypt(api_key),
        secret_token=ctx.vault.encrypt(secret), key_tail=api_key[-4:],
    )
    return key, api_key, secret


def make_bot(user: User, key: ApiKey | None, symbol="BTC/USDT", capital="100", status="running", **params) -> Bot:
    full = strategies.validate("dip", params)
    return Bot.create(
        user=user, api_key=key, name=f"bot-{user.id}", exchange="binance", symbol=symbol,
        mode="paper" if key is None else "live", capital=Decimal(capital), strategy="dip",
        params={k: str(v) for k, v in full.items()}, timeframe=str(full["timeframe"]), status=status,
    )


def act_for(bot: Bot, action: str = "settle", quote: str | None = None, tick: int = 1, version: int | None = None,
            price: str | None = None) -> dict:
    """Run the act job in this process for one bot, as a tick that decided `action` would."""
    from workers.trading import act

    fresh = Bot.get_by_id(bot.id)
    item = [bot.id, action, quote, fresh.version if version is None else version]
    if price is not None:
        item.append(price)
    return act(fresh.exchange, fresh.mode == "testnet", tick, [item])


def see_price(ctx, fake_binance, symbol: str, price: str, history: str | None = None, tick: int = 1) -> None:
    """Set the fake's market and let the shared cache see it, as a tick would."""
    fake_binance.set_history(symbol, [history or price] * 40)
    fake_binance.set_price(symbol, price)
    market_data.closes_and_price(ctx, "binance", symbol, "1m", 20, tick)
