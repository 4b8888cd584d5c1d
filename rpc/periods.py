"""Realized profit over time for /daily, /weekly, /monthly, /performance and the daily summary,
from the user's own exits (UTC days; weeks start on Monday).

A trade is one exit order: the fills of one sell that realized profit, summed. A dip or DCA
bot's exit closes its position; a grid's sell completes one pair of its levels while its
position stays open, and each such pair is a trade too (as grid bots count them). An exit
filled in several parts is one trade."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from models import Bot, Fill, Outbox, Position, User, owned, utcnow, write_transaction

PERIODS = ("day", "week", "month")
MAX_PERIODS = {"day": 60, "week": 52, "month": 24}
DEFAULT_PERIODS = {"day": 7, "week": 4, "month": 6}


def period_start(moment: dt.date, period: str) -> dt.date:
    if period == "day":
        return moment
    if period == "week":
        return moment - dt.timedelta(days=moment.weekday())
    return moment.replace(day=1)


def previous_start(start: dt.date, period: str) -> dt.date:
    if period == "day":
        return start - dt.timedelta(days=1)
    if period == "week":
        return start - dt.timedelta(days=7)
    return (start - dt.timedelta(days=1)).replace(day=1)


def capital_by_quote(user) -> dict[str, Decimal]:
    capital: dict[str, Decimal] = {}
    for bot in owned(Bot, user):
        quote = bot.symbol.split("/")[-1]
        capital[quote] = capital.get(quote, Decimal(0)) + bot.capital
    return capital


def closed_trades(user, bot_id=None, since: dt.datetime | None = None) -> list[dict]:
    """The user's trades (see above), oldest first: symbol, quote, realized profit, and when
    the exit's last fill was booked."""
    exits = owned(Fill, user).where(Fill.realized_profit.is_null(False))
    if bot_id is not None:
        exits = exits.where(Fill.bot == int(bot_id))
    if since is not None:
        exits = exits.where(Fill.created_at >= since)
    return trades_of(exits.order_by(Fill.id))


def trades_of(fills) -> list[dict]:
    """The trades among these fills (those without realized profit are entries and skipped),
    oldest first. Summed here, not in SQL, to stay exact on SQLite."""
    trades: dict[int, dict] = {}
    for fill in fills:
        if fill.realized_profit is None:
            continue
        trade = trades.setdefault(fill.order_id, {"symbol": fill.symbol, "quote": fill.symbol.split("/")[-1],
                                                  "profit": Decimal(0), "at": fill.created_at})
        trade["profit"] += fill.realized_profit
        trade["at"] = max(trade["at"], fill.created_at)
    return sorted(trades.values(), key=lambda trade: trade["at"])


def _percent(profit: Decimal, capital: Decimal | None) -> Decimal | None:
    return None if not capital else profit * 100 / capital


def period_profits(user, period: str, count: int, today: dt.date | None = None) -> dict:
    """The last `count` periods, newest first: per quote currency realized profit, exits
    (trades) and profit as a percent of the capital of the user's bots in that currency."""
    count = max(1, min(int(count), MAX_PERIODS[period]))
    starts = [period_start(today or utcnow().date(), period)]
    while len(starts) < count:
        starts.append(previous_start(starts[-1], period))
    oldest = dt.datetime.combine(starts[-1], dt.time())
    rows = {start: {} for start in starts}
    for trade in closed_trades(user, since=oldest):
        start = period_start(trade["at"].date(), period)
        if start not in rows:
            continue
        figures = rows[start].setdefault(trade["quote"], {"profit": Decimal(0), "trades": 0})
        figures["profit"] += trade["profit"]
        figures["trades"] += 1
    capital = capital_by_quote(user)
    for figures_by_quote in rows.values():
        for quote, figures in figures_by_quote.items():
            figures["percent"] = _percent(figures["profit"], capital.get(quote))
    return {"period": period, "periods": [{"start": start, "by_quote": rows[start]} for start in starts]}


def performance(user) -> list[dict]:
    """Per symbol: realized profit, trades and winning trades, best first."""
    by_symbol: dict[str, dict] = {}
    for trade in closed_trades(user):
        figures = by_symbol.setdefault(trade["symbol"], {"symbol": trade["symbol"], "profit": Decimal(0), "trades": 0,
                                                         "wins": 0, "quote": trade["quote"]})
        figures["profit"] += trade["profit"]
        figures["trades"] += 1
        figures["wins"] += trade["profit"] > 0
    return sorted(by_symbol.values(), key=lambda f: (-f["profit"], f["symbol"]))


# --- the daily summary -------------------------------------------------------------------------

def summary_payload(user, day: dt.date) -> dict:
    """The day's figures, as the outbox carries them (plain strings)."""
    today = period_profits(user, "day", 1, day)["periods"][0]["by_quote"]
    open_positions = owned(Position, user).where(Position.status == "open").count()
    running = owned(Bot, user).where(Bot.status == "running").count()
    return {"day": day.isoformat(), "open_positions": open_positions, "running_bots": running,
            "by_quote": {quote: {"profit": str(f["profit"]), "trades": f["trades"],
                                 "percent": None if f["percent"] is None else str(f["percent"])}
                         for quote, f in today.items()}}


def write_due_summaries(now: dt.datetime | None = None) -> int:
    """One summary row per user whose hour has come and who has none today. Safe to run from
    several `bot` processes at once: the day is claimed with a conditional update first."""
    now = now or utcnow()
    day = now.date()
    due = User.select().where((User.notify_summary != "off") & (User.summary_hour <= now.hour) & (User.reachable == True)  # noqa: E712
                              & (User.summary_sent_on.is_null() | (User.summary_sent_on < day)))
    written = 0
    for user in due:
        with write_transaction():
            claimed = User.update(summary_sent_on=day).where(
                (User.id == user.id) & (User.summary_sent_on.is_null() | (User.summary_sent_on < day))).execute()
            if claimed:
                Outbox.create(user=user, chat_id=user.chat_id, kind="summary", payload=summary_payload(user, day))
                written += 1
    return written
