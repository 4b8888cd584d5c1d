"""The order lifecycle in the database: record, send, look up, book; each step once.

recorded -> sent -> open (resting, partly filled) -> filled | canceled | rejected | expired.

- An order is recorded, with its deterministic client order id, before anything is sent, and
  marked "sent" (its outcome unknown from then on) before the request leaves. Both writes are
  fenced (workers/claims.py), so an actor that lost its claim records and sends nothing.
- A recorded order that was never sent belongs to a decision that is gone: it is expired, never
  sent later.
- A sent order is never sent again. It is looked up by its client order id with growing pauses
  until it is found, or until it is provably absent: not found, and not in the exchange's order
  history, ABSENT_AFTER_SECONDS after it was sent (a request can execute that late; one the
  exchange turned away with a rate limit, TURNED_AWAY_ABSENT_SECONDS after). Only then
  is it expired, and even then it is looked up for a while longer, so a fill that comes later
  still is booked.
- Booking what the exchange reports is workers/booking.py's job, idempotent and in bulk.
All times come from the database's clock.
"""
from __future__ import annotations

import datetime as dt

from exchanges import OrderRequest
from logcontext import get_logger
from models import ORDER_IN_FLIGHT, Bot, Order, Outbox, insert_rows, write_transaction
from workers import claims

log = get_logger(__name__)

ABSENT_AFTER_SECONDS = 120
# A request refused with a rate limit or ban (429/418) was never executed, so a short wait (past
# Binance's 10 s recvWindow) proves it absent; proven the same way as any other, to be sure.
TURNED_AWAY_ABSENT_SECONDS = 15
TURNED_AWAY = "turned away by a rate limit"
WATCH_ABSENT_SECONDS = 3600
FIRST_CHECK_SECONDS = 1
MAX_CHECK_SECONDS = 300


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while number:
        number, rest = divmod(number, 36)
        text = digits[rest] + text
    return text or "0"


def client_order_id(bot: Bot, version: int, side: str, index: int = 0) -> str:
    """bf<bot>x<bot created, ms base36>v<state version base36><b|s><n>: one decision, one id.

    The version makes every decision's id new (a Binance id is reusable once its order is
    filled, so reusing ours could execute twice); the creation stamp keeps ids apart when a
    database reuses a deleted bot's id. At most 36 characters, letters and digits only."""
    stamp = _base36(int(bot.created_at.replace(tzinfo=dt.timezone.utc).timestamp() * 1000))
    return f"bf{bot.id}x{stamp}v{_base36(version)}{side[0]}{index}"


def request_of(order: Order) -> OrderRequest:
    return OrderRequest(order.client_order_id, order.symbol, order.side, order.type, order.amount, order.price,
                        log_ids={"user": order.user_id, "bot": order.bot_id, "order": order.id})


def order_fields(order: Order) -> dict:
    """What a log line about an order says of it (the ids first)."""
    return {"user": order.user_id, "bot": order.bot_id, "order": order.id, "symbol": order.symbol,
            "side": order.side, "type": order.type, "amount": order.amount, "price": order.price,
            "client_order_id": order.client_order_id}


def in_flight(bot_ids: list[int]) -> list[Order]:
    """Orders not yet settled, and expired ones still watched for a late fill."""
    return list(Order.select().where(
        Order.bot.in_(bot_ids)
        & (Order.status.in_(ORDER_IN_FLIGHT) | ((Order.status == "expired") & Order.next_check_at.is_null(False)))
    ).order_by(Order.id))


def record(token: int, intents: list[dict], tick: int, memos: dict[int, dict] | None = None) -> list[Order]:
    """Record the orders of fresh decisions, in one transaction; a bot whose fence or state
    version moved on since its decision records nothing.

    intent: {"bot": Bot, "version": int, "side", "type", "amount", "price", ("index", "role",
    "pair_price")}; memos: bot id -> {"bot", "version", "state", "notice"}, a strategy's memory
    and notice, written with its orders (or alone, when it decided to place none)."""
    memos = memos or {}
    if not intents and not memos:
        return []
    versions = {i["bot"].id: i["version"] for i in intents} | {bot_id: m["version"] for bot_id, m in memos.items()}
    with write_transaction():
        passed = claims.fence(token, sorted(versions), versions)
        recorded = [
            Order(user=i["bot"].user_id, bot=i["bot"].id, symbol=i["bot"].symbol, side=i["side"], type=i["type"],
                  price=i["price"], amount=i["amount"], tick=tick, status="recorded",
                  role=i.get("role", ""), pair_price=i.get("pair_price"),
                  client_order_id=client_order_id(i["bot"], i["version"], i["side"], i.get("index", 0)))
            for i in intents if i["bot"].id in passed
        ]
        for order, order_id in zip(recorded, insert_rows(Order, recorded)):
            order.id = order_id
        for bot_id, memo in memos.items():
            if bot_id in passed:
                remember(memo["bot"], memo["state"], memo["notice"])
    for order in recorded:  # "order sent" follows at once; this line matters only at DEBUG
        log.debug("order recorded", **order_fields(order), role=order.role or None, tick=tick)
    return recorded


def remember(bot: Bot, state: dict | None, notice: str | None) -> None:
    """A strategy's new memory, and the notice it records as told (same transaction)."""
    if state is not None:
        Bot.update(state=state).where(Bot.id == bot.id).execute()
    if notice:
        Outbox.create(user=bot.user_id, chat_id=bot.user.chat_id, kind="bot_error",
                      payload={"bot_id": bot.id, "bot_name": bot.name, "message": notice, "paused": False,
                               "failures": 0})


def mark_sent(token: int, orders: list[Order], now: dt.datetime) -> list[Order]:
    """Recorded -> sent, committed before any request leaves; the orders this actor may send."""
    if not orders:
        return []
    with write_transaction():
        passed = claims.fence(token, sorted({o.bot_id for o in orders}))
        ids = [o.id for o in orders if o.bot_id in passed]
        if ids:
            Order.update(status="sent", sent_at=now, next_check_at=now + dt.timedelta(seconds=FIRST_CHECK_SECONDS),
                         updated_at=now).where(Order.id.in_(ids) & (Order.status == "recorded")).execute()
        sent = set(o.id for o in Order.select(Order.id).where(Order.id.in_(ids) & (Order.status == "sent"))) if ids else set()
    mine = [o for o in orders if o.id in sent]
    for order in mine:
        order.status, order.sent_at = "sent", now
        log.info("order sent", **order_fields(order), role=order.role or None, tick=order.tick)
    return mine


def expire_recorded(token: int, orders: list[Order], now: dt.datetime) -> None:
    """Recorded orders whose actor is gone: their decision expired with it; nothing was sent."""
    if not orders:
        return
    with write_transaction():
        passed = claims.fence(token, sorted({o.bot_id for o in orders}))
        ids = [o.id for o in orders if o.bot_id in passed]
        if ids:
            Order.update(status="expired", error="never sent: its decision expired", updated_at=now).where(
                Order.id.in_(ids) & (Order.status == "recorded")
            ).execute()
    expired = set(ids)
    for order in orders:
        if order.id in expired:
            log.info("order expired", **order_fields(order), reason="never sent: its decision expired")


def reject(order: Order, reason: str, now: dt.datetime) -> None:
    changed = Order.update(status="rejected", error=reason, next_check_at=None, updated_at=now).where(
        (Order.id == order.id) & (Order.status == order.status) & (Order.filled == order.filled)
    ).execute()
    if changed:
        log.info("order rejected", **order_fields(order), reason=reason)


def check_later(order: Order, now: dt.datetime, notified: str | None = None) -> None:
    """Look again after a pause that doubles with every unsettled lookup, up to minutes."""
    pause = min(MAX_CHECK_SECONDS, FIRST_CHECK_SECONDS * 2 ** min(order.checks, 16))
    changes = {"next_check_at": now + dt.timedelta(seconds=pause), "checks": Order.checks + 1, "updated_at": now}
    if notified is not None:
        changes["notified"] = notified
    Order.update(**changes).where((Order.id == order.id) & (Order.status == order.status)).execute()


def note_turned_away(order: Order, now: dt.datetime) -> None:
    """The exchange refused the request before doing anything: looked up as usual, but proven
    absent after TURNED_AWAY_ABSENT_SECONDS, so the bot decides again within seconds."""
    Order.update(error=TURNED_AWAY, updated_at=now).where((Order.id == order.id) & (Order.status == "sent")).execute()
    order.error = TURNED_AWAY


def seconds_since_sent(order: Order, now: dt.datetime) -> float:
    return (now - (order.sent_at or order.created_at)).total_seconds()


def give_up_or_wait(order: Order, now: dt.datetime) -> str:
    """For an order the exchange does not show: 'wait', 'search' (old enough to prove absent
    through the order history), or 'stop' (watched long enough after being given up)."""
    age = seconds_since_sent(order, now)
    if order.status == "expired":
        return "stop" if age > WATCH_ABSENT_SECONDS else "wait"
    window = TURNED_AWAY_ABSENT_SECONDS if order.error == TURNED_AWAY else ABSENT_AFTER_SECONDS
    return "search" if age >= window else "wait"


def mark_absent(order: Order, now: dt.datetime) -> None:
    """Provably absent: the bot may act again with a new order; a late appearance is still booked."""
    changed = Order.update(status="expired", error="the exchange never showed this order", checks=Order.checks + 1,
                           next_check_at=now + dt.timedelta(seconds=MAX_CHECK_SECONDS), updated_at=now).where(
        (Order.id == order.id) & (Order.status == order.status)
    ).execute()
    if changed:
        log.info("order expired", **order_fields(order), reason="the exchange never showed this order")


def stop_watching(order: Order, now: dt.datetime) -> None:
    Order.update(next_check_at=None, updated_at=now).where(Order.id == order.id).execute()
