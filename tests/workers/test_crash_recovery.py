"""A worker killed between "sent" and "booked": the order exists once, is booked by the first tick
after the dead worker's claim lapses, and the bot trades on at once; the dead worker's job,
re-enqueued the way RQ does it, places nothing.

The Procfile's scheduler and worker run as real processes against the fake Binance, which
executes the bot's order at once and holds its answer back, so the worker dies knowing nothing.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time

from rq import Queue, SimpleWorker, Worker
from rq.registry import FinishedJobRegistry, StartedJobRegistry

from models import Fill, Order, Outbox, Position
from tests.harness import PROJECT_DIR, Service, procfile
from tests.workers.conftest import make_bot, make_key, make_user
from workers.claims import claim_key, claim_ttl_ms
from workers.context import MARKET_QUEUE, TRADE_QUEUE
from workers.evaluation import evaluate_market
from workers.trading import CURRENT_TICK_KEY

TICK = 2  # seconds
WAIT = 40  # seconds; generous for a loaded machine, never a timing assertion


def service_env(fake_binance) -> dict:
    return {
        "DATABASE_URL": os.environ["DATABASE_URL"], "REDIS_URL": os.environ["REDIS_URL"],
        "FERNET_KEYS": os.environ["FERNET_KEYS"], "TICK_SECONDS": str(TICK),
        # ccxt's own 10 s timeout: the worker is still waiting for the held answer when it dies
        "EXCHANGE_OVERRIDES": json.dumps({"binance": fake_binance.ccxt_overrides()}),
    }


def wait_for(condition, what: str, service: Service, timeout: float = WAIT):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"no {what} within {timeout} s\n{service.logs()}")


def start_worker(service: Service, label: str) -> subprocess.Popen:
    log_file = open(service.log_dir / f"{label}.log", "wb")
    child = subprocess.Popen(procfile()["worker"], cwd=PROJECT_DIR, env=service.env, stdout=log_file,
                             stderr=subprocess.STDOUT)
    service.children[label] = child
    return child


def tick_of(moment: float) -> int:
    return int(moment // TICK)  # how the scheduler numbers its ticks


def ticks_that_booked(ctx, bot_id: int) -> list[int]:
    """The decision ticks of the finished act jobs for this bot that booked a fill."""
    registry = FinishedJobRegistry(TRADE_QUEUE, connection=ctx.redis)
    ticks = []
    for job in registry.job_class.fetch_many(registry.get_job_ids(), connection=ctx.redis):
        if job and any(item[0] == bot_id for item in job.args[3]) and (job.return_value() or {}).get("booked"):
            ticks.append(job.args[2])
    return sorted(ticks)


def test_a_worker_killed_between_sent_and_booked_leaves_one_order_booked_once_its_claim_lapses(
        ctx, fake_binance, tmp_path):
    user = make_user()
    key, api_key, _ = make_key(ctx, fake_binance, user)
    bot = make_bot(user, key)  # dip 0.6 %, take profit 1.5 %
    fake_binance.set_history("BTC/USDT", ["60000"] * 40)
    fake_binance.set_price("BTC/USDT", "59500")
    fake_binance.inject_fault("/api/v3/order", 0, hold=60)  # executed at once, answered never
    service = Service(service_env(fake_binance), tmp_path, workers=1).start(names=("scheduler", "worker"))
    try:
        [placed] = wait_for(lambda: fake_binance.orders(api_key), "order on the exchange", service)
        assert placed["status"] == "FILLED"
        order = Order.get(Order.bot == bot)
        assert order.status == "sent" and Fill.select().count() == 0  # sent, not booked

        dead = service.children["worker1"]
        [holder] = [w for w in Worker.all(connection=ctx.redis) if w.pid == dead.pid]
        abandoned = holder.get_current_job_id()
        killed_at = time.time()
        dead.send_signal(signal.SIGKILL)
        dead.wait(10)
        assert 0 < ctx.redis.pttl(claim_key(bot.id)) <= claim_ttl_ms(TICK)  # one tick at most

        fresh = start_worker(service, "worker2")
        wait_for(lambda: not ctx.redis.exists(claim_key(bot.id)), "lapsed claim", service)
        lapsed_at = time.time()
        wait_for(lambda: Fill.select().where(Fill.bot == bot).exists(), "booked fill", service)

        assert len(fake_binance.orders(api_key)) == 1
        order = Order.get_by_id(order.id)
        [fill] = Fill.select().where(Fill.bot == bot)
        assert order.status == "filled" and order.client_order_id == placed["clientOrderId"]
        assert fill.amount == order.amount and fill.cost == order.cost
        assert Position.get(Position.bot == bot).status == "open"
        assert [m.kind for m in Outbox.select().where(Outbox.user == user)] == ["fill"]
        # The claim died with its holder within a tick (its TTL at the kill, above), and the
        # first tick after that booked the order: within two ticks of the kill.
        [booked_in] = wait_for(lambda: ticks_that_booked(ctx, bot.id), "finished act job that booked", service)
        assert booked_in <= tick_of(lapsed_at) + 1
        assert booked_in <= tick_of(killed_at) + 2
        assert any(w.pid == fresh.pid for w in Worker.all(connection=ctx.redis))

        # Its next decision places a new order at once: nothing of the dead worker holds it back.
        wait_for(lambda: not ctx.redis.exists(claim_key(bot.id)), "claim released after booking", service)
        moved_at = time.time()
        fake_binance.set_price("BTC/USDT", "61000")  # past the take profit
        wait_for(lambda: len(fake_binance.orders(api_key)) == 2, "sell order", service)
        sell = Order.get((Order.bot == bot) & (Order.side == "sell"))
        assert sell.tick <= tick_of(moved_at) + 1 and sell.client_order_id != order.client_order_id
        wait_for(lambda: Fill.select().where(Fill.bot == bot).count() == 2, "booked sell", service)
        assert Position.get(Position.bot == bot).status == "closed"
        assert service.children["scheduler"].poll() is None and fresh.poll() is None
    finally:
        service.stop()

    # RQ 2.12 re-enqueues an abandoned job that has retries left (StartedJobRegistry.cleanup, once
    # the dead worker's heartbeat has run out). The dead worker's act job, given a retry and sent
    # down that very path, carries its old decision again: nothing may be placed.
    registry = StartedJobRegistry(TRADE_QUEUE, connection=ctx.redis)
    assert any(entry.decode().startswith(abandoned) for entry in ctx.redis.zrange(registry.key, 0, -1))
    job = registry.job_class.fetch(abandoned, connection=ctx.redis)
    job.retries_left, job.retry_intervals = 1, [0]
    job.save()
    Queue(MARKET_QUEUE, connection=ctx.redis).empty()
    trades = Queue(TRADE_QUEUE, connection=ctx.redis)
    trades.empty()
    registry.cleanup(timestamp=time.time() + 3600)
    assert trades.job_ids == [abandoned]
    orders_before = Order.select().count()

    SimpleWorker([trades], connection=ctx.redis).work(burst=True)

    assert trades.fetch_job(abandoned).get_status() == "finished"
    assert len(fake_binance.orders(api_key)) == 2 and Order.select().count() == orders_before
    assert Fill.select().where(Fill.bot == bot).count() == 2


def run_trade_jobs(ctx) -> None:
    SimpleWorker([Queue(TRADE_QUEUE, connection=ctx.redis)], connection=ctx.redis).work(burst=True)


def dip_decided(ctx, fake_binance, tick: int):
    """A live bot whose market dips, and the act job its tick's evaluation enqueued."""
    user = make_user()
    key, api_key, _ = make_key(ctx, fake_binance, user)
    bot = make_bot(user, key)
    fake_binance.set_history("BTC/USDT", ["60000"] * 40)
    fake_binance.set_price("BTC/USDT", "59500")
    ctx.redis.set(CURRENT_TICK_KEY, tick)
    assert evaluate_market("binance", "BTC/USDT", "1m", tick, time.time())["acting"] == 1
    [job] = Queue(TRADE_QUEUE, connection=ctx.redis).jobs
    return bot, api_key, job


def test_an_act_job_delivered_again_after_it_acted_places_nothing(ctx, fake_binance):
    bot, api_key, job = dip_decided(ctx, fake_binance, tick=100)
    run_trade_jobs(ctx)
    assert len(fake_binance.orders(api_key)) == 1

    # Its worker died before RQ heard it finish: the same job, the same decision, comes again
    # while its tick is still fresh.
    trades = Queue(TRADE_QUEUE, connection=ctx.redis)
    trades.enqueue_job(job)
    assert trades.job_ids == [job.id]
    run_trade_jobs(ctx)

    assert trades.count == 0 and job.get_status(refresh=True) == "finished"

    assert len(fake_binance.orders(api_key)) == 1
    assert Order.select().where(Order.bot == bot).count() == 1
    assert Fill.select().where(Fill.bot == bot).count() == 1


def test_an_act_job_abandoned_before_it_acted_places_nothing_when_it_comes_back_ticks_later(ctx, fake_binance):
    bot, api_key, job = dip_decided(ctx, fake_binance, tick=100)
    ctx.redis.set(CURRENT_TICK_KEY, 103)  # the scheduler moved on while the job lay abandoned

    run_trade_jobs(ctx)

    assert job.get_status(refresh=True) == "finished"
    assert fake_binance.orders(api_key) == []
    assert Order.select().where(Order.bot == bot).count() == 0
