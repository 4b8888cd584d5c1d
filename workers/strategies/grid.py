"""A grid, as Binance's and Pionex's grid bots trade one: limit orders resting on levels
between `low` and `high`, `grids` intervals apart, equal steps (`arithmetic`) or equal ratios
(`geometric`); every level trades the same base amount.

At start the bot buys, at market, the base for the levels above the price and rests a buy on
every level below the price and a sell on every level above it; the level nearest the price
stays empty. Then a filled buy rests a sell one level up, and a filled sell a buy one level
down: the empty level moves with the price. Which level is empty follows from what the bot
holds (n levels, h units held: level n - h), so the decision needs no memory of fills and is
the same however often it is taken. Nothing rests outside [low, high]; the owner is told when
the price leaves the range and when it comes back. A sell's realized profit is counted against
its paired buy one level down (grid profit): what that buy paid, fees included (each level buy
names its sell's level, `pair_price`, so it is kept apart as a lot); for a level the start's
market buy bought, what the start paid a unit (it names the level under its lowest sell, and is
kept as one lot that those sells take their share of). Where the exchange takes a buy's fee in the base (Binance, Bybit, OKX), a level's sell
sells what is held, floored to the step (the engine sizes it so): nothing runs out or piles
up, and h falls short of whole levels by little more than the start's fee (under 0.4 of a
level, see plan), so rounding h still finds the empty level (tests/workers/test_grid_round_trips.py).
"""
from __future__ import annotations

from bisect import bisect_left
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

from workers.strategies.base import HOLD, Decision, Holding, Param, ParamError, Want

D = Decimal
DEFAULT_RANGE = D("0.10")  # low and high default to 10 % under and over the price at creation
FEE_ROUNDING = D("0.00000001")  # exchanges round a fee to 8 places: up to half of that more
# The decision counts the levels held by rounding what is held: the base fee of a start that buys
# every level at once (short of the last level's sell) must stay well under half a level.
MOST_START_FEES = D("0.4")
# "Sell now" also stops the bot: it would buy its base and rest its orders again on the next tick.
STOPS_AFTER_SELL_NOW = True

PARAMS = {
    "low": Param("low", None, "lowest level, a price (default: 10% under the price at creation)", D("0.00000001")),
    "high": Param("high", None, "highest level, a price (default: 10% over the price at creation)", D("0.00000001")),
    "grids": Param("grids", 10, "intervals between low and high", D(2), D(200), integer=True),
    "mode": Param("mode", "arithmetic", "equal steps or equal ratios", choices=("arithmetic", "geometric")),
}
ROLES = tuple(f"g{i}" for i in range(201))
LEVEL_OF = {role: i for i, role in enumerate(ROLES)}
_levels: dict[tuple, tuple[Decimal, ...]] = {}
_amounts: dict[str, Decimal] = {}


def check(params: dict) -> None:
    if params["low"] is not None and params["high"] is not None and params["low"] >= params["high"]:
        raise ParamError("low must be below high; got low={low} high={high}.", low=params["low"],
                         high=params["high"])


def levels(params: dict) -> tuple[Decimal, ...]:
    """The grids + 1 level prices, low first (exact; the engine rounds them to the market's tick)."""
    key = (params["low"], params["high"], params["grids"], params["mode"])
    if key not in _levels:
        if len(_levels) > 10_000:
            _levels.clear()
        low, high, n = params["low"], params["high"], params["grids"]
        if params["mode"] == "geometric":
            ratio = (high / low) ** (D(1) / n)
            prices = [low * ratio ** i for i in range(n)] + [high]
        else:
            step = (high - low) / n
            prices = [low + step * i for i in range(n)] + [high]
        _levels[key] = tuple(prices)
    return _levels[key]


def plan(params: dict, capital: Decimal, price: Decimal, rules, buy_factor: Decimal) -> dict:
    """Resolve low and high (defaults around `price`), round the levels to the market's tick
    and size the amount every level trades so the whole grid fits the capital wherever the
    price starts in the range: ParamError (with the smallest capital that works) when a
    level's order, or what is left to sell of it once a buy's fee is taken in the base, falls
    under the market's minimum."""
    params = dict(params)
    if params["low"] is None:
        params["low"] = rules.round_price(price * (1 - DEFAULT_RANGE))
    if params["high"] is None:
        params["high"] = rules.round_price(price * (1 + DEFAULT_RANGE))
    check(params)
    prices = [rules.round_price(p) for p in levels(params)]
    if any(a >= b for a, b in zip(prices, prices[1:])) or prices[0] <= 0:
        raise ParamError("{grids} grids between {low} and {high} are closer than {symbol}'s price step {step}: "
                         "use fewer grids or a wider range.", grids=params["grids"], low=params["low"],
                         high=params["high"], symbol=rules.symbol, step=rules.price_step)
    if params["grids"] * rules.taker_fee >= MOST_START_FEES:
        raise ParamError("{grids} grids would pay {share} of a level in fees when the start buys them all at once: "
                         "use fewer grids.", grids=params["grids"],
                         share=(params["grids"] * rules.taker_fee).quantize(D("0.01")))
    # At most every level but the lowest is held or bought: that much capital covers any start.
    cost_of_one = sum(prices[1:]) * buy_factor
    amount = rules.floor_amount(capital / cost_of_one)
    if not _orders_tradable(rules, amount, prices):
        smallest = (_least_amount(rules, prices) * cost_of_one * 100).to_integral_value(ROUND_CEILING) / 100
        figures = dict(amount=amount, base=rules.base, symbol=rules.symbol, min_amount=rules.min_amount,
                       min_cost=rules.min_cost, quote=rules.quote, smallest=smallest)
        if not rules.tradable(amount, prices[0]):
            raise ParamError("Each level's order ({amount} {base}) is below {symbol}'s minimum ({min_amount} {base}, "
                             "{min_cost} {quote}): use a capital of at least {smallest} {quote}, or fewer grids.",
                             **figures)
        raise ParamError("Each level's order ({amount} {base}) leaves too little to sell under {symbol}'s minimum "
                         "({min_amount} {base}, {min_cost} {quote}) once the exchange takes a buy's fee from it: use "
                         "a capital of at least {smallest} {quote}, or fewer grids.", **figures)
    k = nearest(prices, price)
    orders = [{"role": ROLES[i], "side": "buy" if i < k else "sell", "price": p, "amount": amount, "cost": amount * p}
              for i, p in enumerate(prices) if i != k]
    return {"params": params, "state": {"amount": str(amount)}, "orders": orders}


def _orders_tradable(rules, amount: Decimal, prices) -> bool:
    """Every order of the grid clears the market's minimums, even where the exchange takes a
    buy's fee in the base (Binance, Bybit, OKX): the buy at the lowest level; the sell of what
    one level's buy delivers (a maker fee less, at the step) at the lowest level a sell rests
    on; and the start's last sell, which is short of the whole start's fee (every level but
    the lowest bought at once, at the taker fee), at the highest."""
    n = len(prices) - 1
    delivered = rules.floor_amount(amount * (1 - rules.maker_fee) - FEE_ROUNDING)
    start_last = rules.floor_amount(amount * (1 - n * rules.taker_fee) - FEE_ROUNDING)
    return (rules.tradable(amount, prices[0]) and rules.tradable(delivered, prices[1])
            and rules.tradable(start_last, prices[-1]))


def _least_amount(rules, prices) -> Decimal:
    """The smallest amount at the step whose orders all clear the minimums (_orders_tradable)."""
    def least_at(price: Decimal) -> Decimal:
        return max(rules.min_amount, _ceil_step(rules, rules.min_cost / price))

    n = len(prices) - 1
    least = max(least_at(prices[0]),
                _ceil_step(rules, (least_at(prices[1]) + FEE_ROUNDING) / (1 - rules.maker_fee)),
                _ceil_step(rules, (least_at(prices[-1]) + FEE_ROUNDING) / (1 - n * rules.taker_fee)))
    while not _orders_tradable(rules, least, prices):  # a step more where the rounding of a fee bites
        least += rules.amount_step
    return least


def _ceil_step(rules, amount: Decimal) -> Decimal:
    floored = rules.floor_amount(amount)
    return floored if floored >= amount else floored + rules.amount_step


def nearest(prices, price: Decimal) -> int:
    """The level nearest the price (the one left empty)."""
    i = bisect_left(prices, price)
    if i == 0:
        return 0
    if i == len(prices):
        return len(prices) - 1
    return i if prices[i] - price < price - prices[i - 1] else i - 1


def _amount(text: str) -> Decimal:
    if text not in _amounts:
        _amounts[text] = D(text)
    return _amounts[text]


def decide(closes: list[Decimal], price: Decimal, holding: Holding | None, params: dict, capital: Decimal,
           orders=(), state=None) -> Decision:
    if not state or "amount" not in state or params["low"] is None:
        return HOLD  # never planned: nothing to trade
    amount = _amount(state["amount"])
    prices = levels(params)
    n = len(prices) - 1
    outside = "below" if price < prices[0] else "above" if price > prices[-1] else None
    notice = None
    if outside != state.get("outside"):
        notice = (f"The price {price} left the grid's range {params['low']}–{params['high']} ({outside} it): "
                  "orders outside the range are not placed until it comes back." if outside else
                  f"The price {price} is back in the grid's range {params['low']}–{params['high']}.")
    if not state.get("started"):
        if outside:
            return Decision(state={**state, "outside": outside}, notice=notice) if notice else HOLD
        k = nearest(prices, price)
        # The start's market buy names the level under its lowest sell: it is kept as their lot.
        place = [Want("buy", "gstart", amount=amount * (n - k), pair_price=prices[k])] if k < n else []
        place += [Want("buy", ROLES[i], price=prices[i], amount=amount, pair_price=prices[i + 1]) for i in range(k)]
        return Decision(place=tuple(place), state={**state, "started": True, "outside": None}, notice=notice,
                        reason=f"grid start, level {k} empty")

    held = holding.amount if holding is not None else D(0)
    k = max(0, n - int((held / amount).to_integral_value(ROUND_HALF_UP)))
    # Reconcile: buys below level k, sells above it; an order on the wrong side goes.
    cancel, have = [], set()
    for order in orders:
        i = LEVEL_OF.get(order.role)
        if i is None:
            continue
        if i == k or (order.side == "buy") != (i < k):
            cancel.append(order.role)
        else:
            have.add(i)
    place = []
    # Never a resting order the price has already passed: it would trade at once, as a taker.
    below = bisect_left(prices, price)  # levels under the price
    for i in range(min(k, below)):
        if i not in have:
            place.append(Want("buy", ROLES[i], price=prices[i], amount=amount, pair_price=prices[i + 1]))
    for i in range(max(k + 1, below), n + 1):
        if i not in have and prices[i] > price:
            place.append(Want("sell", ROLES[i], price=prices[i], amount=amount, pair_price=prices[i - 1]))
    if not place and not cancel and notice is None:
        return HOLD
    new_state = None if notice is None else {**state, "outside": outside}
    return Decision(place=tuple(place), cancel=tuple(cancel), state=new_state, notice=notice,
                    reason=f"grid level {k} empty")


def chart_lines(params: dict, holding: Holding | None) -> list[tuple[str, Decimal]]:
    """The grid's levels."""
    if params["low"] is None:
        return []
    return [(f"level {i}", price) for i, price in enumerate(levels(params))]
