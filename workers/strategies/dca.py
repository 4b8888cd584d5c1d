"""DCA deals, as 3Commas' DCA bot makes them: a base order, then `so` safety orders resting
below it, and one exit for the whole deal.

- The ladder: the base order and the first safety order spend the same quote; each later
  safety order `vscale` times the previous. The first rests `dev` % below the base order's
  price, each later gap `sscale` times the previous. Base plus every safety order fits the
  capital: sizes are cut from it exactly (Decimal, rounded down).
- At most ACTIVE_SAFETY_ORDERS rest at once; the next are placed as earlier ones fill.
- The exit: take profit `tp` % above the deal's average price (buy fees included), or with
  `trail` > 0, once there, when the price falls `trail` % from its peak; stop loss `sl` % below
  the average (0 = none). An exit cancels the resting safety orders and sells the deal.
- `start` = now opens a deal at once and again after each close; `dip` waits for the
  `dip`/`period` signal of the dip strategy.
"""
from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_DOWN, Decimal

from workers.strategies import dip
from workers.strategies.base import HOLD, Decision, Holding, Param, ParamError, Want

D = Decimal
ACTIVE_SAFETY_ORDERS = 3
# "Sell now" also stops the bot: with start=now it would open the next deal at once.
STOPS_AFTER_SELL_NOW = True
QUOTE_PLACES = D("0.00000001")

PARAMS = {
    "so": Param("so", 5, "safety orders", D(0), D(50), integer=True),
    "dev": Param("dev", D("1"), "% below the base order's price to the first safety order", D("0.1"), D("50")),
    "vscale": Param("vscale", D("1.5"), "each safety order's size, times the previous", D("0.5"), D("10")),
    "sscale": Param("sscale", D("1"), "each gap between safety orders, times the previous", D("0.5"), D("10")),
    "tp": Param("tp", D("1.5"), "take profit, % above the deal's average price (fees included)", D("0.1"), D("1000")),
    "trail": Param("trail", D("0"), "trailing take profit, % below the peak (0 = off)", D("0"), D("50")),
    "sl": Param("sl", D("0"), "stop loss, % below the deal's average price (0 = none)", D("0"), D("99")),
    "start": Param("start", "now", "open a deal now (and after each close) or on a dip", choices=("now", "dip")),
    "dip": dip.PARAMS["dip"],
    "period": dip.PARAMS["period"],
    "timeframe": dip.PARAMS["timeframe"],
}

_ladders: dict[tuple, tuple] = {}


def ladder(params: dict, capital: Decimal) -> tuple[tuple[str, Decimal, Decimal], ...]:
    """(role, % below the base price, quote to spend) of the base order and each safety order."""
    key = (capital, params["so"], params["dev"], params["vscale"], params["sscale"])
    if key not in _ladders:
        if len(_ladders) > 10_000:
            _ladders.clear()
        weights = [D(1)] + [params["vscale"] ** (k - 1) for k in range(1, params["so"] + 1)]
        unit = capital / sum(weights)
        steps, deviation, gap = [], D(0), params["dev"]
        for k, weight in enumerate(weights):
            if k > 0:
                deviation += gap
                gap *= params["sscale"]
            steps.append(("base" if k == 0 else f"so{k}", deviation, (unit * weight).quantize(QUOTE_PLACES, ROUND_DOWN)))
        _ladders[key] = tuple(steps)
    return _ladders[key]


def check(params: dict) -> None:
    """Settings that make no ladder, whatever the market."""
    deviation, gap = D(0), params["dev"]
    for _ in range(params["so"]):
        deviation += gap
        gap *= params["sscale"]
    if deviation >= 100:
        raise ParamError("The last safety order would be {deviation}% below the base price: lower so, dev or sscale.",
                         deviation=D(format(deviation, ".2f")))  # can exceed quantize's precision


def plan(params: dict, capital: Decimal, price: Decimal, rules, buy_factor: Decimal) -> dict:
    """The resolved ladder if the base order filled at `price` now: each order's price and size
    at the market's precision; ParamError (with the smallest capital that works) when an order
    falls under the market's minimum. buy_factor: what a unit of quote costs with fees and margin."""
    orders = _orders(params, capital, price, rules, buy_factor)
    if all(rules.tradable(o["amount"], o["price"]) for o in orders):
        return {"params": params, "state": {}, "orders": orders}
    # Each order needs its minimum; it gets a fixed share of the capital.
    estimate = D(0)
    for order, (_, _, quote) in zip(orders, ladder(params, capital)):
        at = order["price"]
        needed = max(rules.min_amount, ceil_step(rules, rules.min_cost / at)) * at * buy_factor
        estimate = max(estimate, needed * capital / quote if quote else D(10) ** 12)
    smallest = _cents_up(estimate)
    for _ in range(1000):  # the estimate is within a few cents: rounding down each size
        if all(rules.tradable(o["amount"], o["price"]) for o in _orders(params, smallest, price, rules, buy_factor)):
            break
        smallest += D("0.01")
    raise ParamError("Each order of this ladder must reach {symbol}'s minimum ({min_amount} {base}, {min_cost} "
                     "{quote}): use a capital of at least {smallest} {quote}, or fewer safety orders.",
                     symbol=rules.symbol, min_amount=rules.min_amount, base=rules.base, min_cost=rules.min_cost,
                     quote=rules.quote, smallest=smallest)


def _orders(params: dict, capital: Decimal, price: Decimal, rules, buy_factor: Decimal) -> list[dict]:
    orders = []
    for role, deviation, quote in ladder(params, capital):
        at = price if role == "base" else rules.round_price(price * (1 - deviation / 100))
        amount = rules.floor_amount(quote / (at * buy_factor)) if at > 0 else D(0)
        orders.append({"role": role, "side": "buy", "price": at, "amount": amount, "cost": amount * at, "quote": quote})
    return orders


def ceil_step(rules, amount: Decimal) -> Decimal:
    floored = rules.floor_amount(amount)
    return floored if floored >= amount else floored + rules.amount_step


def _cents_up(value: Decimal) -> Decimal:
    return (value * 100).to_integral_value(ROUND_CEILING) / 100


def decide(closes: list[Decimal], price: Decimal, holding: Holding | None, params: dict, capital: Decimal,
           orders=(), state=None) -> Decision:
    steps = ladder(params, capital)
    if holding is None:
        if orders:  # safety orders of a deal that ended: gone before the next deal opens
            return Decision(cancel=tuple(o.role for o in orders), reason="the deal is closed")
        reason = "a new deal" if params["start"] == "now" else dip.entry_signal(closes, price, params)
        if reason is None:
            return HOLD
        return Decision(place=(Want("buy", "base", quote=steps[0][2]),), reason=reason)

    average = holding.entry_price
    resting = tuple(o.role for o in orders if o.role.startswith("so"))
    if params["sl"] > 0 and price <= average * (1 - params["sl"] / 100):
        return Decision(place=(Want("sell", "sl"),), cancel=resting, reason=f"stop loss at {price}")
    target = average * (1 + params["tp"] / 100)
    peak = max(holding.peak_price, price)
    if params["trail"] > 0:
        if peak >= target and price <= peak * (1 - params["trail"] / 100):
            return Decision(place=(Want("sell", "tp"),), cancel=resting,
                            reason=f"trailing take profit at {price}, {params['trail']}% under the peak {peak}")
    elif price >= target:
        return Decision(place=(Want("sell", "tp"),), cancel=resting, reason=f"take profit at {price}")

    placed = state.get("placed", 0) if state and state.get("deal") == holding.id else 0
    base = holding.base_price or average
    wants, k = [], placed
    while len(resting) + len(wants) < ACTIVE_SAFETY_ORDERS and k < params["so"]:
        k += 1
        role, deviation, quote = steps[k]
        wants.append(Want("buy", role, price=base * (1 - deviation / 100), quote=quote))
    new_peak = peak if params["trail"] > 0 and peak > holding.peak_price else None
    if wants:
        return Decision(place=tuple(wants), state={"deal": holding.id, "placed": k}, peak_price=new_peak,
                        reason=f"safety orders up to {k}")
    return HOLD if new_peak is None else Decision(peak_price=new_peak)


def chart_lines(params: dict, holding: Holding | None) -> list[tuple[str, Decimal]]:
    """The prices a chart of this bot marks: the deal's average, take profit, stop loss."""
    if holding is None:
        return []
    lines = [("average", holding.entry_price), ("take profit", holding.entry_price * (1 + params["tp"] / 100))]
    if params["sl"] > 0:
        lines.append(("stop loss", holding.entry_price * (1 - params["sl"] / 100)))
    return lines
