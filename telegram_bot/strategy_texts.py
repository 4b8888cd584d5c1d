"""Texts of the strategy features: a strategy's parameters (/help <strategy>), the orders a new
bot's plan resolved to (a DCA ladder, grid levels), and the /backtest and /chart answers. HTML
in the reader's language through the catalog (`t()` escapes the values it fills in); no I/O."""
from __future__ import annotations

import re

from telegram_bot import engine_texts
from telegram_bot.formatting import Html, join, num, percent, price, t
from telegram_bot.i18n import N_, _

ROLE_NAMES = {"base": N_("base order"), "exit": N_("exit")}
SIDES = {"buy": N_("buy"), "sell": N_("sell")}
# The strategies' summaries (the first sentence of each module's description, see
# strategies.summary), marked here for the catalog; test_i18n fails if one no longer matches.
SUMMARIES = {
    "dip": N_("Mean reversion: buy when the price is `dip` % below the SMA of `period` closed candles; sell at "
              "take profit `tp` % or stop loss `sl` %; with `trail` > 0, once the take profit is reached, sell when "
              "the price falls `trail` % from its peak; with `tsl` > 0, a trailing stop loss: armed at the entry, "
              "it sells when the price falls `tsl` % under the highest price since the entry (it only ever rises)."),
    "dca": N_("DCA deals, as 3Commas' DCA bot makes them: a base order, then `so` safety orders resting below it, "
              "and one exit for the whole deal."),
    "grid": N_("A grid, as Binance's and Pionex's grid bots trade one: limit orders resting on levels between `low` "
               "and `high`, `grids` intervals apart, equal steps (`arithmetic`) or equal ratios (`geometric`); every "
               "level trades the same base amount."),
}
EXAMPLES = {"dip": "dip=0.6 tp=1.5 sl=3 tsl=2", "dca": "so=5 dev=1 vscale=1.5 tp=1.5",
            "grid": "low=55000 high=65000 grids=10 mode=geometric"}


def _role(role: str) -> str:
    if role in ROLE_NAMES:
        return _(ROLE_NAMES[role])
    match = re.fullmatch(r"(so|g)(\d+)", role)  # "so2" is the second safety order, "g3" a grid level
    if match:
        return t("safety order {n}", n=match[2]) if match[1] == "so" else t("level {n}", n=match[2])
    return role


def strategy_help(name: str, summary: str, parameters: list[dict]) -> Html:
    lines = [t("<b>Strategy {name}</b>: {summary}", name=name, summary=_(summary)), "",
             t("Parameters (name=value):")]
    for p in parameters:
        meaning = p["help"]  # marked in the strategy's own module
        if p["choices"]:
            bounds = " | ".join(p["choices"])
        elif p["high"] is None:
            bounds = t("at least {low}", low=num(p["low"]))
        else:
            bounds = t("{low} to {high}", low=num(p["low"]), high=num(p["high"]))
        default = t("see meaning") if p["default"] is None else str(p["default"])
        lines.append(t("<code>{name}</code> — {meaning}; default {default}; {bounds}", name=p["name"],
                       meaning=_(meaning), default=default, bounds=bounds))
    lines += ["", t("Example: <code>/newbot paper:binance BTC/USDT 100 {name} {example}</code>", name=name,
                    example=EXAMPLES.get(name, ""))]
    return join(lines)


def strategy_list(names: list[str]) -> Html:
    return t("Strategies: {names}. <code>/help &lt;strategy&gt;</code> lists its parameters, defaults and bounds.",
             names=Html(", ".join(t("<code>{name}</code>", name=n) for n in names)))


def unknown_strategy(name: str, names: list[str]) -> Html:
    return t("⚠️ Unknown strategy '{name}'. Available: {names}.", name=name, names=", ".join(names))


def plan_text(plan: dict, quote: str) -> Html:
    """The orders a bot's plan resolved to, at the price when it was created."""
    base = plan["base"]
    lines = [t("Orders at today's price {price}:", price=price(plan["price"]))]
    total = 0
    for order in plan["orders"]:
        side = order.get("side", "buy")
        total += order["cost"]
        lines.append(t("{role}: {side} {amount} {base} @ {price} = {cost} {quote}", role=_role(order["role"]),
                       side=_(SIDES.get(side, side)), amount=num(order["amount"]), base=base,
                       price=price(order["price"]), cost=num(order["cost"], 2), quote=quote))
    lines.append(t("total {total} {quote}", total=num(total, 2), quote=quote))
    return join(lines)


# --- /backtest and /chart: outbox rows whose answer is a photo -------------------------------

PHOTO_KINDS = ("backtest", "chart")
PROGRESS_KIND = "progress"  # edits the message a /backtest was answered with


def backtest_queued(strategy: str, symbol: str, days: int) -> Html:
    return t("⏳ Backtesting {strategy} on {symbol} over {days} days… the report comes here in a moment.",
             strategy=strategy, symbol=symbol, days=days)


def backtest_progress(p: dict) -> Html:
    """The "Backtesting…" message as the job goes: fetching history, simulating, finished."""
    values = {"strategy": p["strategy"], "symbol": p["symbol"], "days": p["days"]}
    if p["stage"] == "history":
        return t("⏳ Backtesting {strategy} on {symbol} over {days} days: history, part {done} of {total}…",
                 done=p["done"], total=p["total"], **values)
    if p["stage"] == "simulating":
        return t("⏳ Backtesting {strategy} on {symbol} over {days} days: simulating {candles} candles…",
                 candles=num(p["candles"]), **values)
    return t("✅ Backtest of {strategy} on {symbol} over {days} days finished: the report is below.", **values)


def chart_queued(bot_id: int) -> Html:
    return t("⏳ Drawing the chart of bot {id}…", id=bot_id)


def _failure(p: dict) -> str:
    """The job's error in the reader's language: a strategy's template with values, or an engine text."""
    template = p.get("error_template")  # a strategy's ParamError, marked in its module
    if template:
        return _(template).format(**p.get("error_params", {}))
    return engine_texts.translate(p["error"])


def report_caption(kind: str, p: dict) -> Html:
    """The text under a /backtest or /chart photo, or the whole answer when it failed."""
    if kind == "chart":
        if "error" in p:
            return t("⚠️ Chart of bot {id}: {error}", id=p["bot_id"], error=_failure(p))
        return t("📈 Bot {id} {name} · {symbol} {timeframe} · {fills} fill(s) shown", id=p["bot_id"],
                 name=p["bot_name"], symbol=p["symbol"], timeframe=p["timeframe"], fills=p["fills"])
    head = t("Backtest {strategy} on {symbol}, {days} day(s)", strategy=p["strategy"], symbol=p["symbol"],
             days=p["days"])
    if "error" in p:
        return t("⚠️ {head}: {error}", head=head, error=_failure(p))
    settings = " ".join(f"{k}={v}" for k, v in sorted(p["params"].items()))
    rate = "–" if p["win_rate"] is None else f"{num(p['win_rate'], 1)}%"
    factor = "–" if p["profit_factor"] is None else num(p["profit_factor"], 2)
    return join([
        t("📊 <b>{head}</b> ({exchange}, {candles} candles of {timeframe})", head=head, exchange=p["exchange"],
          candles=p["candles"], timeframe=p["timeframe"]),
        t("capital {capital} {quote} · trades {trades} ({fills} fills)", capital=num(p["capital"]), quote=p["quote"],
          trades=p["trades"], fills=p["fills"]),
        t("return {ret} · buy and hold {hold}", ret=percent(p["return_pct"]), hold=percent(p["hold_pct"])),
        t("max drawdown {drawdown}% · win rate {rate} · profit factor {factor}", drawdown=num(p["max_drawdown"], 2),
          rate=rate, factor=factor),
        t("fees {fees} {quote}", fees=num(p["fees"], 2), quote=p["quote"]),
        t("<code>{settings}</code>", settings=settings),
    ])
