"""Booking a fill into a position: plain arithmetic over rows, no I/O.

Fees stay in the currency they were paid in (Fill.fees), and are charged to the position in
the quote currency: a fee in the base currency reduces what a buy received, a fee in the quote
adds to a buy's cost or reduces a sell's proceeds, and a fee in a third asset (BNB) is valued
in the quote at the fill and charged the same way.

A grid's buys are also kept apart as lots (position.lots: level, quote paid with every fee, base
received net of a base fee) until the sell one level up takes its lot back, and the start's
market buy as one lot (marked START, under its lowest sell's level) that each sell of a level it
bought takes its share of, at what the start paid a unit: a pair's
realized profit is then exactly what the exchange's two trades say, whatever the fees were paid
in and at whatever rate (a BNB discount, a VIP tier), and nothing of it stays in the position.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from exchanges import MarketRules

ZERO = Decimal(0)
START = "start"  # a lot's mark: the start's market buy, for every level it bought


@dataclass(frozen=True)
class FillFigures:
    """One fill's share of an order (the difference between two cumulative exchange reports)."""

    side: str
    amount: Decimal  # base traded
    cost: Decimal  # quote value
    fees: dict  # currency -> amount
    other_fees_quote: Decimal  # fees in third assets, valued in quote

    def fee_in(self, currency: str) -> Decimal:
        return self.fees.get(currency, ZERO)

    @property
    def price(self) -> Decimal:
        return self.cost / self.amount if self.amount else ZERO

    def fee_quote(self, rules: MarketRules) -> Decimal:
        """Every fee of this fill valued in the quote currency."""
        return self.fee_in(rules.quote) + self.fee_in(rules.base) * self.price + self.other_fees_quote


def difference(side: str, before_filled: Decimal, before_cost: Decimal, before_fees: dict,
               after_filled: Decimal, after_cost: Decimal, after_fees: dict) -> FillFigures:
    """The fill between two cumulative reports of one order (fees per currency)."""
    fees = {}
    for currency, amount in after_fees.items():
        change = Decimal(amount) - Decimal(before_fees.get(currency, "0"))
        if change:
            fees[currency] = change
    return FillFigures(side, after_filled - before_filled, after_cost - before_cost, fees, ZERO)


def book_buy(position, fill: FillFigures, rules: MarketRules, lot_price: Decimal | None = None,
             start: bool = False, buy: int | None = None) -> None:
    """Add a buy to the position: amount received net of a base fee, cost with the other fees.
    A grid's buy is kept as a lot as well: a level's buy (`lot_price`: its level) for the sell one
    level up; the start's market buy (`start`; `lot_price`: the level under its lowest sell) for
    every sell of the levels it bought. The parts of a buy that fills in several make one lot:
    the lot of the same order (`buy`: its id), else the newest lot when it is of the same level."""
    received = fill.amount - fill.fee_in(rules.base)
    paid = fill.cost + fill.fee_in(rules.quote) + fill.other_fees_quote
    position.amount += received
    position.entry_cost += paid
    position.entry_price = position.entry_cost / position.amount if position.amount else fill.price
    position.fees += fill.fee_quote(rules)
    if lot_price is not None:
        lots, kind, key = position.lots, START if start else "", "" if buy is None else str(buy)
        index = None
        if key:  # parts of two buys can fill alternately: each joins its own order's lot
            index = next((i for i in range(len(lots) - 1, -1, -1) if _buy(lots[i]) == key), None)
        elif lots and Decimal(lots[-1][0]) == lot_price and _kind(lots[-1]) == kind and not _buy(lots[-1]):
            index = len(lots) - 1
        if index is not None:
            paid, received = paid + Decimal(lots[index][1]), received + Decimal(lots[index][2])
            lots = lots[:index] + lots[index + 1:]
        position.lots = [*lots, _lot(str(lot_price), str(paid), str(received), kind, key)]


def _lot(level: str, paid: str, received: str, kind: str, buy: str) -> list[str]:
    """A lot as positions keep it: level, paid, received, then its kind and order only when set."""
    return [level, paid, received, *([kind, buy] if buy else [kind] if kind else [])]


def _kind(lot: list) -> str:
    return lot[3] if len(lot) > 3 else ""


def _buy(lot: list) -> str:
    return lot[4] if len(lot) > 4 else ""


def book_sell(position, fill: FillFigures, rules: MarketRules, pair_price: Decimal | None = None) -> Decimal:
    """Take a sell out of the position; the realized profit of the share sold.

    Only the sold share of the entry cost is charged, so a partial exit leaves the rest open
    at its own cost. A grid sell (`pair_price`: its buy's level) is charged what that buy paid
    for the base it sells (its lot: a level's buy, or the start's at what it paid a unit): its
    profit per completed pair. Without a lot (a position from before the start's lots, dust that joined
    it) it is charged what the base outside the lots cost on average. A sell that empties the
    position realizes all that is left of the cost."""
    sold = min(fill.amount, position.amount)
    cost_share = position.entry_cost * sold / position.amount if position.amount else ZERO
    if pair_price is None:
        position.lots = []  # the whole position is being sold: no pair is left to complete
    elif rules.tradable(rules.floor_amount(position.amount - sold), fill.price):
        paid = take_lot(position, pair_price, sold, rules.amount_step)
        charge = _unlotted_cost(position, sold) if paid is None else paid
        # Coins still held never stay at no cost: a charge of all that is left pays the average.
        if charge < position.entry_cost:
            cost_share = charge
    proceeds = fill.cost - fill.fee_in(rules.quote) - fill.fee_in(rules.base) * fill.price - fill.other_fees_quote
    realized = proceeds - cost_share
    position.amount -= sold
    position.entry_cost -= cost_share
    position.proceeds += proceeds
    position.realized_profit += realized
    position.fees += fill.fee_quote(rules)
    position.exit_price = fill.price
    return realized


def _unlotted_cost(position, sold: Decimal) -> Decimal:
    """What `sold` of the base kept in no lot cost, at its average (the position's average when
    the lots hold all of it, as when a base fee made the lots' sells take more than they received)."""
    free_amount = position.amount - sum((Decimal(lot[2]) for lot in position.lots), ZERO)
    free_cost = position.entry_cost - sum((Decimal(lot[1]) for lot in position.lots), ZERO)
    if free_amount >= sold and free_amount > 0 and free_cost > 0:
        return free_cost * sold / free_amount
    return position.entry_cost * sold / position.amount


def take_lot(position, level: Decimal, sold: Decimal, step: Decimal) -> Decimal | None:
    """What the buy under the sell paired with `level` paid for `sold` of its base (None without
    such a lot), taken out of its lot: the buy at that level; else the start's, when it bought
    the sell's level; else, when the price jumped over that level, the newest lot under it.
    What a lot has left under a step (a base fee's worth, or less than nothing when the sell
    also took some of that) joins the rest of the position."""
    lots = position.lots
    index = _lot_index(lots, level)
    if index is None:
        return None
    price, paid, received, *marks = lots[index]
    paid, received = Decimal(paid), Decimal(received)
    share = paid * sold / received
    rest = [] if received - sold < step else [[price, str(paid - share), str(received - sold), *marks]]
    position.lots = lots[:index] + rest + lots[index + 1:]
    return share


def _lot_index(lots: list, level: Decimal) -> int | None:
    newest_first = range(len(lots) - 1, -1, -1)
    for found in (lambda lot: not _kind(lot) and Decimal(lot[0]) == level,
                  lambda lot: _kind(lot) == START and Decimal(lot[0]) <= level,
                  lambda lot: Decimal(lot[0]) < level):
        index = next((i for i in newest_first if found(lots[i])), None)
        if index is not None:
            return index
    return None


def is_dust(position, rules: MarketRules, price: Decimal) -> bool:
    """What is left can no longer be sold on this market (below its step or minimums)."""
    return not rules.tradable(rules.floor_amount(position.amount), price)


def main_fee(fees: dict, rules: MarketRules) -> tuple[Decimal, str]:
    """The fee to show in one figure: the quote's, else the base's, else the first other."""
    for currency in (rules.quote, rules.base, *sorted(fees)):
        if fees.get(currency):
            return Decimal(fees[currency]), currency
    return ZERO, rules.quote
