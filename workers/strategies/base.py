"""What every strategy speaks: parameter specs, what it is shown, the decision it returns.

A strategy is one pure module: PARAMS, and decide(closes, price, holding, params, capital,
orders, state) -> Decision, where `orders` are its resting orders and `state` its memory; the
Decision says which orders it wants placed and canceled, and the engine reconciles. No I/O,
no clock, no database. Strategies whose orders depend on the market's rules also offer
plan(params, capital, price, rules), used when a bot is created (workers/plans.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import NamedTuple


class ParamError(ValueError):
    """A strategy parameter is unknown or out of bounds; the text is shown to the user.

    `template` (English, with {named} fields) and `params` let the chat translate it; str() is English.
    """

    def __init__(self, template: str, **params):
        super().__init__(template.format(**params) if params else template)
        self.template, self.params = template, params


@dataclass(frozen=True)
class Param:
    name: str
    default: object
    help: str
    low: Decimal | None = None
    high: Decimal | None = None
    choices: tuple[str, ...] = ()
    integer: bool = False

    def parse(self, raw) -> object:
        if self.choices:
            value = str(raw).strip()
            if value not in self.choices:
                raise ParamError("{name} must be one of {choices}; got '{value}'.", name=self.name,
                                 choices=", ".join(self.choices), value=raw)
            return value
        try:
            value = Decimal(str(raw).strip())
        except InvalidOperation:
            raise ParamError("{name} must be a number; got '{value}'.", name=self.name, value=raw) from None
        if not value.is_finite():
            raise ParamError("{name} must be a number; got '{value}'.", name=self.name, value=raw)
        if self.integer and value != value.to_integral_value():
            raise ParamError("{name} must be a whole number; got '{value}'.", name=self.name, value=raw)
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            if self.high is None:
                raise ParamError("{name} must be at least {low}; got '{value}'.", name=self.name, low=self.low,
                                 value=raw)
            raise ParamError("{name} must be between {low} and {high}; got '{value}'.", name=self.name,
                             low=self.low, high=self.high, value=raw)
        return int(value) if self.integer else value


@dataclass(frozen=True)
class Holding:
    """The open position a strategy sees."""

    amount: Decimal
    entry_price: Decimal  # average, buy fees included
    entry_cost: Decimal
    peak_price: Decimal  # the highest price since the last buy fill
    base_price: Decimal | None = None  # the price of the position's first fill (a DCA deal's base order)
    id: int = 0  # the position's id: a strategy's memory of a deal is tied to it


class OpenOrder(NamedTuple):
    """One of the bot's orders resting on the exchange, as the strategy placed it."""

    role: str
    side: str
    price: Decimal | None
    amount: Decimal
    filled: Decimal = Decimal(0)


class Want(NamedTuple):
    """An order a strategy wants placed. A buy gives the quote to spend or a base amount; a sell
    without an amount sells the whole position. No price: at market; with one: a resting limit."""

    side: str
    role: str = ""
    price: Decimal | None = None
    quote: Decimal | None = None
    amount: Decimal | None = None
    pair_price: Decimal | None = None  # a grid sell's paired buy level; a grid buy's sell level


@dataclass(frozen=True)
class Decision:
    """The orders a strategy wants placed and canceled (by role), and what to remember.

    `state` replaces the bot's strategy memory, written only with this decision's orders;
    `peak_price` is a new high water mark of the position (trailing exits), written at once;
    `notice` is told to the owner once, with the state that records it was told."""

    place: tuple[Want, ...] = ()
    cancel: tuple[str, ...] = ()
    reason: str = ""
    peak_price: Decimal | None = None
    state: dict | None = None
    notice: str | None = None

    @property
    def acts(self) -> bool:
        return bool(self.place or self.cancel or self.state is not None or self.notice)

    @property
    def action(self) -> str:
        """buy or sell for a lone market order, orders for anything else to do, else hold."""
        if not self.acts:
            return "hold"
        if self.is_market_order:
            return self.place[0].side
        return "orders"

    @property
    def is_market_order(self) -> bool:
        """One plain market order and nothing else: the engine's shortest path."""
        if len(self.place) != 1 or self.cancel or self.state is not None or self.notice:
            return False
        want = self.place[0]
        return want.price is None and want.amount is None and not want.role

    @property
    def quote_amount(self) -> Decimal | None:
        return self.place[0].quote if self.place else None


HOLD = Decision()


def market_buy(quote: Decimal, reason: str = "") -> Decision:
    return Decision(place=(Want("buy", quote=quote),), reason=reason)


def market_sell(reason: str = "") -> Decision:
    return Decision(place=(Want("sell"),), reason=reason)


def parse_params(specs: dict[str, Param], raw: dict[str, str]) -> dict[str, object]:
    """Every parameter with its default, overridden by the user's name=value pairs."""
    unknown = sorted(set(raw) - set(specs))
    if unknown:
        raise ParamError("Unknown parameter {unknown}. Known: {known}.", unknown=", ".join(unknown),
                         known=", ".join(specs))
    params = {name: spec.default for name, spec in specs.items()}
    for name, value in raw.items():
        params[name] = specs[name].parse(value)
    return params


class Closes(list):
    """Closed candles' closes, oldest first, that remember their moving averages: a market's
    thousands of bots ask for a few periods, each computed once."""

    def __init__(self, values=()):
        super().__init__(values)
        self.averages: dict[int, Decimal | None] = {}


def sma(closes: list[Decimal], period: int) -> Decimal | None:
    remembered = getattr(closes, "averages", None)
    if remembered is not None and period in remembered:
        return remembered[period]
    average = None
    if 0 < period <= len(closes):
        average = sum(closes[-period:], Decimal(0)) / period
    if remembered is not None:
        remembered[period] = average
    return average
