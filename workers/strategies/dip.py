"""Mean reversion: buy when the price is `dip` % below the SMA of `period` closed candles;
sell at take profit `tp` % or stop loss `sl` %, or, with `trail` > 0, once the take profit is
reached, when the price falls `trail` % from its peak."""
from __future__ import annotations

from decimal import Decimal

from workers.strategies.base import HOLD, Decision, Holding, Param, sma

D = Decimal
TIMEFRAMES = ("1m", "3m", "5m", "15m", "30m", "1h", "4h", "1d")

PARAMS = {
    "dip": Param("dip", D("0.6"), "% below the moving average that triggers a buy", D("0.05"), D("50")),
    "period": Param("period", 20, "closed candles in the moving average", D(2), D(500), integer=True),
    "timeframe": Param("timeframe", "1m", "candle length", choices=TIMEFRAMES),
    "tp": Param("tp", D("1.5"), "take profit, % above the entry price", D("0.1"), D("1000")),
    "sl": Param("sl", D("3"), "stop loss, % below the entry price (0 = none)", D("0"), D("99")),
    "trail": Param("trail", D("0"), "trailing exit after take profit, % below the peak (0 = off)", D("0"), D("50")),
}


def decide(closes: list[Decimal], price: Decimal, holding: Holding | None, params: dict, capital: Decimal) -> Decision:
    """closes: closed candles, oldest first; price: the latest traded price."""
    if holding is None:
        average = sma(closes, params["period"])
        if average is None:
            return HOLD
        threshold = average * (1 - params["dip"] / 100)
        if price <= threshold:
            return Decision("buy", f"price {price} is {params['dip']}% or more below SMA{params['period']} {average:.8f}", quote_amount=capital)
        return HOLD

    take_profit = holding.entry_price * (1 + params["tp"] / 100)
    if params["sl"] > 0 and price <= holding.entry_price * (1 - params["sl"] / 100):
        return Decision("sell", f"stop loss at {price}")
    if params["trail"] > 0:
        peak = max(holding.peak_price, price)
        if peak >= take_profit and price <= peak * (1 - params["trail"] / 100):
            return Decision("sell", f"trailing exit at {price}, {params['trail']}% under the peak {peak}")
        return Decision("hold", peak_price=peak) if peak > holding.peak_price else HOLD
    if price >= take_profit:
        return Decision("sell", f"take profit at {price}")
    return HOLD
