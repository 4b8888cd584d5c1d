"""The service's health as an operator sees it: live workers, the tick's lag, queue depths and
unsent messages; and telling the admins in chat when it goes bad (once per trouble and hour,
and only after it lasted a few ticks, so a deploy's restarts stay quiet)."""
from __future__ import annotations

import json
import time

from rq import Queue, Worker

from logcontext import get_logger
from models import Outbox, User
from workers.context import QUEUES

log = get_logger(__name__)

ALERT_AFTER_TICKS = 3
ALERT_EVERY_SECONDS = 3600
LAG_PERIODS = 3  # a tick lagging more than this many periods is trouble
LAST_LAG_KEY = "botfleet:metrics:last_lag"


def lag_counts_for(tick_seconds: float) -> int:
    """Seconds the newest lag sample stands for the service: evaluations refresh it every tick
    while bots are active; once none are, an old sample must not keep reporting a lag."""
    return int(max(60, 10 * tick_seconds))


def health(redis_client, tick_seconds: float) -> dict:
    """Plain figures, and the problems among them: "no_worker", "tick_lag", "no_tick"."""
    figures = {**redis_figures(redis_client), **database_figures()}
    figures["problems"] = problems(figures, tick_seconds)
    return figures


def redis_figures(redis_client) -> dict:
    """What Redis tells: live workers, queue depths, the last tick's age and its lag."""
    last = redis_client.get("botfleet:metrics:last_tick")
    last = json.loads(last) if last else None
    newest_lag = redis_client.get(LAST_LAG_KEY)
    return {
        "workers": Worker.count(connection=redis_client),
        "queues": {name: Queue(name, connection=redis_client).count for name in QUEUES},
        "last_tick_age": None if last is None else round(time.time() - last["at"], 3),
        "last_lag": None if newest_lag is None else float(newest_lag),
    }


def database_figures() -> dict:
    """What the database tells: messages not yet delivered (nor given up)."""
    return {"unsent_messages": Outbox.select().where(Outbox.sent_at.is_null() & Outbox.failed_at.is_null()).count()}


def tick_stale_after(tick_seconds: float) -> float:
    """A last tick older than this means no scheduler ticks. The scheduler records every tick,
    bots or not, so an idle service is not stale; no tick recorded at all (a new Redis before
    the first tick) is not counted either."""
    return (LAG_PERIODS + 1) * tick_seconds


def problems(figures: dict, tick_seconds: float) -> list[str]:
    """The problems among the figures; a figure that could not be looked at is judged by none."""
    lag_limit = LAG_PERIODS * tick_seconds
    rules = (
        ("no_worker", "workers", lambda workers: workers == 0),
        ("tick_lag", "last_lag", lambda lag: lag is not None and lag > lag_limit),
        ("no_tick", "last_tick_age", lambda age: age is not None and age > tick_stale_after(tick_seconds)),
    )
    return [name for name, figure, bad in rules if figure in figures and bad(figures[figure])]


class AdminAlerts:
    """Kept by the leading scheduler: counts how long each problem lasts and tells the admins."""

    def __init__(self, redis_client, admin_chat_ids, tick_seconds: float):
        self.redis, self.admins, self.tick_seconds = redis_client, admin_chat_ids, tick_seconds
        self.streaks: dict[str, int] = {}

    def observe(self) -> list[str]:
        """Look once (every tick); returns the problems told about now."""
        figures = health(self.redis, self.tick_seconds)
        self.streaks = {p: self.streaks.get(p, 0) + 1 for p in figures["problems"]}
        told = []
        for problem, ticks in self.streaks.items():
            # One alert per problem and hour, whichever scheduler leads.
            if ticks >= ALERT_AFTER_TICKS and self.redis.set(f"botfleet:alert:{problem}", 1, nx=True,
                                                             ex=ALERT_EVERY_SECONDS):
                tell_admins(self.admins, problem, figures)
                told.append(problem)
        return told


def tell_admins(admin_chat_ids, problem: str, figures: dict) -> None:
    details = {"problem": problem, "workers": figures["workers"], "last_lag": figures["last_lag"],
               "queues": figures["queues"]}
    log.warning("admins alerted", problem=problem, workers=figures["workers"], last_lag=figures["last_lag"],
                admins=len(admin_chat_ids))
    for admin in User.select().where(User.chat_id.in_(list(admin_chat_ids))):
        Outbox.create(user=admin, chat_id=admin.chat_id, kind="admin_alert", payload=details)
