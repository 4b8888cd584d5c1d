"""Booking a fill into a position: plain arithmetic over rows, no I/O.

Fees stay in the currency they were paid in (Fill.fees), and are charged to the position in
the quote currency: a fee in the base currency reduces what a buy received, a fee in the quote
adds to a buy's cost or reduces a sell's proceeds, and a fee in a third asset (BNB) is valued
in the quote at the fill and charged the same way.

A grid's level buys are also kept apart as lots (position.lots: level, quote paid with every
fee, base received net of a base fee) until the sell one level up takes its lot back: a pair's
realized profit is then exactly what the exchange's two trades say, whatever the fees were paid
in and at whatever rate (a BNB discount, a VIP tier), and nothing of it stays in the position.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from exchanges import MarketRules

ZERO = Decimal(0)


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


def book_buy(position, fill: FillFigures, rules: MarketRules, lot_price: Decimal | None = None) -> None:
    """Add a buy to the position: amount received net of a base fee, cost with the other fees.
    A grid level's buy (`lot_price`: its level) is kept as a lot as well (its parts, when it
    fills in several, make one lot)."""
    received = fill.amount - fill.fee_in(rules.base)
    paid = fill.cost + fill.fee_in(rules.quote) + fill.other_fees_quote
    position.amount += received
    position.entry_cost += paid
    position.entry_price = position.entry_cost / position.amount if position.amount else fill.price
    position.fees += fill.fee_quote(rules)
    if lot_price is not None:
        lots = position.lots
        if lots and Decimal(lots[-1][0]) == lot_price:  # another part of the same buy
            _, before_paid, before_received = lots[-1]
            paid, received = paid + Decimal(before_paid), received + Decimal(before_received)
            lots = lots[:-1]
        position.lots = [*lots, [str(lot_price), str(paid), str(received)]]


def book_sell(position, fill: FillFigures, rules: MarketRules, pair_price: Decimal | None = None) -> Decimal:
    """Take a sell out of the position; the realized profit of the share sold.

    Only the sold share of the entry cost is charged, so a partial exit leaves the rest open
    at its own cost. A grid sell (`pair_price`: its buy's level) is charged what that buy paid
    for the base it sells (its lot), or, for a level the start's market buy bought, the level's
    price and maker fee: its profit per completed pair. A sell that empties the position
    realizes all that is left of the cost."""
    sold = min(fill.amount, position.amount)
    cost_share = position.entry_cost * sold / position.amount if position.amount else ZERO
    if pair_price is None:
        position.lots = []  # the whole position is being sold: no pair is left to complete
    elif rules.tradable(rules.floor_amount(position.amount - sold), fill.price):
        paid = take_lot(position, pair_price, sold, rules.amount_step)
        cost_share = min(position.entry_cost, sold * pair_price * (1 + rules.maker_fee) if paid is None else paid)
    proceeds = fill.cost - fill.fee_in(rules.quote) - fill.fee_in(rules.base) * fill.price - fill.other_fees_quote
    realized = proceeds - cost_share
    position.amount -= sold
    position.entry_cost -= cost_share
    position.proceeds += proceeds
    position.realized_profit += realized
    position.fees += fill.fee_quote(rules)
    position.exit_price = fill.price
    return realized


def take_lot(position, level: Decimal, sold: Decimal, step: Decimal) -> Decimal | None:
    """What the buy at `level` paid for `sold` of its base (None without such a lot), taken out of
    its lot. When the price jumped over that level, the newest lot under it is the base sold.
    What a lot has left under a step (a base fee's worth, or less than nothing when the sell
    also took some of that) joins the rest of the position."""
    lots = position.lots
    index = next((i for i in range(len(lots) - 1, -1, -1) if Decimal(lots[i][0]) == level), None)
    if index is None:
        index = next((i for i in range(len(lots) - 1, -1, -1) if Decimal(lots[i][0]) < level), None)
        if index is None:
            return None
    price, paid, received = lots[index]
    paid, received = Decimal(paid), Decimal(received)
    share = paid * sold / received
    rest = [] if received - sold < step else [[price, str(paid - share), str(received - sold)]]
    position.lots = lots[:index] + rest + lots[index + 1:]
    return share


def is_dust(position, rules: MarketRules, price: Decimal) -> bool:
    """What is left can no longer be sold on this market (below its step or minimums)."""
    return not rules.tradable(rules.floor_amount(position.amount), price)


def main_fee(fees: dict, rules: MarketRules) -> tuple[Decimal, str]:
    """The fee to show in one figure: the quote's, else the base's, else the first other."""
    for currency in (rules.quote, rules.base, *sorted(fees)):
        if fees.get(currency):
            return Decimal(fees[currency]), currency
    return ZERO, rules.quote
