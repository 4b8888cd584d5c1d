"""What every strategy speaks: parameter specs, the holding it is shown, the decision it returns.

Strategies are pure: closes and a holding in, a Decision out. No I/O, no clock, no database.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation


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
            raise ParamError("{name} must be between {low} and {high}; got '{value}'.", name=self.name,
                             low=self.low, high=self.high, value=raw)
        return int(value) if self.integer else value


@dataclass(frozen=True)
class Holding:
    """The open position a strategy sees."""

    amount: Decimal
    entry_price: Decimal
    entry_cost: Decimal
    peak_price: Decimal


@dataclass(frozen=True)
class Decision:
    action: str  # hold | buy | sell
    reason: str = ""
    quote_amount: Decimal | None = None  # buys only: how much quote currency to spend
    peak_price: Decimal | None = None  # a new high water mark to remember for trailing exits

    @property
    def acts(self) -> bool:
        return self.action in ("buy", "sell")


HOLD = Decision("hold")


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
