"""The shared market data cache: one candle fetch per market and tick, prices for everyone.

The evaluation job of a market is the only caller of the exchange's public candle endpoint;
it publishes the latest price here so trade jobs and /status read it without another call.
"""
from __future__ import annotations

import json
import time
from decimal import Decimal

PRICE_TTL_SECONDS = 300


def _price_key(exchange: str, symbol: str) -> str:
    return f"botfleet:price:{exchange}:{symbol}"


def _candles_key(exchange: str, symbol: str, timeframe: str) -> str:
    return f"botfleet:candles:{exchange}:{symbol}:{timeframe}"


def closes_and_price(ctx, exchange: str, symbol: str, timeframe: str, limit: int, tick: int):
    """(closed candle closes, latest price) for a market, fetched at most once per tick."""
    key = _candles_key(exchange, symbol, timeframe)
    cached = ctx.redis.get(key)
    if cached:
        data = json.loads(cached)
        if data["tick"] == tick and data["limit"] >= limit:
            closes = [Decimal(c) for c in data["closes"]]
            return closes[-limit:], Decimal(data["price"])
    rows = ctx.gateway.candles(exchange, symbol, timeframe, limit + 1)
    closes, price = [row[4] for row in rows[:-1]], rows[-1][4]
    payload = {"tick": tick, "limit": limit, "closes": [str(c) for c in closes], "price": str(price)}
    pipe = ctx.redis.pipeline()
    pipe.set(key, json.dumps(payload), ex=PRICE_TTL_SECONDS)
    pipe.hset(_price_key(exchange, symbol), mapping={"price": str(price), "at": time.time()})
    pipe.expire(_price_key(exchange, symbol), PRICE_TTL_SECONDS)
    pipe.execute()
    return closes, price


def last_price(redis_client, exchange: str, symbol: str) -> tuple[Decimal, float] | None:
    """(price, unix time it was seen) or None when no tick has seen this market lately."""
    data = redis_client.hgetall(_price_key(exchange, symbol))
    if not data:
        return None
    return Decimal(data[b"price"].decode()), float(data[b"at"])
