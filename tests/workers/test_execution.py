"""Orders: recorded before sending, never sent twice, booked with fill, position and outbox together."""
from __future__ import annotations

import time
from decimal import Decimal

import pytest

from models import Bot, Fill, Order, Outbox, PaperBalance, Position
from tests.workers.conftest import make_bot, make_key, make_user, see_price
from workers import execution
from workers.exchange import Retryable
from workers.jobs import trade


def test_a_buy_books_fill_position_and_outbox_row_for_the_owner(ctx, fake_binance):
    user = make_user()
    key, api_key, _ = make_key(ctx, fake_binance, user)
    bot = make_bot(user, key)
    see_price(ctx, fake_binance, "BTC/USDT", "59500")

    fill = execution.execute(ctx, bot, "buy")

    [order] = fake_binance.orders(api_key)
    assert order["clientOrderId"] == Order.get(Order.bot == bot).client_order_id
    assert fill.amount == Decimal("0.00167")  # 100 USDT less fee allowance, floored to the 0.00001 step
    assert fill.cost <= Decimal("100")
    position = Position.get(Position.bot == bot)
    assert position.status == "open" and position.amount == fill.amount - fill.fee  # fee taken in BTC
    [message] = Outbox.select().where(Outbox.user == user)
    assert message.chat_id == user.chat_id and message.kind == "fill"
    assert message.payload["side"] == "buy" and message.payload["symbol"] == "BTC/USDT"


def test_a_sell_closes_the_position_with_realized_profit_net_of_fees(ctx, fake_binance):
    user = make_user()
    key, _, _ = make_key(ctx, fake_binance, user)
    bot = make_bot(user, key)
    see_price(ctx, fake_binance, "BTC/USDT", "59500")
    buy = execution.execute(ctx, bot, "buy")
    see_price(ctx, fake_binance, "BTC/USDT", "61000", tick=2)

    sell = execution.execute(ctx, Bot.get_by_id(bot.id), "sell")

    position = Position.get(Position.bot == bot)
    held = buy.amount - buy.fee  # Binance takes the buy's fee in BTC
    assert position.status == "closed"
    assert sell.amount == Decimal("0.00166")  # what the 0.00001 step lets us sell of 0.00166833
    assert sell.realized_profit == sell.cost - sell.fee - buy.cost * sell.amount / held
    assert sell.realized_profit > 0
    assert Bot.get_by_id(bot.id).cycle == 1


def test_dust_left_by_an_exit_joins_the_next_position(ctx, fake_binance):
    user = make_user()
    key, _, _ = make_key(ctx, fake_binance, user)
    bot = make_bot(user, key)
    see_price(ctx, fake_binance, "BTC/USDT", "59500")
    execution.execute(ctx, bot, "buy")
    see_price(ctx, fake_binance, "BTC/USDT", "61000", tick=2)
    execution.execute(ctx, Bot.get_by_id(bot.id), "sell")
    dust = Bot.get_by_id(bot.id).dust_amount
    assert dust == Decimal("0.00000833")

    see_price(ctx, fake_binance, "BTC/USDT", "59500", tick=3)
    second = execution.execute(ctx, Bot.get_by_id(bot.id), "buy")

    position = Position.get((Position.bot == bot) & (Position.status == "open"))
    assert position.amount == second.amount - second.fee + dust
    assert Bot.get_by_id(bot.id).dust_amount == 0


def test_a_repeated_buy_job_does_not_buy_twice(ctx, fake_binance):
    user = make_user()
    key, api_key, _ = make_key(ctx, fake_binance, user)
    bot = make_bot(user, key)
    see_price(ctx, fake_binance, "BTC/USDT", "59500")

    trade(bot.id, "buy")
    assert trade(bot.id, "buy") == "nothing to do"

    assert len(fake_binance.orders(api_key)) == 1


def test_a_buy_decided_before_stopbot_is_not_placed(ctx, fake_binance):
    user = make_user()
    key, api_key, _ = make_key(ctx, fake_binance, user)
    bot = make_bot(user, key, status="stopped")
    see_price(ctx, fake_binance, "BTC/USDT", "59500")

    assert trade(bot.id, "buy") == "nothing to do"
    assert fake_binance.orders(api_key) == []


def test_an_order_that_timed_out_is_looked_up_and_never_sent_twice(ctx, fake_binance):
    user = make_user()
    key, api_key, _ = make_key(ctx, fake_binance, user)
    bot = make_bot(user, key)
    see_price(ctx, fake_binance, "BTC/USDT", "59500")
    fake_binance.inject_fault("/api/v3/order", 0, delay=1.5)  # the exchange fills it after we gave up

    with pytest.raises(Retryable):
        execution.execute(ctx, bot, "buy")
    assert Order.get(Order.bot == bot).status == "pending"
    time.sleep(1.0)  # the delayed order reaches the book

    fill = execution.execute(ctx, bot, "buy")  # the retry

    assert len(fake_binance.orders(api_key)) == 1
    assert fill.order.client_order_id == fake_binance.orders(api_key)[0]["clientOrderId"]
    assert fill.fee > 0  # fees recovered from the order's trades


def test_an_order_not_yet_visible_after_a_timeout_is_not_sent_again(ctx, fake_binance):
    user = make_user()
    key, api_key, _ = make_key(ctx, fake_binance, user)
    bot = make_bot(user, key)
    see_price(ctx, fake_binance, "BTC/USDT", "59500")
    fake_binance.inject_fault("/api/v3/order", 0, delay=1.5)
    with pytest.raises(Retryable):
        execution.execute(ctx, bot, "buy")

    with pytest.raises(Retryable, match="not shown this order yet"):
        execution.execute(ctx, bot, "buy")  # an immediate retry: the first request is still in flight

    time.sleep(1.0)
    assert len(fake_binance.orders(api_key)) == 1


def test_a_recorded_order_the_exchange_never_saw_is_sent_once_with_its_recorded_id(ctx, fake_binance):
    user = make_user()
    key, api_key, _ = make_key(ctx, fake_binance, user)
    bot = make_bot(user, key)
    see_price(ctx, fake_binance, "BTC/USDT", "59500")
    recorded = execution.record_order(bot, "buy", Decimal("0.001"))  # then the worker died

    execution.execute(ctx, bot, "resolve")

    [order] = fake_binance.orders(api_key)
    assert order["clientOrderId"] == recorded.client_order_id
    assert Order.get_by_id(recorded.id).status == "filled"


def test_a_paper_bot_fills_from_its_simulated_wallet_and_posts_nothing(ctx, fake_binance):
    user = make_user()
    bot = make_bot(user, None, capital="200")
    see_price(ctx, fake_binance, "BTC/USDT", "59500")

    fill = execution.execute(ctx, bot, "buy")

    assert fake_binance.orders() == []
    assert fill.price > Decimal("59500")  # slippage goes against us
    usdt = PaperBalance.get(PaperBalance.user == user, PaperBalance.asset == "USDT").amount
    btc = PaperBalance.get(PaperBalance.user == user, PaperBalance.asset == "BTC").amount
    assert usdt == Decimal("10000") - fill.cost - fill.fee
    assert btc == fill.amount


def test_insufficient_funds_tell_the_owner_and_send_nothing_more(ctx, fake_binance):
    user = make_user()
    key, api_key, _ = make_key(ctx, fake_binance, user, usdt="20")
    bot = make_bot(user, key)
    see_price(ctx, fake_binance, "BTC/USDT", "59500")

    assert trade(bot.id, "buy") == "refused"

    assert Order.get(Order.bot == bot).status == "rejected"
    [message] = Outbox.select().where(Outbox.user == user)
    assert message.kind == "bot_error" and "Insufficient funds" in message.payload["message"]
    assert Bot.get_by_id(bot.id).failures == 1 and Bot.get_by_id(bot.id).status == "running"
    assert Fill.select().count() == 0


def test_three_failed_ticks_in_a_row_pause_the_bot_and_say_so(ctx, fake_binance):
    user = make_user()
    key, _, _ = make_key(ctx, fake_binance, user, usdt="20")
    bot = make_bot(user, key)
    see_price(ctx, fake_binance, "BTC/USDT", "59500")

    for _ in range(3):
        trade(bot.id, "buy")

    assert Bot.get_by_id(bot.id).status == "paused"
    last = Outbox.select().where(Outbox.user == user).order_by(Outbox.id.desc()).first()
    assert last.payload["paused"] is True


def test_a_rejected_key_pauses_the_bot_and_asks_for_a_new_key(ctx, fake_binance):
    user = make_user()
    key, _, _ = make_key(ctx, fake_binance, user)
    key.secret_token = ctx.vault.encrypt("not-the-secret-the-exchange-knows")
    key.save()
    bot = make_bot(user, key)
    see_price(ctx, fake_binance, "BTC/USDT", "59500")

    trade(bot.id, "buy")

    assert Bot.get_by_id(bot.id).status == "paused"
    [message] = Outbox.select().where(Outbox.user == user)
    assert "/addkey" in message.payload["message"]
    assert Order.get(Order.bot == bot).status == "rejected"
