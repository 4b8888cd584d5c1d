"""Bybit and OKX fixtures: the real job context pointed at their fake servers (tests/conftest.py),
and a `venue` that opens accounts on either exchange (live or testnet) the way its fake expects."""
from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from decimal import Decimal

import pytest

import migrations
import models
from exchanges import Credentials
from models import ApiKey, Bot
from workers import market_data, strategies
from workers.context import context


@dataclass
class Venue:
    """One exchange under test: its id, its fake, and the paths of its order endpoints."""

    exchange: str
    fake: object
    create_path: str
    lookup_path: str

    def account(self, usdt="10000", testnet=False, can_withdraw=False, **traits) -> Credentials:
        """A new account on the fake; its credentials as the owner would paste them."""
        api_key, secret = "k" + secrets.token_hex(12), secrets.token_hex(24)
        passphrase = "Pp-" + secrets.token_hex(6) if self.exchange == "okx" else None
        self.fake.add_account(api_key, secret, {"USDT": usdt}, can_withdraw=can_withdraw, testnet=testnet,
                              passphrase=passphrase, **traits)
        return Credentials(api_key, secret, passphrase, testnet)

    def order_requests(self) -> list[dict]:
        return [r for r in self.fake.requests() if r["path"] == self.create_path]


VENUES = {
    "bybit": lambda fakes: Venue("bybit", fakes["bybit"], "/v5/order/create", "/v5/order/realtime"),
    "okx": lambda fakes: Venue("okx", fakes["okx"], "/api/v5/trade/order", "/api/v5/trade/order"),
}


@pytest.fixture(params=sorted(VENUES))
def venue(request, fake_bybit, fake_okx) -> Venue:
    """Each test that asks for it runs once against Bybit and once against OKX."""
    return VENUES[request.param]({"bybit": fake_bybit, "okx": fake_okx})


@pytest.fixture
def db_url(request):
    """SQLite unless a test parametrizes it (indirect) with "postgres" too."""
    return request.getfixturevalue(f"{getattr(request, 'param', 'sqlite')}_url")


@pytest.fixture
def ctx(monkeypatch, db_url, redis_url, fernet_keys, fake_bybit, fake_okx):
    """A job context bound to a fresh database, the test Redis and both fakes (1 s timeout)."""
    overrides = {"bybit": {**fake_bybit.ccxt_overrides(), "timeout": 1000},
                 "okx": {**fake_okx.ccxt_overrides(), "timeout": 1000}}
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("FERNET_KEYS", fernet_keys)
    monkeypatch.setenv("EXCHANGE_OVERRIDES", json.dumps(overrides))
    context.cache_clear()
    job_context = context()
    migrations.apply_migrations(models.db.obj)
    yield job_context
    models.db.close()
    context.cache_clear()


def store_key(ctx, user, exchange: str, credentials: Credentials) -> ApiKey:
    return ApiKey.create(
        user=user, exchange=exchange, api_key_token=ctx.vault.encrypt(credentials.api_key),
        secret_token=ctx.vault.encrypt(credentials.secret),
        passphrase_token=ctx.vault.encrypt(credentials.passphrase) if credentials.passphrase else None,
        key_tail=credentials.api_key[-4:], testnet=credentials.testnet,
    )


def make_bot(user, key: ApiKey | None, exchange: str, symbol="BTC/USDT", capital="100", **params) -> Bot:
    full = strategies.validate("dip", params)
    mode = "paper" if key is None else "testnet" if key.testnet else "live"
    return Bot.create(
        user=user, api_key=key, name=f"{exchange}-{user.id}", exchange=exchange, symbol=symbol, mode=mode,
        capital=Decimal(capital), strategy="dip", params={k: str(v) for k, v in full.items()},
        timeframe=str(full["timeframe"]), status="running",
    )


def see_price(ctx, venue: Venue, symbol: str, price: str, tick: int = 1, testnet: bool = False) -> None:
    """Set the fake's market and let the shared cache see it, as a tick would."""
    venue.fake.set_history(symbol, [price] * 40)
    venue.fake.set_price(symbol, price)
    market_data.closes_and_price(ctx, venue.exchange, symbol, "1m", 20, tick, testnet)
