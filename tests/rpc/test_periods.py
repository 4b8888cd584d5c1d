"""Reports over time: realized profit per day, week and month, per market, profit factor,
drawdown, and one daily summary per user and day."""
from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal as D

import redis

from models import Bot, Fill, Order, Outbox, Position, User
from rpc import periods, reports
from rpc.users import register

_orders = itertools.count(1)
TODAY = dt.date(2026, 11, 18)  # a Wednesday


def bot_for(user, symbol="BTC/USDT", capital="1000") -> Bot:
    return Bot.create(user=user, name="b", exchange="binance", symbol=symbol, mode="paper", capital=D(capital),
                      strategy="dip", params={})


def exit_fill(bot: Bot, profit: str, day: dt.date, hour: int = 12, minute: int = 0) -> Fill:
    order = Order.create(user=bot.user_id, bot=bot, client_order_id=f"o{next(_orders)}", symbol=bot.symbol,
                         side="sell", amount=D(1))
    return Fill.create(user=bot.user_id, bot=bot, order=order, symbol=bot.symbol, side="sell", amount=D(1),
                       price=D(1), cost=D(1), fee=D(0), fee_currency="USDT", fee_quote=D(0), realized_profit=D(profit),
                       created_at=dt.datetime.combine(day, dt.time(hour, minute)))


def test_daily_profit_sums_exits_per_day_with_percent_of_capital(database):
    user, _ = register(41, "a", None, "open", False)
    bot = bot_for(user)
    exit_fill(bot, "10", TODAY)
    exit_fill(bot, "-4", TODAY, hour=20)
    exit_fill(bot, "5", TODAY - dt.timedelta(days=2))

    report = periods.period_profits(user, "day", 3, TODAY)

    assert [p["start"] for p in report["periods"]] == [TODAY, TODAY - dt.timedelta(days=1), TODAY - dt.timedelta(days=2)]
    today, yesterday, before = (p["by_quote"] for p in report["periods"])
    assert today["USDT"] == {"profit": D(6), "trades": 2, "percent": D("0.6")}
    assert yesterday == {} and before["USDT"]["profit"] == D(5)


def test_weeks_start_on_monday_and_months_on_the_first(database):
    user, _ = register(42, "a", None, "open", False)
    bot = bot_for(user)
    exit_fill(bot, "1", dt.date(2026, 11, 16))  # Monday of this week
    exit_fill(bot, "2", dt.date(2026, 11, 15))  # Sunday: last week
    exit_fill(bot, "4", dt.date(2026, 10, 31))

    weeks = periods.period_profits(user, "week", 2, TODAY)["periods"]
    months = periods.period_profits(user, "month", 2, TODAY)["periods"]

    assert weeks[0]["start"] == dt.date(2026, 11, 16) and weeks[0]["by_quote"]["USDT"]["profit"] == D(1)
    assert weeks[1]["by_quote"]["USDT"]["profit"] == D(2)
    assert [m["start"] for m in months] == [dt.date(2026, 11, 1), dt.date(2026, 10, 1)]
    assert months[0]["by_quote"]["USDT"]["profit"] == D(3) and months[1]["by_quote"]["USDT"]["profit"] == D(4)


def test_performance_ranks_markets_by_realized_profit_and_counts_wins(database):
    user, _ = register(43, "a", None, "open", False)
    btc, eth = bot_for(user), bot_for(user, "ETH/USDT")
    exit_fill(btc, "3", TODAY)
    exit_fill(eth, "7", TODAY)
    exit_fill(eth, "-1", TODAY)

    assert [(r["symbol"], r["profit"], r["trades"], r["wins"]) for r in periods.performance(user)] == [
        ("ETH/USDT", D(6), 2, 1), ("BTC/USDT", D(3), 1, 1)]


def test_another_users_exits_never_count(database):
    user, _ = register(44, "a", None, "open", False)
    other, _ = register(45, "b", None, "open", False)
    exit_fill(bot_for(other), "100", TODAY)

    assert periods.period_profits(user, "day", 1, TODAY)["periods"][0]["by_quote"] == {}
    assert periods.performance(user) == []


def test_profit_factor_and_max_drawdown_follow_the_trades_in_order(database):
    user, _ = register(46, "a", None, "open", False)
    bot = bot_for(user)
    for minute, profit in enumerate(["10", "-4", "-6", "5"]):
        exit_fill(bot, profit, TODAY, minute=minute)

    figures = reports.profit(user, None)["by_quote"]["USDT"]

    assert figures["profit_factor"] == D(15) / D(10)
    assert figures["max_drawdown"] == D(10)  # from +10 down to 0
    assert figures["wins"] == 2 and figures["losses"] == 2


def test_an_exit_filled_in_parts_is_one_trade(database):
    user, _ = register(48, "a", None, "open", False)
    bot = bot_for(user)
    first = exit_fill(bot, "3", TODAY)
    Fill.create(user=user, bot=bot, order=first.order_id, symbol=bot.symbol, side="sell", amount=D(1), price=D(1),
                cost=D(1), fee=D(0), fee_currency="USDT", fee_quote=D(0), realized_profit=D("-1"), fill_key="2",
                created_at=dt.datetime.combine(TODAY, dt.time(13)))

    assert periods.period_profits(user, "day", 1, TODAY)["periods"][0]["by_quote"]["USDT"]["trades"] == 1
    assert [(r["profit"], r["trades"], r["wins"]) for r in periods.performance(user)] == [(D(2), 1, 1)]
    figures = reports.profit(user, None)["by_quote"]["USDT"]
    assert (figures["wins"], figures["losses"]) == (1, 0)


def test_a_grids_completed_pairs_are_trades_while_its_position_stays_open(database, redis_url):
    user, _ = register(49, "a", None, "open", False)
    bot = bot_for(user, "SOL/USDT")
    Position.create(user=user, bot=bot, symbol="SOL/USDT", status="open", amount=D(3), entry_price=D(145),
                    entry_cost=D(435), peak_price=D(150), realized_profit=D("9.1"))
    exit_fill(bot, "4.6", TODAY, hour=10)
    exit_fill(bot, "4.5", TODAY, hour=11)

    figures = reports.profit(user, redis.Redis.from_url(redis_url))["by_quote"]["USDT"]

    assert (figures["wins"], figures["losses"], figures["win_rate"]) == (2, 0, D(100))
    assert figures["realized"] == D("9.1")
    assert periods.period_profits(user, "day", 1, TODAY)["periods"][0]["by_quote"]["USDT"]["trades"] == 2


def test_profit_factor_without_losses_is_none():
    assert reports.profit_factor([D(1), D(2)]) is None
    assert reports.max_drawdown([]) == D(0)


def test_a_daily_summary_is_written_once_a_day_at_or_after_the_chosen_hour(database):
    user, _ = register(47, "a", None, "open", False)
    User.update(notify_summary="on", summary_hour=20).where(User.id == user.id).execute()
    exit_fill(bot_for(user), "12.5", TODAY)

    assert periods.write_due_summaries(dt.datetime.combine(TODAY, dt.time(19, 59))) == 0
    assert periods.write_due_summaries(dt.datetime.combine(TODAY, dt.time(20, 0))) == 1
    assert periods.write_due_summaries(dt.datetime.combine(TODAY, dt.time(21, 0))) == 0
    [row] = Outbox.select().where(Outbox.kind == "summary")
    assert row.payload["by_quote"]["USDT"]["profit"] == "12.5" and row.payload["day"] == TODAY.isoformat()
    assert periods.write_due_summaries(dt.datetime.combine(TODAY + dt.timedelta(days=1), dt.time(20, 0))) == 1


def test_no_summary_for_users_who_keep_it_off(database):
    register(48, "a", None, "open", False)
    assert periods.write_due_summaries(dt.datetime.combine(TODAY, dt.time(23, 0))) == 0
