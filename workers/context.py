"""The per-process things jobs need: settings, database, Redis, gateway, vault.

Built once per process on first use, so RQ job functions can take plain ids and still
reuse one database connection, one Redis pool and one set of loaded markets.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import redis

import models
import settings as settings_module
from vault import Vault
from exchanges import Gateway
from workers.claims import ClaimKeeper, claim_ttl_ms

MARKET_QUEUE = "market"  # one evaluation job per market and tick
TRADE_QUEUE = "trades"  # act jobs: a chunk of one market's bots that must act
REPORT_QUEUE = "reports"  # on-demand work for chat commands (balances)
# Order is priority. A market evaluation is one job per market and must never wait behind a
# burst of trades (a dip that fires thousands of bots), or every bot on the other markets
# lags; a user's /balance comes next; trades drain the rest of the time.
QUEUES = (MARKET_QUEUE, REPORT_QUEUE, TRADE_QUEUE)


@dataclass
class Context:
    settings: settings_module.Settings
    redis: redis.Redis
    gateway: Gateway
    vault: Vault
    claims: ClaimKeeper


def redis_from_url(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, health_check_interval=30)


@functools.lru_cache(maxsize=1)
def context() -> Context:
    config = settings_module.load()
    models.connect(config.database_url)
    connection = redis_from_url(config.require_redis_url())
    return Context(
        settings=config,
        redis=connection,
        gateway=Gateway(config.exchange_overrides),
        vault=Vault(config.require_fernet_keys()),
        claims=ClaimKeeper(connection, claim_ttl_ms(config.tick_seconds)),
    )
