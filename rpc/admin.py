"""Service-wide figures for /admin (users, bots, queues, workers, tick lag) and announcements."""
from __future__ import annotations

import json

from rq import Queue, Worker
from rq.registry import FailedJobRegistry

from models import Bot, Outbox, User, insert_rows, write_transaction
from workers.context import QUEUES


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def overview(redis_client) -> dict:
    lags = [float(v) for v in redis_client.lrange("botfleet:metrics:tick_lag", 0, -1)]
    last_tick = redis_client.get("botfleet:metrics:last_tick")
    queues = {}
    for name in QUEUES:
        queue = Queue(name, connection=redis_client)
        queues[name] = {"queued": queue.count, "failed": FailedJobRegistry(queue=queue).count}
    return {
        "users": User.select().count(),
        "unreachable_users": User.select().where(User.reachable == False).count(),  # noqa: E712
        "running_bots": Bot.select().where(Bot.status == "running").count(),
        "paused_bots": Bot.select().where(Bot.status == "paused").count(),
        "unsent_messages": Outbox.select().where(Outbox.sent_at.is_null()).count(),
        "queues": queues,
        "workers": Worker.count(connection=redis_client),
        "lag_p50": percentile(lags, 0.5),
        "lag_p99": percentile(lags, 0.99),
        "skipped_bot_runs": int(redis_client.get("botfleet:metrics:skipped_bot_runs") or 0),
        "last_tick": json.loads(last_tick) if last_tick else None,
    }


BROADCAST_LIMIT = 3500  # the announcement and its heading stay within one Telegram message


def broadcast(text: str) -> int:
    """Queue `text` for every reachable user, in one transaction; how many will get it."""
    text = text[:BROADCAST_LIMIT]
    with write_transaction():
        rows = [{"user": user_id, "chat_id": chat_id, "kind": "broadcast", "payload": {"text": text}}
                for user_id, chat_id in User.select(User.id, User.chat_id).where(User.reachable == True).tuples()]  # noqa: E712
        insert_rows(Outbox, rows)
    return len(rows)
