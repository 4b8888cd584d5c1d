"""`GET /healthz`'s answer: is the database reachable, is Redis, is the tick recent; with the
figures `status.py` prints (workers/health.py owns them all).

Quick and never in the event loop's way: each look runs on a thread of its own with a short
time limit, and a look still under way (a dead server being retried) is awaited again by the
next request rather than started twice. Nothing in the answer names a host, a URL or a secret.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from workers.health import database_figures, problems, redis_figures, tick_stale_after

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 2.0  # the whole answer's limit; a platform's health check waits longer
# Unhealthy (HTTP 503) only for these; the other problems (no worker, a lagging tick) are
# reported, but restarting the `bot` process would cure none of them.
FAILING = ("database_unreachable", "redis_unreachable", "no_tick")


class Look:
    """One blocking look (Redis's figures, or the database's) on a daemon thread of its own:
    a look stuck on a dead server holds neither the loop nor the process's exit, and the
    thread keeps its database connection between looks (peewee's are per thread)."""

    def __init__(self, name: str, function):
        self.name, self.function = name, function
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.pending: asyncio.Future | None = None
        self.state = "ok"
        threading.Thread(target=self._work, name=f"healthz-{name}", daemon=True).start()

    def _work(self) -> None:
        while True:
            future = self.jobs.get()
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(self.function())
                except BaseException as error:  # handed to the awaiting request
                    future.set_exception(error)

    async def figures(self, timeout: float) -> tuple[str, dict]:
        """("ok", figures), or ("error"|"timeout", {})."""
        if self.pending is None or self.pending.done():
            future: concurrent.futures.Future = concurrent.futures.Future()
            self.jobs.put(future)
            self.pending = asyncio.wrap_future(future)
            self.pending.add_done_callback(_seen)
        try:
            state, figures = "ok", await asyncio.wait_for(asyncio.shield(self.pending), timeout)
        except TimeoutError:
            state, figures = "timeout", {}
        except Exception as error:
            state, figures = "error", {}
            if self.state == "ok":  # once per outage; the type only, its text may name the host
                log.warning("healthz: the %s look failed: %s", self.name, type(error).__name__)
        self.state = state
        return state, figures


def _seen(future: asyncio.Future) -> None:
    """A look that failed after its request gave up must not warn "exception never retrieved"."""
    if not future.cancelled():
        future.exception()


class HealthCheck:
    def __init__(self, redis_url: str, tick_seconds: float, timeout: float = TIMEOUT_SECONDS):
        self.tick_seconds, self.timeout = tick_seconds, timeout
        # A client of its own that fails fast: one try, short socket limits.
        client = redis.Redis.from_url(redis_url, socket_connect_timeout=timeout / 2, socket_timeout=timeout / 2,
                                      retry=Retry(NoBackoff(), 0))
        self.redis = Look("redis", lambda: redis_figures(client))
        self.database = Look("database", database_figures)

    async def answer(self) -> tuple[bool, dict]:
        """(healthy, the JSON body's figures)."""
        (redis_state, redis_part), (database_state, database_part) = await asyncio.gather(
            self.redis.figures(self.timeout), self.database.figures(self.timeout))
        figures = {"redis": redis_state, "database": database_state, **redis_part, **database_part,
                   "tick_stale_after": tick_stale_after(self.tick_seconds)}
        found = problems(figures, self.tick_seconds)
        if database_state != "ok":
            found.insert(0, "database_unreachable")
        if redis_state != "ok":
            found.insert(0, "redis_unreachable")
        figures["problems"] = found
        figures["healthy"] = not any(problem in FAILING for problem in found)
        return figures["healthy"], figures
