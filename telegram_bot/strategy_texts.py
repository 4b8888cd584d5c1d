"""Texts of the strategy features: a strategy's parameters (/help <strategy>), the orders a new
bot's plan resolved to (a DCA ladder, grid levels). HTML, dynamic parts escaped; no I/O.

Kept apart from formatting.py so they move into the gettext catalogs in one piece."""
from __future__ import annotations

from html import escape

from telegram_bot.formatting import num, price

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
        lines.append(f"<code>{escape(p['name'])}</code> — {escape(p['help'])}; default {default}; {escape(bounds)}")
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
