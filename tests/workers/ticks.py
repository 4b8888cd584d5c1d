"""Helpers for strategy tests: a tick of one market, evaluated and acted on by a real RQ worker."""
from __future__ import annotations

import time

from rq import Queue, SimpleWorker

from workers.context import TRADE_QUEUE
from workers.evaluation import evaluate_market
from workers.trading import CURRENT_TICK_KEY


def run_tick(ctx, fake_binance, tick: int, price: str | None = None, symbol: str = "BTC/USDT",
             timeframe: str = "1m") -> dict:
    """Move the fake's price (resting orders it crosses fill there), then one tick of the market."""
    if price is not None:
        fake_binance.set_price(symbol, price)
    ctx.redis.set(CURRENT_TICK_KEY, tick)
    summary = evaluate_market("binance", symbol, timeframe, tick, time.time())
    SimpleWorker([Queue(TRADE_QUEUE, connection=ctx.redis)], connection=ctx.redis).work(
        burst=True, logging_level="WARNING")
    return summary
