"""Texts of the strategy features: a strategy's parameters (/help <strategy>), the orders a new
bot's plan resolved to (a DCA ladder, grid levels). HTML, dynamic parts escaped; no I/O.

Kept apart from formatting.py so they move into the gettext catalogs in one piece; for now
English, but for the parameters' meanings (already in the catalogs) and the reader's numbers."""
from __future__ import annotations

from html import escape

from telegram_bot.formatting import num, price, signed
from telegram_bot.i18n import _

ROLE_NAMES = {"base": "base order"}


def strategy_help(name: str, summary: str, parameters: list[dict]) -> str:
    lines = [f"<b>Strategy {escape(name)}</b>: {escape(summary)}", "", "Parameters (name=value):"]
    for p in parameters:
        if p["choices"]:
            bounds = " | ".join(p["choices"])
        elif p["high"] is None:
            bounds = f"at least {num(p['low'])}"
        else:
            bounds = f"{num(p['low'])} to {num(p['high'])}"
        default = "see meaning" if p["default"] is None else escape(str(p["default"]))
        lines.append(f"<code>{escape(p['name'])}</code> — {escape(_(p['help']))}; default {default}; {escape(bounds)}")
    example = {"dip": "dip=0.6 tp=1.5 sl=3 tsl=2", "dca": "so=5 dev=1 vscale=1.5 tp=1.5",
               "grid": "low=55000 high=65000 grids=10 mode=geometric"}.get(name, "")
    lines += ["", f"Example: <code>/newbot paper:binance BTC/USDT 100 {escape(name)} {escape(example)}</code>"]
    return "\n".join(lines)


def strategy_list(names: list[str]) -> str:
    return "Strategies: " + ", ".join(f"<code>{escape(n)}</code>" for n in names) + \
        ". <code>/help &lt;strategy&gt;</code> lists its parameters, defaults and bounds."


def unknown_strategy(name: str, names: list[str]) -> str:
    return f"⚠️ Unknown strategy '{escape(name)}'. Available: {escape(', '.join(names))}."


def plan_text(plan: dict, quote: str) -> str:
    """The orders a bot's plan resolved to, at the price when it was created."""
    base = plan["base"]
    lines = [f"Orders at today's price {price(plan['price'])}:"]
    total = 0
    for order in plan["orders"]:
        role = ROLE_NAMES.get(order["role"], order["role"])
        side = order.get("side", "buy")
        total += order["cost"]
        lines.append(f"{escape(role)}: {side} {num(order['amount'])} {escape(base)} @ {price(order['price'])} "
                     f"= {num(order['cost'], 2)} {escape(quote)}")
    lines.append(f"total {num(total, 2)} {escape(quote)}")
    return "\n".join(lines)


# --- /backtest and /chart: outbox rows whose answer is a photo -------------------------------

PHOTO_KINDS = ("backtest", "chart")


def backtest_queued(strategy: str, symbol: str, days: int) -> str:
    return (f"⏳ Backtesting {escape(strategy)} on {escape(symbol)} over {days} days… "
            "the report comes here in a moment.")


def chart_queued(bot_id: int) -> str:
    return f"⏳ Drawing the chart of bot {bot_id}…"


def _percent(value) -> str:
    return "–" if value is None else f"{signed(value)}%"


def report_caption(kind: str, p: dict) -> str:
    """The text under a /backtest or /chart photo, or the whole answer when it failed."""
    if kind == "chart":
        if "error" in p:
            return f"⚠️ Chart of bot {p['bot_id']}: {escape(p['error'])}"
        return (f"📈 Bot {p['bot_id']} {escape(p['bot_name'])} · {escape(p['symbol'])} {escape(p['timeframe'])} · "
                f"{p['fills']} fill(s) shown")
    head = f"Backtest {escape(p['strategy'])} on {escape(p['symbol'])}, {p['days']} day(s)"
    if "error" in p:
        return f"⚠️ {head}: {escape(p['error'])}"
    settings = " ".join(f"{escape(k)}={escape(v)}" for k, v in sorted(p["params"].items()))
    rate = "–" if p["win_rate"] is None else f"{num(p['win_rate'], 1)}%"
    factor = "–" if p["profit_factor"] is None else num(p["profit_factor"], 2)
    return "\n".join([
        f"📊 <b>{head}</b> ({escape(p['exchange'])}, {p['candles']} candles of {escape(p['timeframe'])})",
        f"capital {num(p['capital'])} {escape(p['quote'])} · trades {p['trades']} ({p['fills']} fills)",
        f"return {_percent(p['return_pct'])} · buy and hold {_percent(p['hold_pct'])}",
        f"max drawdown {num(p['max_drawdown'], 2)}% · win rate {rate} · profit factor {factor}",
        f"fees {num(p['fees'], 2)} {escape(p['quote'])}",
        f"<code>{settings}</code>",
    ])
