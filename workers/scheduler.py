"""The periodic tick: every TICK_SECONDS, enqueue one evaluation job per market in use.

Any number of schedulers may run; one leads through a Redis lock that it renews each tick,
and the others take over within a few ticks if it stops. A tick number is claimed in Redis
before anything is enqueued, so even a brief overlap of two leaders enqueues a tick once.
"""
from __future__ import annotations

import itertools
import json
import signal
import sys
import time
import uuid

from redis.exceptions import LockError, RedisError
from rq import Queue

import settings as settings_module
from logconfig import configure_logging
from logcontext import get_logger
from models import Bot
from workers.context import MARKET_QUEUE, context
from workers.evaluation import MARKETS_PER_JOB, evaluate_markets, market_busy_key, needs_a_look
from workers.health import AdminAlerts
from workers.trading import CURRENT_TICK_KEY

log = get_logger(__name__)

LEADER_KEY = "botfleet:scheduler:leader"


def markets_in_use() -> list[tuple[str, bool, str, str]]:
    """(exchange, testnet, symbol, timeframe) of every bot that needs a look this tick: a
    testnet bot trades on its testnet's market, a paper bot on the live one."""
    query = Bot.select(Bot.exchange, Bot.mode, Bot.symbol, Bot.timeframe).where(needs_a_look()).distinct().tuples()
    return sorted({(exchange, mode == "testnet", symbol, timeframe) for exchange, mode, symbol, timeframe in query})


def lead_tick(ctx, tick: int, scheduled_at: float) -> dict:
    """Enqueue the evaluation of every market in use; a market still busy is skipped as lag."""
    tick_seconds = ctx.settings.tick_seconds
    if not ctx.redis.set(f"botfleet:tick:{tick}", 1, nx=True, ex=int(max(60, tick_seconds * 10))):
        return {"tick": tick, "claimed": False}
    ctx.redis.set(CURRENT_TICK_KEY, tick)  # decisions older than a few ticks place nothing
    queue = Queue(MARKET_QUEUE, connection=ctx.redis)
    busy_for = int(max(30, tick_seconds * 6))  # expires even if a worker dies mid-job
    free, lagging = [], 0
    for exchange, testnet, symbol, timeframe in markets_in_use():
        if ctx.redis.set(market_busy_key(exchange, symbol, timeframe, testnet), tick, nx=True, ex=busy_for):
            free.append((exchange, testnet, symbol, timeframe))
        else:
            lagging += 1
    enqueued, jobs = len(free), 0
    for (exchange, testnet), markets in itertools.groupby(free, key=lambda m: (m[0], m[1])):
        markets = [(symbol, timeframe) for _, _, symbol, timeframe in markets]
        for start in range(0, len(markets), MARKETS_PER_JOB):
            queue.enqueue(
                evaluate_markets, exchange, testnet, markets[start:start + MARKETS_PER_JOB], tick, scheduled_at,
                job_timeout=busy_for, result_ttl=30, failure_ttl=86400,
            )
            jobs += 1
    log.info("tick enqueued", tick=tick, markets=enqueued, lagging_markets=lagging, jobs=jobs,
             lag=round(time.time() - scheduled_at, 3))
    summary = {"tick": tick, "at": scheduled_at, "markets": enqueued, "lagging_markets": lagging, "claimed": True}
    ctx.redis.set("botfleet:metrics:last_tick", json.dumps(summary))
    if lagging:
        ctx.redis.incrby("botfleet:metrics:lagging_markets", lagging)
    return summary


class Scheduler:
    def __init__(self, ctx):
        self.ctx = ctx
        self.running = True
        ttl = max(3 * ctx.settings.tick_seconds, 10)
        self.lock = ctx.redis.lock(LEADER_KEY, timeout=ttl, blocking=False, thread_local=False)
        self.lock.local.token = f"scheduler-{uuid.uuid4().hex}".encode()
        self.leading = False
        self.alerts = AdminAlerts(ctx.redis, ctx.settings.admin_chat_ids, ctx.settings.tick_seconds)

    def ensure_leadership(self) -> bool:
        try:
            if self.leading:
                self.lock.reacquire()
            else:
                self.leading = self.lock.acquire(blocking=False, token=self.lock.local.token)
                if self.leading:
                    log.info("leading the tick")
        except LockError:
            log.warning("lost the scheduler lead")
            self.leading = False
        return self.leading

    def run(self) -> None:
        period = self.ctx.settings.tick_seconds
        while self.running:
            tick = int(time.time() // period)
            scheduled_at = tick * period
            try:
                if self.ensure_leadership():
                    lead_tick(self.ctx, tick, scheduled_at)
                    self.alerts.observe()
            except RedisError:
                log.warning("Redis unavailable during the tick; trying again next tick", tick=tick)
            except Exception:
                log.exception("tick failed; trying again next tick", tick=tick)
            time.sleep(max(0.0, (tick + 1) * period - time.time()))
        if self.leading:
            try:
                self.lock.release()
            except LockError:
                pass

    def stop(self, *_):
        self.running = False


def main() -> int:
    try:
        ctx = context()
    except settings_module.SettingsError as error:
        print(f"scheduler: {error}", file=sys.stderr)
        return 2
    configure_logging("scheduler", ctx.settings.secrets)
    scheduler = Scheduler(ctx)
    signal.signal(signal.SIGTERM, scheduler.stop)
    signal.signal(signal.SIGINT, scheduler.stop)
    log.info("scheduler started", tick_seconds=ctx.settings.tick_seconds)
    scheduler.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
