"""The shared market data cache: one fetch per venue, market and tick, whatever the bot count.

A venue is an exchange and its network (a testnet trades on its own prices and rules). The
evaluation job of a market is the only caller of the public candle endpoint and publishes the
latest price here; an order book is fetched at most once per market and tick, on first need.
"""
from __future__ import annotations

import json
import time
from decimal import Decimal

from exchanges import GatewayError, MarketRules

PRICE_TTL_SECONDS = 300
PRICE_MAX_AGE_SECONDS = 120
CONVERSION_TTL_SECONDS = 60


def venue(exchange: str, testnet: bool) -> str:
    return f"{exchange}:testnet" if testnet else exchange


def _price_key(venue_name: str, symbol: str) -> str:
    return f"botfleet:price:{venue_name}:{symbol}"


def closes_and_price(ctx, exchange: str, symbol: str, timeframe: str, limit: int, tick: int, testnet: bool = False):
    """(closed candle closes, latest price) for a market, fetched at most once per tick."""
    name = venue(exchange, testnet)
    key = f"botfleet:candles:{name}:{symbol}:{timeframe}"
    cached = ctx.redis.get(key)
    if cached:
        data = json.loads(cached)
        if data["tick"] == tick and data["limit"] >= limit:
            closes = [Decimal(c) for c in data["closes"]]
            return closes[-limit:], Decimal(data["price"])
    rows = ctx.gateway.candles(exchange, symbol, timeframe, limit + 1, testnet)
    closes, price = [row[4] for row in rows[:-1]], rows[-1][4]
    payload = {"tick": tick, "limit": limit, "closes": [str(c) for c in closes], "price": str(price)}
    pipe = ctx.redis.pipeline()
    pipe.set(key, json.dumps(payload), ex=PRICE_TTL_SECONDS)
    pipe.hset(_price_key(name, symbol), mapping={"price": str(price), "at": time.time()})
    pipe.expire(_price_key(name, symbol), PRICE_TTL_SECONDS)
    pipe.execute()
    return closes, price


def last_price(redis_client, exchange: str, symbol: str, testnet: bool = False) -> tuple[Decimal, float] | None:
    """(price, unix time it was seen) or None when no tick has seen this market lately."""
    data = redis_client.hgetall(_price_key(venue(exchange, testnet), symbol))
    if not data:
        return None
    return Decimal(data[b"price"].decode()), float(data[b"at"])


def order_book(ctx, exchange: str, symbol: str, tick: int, testnet: bool = False):
    """(bids, asks) of a market, fetched at most once per tick and shared by every worker."""
    key = f"botfleet:book:{venue(exchange, testnet)}:{symbol}"
    cached = ctx.redis.get(key)
    if cached:
        data = json.loads(cached)
        if data["tick"] >= tick:
            return ([(Decimal(p), Decimal(a)) for p, a in data["bids"]],
                    [(Decimal(p), Decimal(a)) for p, a in data["asks"]])
    bids, asks = ctx.gateway.order_book(exchange, symbol, testnet=testnet)
    payload = {"tick": tick, "bids": [[str(p), str(a)] for p, a in bids], "asks": [[str(p), str(a)] for p, a in asks]}
    ctx.redis.set(key, json.dumps(payload), ex=PRICE_TTL_SECONDS)
    return bids, asks


def conversion_price(ctx, exchange: str, asset: str, quote: str, testnet: bool = False) -> Decimal | None:
    """The price of `asset` in `quote` (to value a fee paid in a third asset), cached a minute."""
    symbol = f"{asset}/{quote}"
    seen = last_price(ctx.redis, exchange, symbol, testnet)
    if seen is not None and time.time() - seen[1] <= CONVERSION_TTL_SECONDS:
        return seen[0]
    try:
        candles = ctx.gateway.candles(exchange, symbol, "1m", 1, testnet)
    except GatewayError:
        return None
    if not candles:
        return None
    price = candles[-1][4]
    name = venue(exchange, testnet)
    ctx.redis.hset(_price_key(name, symbol), mapping={"price": str(price), "at": time.time()})
    ctx.redis.expire(_price_key(name, symbol), PRICE_TTL_SECONDS)
    return price


class MarketView:
    """What the paper exchange and order sizing read of one venue during one job: each market's
    rules, book and price are read once per job, however many orders use them."""

    def __init__(self, ctx, exchange: str, testnet: bool, tick: int):
        self.ctx, self.exchange, self.testnet, self.tick = ctx, exchange, testnet, tick
        self._books: dict[str, tuple] = {}
        self._prices: dict[str, Decimal | None] = {}
        self._rules: dict[str, MarketRules] = {}

    def rules(self, symbol: str) -> MarketRules:
        if symbol not in self._rules:
            self._rules[symbol] = self.ctx.gateway.market_rules(self.exchange, symbol, self.testnet)
        return self._rules[symbol]

    def book(self, symbol: str):
        if symbol not in self._books:
            self._books[symbol] = order_book(self.ctx, self.exchange, symbol, self.tick, self.testnet)
        return self._books[symbol]

    def price(self, symbol: str) -> Decimal | None:
        if symbol not in self._prices:
            seen = last_price(self.ctx.redis, self.exchange, symbol, self.testnet)
            fresh = seen is not None and time.time() - seen[1] <= PRICE_MAX_AGE_SECONDS
            self._prices[symbol] = seen[0] if fresh else None
        return self._prices[symbol]
