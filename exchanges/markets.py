"""A market's trading rules, and the shapes orders take on their way to and from an exchange."""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

ZERO = Decimal(0)


def to_decimal(value) -> Decimal:
    """ccxt hands out floats and strings; money is Decimal from here on (via str, never binary)."""
    return ZERO if value is None or value == "" else Decimal(str(value))


@dataclass(frozen=True)
class MarketRules:
    symbol: str
    base: str
    quote: str
    amount_step: Decimal
    price_step: Decimal
    min_amount: Decimal
    min_cost: Decimal
    taker_fee: Decimal
    maker_fee: Decimal = Decimal("0.001")

    def floor_amount(self, amount: Decimal) -> Decimal:
        return (amount / self.amount_step).to_integral_value(ROUND_DOWN) * self.amount_step

    def round_price(self, price: Decimal) -> Decimal:
        return (price / self.price_step).to_integral_value(ROUND_HALF_UP) * self.price_step

    def tradable(self, amount: Decimal, price: Decimal) -> bool:
        return amount > 0 and amount >= self.min_amount and amount * price >= self.min_cost

    @classmethod
    def from_ccxt(cls, market: dict) -> "MarketRules":
        limits, precision = market.get("limits") or {}, market.get("precision") or {}
        return cls(
            symbol=market["symbol"], base=market["base"], quote=market["quote"],
            amount_step=to_decimal(precision.get("amount") or "0.00000001"),
            price_step=to_decimal(precision.get("price") or "0.00000001"),
            min_amount=to_decimal((limits.get("amount") or {}).get("min")),
            min_cost=to_decimal((limits.get("cost") or {}).get("min")),
            taker_fee=to_decimal(market.get("taker") or "0.001"),
            maker_fee=to_decimal(market.get("maker") or market.get("taker") or "0.001"),
        )


@dataclass(frozen=True)
class OrderRequest:
    """What we ask an exchange for; the client order id is the order's identity everywhere."""

    client_order_id: str
    symbol: str
    side: str  # buy | sell
    type: str  # market | limit
    amount: Decimal
    price: Decimal | None = None
    # Whose order this is, for the log lines of its calls (logcontext fields); no part of the request.
    log_ids: dict = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class OrderState:
    """An order as the exchange reports it. Figures are cumulative over the order's life, so
    booking the difference from what was booked before is idempotent."""

    exchange_order_id: str
    status: str  # open | filled | canceled | rejected | expired
    filled: Decimal
    cost: Decimal
    fees: dict[str, Decimal] = field(default_factory=dict)

    @property
    def final(self) -> bool:
        return self.status != "open"

    @property
    def average_price(self) -> Decimal:
        return self.cost / self.filled if self.filled else ZERO
