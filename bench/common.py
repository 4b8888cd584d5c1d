"""Shared pieces of the benchmarks: a fresh PostgreSQL database and Redis db per scenario, a fake
Binance in this process, fast seeding, real `worker` processes from the Procfile, and ticks.

`Stage` owns everything one scenario starts and takes it all down again, even on error.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

import psycopg2  # noqa: E402
import redis  # noqa: E402
from cryptography.fernet import Fernet  # noqa: E402

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
REDIS_BASE_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379")
INSERT_CHUNK = 2000  # rows per INSERT: well under PostgreSQL's 65,535 parameters for a Bot row


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
        f"C{n:03d}/USDT": {"tickSize": "0.01", "stepSize": "0.0001", "minQty": "0.0001", "minNotional": "5",
                           "price": "100"}
        for n in range(count)
    }


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile: the smallest value with at least `fraction` of them at or below it."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


class Stage:
    """One scenario's world: fake exchange, database, Redis db and worker processes."""

    def __init__(self, name: str, redis_db: int, market_count: int, tick_seconds: float = 5.0):
        self.name, self.tick_seconds = name, tick_seconds
        self.symbols = sorted(markets(market_count))
        self.redis_url = f"{REDIS_BASE_URL}/{redis_db}"
        self.fernet_key = Fernet.generate_key().decode()
        self.workers: list[subprocess.Popen] = []
        self.log_dir = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
        self._drop_database = None
        self.fake = None
        self.next_tick = 1000

    def __enter__(self) -> "Stage":
        try:
            self._open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _open(self) -> None:
        from tests.fakes.binance_api import FakeBinance

        self.fake = FakeBinance(markets=markets(len(self.symbols))).start()
        for symbol in self.symbols:
            self.fake.set_history(symbol, ["100"] * 40)
            self.fake.set_price(symbol, "100")
        self.database_url, self._drop_database = fresh_database()
        self.redis = redis.Redis.from_url(self.redis_url)
        self.redis.flushdb()
        self.env = {**os.environ, "DATABASE_URL": self.database_url, "REDIS_URL": self.redis_url,
                    "FERNET_KEYS": self.fernet_key, "TICK_SECONDS": str(self.tick_seconds),
                    "EXCHANGE_OVERRIDES": json.dumps({"binance": self.fake.ccxt_overrides()}),
                    "PYTHONUNBUFFERED": "1"}
        self.env.pop("TELEGRAM_TOKEN", None)
        import migrations
        import models

        models.connect(self.database_url)
        migrations.apply_migrations(models.db.obj)
        # lead_tick needs only Redis and the tick length; no claim keeper or gateway in this process
        self.ctx = SimpleNamespace(redis=self.redis, settings=SimpleNamespace(tick_seconds=self.tick_seconds))

    def close(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                worker.terminate()
        for worker in self.workers:
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        self.workers = []
        try:
            import models

            if models.db.obj is not None:
                models.db.close()
        except Exception:
            pass
        if self._drop_database:
            self._drop_database()
            self._drop_database = None
        if getattr(self, "redis", None) is not None:
            self.redis.flushdb()
            self.redis.close()
            self.redis = None
        if self.fake is not None:
            self.fake.stop()
            self.fake = None

    # ------------------------------------------------------------------ workers

    def start_workers(self, count: int) -> None:
        from tests.harness import procfile

        command = procfile()["worker"]
        for n in range(count):
            log = open(self.log_dir / f"worker{n + 1}.log", "wb")
            self.workers.append(subprocess.Popen(command, cwd=PROJECT_DIR, env=self.env, stdout=log,
                                                 stderr=subprocess.STDOUT))
        deadline = time.time() + 30
        from rq import Worker

        while len(Worker.all(connection=self.redis)) < count:
            self.assert_workers_alive()
            if time.time() > deadline:
                raise TimeoutError("workers did not register in time")
            time.sleep(0.1)

    def assert_workers_alive(self) -> None:
        dead = [w.pid for w in self.workers if w.poll() is not None]
        if dead:
            raise RuntimeError(f"worker(s) {dead} exited; logs in {self.log_dir}")

    def worker_rss_kb(self) -> list[int]:
        return [rss_kb(w.pid) for w in self.workers]

    # ------------------------------------------------------------------ ticks

    def lead(self, scheduled_at: float | None = None) -> tuple[int, float]:
        """Lead one tick now, as the scheduler would; (tick, scheduled_at)."""
        from workers.scheduler import lead_tick

        tick = self.next_tick
        self.next_tick += 1
        scheduled_at = time.time() if scheduled_at is None else scheduled_at
        summary = lead_tick(self.ctx, tick, scheduled_at)
        if summary.get("lagging_markets"):
            print(f"  [{self.name}] tick {tick}: {summary['lagging_markets']} markets still busy, skipped", flush=True)
        return tick, scheduled_at

    def wait_until_evaluated(self, timeout: float = 300) -> float:
        """When no market is busy any more (every evaluation job of the ticks has finished)."""
        from workers.evaluation import market_busy_key

        keys = [market_busy_key("binance", s, "1m") for s in self.symbols]
        deadline = time.time() + timeout
        while time.time() < deadline:
            if not self.redis.exists(*keys):
                return time.time()
            self.assert_workers_alive()
            time.sleep(0.01)
        raise TimeoutError("tick not evaluated in time")

    def wait_until_queues_empty(self, timeout: float = 300) -> float:
        """When the market and trade queues are empty and no worker is busy."""
        from rq import Queue, Worker

        deadline = time.time() + timeout
        while time.time() < deadline:
            if not any(Queue(name, connection=self.redis).count for name in ("market", "trades")) and all(
                    w.get_state() != "busy" for w in Worker.all(connection=self.redis)):
                return time.time()
            self.assert_workers_alive()
            time.sleep(0.05)
        raise TimeoutError("queues not drained in time")

    def run_ticks(self, count: int) -> list[float]:
        """Lead `count` ticks on the tick period, as the scheduler would; their scheduled times."""
        times = []
        start = time.time()
        for n in range(count):
            scheduled_at = start + n * self.tick_seconds
            time.sleep(max(0.0, scheduled_at - time.time()))
            self.lead(scheduled_at)
            times.append(scheduled_at)
        self.wait_until_evaluated()
        self.wait_until_queues_empty()
        return times

    def tick_lags(self) -> list[float]:
        return [float(v) for v in self.redis.lrange("botfleet:metrics:tick_lag", 0, -1)]

    def dip(self) -> None:
        """Every market drops 1 % below its 40-candle flat history: every dip bot's buy signal."""
        for symbol in self.symbols:
            self.fake.set_price(symbol, "99")

    # ------------------------------------------------------------------ seeding

    def seed_paper_bots(self, count: int, status: str = "running", start: int = 0) -> None:
        """`count` paper dip bots, one user each, spread evenly over the markets."""
        from models import User

        users = [{"chat_id": 10_000_000 + start + n, "name": f"bench {start + n}"} for n in range(count)]
        user_ids = self._insert_returning_ids(User, users)
        self._insert_bots([self._bot_row(start + n, user_ids[n], "paper", status) for n in range(count)])

    def seed_live_bots(self, count: int, balance: str = "100000") -> None:
        """`count` live dip bots, each with its own user, encrypted API key and fake account."""
        from models import ApiKey, User
        from vault import Vault

        vault = Vault((self.fernet_key,))
        user_ids = self._insert_returning_ids(
            User, [{"chat_id": 20_000_000 + n, "name": f"live {n}"} for n in range(count)])
        credentials = [(f"benchkey{n:06d}{uuid.uuid4().hex[:12]}", uuid.uuid4().hex + uuid.uuid4().hex)
                       for n in range(count)]
        for api_key, secret in credentials:
            self.fake.add_account(api_key, secret, {"USDT": balance})
        key_ids = self._insert_returning_ids(ApiKey, [
            {"user": user_ids[n], "exchange": "binance", "api_key_token": vault.encrypt(api_key),
             "secret_token": vault.encrypt(secret), "key_tail": api_key[-4:]}
            for n, (api_key, secret) in enumerate(credentials)
        ])
        rows = [self._bot_row(n, user_ids[n], "live", "running") for n in range(count)]
        for row, key_id in zip(rows, key_ids):
            row["api_key"] = key_id
        self._insert_bots(rows)

    def _bot_row(self, n: int, user_id: int, mode: str, status: str) -> dict:
        from workers import strategies

        if not hasattr(self, "_dip_params"):
            self._dip_params = {k: str(v) for k, v in strategies.validate("dip", {}).items()}
        return {"user": user_id, "name": f"bench-{n}", "exchange": "binance",
                "symbol": self.symbols[n % len(self.symbols)], "mode": mode, "capital": Decimal("100"),
                "strategy": "dip", "params": self._dip_params, "timeframe": "1m", "status": status}

    @staticmethod
    def _insert_returning_ids(model, rows: list[dict]) -> list[int]:
        from models import db

        ids = []
        with db.atomic():
            for start in range(0, len(rows), INSERT_CHUNK):
                ids += [r[0] for r in model.insert_many(rows[start:start + INSERT_CHUNK]).returning(model.id)
                        .tuples().execute()]
        return ids

    @staticmethod
    def _insert_bots(rows: list[dict]) -> None:
        from models import Bot, db

        with db.atomic():
            for start in range(0, len(rows), INSERT_CHUNK):
                Bot.insert_many(rows[start:start + INSERT_CHUNK]).execute()
        # Statistics as a running database has them (autovacuum analyzes within a minute of a
        # bulk load); without them the planner guesses one row per table and scans every bot.
        db.execute_sql("ANALYZE")
