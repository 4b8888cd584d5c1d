"""Historical candles for backtests and charts, fetched through the gateway and cached in Redis.

History is fetched in chunks of CHUNK candles aligned on the timeframe; a chunk that lies wholly
in the past never changes, so it is kept a day and shared by every backtest that needs it.
"""
from __future__ import annotations

import json
import time
import zlib
from decimal import Decimal

from workers import market_data

CHUNK = 1000  # candles per request, Binance's most
CHUNK_TTL_SECONDS = 86400
TIMEFRAME_MS = {"1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
                "1h": 3_600_000, "4h": 14_400_000, "1d": 86_400_000}


def closed_candles(ctx, exchange: str, symbol: str, timeframe: str, start_ms: int, end_ms: int,
                   testnet: bool = False, progress=None) -> list[list[Decimal]]:
    """[open time ms, open, high, low, close, volume] of the closed candles opening in [start, end).
    `progress(done, total)`, if given, is called after each chunk."""
    step = TIMEFRAME_MS[timeframe]
    span = CHUNK * step
    forming = int(time.time() * 1000) // step * step
    end_ms = min(end_ms, forming)
    rows: list[list[Decimal]] = []
    chunks = range(start_ms // span * span, end_ms, span)
    for done, chunk_start in enumerate(chunks, start=1):
        complete = chunk_start + span <= forming
        key = f"botfleet:history:{market_data.venue(exchange, testnet)}:{symbol}:{timeframe}:{chunk_start}"
        cached = ctx.redis.get(key) if complete else None
        if cached:
            part = [[Decimal(v) for v in row] for row in json.loads(zlib.decompress(cached))]
        else:
            part = ctx.gateway.candles_since(exchange, symbol, timeframe, chunk_start, CHUNK, testnet)
            part = [row for row in part if row[0] < chunk_start + span]
            if complete:
                ctx.redis.set(key, zlib.compress(json.dumps([[str(v) for v in row] for row in part]).encode()),
                              ex=CHUNK_TTL_SECONDS)
        rows += [row for row in part if start_ms <= row[0] < end_ms]
        if progress is not None:
            progress(done, len(chunks))
    return rows
