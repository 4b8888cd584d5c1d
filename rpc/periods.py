"""Realized profit over time for /daily, /weekly, /monthly, /performance and the daily summary,
from the user's own exit fills (UTC days; weeks start on Monday)."""
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
    exits = owned(Fill, user).where(Fill.realized_profit.is_null(False) & (Fill.created_at >= oldest))
    for fill in exits:
        start = period_start(fill.created_at.date(), period)
        if start not in rows:
            continue
        figures = rows[start].setdefault(fill.symbol.split("/")[-1], {"profit": Decimal(0), "trades": 0})
        figures["profit"] += fill.realized_profit
        figures["trades"] += 1
    capital = capital_by_quote(user)
    for figures_by_quote in rows.values():
        for quote, figures in figures_by_quote.items():
            figures["percent"] = _percent(figures["profit"], capital.get(quote))
    return {"period": period, "periods": [{"start": start, "by_quote": rows[start]} for start in starts]}


def performance(user) -> list[dict]:
    """Per symbol: realized profit, exits and winning exits, best first."""
    by_symbol: dict[str, dict] = {}
    for fill in owned(Fill, user).where(Fill.realized_profit.is_null(False)):
        figures = by_symbol.setdefault(fill.symbol, {"symbol": fill.symbol, "profit": Decimal(0), "trades": 0, "wins": 0,
                                                     "quote": fill.symbol.split("/")[-1]})
        figures["profit"] += fill.realized_profit
        figures["trades"] += 1
        figures["wins"] += fill.realized_profit > 0
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
