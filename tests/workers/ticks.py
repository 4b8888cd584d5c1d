"""Helpers for strategy tests: a tick of one market, evaluated and acted on by a real RQ worker."""
from __future__ import annotations

import time

from rq import Queue, SimpleWorker

from workers.context import TRADE_QUEUE
from workers.evaluation import evaluate_market
from workers.scheduler import markets_in_use
from workers.trading import CURRENT_TICK_KEY


def run_tick(ctx, fake_binance, tick: int, price: str | None = None, symbol: str = "BTC/USDT",
             timeframe: str = "1m") -> dict:
    """Move the fake's price (resting orders it crosses fill there), then one tick of the market,
    on every network its bots trade (the fake serves mainnet and testnet alike); the summary is
    the mainnet's, or the testnet's when only testnet bots trade it."""
    if price is not None:
        fake_binance.set_price(symbol, price)
    ctx.redis.set(CURRENT_TICK_KEY, tick)
    networks = sorted({testnet for exchange, testnet, traded, frame in markets_in_use()
                       if (exchange, traded, frame) == ("binance", symbol, timeframe)}) or [False]
    summaries = [evaluate_market("binance", symbol, timeframe, tick, time.time(), testnet=testnet)
                 for testnet in networks]
    SimpleWorker([Queue(TRADE_QUEUE, connection=ctx.redis)], connection=ctx.redis).work(
        burst=True, logging_level="WARNING")
    return summaries[0]
