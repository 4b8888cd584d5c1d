"""The order lifecycle against a real exchange protocol: resting, partly filled, canceled by someone
else, open on lookup, executed late; each fill booked once and correctly."""
from __future__ import annotations

import time
from decimal import Decimal

from models import Bot, Fill, Order, Outbox, Position
from tests.workers.conftest import act_for, make_bot, make_key, make_user, see_price
from workers import orders


def fills_of(bot) -> list[Fill]:
    return list(Fill.select().where(Fill.bot == bot).order_by(Fill.id))


def test_a_resting_limit_buy_stays_open_then_fills_when_the_price_comes_down(ctx, fake_binance):
    user = make_user()
    key, api_key, _ = make_key(ctx, fake_binance, user)
    bot = make_bot(user, key)
    see_price(ctx, fake_binance, "BTC/USDT", "60000")

    act_for(bot, "buy", price="59000")

    order = Order.get(Order.bot == bot)
    assert order.type == "limit" and order.status == "open" and fills_of(bot) == []
    act_for(bot, "settle", tick=2)  # looked up every tick while open: still open, never rejected
    assert Order.get_by_id(order.id).status == "open"

    fake_binance.set_price("BTC/USDT", "58900")
    act_for(bot, "settle", tick=3)

    [fill] = fills_of(bot)
    assert Order.get_by_id(order.id).status == "filled"
    assert fill.price == Decimal("59000") and fill.amount == order.amount
    assert Position.get(Position.bot == bot).amount == fill.amount - Decimal(fill.fees.get("BTC", "0"))


def test_partial_fills_are_booked_as_they_arrive_each_once(ctx, fake_binance):
    user = make_user()
    key, api_key, _ = make_key(ctx, fake_binance, user, usdt="100000")
    bot = make_bot(user, key, capital="1000")
    see_price(ctx, fake_binance, "BTC/USDT", "60000")
    act_for(bot, "buy", price="59000")
    order = Order.get(Order.bot == bot)

    fake_binance.fill_order(api_key, order.client_order_id, Decimal("0.005"))
    act_for(bot, "settle", tick=2)
    act_for(bot, "settle", tick=3)  # the same report again books nothing

    [first] = fills_of(bot)
    assert first.amount == Decimal("0.005") and Order.get_by_id(order.id).status == "open"
    rest = order.amount - Decimal("0.005")
    fake_binance.fill_order(api_key, order.client_order_id, rest)
    act_for(bot, "settle", tick=4)

    first, second = fills_of(bot)
    assert second.amount == rest and Order.get_by_id(order.id).status == "filled"
    assert first.cost + second.cost == order.amount * Decimal("59000")
    assert len([m for m in Outbox.select().where(Outbox.user == user) if m.kind == "fill"]) == 2


def test_an_order_canceled_on_the_exchange_is_noticed_and_its_partial_fill_kept(ctx, fake_binance):
    user = make_user()
    key, api_key, _ = make_key(ctx, fake_binance, user, usdt="100000")
    bot = make_bot(user, key, capital="1000")
    see_price(ctx, fake_binance, "BTC/USDT", "60000")
    act_for(bot, "buy", price="59000")
    order = Order.get(Order.bot == bot)
    fake_binance.fill_order(api_key, order.client_order_id, Decimal("0.004"))
    fake_binance.cancel_externally(api_key, order.client_order_id)

    act_for(bot, "settle", tick=2)

    assert Order.get_by_id(order.id).status == "canceled"
    [fill] = fills_of(bot)
    assert fill.amount == Decimal("0.004")
    assert Position.get(Position.bot == bot).status == "open"


def test_an_order_executed_late_by_the_exchange_is_placed_once_and_booked_when_it_appears(ctx, fake_binance):
    user = make_user()
    key, api_key, _ = make_key(ctx, fake_binance, user)
    bot = make_bot(user, key)
    see_price(ctx, fake_binance, "BTC/USDT", "59500")
    # Executed 10 s after its -1007 answer: well inside the two minutes before an order may be
    # proven absent, and after the first lookups found nothing.
    fake_binance.inject_late_execution("/api/v3/order", execute_after=10.0, answer="error")
    started = time.time()

    act_for(bot, "buy")
    tick = 1
    while not fills_of(bot) and time.time() - started < 40:
        tick += 1
        time.sleep(1)
        act_for(bot, "buy", tick=tick)  # every tick still wants to buy: nothing may be sent again

    [placed] = fake_binance.orders(api_key)
    [fill] = fills_of(bot)
    assert Order.select().where(Order.bot == bot).count() == 1
    assert placed["clientOrderId"] == Order.get(Order.bot == bot).client_order_id
    assert fill.amount == Decimal(str(placed["executedQty"]))
    assert len([m for m in Outbox.select().where(Outbox.user == user) if m.kind == "fill"]) == 1


def test_an_order_the_exchange_never_shows_is_given_up_then_still_booked_if_it_appears(ctx, fake_binance, monkeypatch):
    monkeypatch.setattr(orders, "ABSENT_AFTER_SECONDS", 2)
    monkeypatch.setattr(orders, "MAX_CHECK_SECONDS", 1)
    user = make_user()
    key, api_key, _ = make_key(ctx, fake_binance, user)
    bot = make_bot(user, key)
    see_price(ctx, fake_binance, "BTC/USDT", "59500")
    fake_binance.inject_late_execution("/api/v3/order", execute_after=6.0, answer="error")

    act_for(bot, "buy")
    time.sleep(2.5)
    act_for(bot, "settle", tick=2)  # not found by id nor in the order history: given up
    given_up = Order.get(Order.bot == bot)
    assert given_up.status == "expired" and given_up.next_check_at is not None
    time.sleep(4.5)  # the exchange executes it after all
    act_for(bot, "settle", tick=3)

    assert Order.get_by_id(given_up.id).status == "filled"
    assert len(fills_of(bot)) == 1 and len(fake_binance.orders(api_key)) == 1


def test_unresolvable_orders_back_off_and_the_owner_hears_once(ctx, fake_binance, monkeypatch):
    monkeypatch.setattr(orders, "FIRST_CHECK_SECONDS", 0)
    user = make_user()
    key, api_key, _ = make_key(ctx, fake_binance, user)
    bot = make_bot(user, key)
    see_price(ctx, fake_binance, "BTC/USDT", "59500")
    fake_binance.inject_fault("/api/v3/order", 503, count=1000)  # placing and every lookup fail

    for tick in range(1, 10):
        act_for(bot, "settle" if tick > 1 else "buy", tick=tick)
        Order.update(next_check_at=None).execute()  # as if each pause had passed

    order = Order.get(Order.bot == bot)
    assert order.status == "sent" and order.checks >= 6
    told = [m for m in Outbox.select().where(Outbox.user == user) if "cannot be confirmed" in m.payload.get("message", "")]
    assert len(told) == 1
    assert Bot.get_by_id(bot.id).status == "running"
