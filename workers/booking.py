"""Booking what exchanges report: orders brought up to date and each new fill booked once.

A report is an order and the exchange's cumulative state of it. A batch of reports is booked in
one transaction with a handful of statements, whatever its size (a dip fills thousands of bots
at once):
1. the orders are locked and compared with what the caller read: an order that moved on since
   (another actor booked it) is left alone, so a late writer changes nothing;
2. the orders take the reported status and cumulative figures;
3. each new fill, the difference to what was booked, becomes a Fill row under a unique
   (order, fill key), the bot's position follows it (workers/accounting.py), and the owner's
   message goes to the outbox; a bot's fills go in the order the market met them.
Once committed, each new fill and each order ended without one (canceled, rejected, expired)
is one log line with the order's user, bot and order ids.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from exchanges import MarketRules, OrderState
from logcontext import get_logger
from models import (Bot, Fill, Order, Outbox, Position, SqliteDatabase, bulk_update, canonical, db, insert_rows,
                    write_transaction)
from workers import accounting
from workers.orders import order_fields

log = get_logger(__name__)

ZERO = Decimal(0)
RECHECK_MARKET_SECONDS = 1  # a market order seen open should settle at once: look again soon
ORDER_FIELDS = [Order.status, Order.filled, Order.cost, Order.fees, Order.exchange_order_id, Order.next_check_at,
                Order.updated_at, Order.error]
POSITION_FIELDS = [Position.status, Position.amount, Position.entry_price, Position.entry_cost, Position.fees,
                   Position.peak_price, Position.exit_price, Position.proceeds, Position.realized_profit,
                   Position.closed_at, Position.lots]


@dataclass
class Report:
    bot: Bot  # with its user (the chat to tell)
    order: Order  # as the caller read it
    state: OrderState  # what the exchange says now
    rules: MarketRules  # of the order's market
    other_fees_quote: Decimal = ZERO  # the new fees in a third asset, valued in the quote


def book_reports(reports: list[Report], now: dt.datetime) -> list[Fill | None]:
    """Book a batch of reports; per report its new Fill, or None (nothing new, or another actor
    booked it first)."""
    fills: list[Fill | None] = [None] * len(reports)
    if not reports:
        return fills
    ended: list[Report] = []
    with write_transaction():
        current = _lock_orders([r.order.id for r in reports])
        updated, filling = [], []
        for index, report in enumerate(reports):
            order, state = report.order, report.state
            if current.get(order.id) != (order.status, order.filled):
                continue  # moved on since it was read: someone else's report was booked
            if state.filled < order.filled:  # cumulative figures never shrink: a stale answer
                log.warning("stale order report ignored", **order_fields(order), reported_filled=state.filled,
                            booked_filled=order.filled)
                continue
            if state.status in ("canceled", "rejected", "expired") and state.status != order.status:
                ended.append(report)
            updated.append(_updated_order(order, state, now))
            current[order.id] = (state.status, state.filled)
            if state.filled > order.filled:
                filling.append(index)
        bulk_update(Order, updated, ORDER_FIELDS)
        if filling:
            ledger = _Ledger([reports[i].bot.id for i in filling], now)
            for index in sorted(filling, key=lambda i: _market_order(reports[i])):
                fills[index] = ledger.book(reports[index])
            ledger.write()
    for report, fill in zip(reports, fills):
        if fill is not None:
            log_fill(report, fill)
    for report in ended:
        log.info(f"order {report.state.status}", **order_fields(report.order), filled=report.state.filled,
                 exchange_order_id=report.state.exchange_order_id)
    return fills


def _market_order(report: Report) -> tuple:
    """A bot's fills of one batch in the order a move of the market meets them: its buys from the
    highest down, then its sells from the lowest up (a grid's sell then finds the buy it pairs with)."""
    price = report.order.price or ZERO
    return (report.bot.id, report.order.side == "sell", price if report.order.side == "sell" else -price)


def log_fill(report: Report, fill: Fill) -> None:
    order, state = report.order, report.state
    log.info("order filled", **(order_fields(order) | {"amount": fill.amount, "price": fill.price}), cost=fill.cost,
             fee=fill.fee, fee_currency=fill.fee_currency, realized_profit=fill.realized_profit,
             status=state.status, filled=state.filled, order_amount=order.amount, limit_price=order.price,
             exchange_order_id=state.exchange_order_id)


def _lock_orders(order_ids: list[int]) -> dict[int, tuple[str, Decimal]]:
    query = Order.select(Order.id, Order.status, Order.filled).where(Order.id.in_(order_ids)).order_by(Order.id)
    if not isinstance(db.obj, SqliteDatabase):  # SQLite's IMMEDIATE transaction already holds the lock
        query = query.for_update()
    return {row.id: (row.status, row.filled) for row in query}


def _updated_order(order: Order, state: OrderState, now: dt.datetime) -> Order:
    """The order row as the report leaves it (the caller's copy keeps what was booked before)."""
    recheck = state.status == "open" and order.type == "market"
    return Order(
        id=order.id, status=state.status, filled=state.filled, cost=state.cost,
        fees={currency: str(amount) for currency, amount in state.fees.items()},
        exchange_order_id=state.exchange_order_id,
        next_check_at=now + dt.timedelta(seconds=RECHECK_MARKET_SECONDS) if recheck else None,
        updated_at=now, error="refused by the exchange" if state.status == "rejected" else "",
    )


class _Ledger:
    """The positions, dust and new rows of the bots being booked, written back in bulk."""

    def __init__(self, bot_ids: list[int], now: dt.datetime):
        self.now = now
        unique = sorted(set(bot_ids))
        # The bots' row locks serialize every booking of a bot; a new state version makes
        # decisions taken before these fills place nothing.
        Bot.update(version=Bot.version + 1, failures=0).where(Bot.id.in_(unique)).execute()
        self.bots = {b.id: b for b in Bot.select(Bot.id, Bot.dust_amount, Bot.dust_cost, Bot.cycle)
                     .where(Bot.id.in_(unique))}
        self.positions = {p.bot_id: p for p in Position.select().where(Position.bot.in_(unique)
                                                                       & (Position.status == "open"))}
        self.touched: dict[int, Position] = {}  # id(position) -> position
        self.bots_changed: dict[int, Bot] = {}
        self.fill_rows: list[Fill] = []
        self.messages: list[dict] = []

    def book(self, report: Report) -> Fill:
        bot, order, state, rules = report.bot, report.order, report.state, report.rules
        figures = accounting.difference(order.side, order.filled, order.cost, order.fees or {},
                                        state.filled, state.cost, state.fees)
        figures = accounting.FillFigures(figures.side, figures.amount, figures.cost, figures.fees,
                                         report.other_fees_quote)
        realized = self._into_position(bot, order, figures, rules)
        fee, fee_currency = accounting.main_fee(figures.fees, rules)
        fill = Fill(
            user=bot.user_id, bot=bot.id, order=order.id, symbol=order.symbol, side=order.side,
            amount=figures.amount, price=figures.price, cost=figures.cost, fee=fee, fee_currency=fee_currency,
            fees={c: str(a) for c, a in figures.fees.items()}, fee_quote=figures.fee_quote(rules),
            realized_profit=realized, fill_key=str(canonical(state.filled)), created_at=self.now,
        )
        self.fill_rows.append(fill)
        self.messages.append({"user": bot.user_id, "chat_id": bot.user.chat_id, "kind": "fill",
                              "payload": fill_payload(bot, fill, rules), "created_at": self.now})
        return fill

    def _into_position(self, bot: Bot, order: Order, figures: accounting.FillFigures,
                       rules: MarketRules) -> Decimal | None:
        position = self.positions.get(bot.id)
        if order.side == "buy":
            if position is None:  # the dust of the last exit joins the new position
                row = self.bots[bot.id]
                position = Position(user=bot.user_id, bot=bot.id, symbol=bot.symbol, amount=row.dust_amount,
                                    entry_cost=row.dust_cost, entry_price=figures.price, peak_price=figures.price,
                                    base_price=figures.price, opened_at=self.now)
                row.dust_amount, row.dust_cost = ZERO, ZERO
                self.bots_changed[bot.id] = row
                self.positions[bot.id] = position
            # A grid's buy (it names the level of its sell) is kept apart for that sell: a level's
            # at its level, the start's market buy under the lowest level it sells.
            if order.pair_price is None:
                accounting.book_buy(position, figures, rules)
            elif order.price is None:
                accounting.book_buy(position, figures, rules, order.pair_price, start=True, buy=order.id)
            else:
                accounting.book_buy(position, figures, rules, order.price, buy=order.id)
            position.peak_price = figures.price  # trailing exits count from the latest buy (a DCA safety order)
            self.touched[id(position)] = position
            return None
        if position is None:
            log.warning("sell fill booked without an open position", **order_fields(order))
            return None
        realized = accounting.book_sell(position, figures, rules, order.pair_price)
        if accounting.is_dust(position, rules, figures.price):
            row = self.bots[bot.id]
            row.dust_amount, row.dust_cost, row.cycle = position.amount, position.entry_cost, row.cycle + 1
            self.bots_changed[bot.id] = row
            position.status, position.closed_at = "closed", self.now
            position.amount, position.entry_cost, position.lots = ZERO, ZERO, []
            del self.positions[bot.id]
        self.touched[id(position)] = position
        return realized

    def write(self) -> None:
        old = [p for p in self.touched.values() if p.id is not None]
        insert_rows(Position, [p for p in self.touched.values() if p.id is None])
        bulk_update(Position, old, POSITION_FIELDS)
        bulk_update(Bot, list(self.bots_changed.values()), [Bot.dust_amount, Bot.dust_cost, Bot.cycle])
        for fill, fill_id in zip(self.fill_rows, insert_rows(Fill, self.fill_rows)):
            fill.id = fill_id
        insert_rows(Outbox, self.messages)


def fill_payload(bot: Bot, fill: Fill, rules: MarketRules) -> dict:
    return {
        "bot_id": bot.id, "bot_name": bot.name, "mode": bot.mode, "side": fill.side,
        "symbol": fill.symbol, "base": rules.base, "quote": rules.quote,
        "amount": str(fill.amount), "price": str(fill.price), "cost": str(fill.cost),
        "fee": str(fill.fee), "fee_currency": fill.fee_currency, "fees": fill.fees,
        "realized_profit": None if fill.realized_profit is None else str(fill.realized_profit),
    }
