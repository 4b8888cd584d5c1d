"""PNG charts for the chat, drawn with matplotlib's Agg backend (no display): a backtest's
equity, a bot's market with its fills and levels. Readable on a phone: large fonts, few
colours, the bot's name and symbol in the title. Plain data and the reader's language in,
PNG bytes out.

Every word drawn comes from the chat's catalog (catalogs.py; the texts are marked here, and
scripts/catalogs.sh extracts them), and the axes' numbers and dates follow the reader's locale
(1.234,56 and 21/11 in Brazilian Portuguese): the PNG is read where the chat's text is read.
"""
from __future__ import annotations

import datetime as dt
import io

import matplotlib

matplotlib.use("Agg")
from babel import Locale  # noqa: E402
from babel.dates import format_skeleton  # noqa: E402
from babel.numbers import format_decimal  # noqa: E402
from matplotlib import dates as mdates  # noqa: E402
from matplotlib import pyplot, ticker  # noqa: E402  (after the backend is chosen)

from catalogs import N_, known, translations  # noqa: E402

SIZE = (8, 6)  # inches at DPI: 800 x 600, Telegram's usual photo size
DPI = 100
BUY, SELL, PRICE, LINE = "#1a9850", "#d73027", "#333333", "#4575b4"
pyplot.rcParams.update({"font.size": 14, "axes.titlesize": 16, "axes.grid": True, "grid.alpha": 0.3})

BACKTEST_TITLE = N_("{strategy} backtest · {symbol} · {days} d")
STRATEGY = N_("strategy")
BUY_AND_HOLD = N_("buy and hold")
TIME_AXIS = N_("time (UTC)")
SIDES = {"buy": N_("buy"), "sell": N_("sell")}
# The names strategies give their chart lines (chart_lines), as drawn beside the line; a grid's
# "level n" lines are drawn without a name.
LINE_NAMES = {"entry": N_("entry"), "average": N_("average"), "take profit": N_("take profit"),
              "stop loss": N_("stop loss"), "trailing stop": N_("trailing stop")}
STOP_LINES = ("stop loss", "trailing stop")


class Words:
    """One reader's language for a chart: its catalog's texts, its numbers and its dates."""

    def __init__(self, language: str | None):
        self.language = known(language)
        self.locale = Locale.parse(self.language)
        self._gettext = translations(self.language).gettext

    def __call__(self, text: str, **values) -> str:
        translated = self._gettext(text)
        return translated.format(**values) if values else translated

    def number(self, value: float, decimals: int) -> str:
        pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
        return format_decimal(value, format=pattern, locale=self.locale)

    def moment(self, moment: dt.datetime, skeletons: tuple[str, ...]) -> str:
        return " ".join(format_skeleton(s, moment, tzinfo=dt.timezone.utc, locale=self.locale) for s in skeletons)


class LocalNumbers(ticker.Formatter):
    """A value axis in the reader's locale, with as many decimals as its ticks need."""

    def __init__(self, words: Words):
        self.words, self.decimals = words, 2

    def set_locs(self, locs) -> None:
        super().set_locs(locs)
        self.decimals = decimals_for(list(locs))

    def __call__(self, value, pos=None) -> str:
        return self.words.number(value, self.decimals)


class LocalTimes(ticker.Formatter):
    """A time axis in the reader's locale: months, days, or hours as far apart as its ticks are."""

    def __init__(self, words: Words):
        self.words, self.skeletons = words, ("Hm",)

    def set_locs(self, locs) -> None:
        super().set_locs(locs)
        self.skeletons = skeletons_for(list(locs))

    def __call__(self, value, pos=None) -> str:
        return self.words.moment(mdates.num2date(value, tz=dt.timezone.utc), self.skeletons)


def decimals_for(locs: list[float]) -> int:
    """The fewest decimals that show every tick exactly (ticks 0.5 apart need one)."""
    distinct = sorted(set(float(v) for v in locs))
    step = min((b - a for a, b in zip(distinct, distinct[1:])), default=1.0) or 1.0
    for decimals in range(11):
        if all(abs(round(v, decimals) - v) < step * 1e-3 for v in distinct):
            return decimals
    return 10


def skeletons_for(locs: list[float]) -> tuple[str, ...]:
    """CLDR skeletons (babel) for ticks this far apart: "Nov 2026", "Nov 21", "11/21 14:00", "14:00"."""
    distinct = sorted(set(float(v) for v in locs))  # days (matplotlib's date numbers)
    step = min((b - a for a, b in zip(distinct, distinct[1:])), default=0.0)
    if step >= 28:
        return ("yMMM",)
    if step >= 1:
        return ("MMMd",)
    if distinct and int(distinct[0]) != int(distinct[-1]):
        return ("Md", "Hm")  # hours over more than one day
    return ("Hm",)


def _times(ms_values) -> list[dt.datetime]:
    return [dt.datetime.fromtimestamp(float(ms) / 1000, dt.timezone.utc) for ms in ms_values]


def _axes(words: Words, title: str, quote: str):
    figure, axes = pyplot.subplots(figsize=SIZE)
    axes.set_title(title)
    axes.set_ylabel(quote)
    axes.set_xlabel(words(TIME_AXIS))
    return figure, axes


def _localized(axes, words: Words) -> None:
    """After plotting (which sets the date locator): the axes' labels in the reader's locale."""
    axes.xaxis.set_major_formatter(LocalTimes(words))
    axes.yaxis.set_major_formatter(LocalNumbers(words))


def png(figure) -> bytes:
    """The figure as PNG bytes (its title in the PNG's metadata too); the figure is closed."""
    buffer = io.BytesIO()
    figure.autofmt_xdate()
    figure.tight_layout()
    title = figure.axes[0].get_title() if figure.axes else ""
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Title": title})
    pyplot.close(figure)
    return buffer.getvalue()


def equity_figure(strategy: str, symbol: str, days: int, points: list[tuple[int, float]],
                  hold: list[tuple[int, float]], quote: str, language: str | None):
    """The strategy's equity over time beside buying and holding the same capital."""
    words = Words(language)
    figure, axes = _axes(words, words(BACKTEST_TITLE, strategy=strategy, symbol=symbol, days=days), quote)
    axes.plot(_times(t for t, _ in points), [v for _, v in points], color=LINE, linewidth=2, label=words(STRATEGY))
    if hold:
        axes.plot(_times(t for t, _ in hold), [v for _, v in hold], color=PRICE, linewidth=1.5,
                  linestyle="--", label=words(BUY_AND_HOLD))
    axes.legend(loc="best")
    _localized(axes, words)
    return figure


def market_figure(name: str, symbol: str, timeframe: str, candles: list[tuple[int, float]], fills: list[dict],
                  lines: list[tuple[str, float]], quote: str, language: str | None):
    """Closes of the bot's timeframe, its buys and sells marked, and horizontal lines (average
    entry, take profit, stop loss, or the grid's levels)."""
    words = Words(language)
    figure, axes = _axes(words, f"{name} · {symbol} {timeframe}", quote)
    axes.plot(_times(t for t, _ in candles), [p for _, p in candles], color=PRICE, linewidth=1.5)
    for side, color, marker in (("buy", BUY, "^"), ("sell", SELL, "v")):
        chosen = [f for f in fills if f["side"] == side]
        if chosen:
            axes.scatter(_times(f["at"] for f in chosen), [f["price"] for f in chosen], color=color, marker=marker,
                         s=120, zorder=3, label=words(SIDES[side]))
    for label, value in lines:
        level = label.startswith("level")
        axes.axhline(value, color=LINE if level else SELL if label in STOP_LINES else BUY,
                     linewidth=1, linestyle=":" if level else "--", alpha=0.8)
        if not level:
            axes.annotate(words(LINE_NAMES.get(label, label)), (1, value), xycoords=("axes fraction", "data"),
                          ha="right", va="bottom", fontsize=12)
    if fills:
        axes.legend(loc="best")
    _localized(axes, words)
    return figure
