"""The tick: one candle fetch per market whatever the number of bots, work only for bots that act."""
from __future__ import annotations

import time

from rq import Queue

from models import Bot
from tests.workers.conftest import make_bot, make_user
from workers.context import MARKET_QUEUE, TRADE_QUEUE
from workers.claims import claim_key
from workers.evaluation import MARKETS_PER_JOB, evaluate_market
from workers.scheduler import Scheduler, lead_tick, markets_in_use


def klines_calls(fake_binance) -> list[dict]:
    return [r for r in fake_binance.requests() if r["path"] == "/api/v3/klines"]


def flat_market(fake_binance, symbol: str, average: str, price: str) -> None:
    fake_binance.set_history(symbol, [average] * 40)
    fake_binance.set_price(symbol, price)


def test_many_bots_on_one_market_cost_one_candle_fetch_and_no_jobs_when_idle(ctx, fake_binance):
    for _ in range(60):
        make_bot(make_user(), None)
    flat_market(fake_binance, "BTC/USDT", "60000", "60000")
    fake_binance.reset_log()

    summary = evaluate_market("binance", "BTC/USDT", "1m", 1, time.time())

    assert summary == {"bots": 60, "acting": 0, "skipped": 0}
    assert len(klines_calls(fake_binance)) == 1
    assert Queue(TRADE_QUEUE, connection=ctx.redis).count == 0


def test_only_the_bots_whose_strategy_fires_get_a_trade_job(ctx, fake_binance):
    eager = [make_bot(make_user(), None, dip="0.5") for _ in range(3)]
    for _ in range(5):
        make_bot(make_user(), None, dip="5")
    flat_market(fake_binance, "BTC/USDT", "60000", "59500")  # 0.83 % under the average

    summary = evaluate_market("binance", "BTC/USDT", "1m", 1, time.time())

    assert summary["acting"] == 3
    [job] = Queue(TRADE_QUEUE, connection=ctx.redis).jobs  # one act job for the market's acting bots
    exchange, testnet, tick, items = job.args
    assert (exchange, testnet, tick) == ("binance", False, 1)
    assert sorted(item[0] for item in items) == sorted(bot.id for bot in eager)
    assert all(item[1:3] == ["buy", "100"] for item in items)  # ids and plain values only


def test_a_bot_still_acting_from_the_last_tick_is_skipped(ctx, fake_binance):
    bot = make_bot(make_user(), None)
    flat_market(fake_binance, "BTC/USDT", "60000", "59000")
    ctx.redis.set(claim_key(bot.id), 1)

    summary = evaluate_market("binance", "BTC/USDT", "1m", 1, time.time())

    assert summary["skipped"] == 1 and summary["acting"] == 0


def test_a_bot_with_broken_settings_is_counted_and_the_others_still_trade(ctx, fake_binance):
    broken = make_bot(make_user(), None)
    Bot.update(params={**broken.params, "dip": "not a number"}).where(Bot.id == broken.id).execute()
    healthy = make_bot(make_user(), None)
    flat_market(fake_binance, "BTC/USDT", "60000", "59000")

    summary = evaluate_market("binance", "BTC/USDT", "1m", 1, time.time())

    assert summary["acting"] == 1
    [job] = Queue(TRADE_QUEUE, connection=ctx.redis).jobs
    assert [item[0] for item in job.args[3]] == [healthy.id]
    assert Bot.get_by_id(broken.id).failures == 1


def test_stopped_bots_without_a_position_are_not_evaluated(ctx):
    make_bot(make_user(), None, symbol="ETH/USDT", status="stopped")
    make_bot(make_user(), None, symbol="BTC/USDT")

    assert markets_in_use() == [("binance", False, "BTC/USDT", "1m")]


def test_a_tick_enqueues_each_market_once_even_if_led_twice(ctx):
    for symbol in ("BTC/USDT", "BTC/USDT", "ETH/USDT"):
        make_bot(make_user(), None, symbol=symbol)

    first = lead_tick(ctx, 42, time.time())
    second = lead_tick(ctx, 42, time.time())

    assert first["markets"] == 2 and second["claimed"] is False
    jobs = Queue(MARKET_QUEUE, connection=ctx.redis).jobs
    evaluated = [market for job in jobs for market in job.args[2]]
    assert sorted(evaluated) == [("BTC/USDT", "1m"), ("ETH/USDT", "1m")]


def test_markets_of_one_venue_share_jobs_of_a_few(ctx):
    symbols = [f"C{n:03d}/USDT" for n in range(MARKETS_PER_JOB * 2 + 1)]
    for symbol in symbols:
        make_bot(make_user(), None, symbol=symbol)

    lead_tick(ctx, 7, time.time())

    jobs = Queue(MARKET_QUEUE, connection=ctx.redis).jobs
    assert [len(job.args[2]) for job in jobs] == [MARKETS_PER_JOB, MARKETS_PER_JOB, 1]
    assert sorted(symbol for job in jobs for symbol, _ in job.args[2]) == sorted(symbols)


def test_a_market_still_being_evaluated_is_skipped_as_lag(ctx):
    make_bot(make_user(), None)
    lead_tick(ctx, 1, time.time())  # nobody runs the job: the market stays busy

    summary = lead_tick(ctx, 2, time.time())

    assert summary["markets"] == 0 and summary["lagging_markets"] == 1


def test_one_scheduler_leads_and_another_takes_over_when_it_stops(ctx):
    first, second = Scheduler(ctx), Scheduler(ctx)

    assert first.ensure_leadership() is True
    assert second.ensure_leadership() is False
    first.lock.release()
    assert second.ensure_leadership() is True


def test_a_paused_bot_holding_a_position_still_gets_its_stop_loss(ctx, fake_binance):
    from decimal import Decimal

    from models import Position

    bot = make_bot(make_user(), None, sl="3", status="paused")
    Position.create(user=bot.user_id, bot=bot, symbol="BTC/USDT", amount=Decimal("0.001"), entry_price=Decimal("60000"),
                    entry_cost=Decimal("60"), peak_price=Decimal("60000"))
    flat_market(fake_binance, "BTC/USDT", "60000", "57000")  # 5 % under the entry

    summary = evaluate_market("binance", "BTC/USDT", "1m", 1, time.time())

    assert summary["acting"] == 1
    [job] = Queue(TRADE_QUEUE, connection=ctx.redis).jobs
    assert job.args[3][0][:2] == [bot.id, "sell"]


def test_a_paused_bot_without_a_position_is_left_alone(ctx, fake_binance):
    make_bot(make_user(), None, status="paused")
    flat_market(fake_binance, "BTC/USDT", "60000", "57000")

    assert markets_in_use() == []
