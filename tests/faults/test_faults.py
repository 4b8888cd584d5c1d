"""The fault suite: each fault hits the running service (two bots, two schedulers, three workers)
while every bot trades, and the ledger must count nothing lost and nothing doubled.

Quick by default (a few trials each, part of the normal suite); FAULT_SUITE=long runs the long
mode (50 worker kills and more), which CI does not. scripts/fault_report.py prints the table.
"""
from __future__ import annotations

import random
import signal
import statistics
import time

import pytest

from tests.faults.scene import COUNTS, FIRST_CHAT, LONG, FaultScene, record, ticks_doubled, trials

pytestmark = pytest.mark.faults
OUTAGE_SECONDS = 900 if LONG else 8


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    scene = FaultScene(tmp_path_factory.mktemp("faults"))
    yield scene
    scene.stop()


def report(scene: FaultScene, fault: str, count: int, before: dict, recoveries: list[float]) -> dict:
    """The row of this fault: what it lost or doubled (the ledger's change), and recovery times."""
    after = scene.settle_and_count()
    row = {"fault": fault, "trials": count, **{k: after[k] - before[k] for k in COUNTS},
           "recovery_p50": round(statistics.median(recoveries), 1) if recoveries else None,
           "recovery_max": round(max(recoveries), 1) if recoveries else None}
    record(row)
    scene.service.assert_alive()
    assert {k: after[k] for k in COUNTS} == dict.fromkeys(COUNTS, 0), row
    return row


def test_two_bots_two_schedulers_three_workers_trade_without_doubles(scene):
    before, recoveries = scene.ledger(), []
    count = trials(2, 10)
    for _ in range(count):
        started = time.time()
        scene.swing()
        recoveries.append(scene.wait_until_reached(started))
    report(scene, "two bots, two schedulers, three workers (no fault)", count, before, recoveries)
    assert ticks_doubled(scene.redis) == 0


def test_a_worker_killed_in_the_middle_of_a_trading_job(scene):
    before, recoveries, hits = scene.ledger(), [], 0
    # Every order request takes 0.3 s, so a kill lands while the job waits on the exchange.
    scene.binance.inject_fault("/api/v3/order", 0, count=10**6, delay=0.3)
    count = trials(3, 50)
    rng = random.Random(11)
    try:
        for _ in range(count):
            scene.swing()
            label = scene.worker_acting() or "worker1"
            time.sleep(rng.uniform(0, 0.25))
            hits += scene.worker_acting(timeout=0) == label
            scene.kill(label)
            killed = time.time()
            scene.respawn(label)
            recoveries.append(scene.wait_until_reached(killed))
    finally:
        scene.binance.clear_faults()
    report(scene, f"worker SIGKILLed mid trading job ({hits} of {count} while it ran)", count, before, recoveries)


def test_redis_restarted_with_its_data_lost_during_a_tick(scene):
    before, recoveries = scene.ledger(), []
    count = trials(1, 5)
    for _ in range(count):
        scene.swing()
        scene.worker_acting(timeout=5)
        scene.redis_server.restart()
        restarted = time.time()
        recoveries.append(scene.wait_until_reached(restarted))
    report(scene, "Redis restarted, its data lost", count, before, recoveries)


def test_postgres_restarted_during_a_tick(scene):
    before, recoveries = scene.ledger(), []
    count = trials(1, 5)
    for _ in range(count):
        scene.swing()
        scene.worker_acting(timeout=5)
        scene.postgres.restart()
        restarted = time.time()
        recoveries.append(scene.wait_until_reached(restarted))
    report(scene, "PostgreSQL restarted", count, before, recoveries)


def test_postgres_refusing_connections_for_a_few_seconds(scene):
    before, recoveries = scene.ledger(), []
    count = trials(1, 5)
    for _ in range(count):
        scene.swing()
        scene.postgres.pause()
        time.sleep(3)
        scene.postgres.resume()
        resumed = time.time()
        recoveries.append(scene.wait_until_reached(resumed))
    report(scene, "PostgreSQL refusing connections for 3 s", count, before, recoveries)


def test_the_exchange_failing_a_share_of_calls(scene):
    before, recoveries = scene.ledger(), []
    count = trials(1, 6)
    if not LONG:
        # An order whose POST failed may have executed: it is never sent again and is proven
        # absent only 2 minutes later. The quick mode fails new orders only with timeouts (they
        # execute late, and the lookup finds them); the long mode fails every kind of call.
        scene.binance.fail_share(0.2, statuses=("timeout",), methods=("POST",))
    scene.binance.fail_share(0.2)  # 500, 502, 503, 429, 418 and 1.5 s timeouts, at random
    try:
        for _ in range(count):
            started = time.time()
            scene.swing()
            recoveries.append(scene.wait_until_reached(started, timeout=900))
    finally:
        scene.binance.fail_share(0)
    calls = "calls" if LONG else "reads, timeouts on 20 % of orders"
    report(scene, f"exchange: 5xx/429/418/timeout on 20 % of {calls}", count, before, recoveries)


def test_the_bot_api_failing_and_unreachable(scene):
    before, recoveries = scene.ledger(), []
    scene.telegram.block_chat(FIRST_CHAT)  # the first user blocks the bot for a while
    scene.telegram.inject_fault("sendMessage", 500, count=5)
    scene.telegram.inject_fault("sendMessage", 429, count=3, retry_after=1)
    started = time.time()
    scene.swing()
    scene.wait_until_reached(started)
    time.sleep(2)
    scene.telegram.go_offline()
    scene.swing()
    scene.wait_until_reached(time.time())
    time.sleep(OUTAGE_SECONDS)
    scene.telegram.come_back()
    back = time.time()
    scene.telegram.send_user_message(FIRST_CHAT, "/start")  # the blocked user comes back
    scene.wait_for_messages(timeout=180)
    recoveries.append(time.time() - back)
    report(scene, f"Bot API 500/429/403, then unreachable {OUTAGE_SECONDS} s", 1, before, recoveries)


@pytest.mark.parametrize("process", ["worker1", "scheduler1", "bot1"])
def test_sigterm_to_each_process(scene, process):
    before, recoveries = scene.ledger(), []
    count = trials(1, 3)
    for _ in range(count):
        started = time.time()
        scene.swing()
        label = process
        if process.startswith("worker"):
            label = scene.worker_acting() or process
        elif process.startswith("bot"):
            time.sleep(0.5)
        asked = time.time()
        code = scene.kill(label, signal.SIGTERM, wait=60)
        print(f"{label} exited {time.time() - asked:.1f}s after SIGTERM")
        assert code == 0, f"{label} exited with {code} on SIGTERM\n{scene.tail_logs()}"
        scene.respawn(label)
        recoveries.append(scene.wait_until_reached(started))
    report(scene, f"SIGTERM to {process.rstrip('0123456789')}", count, before, recoveries)
