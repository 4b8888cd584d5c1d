"""PNG charts for the chat, drawn with matplotlib's Agg backend (no display): a backtest's
equity, a bot's market with its fills and levels. Readable on a phone: large fonts, few
colours, the bot's name and symbol in the title. Plain data in, PNG bytes out."""
from __future__ import annotations

import datetime as dt
import io

import matplotlib

matplotlib.use("Agg")
from matplotlib import pyplot  # noqa: E402  (after the backend is chosen)

SIZE = (8, 6)  # inches at DPI: 800 x 600, Telegram's usual photo size
DPI = 100
BUY, SELL, PRICE, LINE = "#1a9850", "#d73027", "#333333", "#4575b4"
pyplot.rcParams.update({"font.size": 14, "axes.titlesize": 16, "axes.grid": True, "grid.alpha": 0.3})


def _times(ms_values) -> list[dt.datetime]:
    return [dt.datetime.fromtimestamp(float(ms) / 1000, dt.timezone.utc) for ms in ms_values]


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=DPI)
    pyplot.close(figure)
    return buffer.getvalue()


def equity_chart(title: str, points: list[tuple[int, float]], hold: list[tuple[int, float]], quote: str) -> bytes:
    """The strategy's equity over time beside buying and holding the same capital."""
    figure, axes = pyplot.subplots(figsize=SIZE)
    axes.plot(_times(t for t, _ in points), [v for _, v in points], color=LINE, linewidth=2, label="strategy")
    if hold:
        axes.plot(_times(t for t, _ in hold), [v for _, v in hold], color=PRICE, linewidth=1.5,
                  linestyle="--", label="buy and hold")
    axes.set_title(title)
    axes.set_ylabel(quote)
    axes.legend(loc="best")
    return _png(figure)


def market_chart(title: str, candles: list[tuple[int, float]], fills: list[dict], lines: list[tuple[str, float]],
                 quote: str) -> bytes:
    """Closes of the bot's timeframe, its buys and sells marked, and horizontal lines (average
    entry, take profit, stop loss, or the grid's levels)."""
    figure, axes = pyplot.subplots(figsize=SIZE)
    axes.plot(_times(t for t, _ in candles), [p for _, p in candles], color=PRICE, linewidth=1.5)
    for side, color, marker in (("buy", BUY, "^"), ("sell", SELL, "v")):
        chosen = [f for f in fills if f["side"] == side]
        if chosen:
            axes.scatter(_times(f["at"] for f in chosen), [f["price"] for f in chosen], color=color, marker=marker,
                         s=120, zorder=3, label=side)
    for label, value in lines:
        axes.axhline(value, color=LINE if label.startswith("level") else SELL if "stop" in label else BUY,
                     linewidth=1, linestyle=":" if label.startswith("level") else "--", alpha=0.8)
        if not label.startswith("level"):
            axes.annotate(label, (1, value), xycoords=("axes fraction", "data"), ha="right", va="bottom", fontsize=12)
    axes.set_title(title)
    axes.set_ylabel(quote)
    if fills:
        axes.legend(loc="best")
    return _png(figure)
