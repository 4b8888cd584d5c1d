"""Mean reversion: buy when the price is `dip` % below the SMA of `period` closed candles;
sell at take profit `tp` % or stop loss `sl` %; with `trail` > 0, once the take profit is
reached, sell when the price falls `trail` % from its peak; with `tsl` > 0, a trailing stop
loss: armed at the entry, it sells when the price falls `tsl` % under the highest price
since the entry (it only ever rises)."""
from __future__ import annotations

from decimal import Decimal

from workers.strategies.base import HOLD, Decision, Holding, Param, market_buy, market_sell, sma

D = Decimal
TIMEFRAMES = ("1m", "3m", "5m", "15m", "30m", "1h", "4h", "1d")
# After "Sell now" the bot keeps running: it enters again only on its next signal.
STOPS_AFTER_SELL_NOW = False

PARAMS = {
    "dip": Param("dip", D("0.6"), "% below the moving average that triggers a buy", D("0.05"), D("50")),
    "period": Param("period", 20, "closed candles in the moving average", D(2), D(500), integer=True),
    "timeframe": Param("timeframe", "1m", "candle length", choices=TIMEFRAMES),
    "tp": Param("tp", D("1.5"), "take profit, % above the entry price", D("0.1"), D("1000")),
    "sl": Param("sl", D("3"), "stop loss, % below the entry price (0 = none)", D("0"), D("99")),
    "trail": Param("trail", D("0"), "trailing exit after take profit, % below the peak (0 = off)", D("0"), D("50")),
    "tsl": Param("tsl", D("0"), "trailing stop loss, % below the highest price since entry (0 = off)", D("0"), D("50")),
}


def entry_signal(closes: list[Decimal], price: Decimal, params: dict) -> str | None:
    """Why to buy now (the price `dip` % or more under the SMA), or None."""
    average = sma(closes, params["period"])
    if average is None or price > average * (1 - params["dip"] / 100):
        return None
    return f"price {price} is {params['dip']}% or more below SMA{params['period']} {average:.8f}"


def decide(closes: list[Decimal], price: Decimal, holding: Holding | None, params: dict, capital: Decimal,
           orders=(), state=None) -> Decision:
    """closes: closed candles, oldest first; price: the latest traded price."""
    if holding is None:
        reason = entry_signal(closes, price, params)
        return HOLD if reason is None else market_buy(capital, reason)

    take_profit = holding.entry_price * (1 + params["tp"] / 100)
    if params["sl"] > 0 and price <= holding.entry_price * (1 - params["sl"] / 100):
        return market_sell(f"stop loss at {price}")
    peak = max(holding.peak_price, price)
    if params["tsl"] > 0 and price <= peak * (1 - params["tsl"] / 100):
        return market_sell(f"trailing stop loss at {price}, {params['tsl']}% under the peak {peak}")
    if params["trail"] > 0:
        if peak >= take_profit and price <= peak * (1 - params["trail"] / 100):
            return market_sell(f"trailing exit at {price}, {params['trail']}% under the peak {peak}")
    elif price >= take_profit:
        return market_sell(f"take profit at {price}")
    if peak > holding.peak_price and (params["trail"] > 0 or params["tsl"] > 0):
        return Decision(peak_price=peak)
    return HOLD


def chart_lines(params: dict, holding: Holding | None) -> list[tuple[str, Decimal]]:
    """The prices a chart of this bot marks: entry, take profit, stop loss."""
    if holding is None:
        return []
    lines = [("entry", holding.entry_price), ("take profit", holding.entry_price * (1 + params["tp"] / 100))]
    if params["sl"] > 0:
        lines.append(("stop loss", holding.entry_price * (1 - params["sl"] / 100)))
    if params["tsl"] > 0:
        lines.append(("trailing stop", max(holding.peak_price, holding.entry_price) * (1 - params["tsl"] / 100)))
    return lines
