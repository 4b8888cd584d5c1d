"""Backtests: a strategy module replayed over historical candles, with the paper exchange's
fill rules on candles. No I/O: candles and market rules in, a Result out.

Each closed candle in turn: the resting limit orders its low (buys) or high (sells) reaches
fill at their limit price as makers; then the strategy decides on the candle's close, exactly
as the engine lets it decide on the latest price (the closes before it, its position, its
resting orders, its memory). Market orders fill at that close as takers (history has no order
book to walk); a limit order the close has already crossed fills at once at its price, as on
the paper exchange. Sizes follow the market's precision and minimums (workers/sizing.py),
positions are booked by workers/accounting.py, fees are the paper exchange's (in the quote,
rounded to 8 places) unless a FeeRule says otherwise (Binance's: out of the asset received,
or in BNB), so the books can be checked against the fee rules of real exchanges.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from exchanges import MarketRules, OrderRefused
from workers import accounting, sizing
from workers.strategies import Closes, Decision, Holding, OpenOrder

ZERO = Decimal(0)
FEE_PLACES = Decimal("0.00000001")
EQUITY_POINTS = 600  # samples of the equity curve kept for its chart


@dataclass
class Fill:
    at: int  # candle open time, ms
    side: str
    role: str
    price: Decimal
    amount: Decimal
    fee: Decimal  # valued in the quote
    realized_profit: Decimal | None = None
    fees: dict = field(default_factory=dict)  # currency -> amount, as the exchange charged them


@dataclass(frozen=True)
class FeeRule:
    """The asset a simulated fill pays its fee in: the quote (the paper exchange), the asset the
    fill receives (`received`: Binance's default, a buy pays in the base), or a third asset worth
    `price` in the quote at a `discount` of the rate (Binance's BNB: 0.75). Each fee is rounded
    half-up to 8 places of its asset, as those exchanges charge it."""

    asset: str = "quote"
    price: Decimal = ZERO
    discount: Decimal = Decimal(1)

    def charge(self, rules: MarketRules, side: str, amount: Decimal, cost: Decimal,
               rate: Decimal) -> tuple[dict, Decimal]:
        """The fees of one fill (currency -> amount), and what those in a third asset are worth in the quote."""
        if self.asset == "received" and side == "buy":
            fee = _fee(amount, rate)
            return ({rules.base: fee} if fee else {}), ZERO
        if self.asset not in ("quote", "received"):
            fee = _fee(cost * self.discount / self.price, rate)
            return ({self.asset: fee} if fee else {}), fee * self.price
        fee = _fee(cost, rate)
        return ({rules.quote: fee} if fee else {}), ZERO


@dataclass
class Result:
    capital: Decimal
    candles: int
    first_price: Decimal
    last_price: Decimal
    final_equity: Decimal
    fills: list[Fill]
    fees: Decimal
    max_drawdown: Decimal  # % from a peak of equity
    equity: list[tuple[int, Decimal]] = field(default_factory=list)  # sampled (time, equity)

    @property
    def exits(self) -> list[Fill]:
        return [f for f in self.fills if f.realized_profit is not None]

    @property
    def return_pct(self) -> Decimal:
        return (self.final_equity - self.capital) * 100 / self.capital

    @property
    def hold_pct(self) -> Decimal:
        return (self.last_price - self.first_price) * 100 / self.first_price if self.first_price else ZERO

    @property
    def win_rate(self) -> Decimal | None:
        exits = self.exits
        return None if not exits else Decimal(sum(f.realized_profit > 0 for f in exits) * 100) / len(exits)

    @property
    def profit_factor(self) -> Decimal | None:
        won = sum((f.realized_profit for f in self.exits if f.realized_profit > 0), ZERO)
        lost = -sum((f.realized_profit for f in self.exits if f.realized_profit < 0), ZERO)
        return None if lost == 0 else won / lost


class _Position:
    """The fields accounting.book_buy/book_sell work on, as a Position row has them."""

    def __init__(self, price: Decimal, number: int, dust_amount: Decimal, dust_cost: Decimal):
        self.id, self.amount, self.entry_cost = number, dust_amount, dust_cost
        self.entry_price = self.peak_price = self.base_price = price
        self.fees = self.proceeds = self.realized_profit = ZERO
        self.exit_price = None
        self.lots: list = []


class _Order:
    __slots__ = ("role", "side", "price", "amount", "pair_price")

    def __init__(self, role, side, price, amount, pair_price):
        self.role, self.side, self.price, self.amount, self.pair_price = role, side, price, amount, pair_price


def _fee(cost: Decimal, rate: Decimal) -> Decimal:
    return (cost * rate).quantize(FEE_PLACES, ROUND_HALF_UP)


class Simulation:
    def __init__(self, module, params: dict, capital: Decimal, rules: MarketRules, state: dict | None = None,
                 fee_rule: FeeRule = FeeRule()):
        self.module, self.params, self.capital, self.rules = module, params, capital, rules
        self.state = state or {}
        self.fee_rule = fee_rule
        self.quote, self.base = capital, ZERO  # wallet totals (resting orders' funds included)
        self.other_fees = ZERO  # fees paid in a third asset, valued in the quote (bought as needed)
        self.position: _Position | None = None
        self.positions = 0
        self.dust_amount = self.dust_cost = ZERO
        self.orders: list[_Order] = []
        self.fills: list[Fill] = []
        self.fees = ZERO

    # ------------------------------------------------------------------ the replay

    def run(self, candles: list[list[Decimal]]) -> Result:
        period = int(self.params.get("period") or 1)
        closes = [row[4] for row in candles]
        averages = _rolling_means(closes, period)
        peak_equity, drawdown = self.capital, ZERO
        every = max(1, len(candles) // EQUITY_POINTS)
        equity_curve = []
        equity = self.capital
        for i, (at, _, high, low, close, *_) in enumerate(candles):
            if self.orders:
                self._fill_resting(at, low, high)
            window = Closes(closes[max(0, i - period):i])
            window.averages[period] = averages[i]
            self._act(at, close, window)
            equity = self.quote + self.base * close - self.other_fees
            if equity > peak_equity:
                peak_equity = equity
            elif peak_equity and (peak_equity - equity) * 100 / peak_equity > drawdown:
                drawdown = (peak_equity - equity) * 100 / peak_equity
            if i % every == 0 or i == len(candles) - 1:
                equity_curve.append((at, equity))
        return Result(self.capital, len(candles), closes[0] if closes else ZERO, closes[-1] if closes else ZERO,
                      equity, self.fills, self.fees, drawdown, equity_curve)

    def _act(self, at: int, price: Decimal, window: Closes) -> None:
        position = self.position
        holding = None if position is None else Holding(position.amount, position.entry_price, position.entry_cost,
                                                        position.peak_price, position.base_price, position.id)
        resting = tuple(OpenOrder(o.role, o.side, o.price, o.amount) for o in self.orders)
        decision: Decision = self.module.decide(window, price, holding, self.params, self.capital, resting, self.state)
        if decision.peak_price is not None and position is not None:
            position.peak_price = decision.peak_price
        if not decision.acts:
            return
        if decision.cancel:
            self.orders = [o for o in self.orders if o.role not in decision.cancel]
        try:
            promised = sum((o.amount for o in self.orders if o.side == "sell"), ZERO)
            wanted = []
            for want in decision.place:  # the sells of one decision share what is free, as in the engine
                amount, limit = self._size(want, price, promised)
                promised += amount if want.side == "sell" else ZERO
                wanted.append((amount, limit))
        except OrderRefused:
            return  # all or nothing, as in the engine: the next candle decides again
        if decision.state is not None:
            self.state = decision.state
        for want, (amount, limit) in zip(decision.place, wanted):
            pair = None if want.pair_price is None else self.rules.round_price(want.pair_price)
            if limit is None:
                self._trade(at, want.side, want.role, price, amount, self.rules.taker_fee, pair, market=True)
            elif (want.side == "buy" and price <= limit) or (want.side == "sell" and price >= limit):
                self._trade(at, want.side, want.role, limit, amount, self.rules.maker_fee, pair)
            elif self._can_rest(want.side, amount, limit):
                self.orders.append(_Order(want.role, want.side, limit, amount, pair))

    def _size(self, want, price: Decimal, promised: Decimal) -> tuple[Decimal, Decimal | None]:
        """(amount, limit price or None), as the engine's act job sizes an order."""
        rules = self.rules
        limit = None if want.price is None else rules.round_price(want.price)
        at = price if limit is None else limit
        if want.side == "buy":
            if want.amount is not None:
                amount = rules.floor_amount(want.amount)
                sizing.check_minimums(rules, amount, at)
                return amount, limit
            # The simulated account holds the capital and what the strategy made of it: a
            # budget beyond that (the capital after a loss) spends what there is.
            return sizing.buy_amount(rules, min(want.quote or self.capital, self._free_quote()), at), limit
        held = self.position.amount if self.position else ZERO
        if want.amount is not None:
            return sizing.sell_amount(rules, min(want.amount, held - promised), at), limit
        return sizing.sell_amount(rules, held, at), limit

    def _free_quote(self) -> Decimal:
        return self.quote - sum((o.amount * o.price * (1 + self.rules.maker_fee) for o in self.orders
                                 if o.side == "buy"), ZERO)

    def _can_rest(self, side: str, amount: Decimal, limit: Decimal) -> bool:
        if side == "buy":
            return self._free_quote() >= amount * limit * (1 + self.rules.maker_fee)
        promised = sum((o.amount for o in self.orders if o.side == "sell"), ZERO)
        return self.base - promised >= amount

    def _fill_resting(self, at: int, low: Decimal, high: Decimal) -> None:
        still, reached = [], []
        for order in self.orders:
            if (order.side == "buy" and low <= order.price) or (order.side == "sell" and high >= order.price):
                reached.append(order)
            else:
                still.append(order)
        self.orders = still
        # In the order the candle's move meets them, as the engine books them: buys from the
        # highest down, then sells from the lowest up (a grid's sell then finds its buy).
        for order in sorted(reached, key=lambda o: (o.side == "sell", o.price if o.side == "sell" else -o.price)):
            self._trade(at, order.side, order.role, order.price, order.amount, self.rules.maker_fee, order.pair_price)

    # ------------------------------------------------------------------ wallet and position

    def _trade(self, at, side, role, price, amount, fee_rate, pair_price, market=False) -> None:
        rules = self.rules
        if side == "sell":
            amount = min(amount, self.base)
        cost = amount * price
        fees, other_fees = self.fee_rule.charge(rules, side, amount, cost, fee_rate)
        in_quote = fees.get(rules.quote, ZERO)
        if side == "buy":
            if self.quote < cost + in_quote:
                return  # insufficient funds: the exchange refuses it
            self.quote -= cost + in_quote
            self.base += amount - fees.get(rules.base, ZERO)
        else:
            self.quote += cost - in_quote
            self.base -= amount
        figures = accounting.FillFigures(side, amount, cost, fees, other_fees)
        fee = figures.fee_quote(rules)
        self.other_fees += other_fees
        self.fees += fee
        realized = None
        if side == "buy":
            if self.position is None:
                self.positions += 1
                self.position = _Position(figures.price, self.positions, self.dust_amount, self.dust_cost)
                self.dust_amount = self.dust_cost = ZERO
            # A grid's buy is kept as a lot, as booking keeps it: a level's at its level, the
            # start's market buy under the lowest level it sells.
            if pair_price is None:
                accounting.book_buy(self.position, figures, rules)
            else:
                accounting.book_buy(self.position, figures, rules, pair_price if market else price, start=market)
            self.position.peak_price = price
        elif self.position is not None:
            realized = accounting.book_sell(self.position, figures, rules, pair_price)
            if accounting.is_dust(self.position, rules, price):
                self.dust_amount, self.dust_cost = self.position.amount, self.position.entry_cost
                self.position = None
        self.fills.append(Fill(at, side, role, price, amount, fee, realized, fees))


def _rolling_means(closes: list[Decimal], period: int) -> list[Decimal | None]:
    """The mean of the `period` closes before each index (None until there are enough), exact."""
    means: list[Decimal | None] = [None] * len(closes)
    total = ZERO
    for i, close in enumerate(closes):
        if i >= period:
            means[i] = total / period
            total -= closes[i - period]
        total += close
    return means


def simulate(module, params: dict, capital: Decimal, rules: MarketRules, candles: list[list[Decimal]],
             state: dict | None = None, fee_rule: FeeRule = FeeRule()) -> Result:
    return Simulation(module, params, capital, rules, state, fee_rule).run(candles)
