"""One actor per bot: two jobs for one bot at the same instant place one order, book one fill."""
from __future__ import annotations

import multiprocessing
import os
import threading
from decimal import Decimal

from models import Bot, Fill, Order, Position, database_now, db
from tests.workers.conftest import act_for, make_bot, make_key, make_user, see_price
from workers import booking, claims, orders


def _run_in_child(env: dict, bot_id: int, version: int, start: multiprocessing.Event, results) -> None:
    os.environ.update(env)
    from workers.context import context
    from workers.trading import act

    context()  # connect before the start line, so both children race only on acting
    start.wait(10)
    bot = Bot.get_by_id(bot_id)
    results.put(act(bot.exchange, False, 1, [[bot_id, "buy", None, version]]))


def test_two_threads_acting_for_one_bot_at_once_place_one_order(ctx, fake_binance):
    user = make_user()
    key, api_key, _ = make_key(ctx, fake_binance, user)
    bot = make_bot(user, key)
    see_price(ctx, fake_binance, "BTC/USDT", "59500")
    version = Bot.get_by_id(bot.id).version
    start, results = threading.Barrier(2), []

    def run():
        start.wait()
        results.append(act_for(bot, "buy", version=version))
        db.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert len(fake_binance.orders(api_key)) == 1
    assert Fill.select().where(Fill.bot == bot).count() == 1
    assert Position.select().where(Position.bot == bot).count() == 1
    assert sorted(r["placed"] for r in results) == [0, 1]


def test_two_processes_acting_for_one_bot_at_once_place_one_order(ctx, fake_binance, monkeypatch):
    user = make_user()
    key, api_key, _ = make_key(ctx, fake_binance, user)
    bot = make_bot(user, key)
    see_price(ctx, fake_binance, "BTC/USDT", "59500")
    version = Bot.get_by_id(bot.id).version
    env = {name: os.environ[name] for name in ("DATABASE_URL", "REDIS_URL", "FERNET_KEYS", "EXCHANGE_OVERRIDES")}
    spawn = multiprocessing.get_context("spawn")
    start, results = spawn.Event(), spawn.Queue()
    children = [spawn.Process(target=_run_in_child, args=(env, bot.id, version, start, results)) for _ in range(2)]
    for child in children:
        child.start()
    start.set()
    answers = [results.get(timeout=60) for _ in children]
    for child in children:
        child.join(30)

    assert len(fake_binance.orders(api_key)) == 1
    assert Fill.select().where(Fill.bot == bot).count() == 1
    assert Position.select().where(Position.bot == bot).count() == 1
    assert sum(answer["placed"] for answer in answers) == 1


def test_a_writer_whose_claim_was_taken_over_records_nothing(ctx, fake_binance):
    bot = make_bot(make_user(), None)
    old_token, _ = ctx.claims.claim([bot.id])
    ctx.redis.delete(claims.claim_key(bot.id))  # the old holder was paused past its claim's life
    new_token, claimed = ctx.claims.claim([bot.id])
    assert claimed == [bot.id] and new_token > old_token
    orders.expire_recorded(new_token, [], database_now())
    with db.atomic():
        assert claims.fence(new_token, [bot.id]) == {bot.id}  # the new actor has written

    intent = {"bot": Bot.get_by_id(bot.id), "version": Bot.get_by_id(bot.id).version, "side": "buy",
              "type": "market", "price": None, "amount": Decimal("0.001")}
    assert orders.record(old_token, [intent], tick=1) == []
    assert Order.select().count() == 0


def test_a_late_writer_cannot_mark_an_expired_order_sent(ctx, fake_binance):
    bot = make_bot(make_user(), None)
    old_token, _ = ctx.claims.claim([bot.id])
    intent = {"bot": Bot.get_by_id(bot.id), "version": Bot.get_by_id(bot.id).version, "side": "buy",
              "type": "market", "price": None, "amount": Decimal("0.001")}
    [recorded] = orders.record(old_token, [intent], tick=1)
    ctx.redis.delete(claims.claim_key(bot.id))
    new_token, _ = ctx.claims.claim([bot.id])
    orders.expire_recorded(new_token, [recorded], database_now())  # the new actor drops it

    assert orders.mark_sent(old_token, [recorded], database_now()) == []  # the old one wakes up: refused
    assert Order.get_by_id(recorded.id).status == "expired"


def test_booking_the_same_exchange_report_twice_books_once(ctx, fake_binance):
    user = make_user()
    key, _, _ = make_key(ctx, fake_binance, user)
    bot = make_bot(user, key)
    see_price(ctx, fake_binance, "BTC/USDT", "59500")
    act_for(bot, "buy")
    order = Order.get(Order.bot == bot)
    from exchanges import OrderState

    stale_copy = Order.get_by_id(order.id)
    Order.update(status="open", filled=0, cost=0, fees={}).where(Order.id == order.id).execute()
    Fill.delete().execute()
    fresh = Order.get_by_id(order.id)
    report = OrderState("1", "filled", Decimal("0.00167"), Decimal("99.365"), {"BTC": Decimal("0.00000167")})
    rules = ctx.gateway.market_rules("binance", "BTC/USDT")

    def book(order_as_read):
        return booking.book_reports([booking.Report(Bot.get_by_id(bot.id), order_as_read, report, rules)],
                                    database_now())[0]

    first = book(fresh)
    second = book(fresh)  # a late writer
    third = book(stale_copy)

    assert first is not None and second is None and third is None
    assert Fill.select().where(Fill.order == order.id).count() == 1


def test_a_report_with_less_filled_than_booked_changes_nothing(ctx, fake_binance):
    """Cumulative figures never shrink; a stale answer must not reset what was booked, or the
    next report would book the same fill again."""
    user = make_user()
    key, _, _ = make_key(ctx, fake_binance, user)
    bot = make_bot(user, key)
    see_price(ctx, fake_binance, "BTC/USDT", "59500")
    act_for(bot, "buy")
    order = Order.get(Order.bot == bot)
    from exchanges import OrderState

    rules = ctx.gateway.market_rules("binance", "BTC/USDT")
    stale = OrderState("1", "open", order.filled / 2, order.cost / 2, {})
    [result] = booking.book_reports([booking.Report(Bot.get_by_id(bot.id), order, stale, rules)], database_now())

    assert result is None
    assert Order.get_by_id(order.id).filled == order.filled and Order.get_by_id(order.id).status == "filled"
    assert Fill.select().where(Fill.order == order.id).count() == 1
