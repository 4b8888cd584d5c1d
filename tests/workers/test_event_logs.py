"""The engine's events as log lines: each order's life, a paused bot, a tick, a failed job; one
line each, with the ids of the user, bot and order it concerns."""
from __future__ import annotations

import time
from decimal import Decimal

from rq import Queue

from models import Bot, Fill, Order
from tests.workers.conftest import act_for, make_bot, make_key, make_user, see_price
from workers.context import REPORT_QUEUE
from workers.evaluation import evaluate_market
from workers.jobs import report_balance
from workers.scheduler import lead_tick
from workers.trading import KEY_REJECTED
from workers.worker import BotfleetWorker, log_job_failure


def ids_of(record: dict) -> tuple:
    return record.get("user"), record.get("bot"), record.get("order")


def test_a_market_buy_logs_sent_and_filled_with_its_ids(ctx, fake_binance, log_lines):
    user = make_user()
    key, _, _ = make_key(ctx, fake_binance, user)
    bot = make_bot(user, key)
    see_price(ctx, fake_binance, "BTC/USDT", "59500")

    act_for(bot, "buy", tick=5)

    order, fill = Order.get(Order.bot == bot), Fill.get(Fill.bot == bot)
    ids = (str(user.id), str(bot.id), str(order.id))
    assert log_lines.records("order recorded") == []  # DEBUG only: "sent" follows at once
    [sent] = log_lines.records("order sent")
    [filled] = log_lines.records("order filled")
    assert ids_of(sent) == ids_of(filled) == ids
    assert sent["tick"] == "5" and sent["exchange"] == "binance" and sent["symbol"] == "BTC/USDT"
    assert sent["side"] == filled["side"] == "buy"
    assert sent["client_order_id"] == order.client_order_id and "price" not in sent  # a market order
    assert Decimal(filled["amount"]) == fill.amount and Decimal(filled["price"]) == fill.price
    assert Decimal(filled["fee"]) == fill.fee and filled["status"] == "filled"


def test_an_order_canceled_on_the_exchange_logs_its_partial_fill_and_the_cancel(ctx, fake_binance, log_lines):
    user = make_user()
    key, api_key, _ = make_key(ctx, fake_binance, user, usdt="100000")
    bot = make_bot(user, key, capital="1000")
    see_price(ctx, fake_binance, "BTC/USDT", "60000")
    act_for(bot, "buy", price="59000")
    order = Order.get(Order.bot == bot)
    fake_binance.fill_order(api_key, order.client_order_id, Decimal("0.004"))
    fake_binance.cancel_externally(api_key, order.client_order_id)

    act_for(bot, "settle", tick=2)

    [filled] = log_lines.records("order filled")
    [canceled] = log_lines.records("order canceled")
    assert ids_of(filled) == ids_of(canceled) == (str(user.id), str(bot.id), str(order.id))
    assert Decimal(filled["amount"]) == Decimal("0.004") == Decimal(canceled["filled"])
    assert Decimal(filled["price"]) == Decimal(filled["limit_price"]) == Decimal(canceled["price"]) == 59000


def test_an_order_the_exchange_refuses_logs_rejected_and_the_bots_failure(ctx, fake_binance, log_lines):
    user = make_user()
    key, _, _ = make_key(ctx, fake_binance, user, usdt="20")
    bot = make_bot(user, key)
    see_price(ctx, fake_binance, "BTC/USDT", "59500")

    act_for(bot, "buy")

    order = Order.get(Order.bot == bot)
    [rejected] = log_lines.records("order rejected")
    [failed] = log_lines.records("bot failed")
    assert ids_of(rejected) == (str(user.id), str(bot.id), str(order.id))
    assert "Insufficient funds" in rejected["reason"] and Decimal(rejected["amount"]) == order.amount
    assert (failed["user"], failed["bot"], failed["failures"], failed["paused"]) == (
        str(user.id), str(bot.id), "1", "false")
    assert log_lines.records("bot paused") == []


def test_a_rejected_key_logs_the_paused_bot_and_why(ctx, fake_binance, log_lines):
    user = make_user()
    key, _, _ = make_key(ctx, fake_binance, user)
    key.secret_token = ctx.vault.encrypt("not-the-secret-the-exchange-knows")
    key.save()
    bot = make_bot(user, key)
    see_price(ctx, fake_binance, "BTC/USDT", "59500")

    act_for(bot, "buy")
    act_for(bot, "buy", tick=2)  # paused already: no second line

    [paused] = log_lines.records("bot paused")
    assert (paused["user"], paused["bot"], paused["reason"]) == (str(user.id), str(bot.id), KEY_REJECTED)
    assert Bot.get_by_id(bot.id).status == "paused"


def test_a_tick_is_one_line_and_idle_bots_add_none(ctx, fake_binance, log_lines):
    for _ in range(20):
        make_bot(make_user(), None)
    make_bot(make_user(), None, symbol="ETH/USDT")
    for symbol, price in (("BTC/USDT", "60000"), ("ETH/USDT", "3000")):
        fake_binance.set_history(symbol, [price] * 40)
        fake_binance.set_price(symbol, price)
    scheduled_at = time.time()

    lead_tick(ctx, 42, scheduled_at)
    evaluate_market("binance", "BTC/USDT", "1m", 42, scheduled_at)

    [tick] = log_lines.records()
    assert (tick["msg"], tick["tick"], tick["markets"], tick["lagging_markets"]) == ("tick enqueued", "42", "2", "0")
    assert 0 <= float(tick["lag"]) < 5


def test_a_failed_job_is_one_line_with_its_job_id_and_the_ids_it_bound(ctx, log_lines):
    job = Queue(REPORT_QUEUE, connection=ctx.redis).enqueue(report_balance, 987654, 3)  # no such user

    BotfleetWorker([REPORT_QUEUE], connection=ctx.redis, exception_handlers=[log_job_failure]).work(
        burst=True, logging_level="WARNING")

    [failed] = log_lines.records("job failed")
    assert (failed["job"], failed["user"], failed["key"]) == (job.id, "987654", "3")
    assert (failed["func"], failed["queue"], failed["error"]) == ("workers.jobs.report_balance", REPORT_QUEUE,
                                                                    "UserDoesNotExist")
    [traceback] = [r for r in log_lines.records() if r["logger"] == "rq.worker" and r["level"] == "ERROR"]
    assert traceback["job"] == job.id and "UserDoesNotExist" in traceback["msg"]
