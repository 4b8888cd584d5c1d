"""Operators' view: the status command's figures, and admins told once when no worker lives."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from models import Outbox, User
from telegram_bot import formatting
from tests.harness import PROJECT_DIR
from workers.health import ALERT_AFTER_TICKS, AdminAlerts


def test_status_prints_the_figures_and_fails_without_a_worker(ctx):
    Outbox.create(user=User.create(chat_id=7771, name="a"), chat_id=7771, kind="fill", payload={})

    result = subprocess.run([sys.executable, "status.py"], cwd=PROJECT_DIR, env=dict(os.environ),
                            capture_output=True, text=True, timeout=60)

    figures = json.loads(result.stdout)
    assert result.returncode == 1 and figures["problems"] == ["no_worker"]
    assert figures["workers"] == 0 and figures["unsent_messages"] == 1 and "trades" in figures["queues"]


def test_admins_are_told_once_when_no_worker_lives_for_a_few_ticks(ctx):
    admin = User.create(chat_id=7772, name="admin")
    User.create(chat_id=7773, name="not an admin")
    alerts = AdminAlerts(ctx.redis, frozenset({7772}), 1.0)

    told = [alerts.observe() for _ in range(ALERT_AFTER_TICKS + 3)]

    assert told[:ALERT_AFTER_TICKS - 1] == [[]] * (ALERT_AFTER_TICKS - 1)  # a deploy's restart stays quiet
    assert told[ALERT_AFTER_TICKS - 1] == ["no_worker"] and not any(told[ALERT_AFTER_TICKS:])
    [alert] = Outbox.select()
    assert alert.user_id == admin.id and alert.kind == "admin_alert"
    assert "no worker is alive" in formatting.outbox_text(alert.kind, alert.payload)


def test_a_lag_counts_while_evaluations_go_on_and_an_old_one_stops_counting(ctx):
    from workers.evaluation import record_lag
    from workers.health import LAST_LAG_KEY, health, lag_counts_for

    record_lag(ctx, 30.0, 0)  # far more than three 1 s periods

    assert "tick_lag" in health(ctx.redis, 1.0)["problems"]
    assert 0 < ctx.redis.ttl(LAST_LAG_KEY) <= lag_counts_for(1.0) == 60
    ctx.redis.delete(LAST_LAG_KEY)  # what the expiry does when no evaluation has run for a minute
    figures = health(ctx.redis, 1.0)
    assert figures["last_lag"] is None and "tick_lag" not in figures["problems"]
    assert ctx.redis.llen("botfleet:metrics:tick_lag") == 1  # the samples stay for /admin's percentiles
