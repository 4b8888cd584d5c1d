"""Tick capacity benchmark: N active bots over M markets, real RQ workers, PostgreSQL, Redis.

    .venv/bin/python bench/tick_benchmark.py --bots 10000 --markets 50 --workers 2 --ticks 6

It fills a fresh PostgreSQL database with N running paper bots spread over M markets of a
fake Binance (a real HTTP server in this process), starts W `worker` processes from the
Procfile, leads T ticks every TICK seconds, and reports how long each tick took to be fully
evaluated, the per-market start lag the workers recorded, and the public exchange calls per
tick. With --dip, the last tick drops every price so every bot buys at once, and it also
reports how long until every fill was booked and every owner's message was in the outbox.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

import psycopg2  # noqa: E402
import redis  # noqa: E402
from cryptography.fernet import Fernet  # noqa: E402

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")


def fresh_database() -> tuple[str, callable]:
    name = f"botfleet_bench_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(POSTGRES_URL.replace("postgres://", "postgresql://", 1))
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')

    def drop():
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

    return POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}", drop


def markets(count: int) -> dict:
    return {
        f"C{n:03d}/USDT": {"tickSize": "0.01", "stepSize": "0.0001", "minQty": "0.0001", "minNotional": "5", "price": "100"}
        for n in range(count)
    }


def seed_bots(bot_count: int, symbols: list[str]) -> None:
    from models import Bot, User, db
    from workers import strategies

    params = {k: str(v) for k, v in strategies.validate("dip", {}).items()}
    with db.atomic():
        User.insert_many([{"chat_id": 10_000_000 + n, "name": f"bench {n}"} for n in range(bot_count)]).execute()
    user_ids = [u.id for u in User.select(User.id).order_by(User.id)]
    rows = [
        {"user": user_ids[n], "name": f"bench-{n}", "exchange": "binance", "symbol": symbols[n % len(symbols)],
         "mode": "paper", "capital": Decimal("100"), "strategy": "dip", "params": params, "timeframe": "1m",
         "status": "running"}
        for n in range(bot_count)
    ]
    with db.atomic():
        for start in range(0, len(rows), 1000):
            Bot.insert_many(rows[start:start + 1000]).execute()


def wait_until_evaluated(ctx, symbols: list[str], timeout: float) -> float:
    """Seconds until no market is still busy (every evaluation job of the tick has finished)."""
    from workers.evaluation import market_busy_key

    keys = [market_busy_key("binance", s, "1m") for s in symbols]
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not ctx.redis.exists(*keys):
            return time.time()
        time.sleep(0.01)
    raise TimeoutError("tick not evaluated in time")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bots", type=int, default=10_000)
    parser.add_argument("--markets", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--ticks", type=int, default=6)
    parser.add_argument("--tick-seconds", type=float, default=5.0)
    parser.add_argument("--dip", action="store_true", help="make every bot buy on the last tick")
    args = parser.parse_args()

    from tests.fakes.binance_api import FakeBinance

    fake = FakeBinance(markets=markets(args.markets)).start()
    symbols = sorted(markets(args.markets))
    for symbol in symbols:
        fake.set_history(symbol, ["100"] * 40)
        fake.set_price(symbol, "100")
    database_url, drop_database = fresh_database()
    redis.Redis.from_url(REDIS_URL).flushdb()
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": REDIS_URL,
           "FERNET_KEYS": Fernet.generate_key().decode(), "TICK_SECONDS": str(args.tick_seconds),
           "EXCHANGE_OVERRIDES": json.dumps({"binance": fake.ccxt_overrides()}), "PYTHONUNBUFFERED": "1"}
    os.environ.update(env)

    import migrations
    import models
    from workers.context import context
    from workers.scheduler import lead_tick

    ctx = context()
    migrations.apply_migrations(models.db.obj)
    started = time.time()
    seed_bots(args.bots, symbols)
    print(f"seeded {args.bots} bots on {args.markets} markets in {time.time() - started:.1f}s")

    workers = [subprocess.Popen([sys.executable, "-m", "workers.worker"], cwd=PROJECT_DIR, env=env)
               for _ in range(args.workers)]
    durations, calls = [], []
    try:
        time.sleep(2)  # workers connect and load markets
        for n in range(args.ticks + (1 if args.dip else 0)):
            dip_tick = args.dip and n == args.ticks
            if dip_tick:
                for symbol in symbols:
                    fake.set_price(symbol, "99")
            fake.reset_log()
            scheduled_at = time.time()
            lead_tick(ctx, 10_000 + n, scheduled_at)
            done = wait_until_evaluated(ctx, symbols, timeout=120)
            durations.append(done - scheduled_at)
            calls.append(sum(1 for r in fake.requests() if r["path"] == "/api/v3/klines"))
            print(f"tick {n}: evaluated in {done - scheduled_at:.3f}s, {calls[-1]} candle calls"
                  + (" (dip)" if dip_tick else ""))
            if dip_tick:
                from models import Fill, Outbox

                deadline = time.time() + 600
                while Fill.select().count() < args.bots and time.time() < deadline:
                    time.sleep(0.2)
                filled_at = time.time()
                print(f"dip: {Fill.select().count()} fills and {Outbox.select().count()} outbox rows "
                      f"{filled_at - scheduled_at:.1f}s after the tick")
            else:
                time.sleep(max(0.0, scheduled_at + args.tick_seconds - time.time()))
        lags = sorted(float(v) for v in ctx.redis.lrange("botfleet:metrics:tick_lag", 0, -1))
        steady = durations[1:args.ticks] or durations
        print(f"RESULT bots={args.bots} markets={args.markets} workers={args.workers} "
              f"tick_evaluated_p50={statistics.median(steady):.3f}s max={max(steady):.3f}s "
              f"market_start_lag_p99={lags[int(0.99 * (len(lags) - 1))]:.3f}s "
              f"candle_calls_per_tick={max(calls)} (markets={args.markets})")
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=20)
        models.db.close()
        drop_database()
        fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
