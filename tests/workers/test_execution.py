"""Orders: recorded before sending, never sent twice, booked once with position and outbox together."""
from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal

from rpc import bots as rpc_bots
from models import Bot, Fill, Order, Outbox, PaperBalance, PaperOrder, Position
from tests.workers.conftest import act_for, make_bot, make_key, make_user, see_price
from workers import orders
from workers.trading import CURRENT_TICK_KEY


def test_a_buy_books_fill_position_and_outbox_row_for_the_owner(ctx, fake_binance):
    user = make_user()
    key, api_key, _ = make_key(ctx, fake_binance, user)
    bot = make_bot(user, key)
    see_price(ctx, fake_binance, "BTC/USDT", "59500")

    assert act_for(bot, "buy")["booked"] == 1

    [order] = fake_binance.orders(api_key)
    recorded = Order.get(Order.bot == bot)
    assert order["clientOrderId"] == recorded.client_order_id and recorded.status == "filled"
    fill = Fill.get(Fill.bot == bot)
    assert fill.amount == Decimal("0.00167")  # 100 USDT less fee allowance, floored to the 0.00001 step
    assert fill.cost == Decimal("0.00167") * 59500 and fill.fees == {"BTC": "0.00000167"}
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
    act_for(bot, "buy")
    buy = Fill.get(Fill.bot == bot)
    see_price(ctx, fake_binance, "BTC/USDT", "61000", tick=2)

    act_for(bot, "sell", tick=2)

    sell = Fill.get((Fill.bot == bot) & (Fill.side == "sell"))
    position = Position.get(Position.bot == bot)
    held = buy.amount - buy.fee  # Binance takes the buy's fee in BTC
    assert position.status == "closed"
    assert sell.amount == Decimal("0.00166")  # what the 0.00001 step lets us sell of 0.00166833
    expected = sell.cost - sell.fee - buy.cost * sell.amount / held
    assert abs(sell.realized_profit - expected) < Decimal("1e-17")  # stored to 18 places
    assert sell.realized_profit > 0
    assert Bot.get_by_id(bot.id).cycle == 1


def test_dust_left_by_an_exit_joins_the_next_position(ctx, fake_binance):
    user = make_user()
    key, _, _ = make_key(ctx, fake_binance, user)
    bot = make_bot(user, key)
    see_price(ctx, fake_binance, "BTC/USDT", "59500")
    act_for(bot, "buy")
    see_price(ctx, fake_binance, "BTC/USDT", "61000", tick=2)
    act_for(bot, "sell", tick=2)
    dust = Bot.get_by_id(bot.id).dust_amount
    assert dust == Decimal("0.00000833")

    see_price(ctx, fake_binance, "BTC/USDT", "59500", tick=3)
    act_for(bot, "buy", tick=3)

    second = Fill.select().where((Fill.bot == bot) & (Fill.side == "buy")).order_by(Fill.id.desc()).first()
    position = Position.get((Position.bot == bot) & (Position.status == "open"))
    assert position.amount == second.amount - second.fee + dust
    assert Bot.get_by_id(bot.id).dust_amount == 0


def test_the_same_decision_run_twice_buys_once(ctx, fake_binance):
    user = make_user()
    key, api_key, _ = make_key(ctx, fake_binance, user)
    bot = make_bot(user, key)
    see_price(ctx, fake_binance, "BTC/USDT", "59500")
    decided_on = Bot.get_by_id(bot.id).version

    act_for(bot, "buy", version=decided_on)
    assert act_for(bot, "buy", version=decided_on)["placed"] == 0  # the state moved on since that decision

    assert len(fake_binance.orders(api_key)) == 1


def test_a_buy_decided_before_stopbot_is_not_placed(ctx, fake_binance):
    user = make_user()
    key, api_key, _ = make_key(ctx, fake_binance, user)
    bot = make_bot(user, key, status="stopped")
    see_price(ctx, fake_binance, "BTC/USDT", "59500")

    assert act_for(bot, "buy")["placed"] == 0
    assert fake_binance.orders(api_key) == []


def test_a_buy_decided_before_stopbot_is_not_placed_after_a_restart_either(ctx, fake_binance):
    user = make_user()
    key, api_key, _ = make_key(ctx, fake_binance, user)
    bot = make_bot(user, key)
    see_price(ctx, fake_binance, "BTC/USDT", "59500")
    decided_on = Bot.get_by_id(bot.id).version

    rpc_bots.stop_bot(user, bot.id)
    rpc_bots.start_bot(user, bot.id)  # running again before the old decision's job ran

    assert act_for(bot, "buy", version=decided_on)["placed"] == 0
    assert fake_binance.orders(api_key) == []


def test_a_decision_older_than_two_ticks_places_nothing(ctx, fake_binance):
    user = make_user()
    key, api_key, _ = make_key(ctx, fake_binance, user)
    bot = make_bot(user, key)
    see_price(ctx, fake_binance, "BTC/USDT", "59500")
    ctx.redis.set(CURRENT_TICK_KEY, 10)  # an abandoned job re-enqueued minutes later

    assert act_for(bot, "buy", tick=7)["placed"] == 0
    assert fake_binance.orders(api_key) == [] and Order.select().count() == 0


def test_an_order_whose_answer_was_lost_is_looked_up_and_never_sent_twice(ctx, fake_binance):
    user = make_user()
    key, api_key, _ = make_key(ctx, fake_binance, user)
    bot = make_bot(user, key)
    see_price(ctx, fake_binance, "BTC/USDT", "59500")
    fake_binance.inject_fault("/api/v3/order", 0, delay=1.5)  # the exchange fills it after we gave up

    assert act_for(bot, "buy")["booked"] == 0
    assert Order.get(Order.bot == bot).status == "sent"
    act_for(bot, "buy")  # at once: the order is not visible yet, and the buy is not sent again
    assert len(fake_binance.orders(api_key)) <= 1
    time.sleep(2.0)  # the delayed order reaches the book, and the next look is due

    act_for(bot, "settle", tick=2)

    [placed] = fake_binance.orders(api_key)
    order = Order.get(Order.bot == bot)
    assert order.status == "filled" and order.client_order_id == placed["clientOrderId"]
    [fill] = Fill.select().where(Fill.bot == bot)
    assert fill.fee > 0  # fees recovered from the order's trades
    assert len([m for m in Outbox.select().where(Outbox.user == user) if m.kind == "fill"]) == 1


def _age(order: Order, seconds: float) -> None:
    """As if the order had been sent `seconds` ago, and a lookup were due now."""
    past = Order.get_by_id(order.id).sent_at - dt.timedelta(seconds=seconds)
    Order.update(sent_at=past, next_check_at=past).where(Order.id == order.id).execute()


def test_an_order_turned_away_by_a_rate_limit_is_proven_absent_within_seconds_then_decided_again(ctx, fake_binance):
    user = make_user()
    key, api_key, _ = make_key(ctx, fake_binance, user)
    bot = make_bot(user, key)
    see_price(ctx, fake_binance, "BTC/USDT", "59500")
    fake_binance.inject_fault("/api/v3/order", 429)  # Binance: refused before anything was done

    act_for(bot, "buy")
    turned_away = Order.get(Order.bot == bot)
    assert turned_away.status == "sent" and turned_away.error == orders.TURNED_AWAY
    _age(turned_away, orders.TURNED_AWAY_ABSENT_SECONDS - 5)
    act_for(bot, "settle", tick=2)
    assert Order.get_by_id(turned_away.id).status == "sent"  # not yet proven absent
    _age(turned_away, 6)
    act_for(bot, "settle", tick=3)
    assert Order.get_by_id(turned_away.id).status == "expired"  # not found, nor in the history

    act_for(bot, "buy", tick=4)

    [placed] = fake_binance.orders(api_key)
    [again] = Order.select().where((Order.bot == bot) & (Order.id != turned_away.id))
    assert again.status == "filled" and again.client_order_id == placed["clientOrderId"] != turned_away.client_order_id
    assert Bot.get_by_id(bot.id).failures == 0 and not Outbox.select().where(Outbox.kind == "bot_error").exists()


def test_an_order_with_an_unknown_outcome_waits_the_full_window(ctx, fake_binance):
    user = make_user()
    key, api_key, _ = make_key(ctx, fake_binance, user)
    bot = make_bot(user, key)
    see_price(ctx, fake_binance, "BTC/USDT", "59500")
    fake_binance.inject_fault("/api/v3/order", 502)  # a 5xx: it may have executed

    act_for(bot, "buy")
    unknown = Order.get(Order.bot == bot)
    _age(unknown, orders.TURNED_AWAY_ABSENT_SECONDS + 1)
    act_for(bot, "settle", tick=2)

    assert Order.get_by_id(unknown.id).status == "sent" and unknown.error != orders.TURNED_AWAY


def test_a_recorded_order_that_was_never_sent_is_dropped_not_sent(ctx, fake_binance):
    user = make_user()
    key, api_key, _ = make_key(ctx, fake_binance, user)
    bot = make_bot(user, key)
    see_price(ctx, fake_binance, "BTC/USDT", "59500")
    stale = Order.create(user=user, bot=bot, client_order_id="bf-stale-1", symbol="BTC/USDT", side="buy",
                         amount=Decimal("0.001"), status="recorded", tick=1)  # then its worker died

    act_for(bot, "settle", tick=5)

    assert fake_binance.orders(api_key) == []
    assert Order.get_by_id(stale.id).status == "expired"


def test_a_paper_bot_walks_the_book_from_its_simulated_wallet_and_posts_nothing(ctx, fake_binance):
    user = make_user()
    bot = make_bot(user, None, capital="200")
    see_price(ctx, fake_binance, "BTC/USDT", "59500")

    act_for(bot, "buy")

    assert [r for r in fake_binance.requests() if r["path"] == "/api/v3/order"] == []
    fill = Fill.get(Fill.bot == bot)
    assert fill.price > Decimal("59500")  # bought from the asks, above the last price
    usdt = PaperBalance.get(PaperBalance.user == user, PaperBalance.asset == "USDT").amount
    btc = PaperBalance.get(PaperBalance.user == user, PaperBalance.asset == "BTC").amount
    assert usdt == Decimal("10000") - fill.cost - fill.fee
    assert btc == fill.amount
    assert PaperOrder.get(PaperOrder.client_order_id == Order.get(Order.bot == bot).client_order_id).status == "filled"


def test_insufficient_funds_tell_the_owner_and_send_nothing_more(ctx, fake_binance):
    user = make_user()
    key, api_key, _ = make_key(ctx, fake_binance, user, usdt="20")
    bot = make_bot(user, key)
    see_price(ctx, fake_binance, "BTC/USDT", "59500")

    act_for(bot, "buy")

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

    for tick in range(1, 4):
        act_for(bot, "buy", tick=tick)

    assert Bot.get_by_id(bot.id).status == "paused"
    last = Outbox.select().where(Outbox.user == user).order_by(Outbox.id.desc()).first()
    assert last.payload["paused"] is True


def test_a_rejected_key_pauses_the_bot_and_asks_for_a_new_key_once(ctx, fake_binance):
    user = make_user()
    key, _, _ = make_key(ctx, fake_binance, user)
    key.secret_token = ctx.vault.encrypt("not-the-secret-the-exchange-knows")
    key.save()
    bot = make_bot(user, key)
    see_price(ctx, fake_binance, "BTC/USDT", "59500")

    act_for(bot, "buy")

    assert Bot.get_by_id(bot.id).status == "paused"
    [message] = Outbox.select().where(Outbox.user == user)
    assert "/addkey" in message.payload["message"]
    assert Order.get(Order.bot == bot).status == "rejected"
