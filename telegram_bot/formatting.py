"""Every text the bot sends, as HTML in the reader's language, dynamic parts escaped. No I/O.

Handlers and the notifier pass plain data (rpc dicts, outbox payloads) in and get strings
out. Texts come from the gettext catalog through `t()`, which escapes every value it fills in
unless the value is already `Html`; numbers, money and dates follow the reader's locale (pt-BR
writes 1.234,56). `split_message` keeps each piece under Telegram's 4096-character limit.
"""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from html import escape

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal

from telegram_bot import engine_texts, i18n
from telegram_bot.i18n import N_, _

TELEGRAM_LIMIT = 4096
SAFE_LIMIT = 4000  # leaves room for nothing to go wrong at the edge
MAX_PLACES = 8  # no exchange quotes finer than this
WHOLE = "#,##0"


class Html(str):
    """Text that is already safe HTML: t() inserts it as it is."""


def t(template: str, **values) -> Html:
    """The catalog's translation of `template`, with `values` escaped and filled in."""
    safe = {name: value if isinstance(value, Html) else escape(str(value)) for name, value in values.items()}
    return Html(_(template).format(**safe) if safe else _(template))


def join(lines, separator: str = "\n") -> Html:
    return Html(separator.join(lines))


# --- numbers, in the reader's locale -----------------------------------------

def _decimal(value: Decimal, pattern: str) -> str:
    return format_decimal(value, format=pattern, locale=i18n.locale())


def plain(value) -> str:
    """A decimal as typed in a command: positional, no grouping, no trailing zeros."""
    text = format(Decimal(value).normalize(), "f")
    return text if "." not in text else text.rstrip("0").rstrip(".")


def num(value, places: int | None = None) -> str:
    """A decimal without exponent or trailing zeros (at most 8 decimals), or with exactly `places`."""
    if value is None:
        return "–"
    value = Decimal(value)
    if places is not None:
        return _decimal(value, WHOLE + ("." + "0" * places if places else ""))
    return _decimal(value, WHOLE + "." + "#" * MAX_PLACES)


def price(value) -> str:
    """A price to 8 significant digits: enough for BTC and for coins worth a millionth."""
    if value is None:
        return "–"
    rounded = Decimal(format(Decimal(value), ".8g")).normalize()
    places = max(0, -rounded.as_tuple().exponent)
    return _decimal(rounded, WHOLE + ("." + "#" * places if places else ""))


def signed(value, places: int = 2) -> str:
    return ("+" if Decimal(value) > 0 else "") + num(value, places)


def percent(value, places: int = 2) -> str:
    return "–" if value is None else f"{signed(value, places)}%"


def when(moment: dt.datetime) -> str:
    """A UTC moment as the reader's locale writes a short date and time."""
    return format_datetime(moment.replace(tzinfo=dt.timezone.utc), "short", tzinfo=dt.timezone.utc,
                           locale=i18n.locale())


# --- splitting -----------------------------------------------------------------

_TAG_OR_ENTITY = re.compile(r"<[^<>]*>|&[#a-zA-Z0-9]+;")


def _hard_cut(line: str, limit: int) -> int:
    """Where to cut an overlong line: never inside a tag or an entity."""
    cut = limit
    for match in _TAG_OR_ENTITY.finditer(line, 0, limit + 12):
        if match.start() < cut < match.end():
            return match.start() or cut
    return cut


def split_message(text: str, limit: int = SAFE_LIMIT) -> list[str]:
    """Pieces of at most `limit` characters, cut at line ends where possible (blank lines kept)."""
    pieces: list[str] = []
    current: str | None = None
    for line in text.split("\n"):
        while len(line) > limit:  # a single overlong line is cut hard, between tags
            if current is not None:
                pieces.append(current)
                current = None
            cut = _hard_cut(line, limit)
            pieces.append(line[:cut])
            line = line[cut:]
        if current is None:
            current = line
        elif len(current) + 1 + len(line) <= limit:
            current = f"{current}\n{line}"
        else:
            pieces.append(current)
            current = line
    if current is not None:
        pieces.append(current)
    return pieces


def sendable(text: str) -> list[str]:
    """The pieces of `text` worth a message: Telegram refuses empty ones."""
    return [piece for piece in split_message(text) if piece.strip()]


# --- help ----------------------------------------------------------------------

# (command, example, what it does): the menu and /help. Examples are commands, never translated.
COMMANDS = [
    ("start", "/start", N_("register this chat")),
    ("help", "/help [dca]", N_("this list; with a strategy's name, its parameters, defaults and bounds")),
    ("addkey", "/addkey binance <api_key> <secret> [testnet]",
     N_("add an API key of binance, bybit or okx; okx keys with their passphrase: "
        "/addkey okx <api_key> <secret> <passphrase> (your message is deleted at once)")),
    ("keys", "/keys", N_("your API keys, masked")),
    ("delkey", "/delkey 1", N_("remove key 1")),
    ("newbot", "/newbot 1 BTC/USDT 100 dip dip=0.6 tp=1.5 sl=3", N_("a bot on key 1, or on paper:binance, paper:bybit, paper:okx")),
    ("bots", "/bots", N_("your bots with status and profit")),
    ("startbot", "/startbot 1", N_("start bot 1")),
    ("stopbot", "/stopbot 1", N_("stop bot 1 (no new entries; an open position still exits)")),
    ("deletebot", "/deletebot 1", N_("delete bot 1 (asks to confirm)")),
    ("status", "/status [1]", N_("open positions with unrealized profit")),
    ("trades", "/trades [10]", N_("your latest fills")),
    ("profit", "/profit [1]", N_("profit, fees, win rate, profit factor, max drawdown")),
    ("balance", "/balance [1]", N_("balances of key 1, or your paper wallet")),
    ("chart", "/chart 1", N_("a chart of bot 1's market with its fills and levels")),
    ("backtest", "/backtest dca ETH/USDT 30 so=3 tp=2", N_("a strategy on the last 30 days of history")),
    ("daily", "/daily [7]", N_("realized profit per day, trades, % of capital")),
    ("weekly", "/weekly [4]", N_("the same per week")),
    ("monthly", "/monthly [6]", N_("the same per month")),
    ("performance", "/performance", N_("realized profit per market")),
    ("settings", "/settings", N_("messages on, silent or off; language; daily summary hour")),
    ("cancel", "/cancel", N_("leave a guided conversation")),
]


def command_menu() -> list[tuple[str, str]]:
    """(command, description) pairs for Telegram's menu, in the current language."""
    return [(name, _(what)[:256]) for name, _example, what in COMMANDS]


def help_text(registered_now: bool = False) -> Html:
    head = t("<b>Welcome to botfleet!</b> You are registered.") if registered_now else Html("<b>botfleet</b>")
    lines = [head, "", t("Send a command alone and I guide you with buttons, or give everything at once:")]
    lines += [t("{example} — {what}", example=example, what=_(what)) for _name, example, what in COMMANDS]
    lines += ["", t("Strategy <code>dip</code>: buys when the price is <code>dip</code>% under its moving average of "
                    "<code>period</code> candles of <code>timeframe</code>, sells at take profit <code>tp</code>% or "
                    "stop loss <code>sl</code>% (optional <code>trail</code>, <code>tsl</code>).")]
    return join(lines)


# --- access and failures -----------------------------------------------------------

def private_only() -> Html:
    return t("Please talk to me in a private chat: bots and keys are personal, so I work only there.")


def start_first() -> Html:
    return t("Send /start to register first.")


def unknown_command(word: str) -> Html:
    return error(t("Unknown command {command}. Send /help to see what I can do.", command=word))


def commands_only() -> Html:
    return t("I understand commands only. Send /help to see them.")


def something_went_wrong() -> Html:
    return t("Sorry, something went wrong on our side. Please try again in a moment.")


def secret_deleted() -> Html:
    return t("That looked like an API secret, so I deleted it from the chat. To add a key, send /addkey.")


def could_not_delete_secret() -> Html:
    return error(t("I could not delete your message with the secret: please delete it yourself."))


NOT_FOUND = {
    "Bot": N_("Bot {id} not found. See your own with /bots."),
    "ApiKey": N_("Key {id} not found. See your own with /keys."),
}


def not_found(kind: str, ident) -> Html:
    return t(NOT_FOUND.get(kind, NOT_FOUND["Bot"]), id=ident)


def error(text: str) -> Html:
    return Html(f"⚠️ {text if isinstance(text, Html) else escape(text)}")


def translated_error(template: str, params: dict) -> Html:
    """A UserError, ParamError or gateway error in the reader's language. Their templates are
    plain text (they may say "<exchange>"), so the template is escaped too."""
    values = {name: escape(num(value) if isinstance(value, Decimal) else str(value)) for name, value in params.items()}
    return error(Html(escape(_(template)).format(**values)))


# --- keys ----------------------------------------------------------------------------

def key_line(key: dict) -> Html:
    net = t(" (testnet)") if key["testnet"] else ""
    return t("Key <b>{id}</b>: {exchange}{net} <code>{masked}</code>, {bots} bot(s)", id=key["id"],
             exchange=key["exchange"], net=Html(net), masked=key["masked"], bots=key["bots"])


def checking_key(exchange: str) -> Html:
    return t("Checking the key with {exchange}…", exchange=exchange)


def key_added(key: dict) -> Html:
    return join([t("✅ {key} added and checked with the exchange.", key=key_line(key)),
                 t("Your message with the secret was deleted. Next: /newbot {id} BTC/USDT 100", id=key["id"])])


def keys_list(keys: list[dict]) -> Html:
    if not keys:
        return t("You have no API keys yet. Add one with /addkey, or /addkey binance &lt;api_key&gt; &lt;secret&gt;.")
    return join([t("<b>Your keys</b>"), *(key_line(k) for k in keys)])


def usage_key_id() -> Html:
    return error(t("Usage: /delkey &lt;key_id&gt;, e.g. /delkey 1. See your keys with /keys."))


def key_deleted(key: dict) -> Html:
    return t("🗑 Key {id} ({exchange} <code>{masked}</code>) deleted.", id=key["id"], exchange=key["exchange"],
             masked=key["masked"])


# --- bots ----------------------------------------------------------------------------

MODES = {"live": N_("live"), "testnet": N_("testnet"), "paper": N_("paper")}
STATUSES = {"running": N_("running"), "stopped": N_("stopped"), "paused": N_("paused")}


def mode(value: str) -> str:
    return _(MODES.get(value, value))


def status(value: str) -> str:
    return _(STATUSES.get(value, value))


def bot_settings(bot: dict) -> Html:
    params = " ".join(f"{name}={value}" for name, value in sorted(bot["params"].items()))
    reason = t(" ({reason})", reason=engine_texts.translate(bot["status_reason"])) if bot["status_reason"] else ""
    return join([
        t("Bot <b>{id}</b> {name}", id=bot["id"], name=bot["name"]),
        t("{exchange} {symbol}, {mode}, capital {capital} {quote}", exchange=bot["exchange"], symbol=bot["symbol"],
          mode=mode(bot["mode"]), capital=num(bot["capital"]), quote=bot["quote"]),
        t("strategy {strategy}: <code>{params}</code>", strategy=bot["strategy"], params=params),
        t("status: {status}", status=status(bot["status"])) + reason,
    ])


def bot_created(bot: dict) -> Html:
    from telegram_bot.strategy_texts import plan_text  # the strategy texts' own module

    plan = [Html(plan_text(bot["plan"], bot["quote"]))] if bot.get("plan") else []
    return join([t("✅ Created, stopped."), bot_settings(bot), *plan, t("Start it with /startbot {id}", id=bot["id"])])


def bot_started(bot: dict) -> Html:
    return t("▶️ Bot {id} {name} is running on {symbol}.", id=bot["id"], name=bot["name"], symbol=bot["symbol"])


def bot_stopped(bot: dict) -> Html:
    text = t("⏹ Bot {id} {name} stopped: no new entries.", id=bot["id"], name=bot["name"])
    if bot.get("open_position"):
        text += " " + t("Its open position will still exit at take profit or stop loss.")
    return Html(text)


def delete_question(bot: dict) -> Html:
    text = t("Delete bot {id} {name} ({symbol}) and its history?", id=bot["id"], name=bot["name"], symbol=bot["symbol"])
    if bot.get("open_position"):
        text += "\n" + t("⚠️ It holds an open position: deleting it leaves those coins on your account, unmanaged.")
    return Html(text)


def bot_deleted(bot: dict) -> Html:
    return t("🗑 Bot {id} {name} deleted.", id=bot["id"], name=bot["name"])


def usage_bot_id(command: str) -> Html:
    return error(t("Usage: /{command} &lt;bot_id&gt;, e.g. /{command} 1. See your bots with /bots.", command=command))


def bot_kept(bot_id) -> Html:
    return t("Kept bot {id}.", id=bot_id)


def bot_line(b: dict) -> Html:
    return t("<b>{id}</b> {name} · {exchange} {symbol} · {mode} · {status} · profit {profit} {quote}", id=b["id"],
             name=b["name"], exchange=b["exchange"], symbol=b["symbol"], mode=mode(b["mode"]),
             status=status(b["status"]), profit=signed(b["realized_profit"]), quote=b["quote"])


def bots_list(bots: list[dict]) -> Html:
    if not bots:
        return t("You have no bots yet. Create one with /newbot, e.g. /newbot paper:binance BTC/USDT 100")
    return join([t("<b>Your bots</b>"), *(bot_line(b) for b in bots)])


# --- guided conversations --------------------------------------------------------------

def cancelled() -> Html:
    return t("Cancelled. Nothing was changed.")


def nothing_to_cancel() -> Html:
    return t("There is nothing to cancel. Send /help to see what I can do.")


def expired_question() -> Html:
    return t("This question has expired. Send the command again.")


def newbot_ask_exchange() -> Html:
    return t("<b>New bot</b> (step 1 of 6). Which exchange? /cancel leaves at any step.")


def newbot_ask_key(exchange: str, has_keys: bool) -> Html:
    head = t("<b>New bot</b> (step 2 of 6). Which API key on {exchange}, or a paper bot with a simulated wallet?",
             exchange=exchange)
    if not has_keys:
        head += "\n" + t("You have no key on {exchange} yet: add one with /addkey, or start on paper.", exchange=exchange)
    return Html(head)


def newbot_ask_symbol() -> Html:
    return t("<b>New bot</b> (step 3 of 6). Which market? The most traded are below, or type one, like BTC/USDT.")


def newbot_ask_capital(market: dict) -> Html:
    return t("<b>New bot</b> (step 4 of 6). How much {quote} may it trade with? The minimum on {symbol} is "
             "{minimum} {quote}. Press an amount or type one.", quote=market["quote"], symbol=market["symbol"],
             minimum=num(market["minimum"]))


def newbot_ask_strategy() -> Html:
    return join([t("<b>New bot</b> (step 5 of 6). Which strategy?"),
                 t("<code>dip</code>: buys a dip below the moving average, sells at take profit or stop loss."),
                 t("<code>dca</code>: buys in steps as the price falls (safety orders), sells at take profit on the "
                   "average price."),
                 t("<code>grid</code>: rests buys and sells on price levels between low and high, a profit per level "
                   "crossed up.")])


def newbot_ask_params(strategy: str, params: dict, specs: dict) -> Html:
    lines = [t("<b>New bot</b> (step 6 of 6). Settings of <code>{strategy}</code>:", strategy=strategy)]
    for name, spec in specs.items():
        value = params[name]
        shown = num(value) if isinstance(value, Decimal) or value is None else str(value)  # None: set at creation
        lines.append(t("<code>{name}</code> = <b>{value}</b> — {help}", name=name, value=shown, help=_(spec.help)))
    lines += ["", t("Press the button to keep them, or type changes like <code>dip=0.8 tp=2</code>.")]
    return join(lines)


def newbot_summary(answers: dict, params: dict) -> Html:
    # a grid's low and high are None until the bot is created at the price of the moment
    settings = " ".join(f"{name}={value}" for name, value in sorted(params.items()) if value is not None)
    return join([
        t("<b>New bot</b>: please check."),
        t("{exchange} {symbol}, {mode}, capital {capital} {quote}", exchange=answers["exchange"],
          symbol=answers["symbol"], mode=mode(answers["mode"]), capital=num(Decimal(answers["capital"])),
          quote=answers["quote"]),
        t("strategy {strategy}: <code>{params}</code>", strategy=answers["strategy"], params=settings),
        t("Same as: <code>/newbot {key} {symbol} {capital} {strategy} {params}</code>", key=answers["key_ref"],
          symbol=answers["symbol"], capital=answers["capital"], strategy=answers["strategy"],
          params=" ".join(f"{n}={v}" for n, v in sorted(answers.get("params", {}).items()))),
    ])


def addkey_ask_exchange() -> Html:
    return t("<b>New API key</b> (step 1 of 3). Which exchange? Create the key on the exchange's API page "
             "with trading allowed and withdrawals disabled. /cancel leaves at any step.")


def addkey_ask_key(exchange: str) -> Html:
    return t("<b>New API key</b> (step 2 of 3). Paste the API key from {exchange}. I delete your message at once.",
             exchange=exchange)


def addkey_ask_secret() -> Html:
    return t("Now paste the secret. I delete your message at once.")


def addkey_ask_passphrase() -> Html:
    return t("Now paste the key's passphrase. I delete your message at once.")


def addkey_ask_network() -> Html:
    return t("<b>New API key</b> (step 3 of 3). Is it a live key or a testnet key?")


# --- choosing among the user's own objects --------------------------------------------------

WHICH_BOT = {
    "startbot": N_("Which bot should start?"),
    "stopbot": N_("Which bot should stop?"),
    "deletebot": N_("Which bot should be deleted?"),
}
NO_BOTS_FOR = {
    "startbot": N_("All your bots are running already (or you have none: /newbot)."),
    "stopbot": N_("None of your bots is running."),
    "deletebot": N_("You have no bots yet. Create one with /newbot."),
}


def which_bot(command: str) -> Html:
    return t(WHICH_BOT[command])


def no_bots_for(command: str) -> Html:
    return t(NO_BOTS_FOR[command])


def which_key() -> Html:
    return t("Which key should be deleted?")


def delete_key_question(key: dict) -> Html:
    return t("Delete key {id} ({exchange} <code>{masked}</code>)? Bots on it will need a new key.", id=key["id"],
             exchange=key["exchange"], masked=key["masked"])


def key_kept(key_id) -> Html:
    return t("Kept key {id}.", id=key_id)


def up_to_date() -> Html:
    return t("Already up to date.")


def sell_question(bot: dict) -> Html:
    if bot["stops"]:
        return t("Sell the open position of bot {id} {name} ({symbol}) now? This sells the whole position at the "
                 "market price, cancels the bot's resting orders and stops the bot.", id=bot["id"], name=bot["name"],
                 symbol=bot["symbol"])
    return t("Sell the open position of bot {id} {name} ({symbol}) now, at the market price?", id=bot["id"],
             name=bot["name"], symbol=bot["symbol"])


def sell_requested(bot: dict) -> Html:
    if bot["stopped"]:
        return t("💰 Selling {amount} {base} of bot {id} {name} at the market and canceling its resting orders. "
                 "The bot is stopped: it opens nothing new until /startbot {id}. The fill message follows.",
                 amount=num(bot["amount"]), base=bot["base"], id=bot["id"], name=bot["name"])
    return t("💰 Selling {amount} {base} of bot {id} {name} at the market: the fill message follows.",
             amount=num(bot["amount"]), base=bot["base"], id=bot["id"], name=bot["name"])


def sell_kept(bot_id) -> Html:
    return t("Bot {id} keeps its position.", id=bot_id)


# --- /settings --------------------------------------------------------------------------------

KIND_NAMES = {"fills": N_("Fills"), "errors": N_("Errors and pauses"), "summary": N_("Daily summary")}
KIND_HELP = {
    "fills": N_("A message for every buy and sell of your bots."),
    "errors": N_("When a bot fails or is paused, and why."),
    "summary": N_("Your day's figures once a day, at the hour you pick."),
}
LEVEL_NAMES = {"on": N_("on"), "silent": N_("silent"), "off": N_("off")}


def kind_name(kind: str) -> str:
    return _(KIND_NAMES[kind])


def kind_help(kind: str) -> Html:
    return t(KIND_HELP.get(kind, KIND_HELP["fills"]))


def settings_text(preferences: dict) -> Html:
    lines = [t("<b>Settings</b>"), t("Messages: 🔔 on, 🔕 silent (no sound), 🚫 off.")]
    for kind in KIND_NAMES:
        lines.append(t("{kind}: {level}", kind=kind_name(kind), level=_(LEVEL_NAMES[preferences[kind]])))
    lines.append(t("Language: {language}", language=i18n.language_name(preferences["language"] or i18n.DEFAULT)))
    lines.append(t("Daily summary at {hour}:00 UTC", hour=f"{preferences['summary_hour']:02d}"))
    return join(lines)


def summary_hour_question() -> Html:
    return t("At which hour (UTC) should the daily summary come?")


def saved() -> Html:
    return t("Saved.")


# --- trades, positions, profit, balances -------------------------------------------------

SIDES = {"buy": N_("BUY"), "sell": N_("SELL")}


def side_name(side: str) -> str:
    return _(SIDES.get(side, side))


def trades_list(trades: list[dict]) -> Html:
    if not trades:
        return t("No fills yet.")
    lines = [t("<b>Latest fills</b>")]
    for fill in trades:
        profit = t(", profit {profit}", profit=signed(fill["realized_profit"])) if fill["realized_profit"] is not None else ""
        lines.append(t("{at} bot {bot_id} {side} {amount} {symbol} @ {price} = {cost}, fee {fee} {fee_currency}",
                       at=when(fill["at"]), bot_id=fill["bot_id"], side=side_name(fill["side"]), amount=num(fill["amount"]),
                       symbol=fill["symbol"], price=price(fill["price"]), cost=num(fill["cost"], 2),
                       fee=num(fill["fee"]), fee_currency=fill["fee_currency"]) + profit)
    return join(lines)


def position_line(p: dict) -> Html:
    if p["price"] is not None:
        now = t("now {price}, unrealized {profit} {quote}", price=price(p["price"]),
                profit=signed(p["unrealized_profit"]), quote=p["quote"])
    else:
        now = t("no recent price")
    return t("Bot {bot_id} {name}: {amount} {base} on {symbol}, entry {entry} (cost {cost} {quote}), {now}",
             bot_id=p["bot_id"], name=p["bot_name"], amount=num(p["amount"]), base=p["base"], symbol=p["symbol"],
             entry=price(p["entry_price"]), cost=num(p["entry_cost"], 2), quote=p["quote"], now=now)


def positions_list(rows: list[dict]) -> Html:
    if not rows:
        return t("No open positions.")
    return join([t("<b>Open positions</b>"), *(position_line(p) for p in rows)])


def profit_report(report: dict) -> Html:
    scope = t("bot {id}", id=report["bot_id"]) if report["bot_id"] is not None else t("all your bots")
    if not report["by_quote"]:
        return t("No profit yet for {scope}.", scope=scope)
    lines = [t("<b>Profit, {scope}</b>", scope=scope)]
    for quote, f in report["by_quote"].items():
        rate = "–" if f["win_rate"] is None else f"{num(f['win_rate'], 1)}%"
        lines.append(t("{quote}: realized {realized}, unrealized {unrealized} ({open} open), fees {fees}, "
                       "win rate {rate} ({wins}W/{losses}L)", quote=quote, realized=signed(f["realized"]),
                       unrealized=signed(f["unrealized"]), open=f["open"], fees=num(f["fees"], 2), rate=rate,
                       wins=f["wins"], losses=f["losses"]))
        if "profit_factor" in f:
            factor = "–" if f["profit_factor"] is None else num(f["profit_factor"], 2)
            lines.append(t("profit factor {factor}, max drawdown {drawdown} {quote}", factor=factor,
                           drawdown=num(f["max_drawdown"], 2), quote=quote))
        paid = f.get("fees_by_currency") or {}
        if any(currency != quote for currency, amount in paid.items() if amount):
            lines.append(t("fees paid: {fees}", fees=", ".join(
                f"{num(amount)} {currency}" for currency, amount in sorted(paid.items()) if amount)))
    return join(lines)


PERIOD_TITLES = {"day": N_("<b>Daily profit</b>"), "week": N_("<b>Weekly profit</b>"), "month": N_("<b>Monthly profit</b>")}


def period_name(start: dt.date, period: str) -> str:
    if period == "month":
        return format_date(start, "MMM y", locale=i18n.locale())
    text = format_date(start, "medium", locale=i18n.locale())
    return t("week of {date}", date=text) if period == "week" else text


def period_report(report: dict) -> Html:
    title = PERIOD_TITLES[report["period"]]
    lines = [t(title)]
    for row in report["periods"]:
        name = period_name(row["start"], report["period"])
        if not row["by_quote"]:
            lines.append(t("{period}: no trades", period=name))
        for quote, f in sorted(row["by_quote"].items()):
            lines.append(t("{period}: {profit} {quote} ({percent}), {trades} trade(s)", period=name,
                           profit=signed(f["profit"]), quote=quote, percent=percent(f["percent"]), trades=f["trades"]))
    return join(lines)


def performance_report(rows: list[dict]) -> Html:
    if not rows:
        return t("No closed trades yet.")
    lines = [t("<b>Performance per market</b>")]
    for number, f in enumerate(rows, start=1):
        lines.append(t("{n}. {symbol}: {profit} {quote}, {trades} trade(s), {wins} won", n=number, symbol=f["symbol"],
                       profit=signed(f["profit"]), quote=f["quote"], trades=f["trades"], wins=f["wins"]))
    return join(lines)


def summary_message(p: dict) -> Html:
    day = format_date(dt.date.fromisoformat(p["day"]), "medium", locale=i18n.locale())
    lines = [t("📊 <b>Your day, {day}</b>", day=day)]
    for quote, f in sorted(p["by_quote"].items()):
        share = None if f["percent"] is None else Decimal(f["percent"])
        lines.append(t("Realized {profit} {quote} ({percent}) in {trades} trade(s)", profit=signed(Decimal(f["profit"])),
                       quote=quote, percent=percent(share), trades=f["trades"]))
    if not p["by_quote"]:
        lines.append(t("No trades closed today."))
    lines.append(t("{running} bot(s) running, {open} open position(s). Details: /profit, /status",
                   running=p["running_bots"], open=p["open_positions"]))
    return join(lines)


def paper_balance(wallets: dict) -> Html:
    if not wallets:
        return t("You have no paper wallet yet: it starts with 10000 USDT when you create a paper:binance bot.")
    lines = [t("<b>Paper wallet</b>")]
    for exchange, assets in wallets.items():
        parts = ", ".join(f"{num(amount)} {asset}" for asset, amount in assets.items() if amount)
        lines.append(t("{exchange}: {assets}", exchange=exchange, assets=parts or _("empty")))
    return join(lines)


def fetching_balance(key) -> Html:
    return t("Fetching the balances of key {id} from {exchange}…", id=key.id, exchange=key.exchange)


def refreshing_balance() -> Html:
    return t("🔄 Fetching the balances again…")


def balance_fetch_under_way() -> Html:
    return t("Still fetching; the balances come in a moment.")


# --- notifications (outbox payloads) -------------------------------------------------------

def fill_message(p: dict) -> Html:
    head = t("🟢 BUY") if p["side"] == "buy" else t("🔴 SELL")
    paper = t(" (paper)") if p["mode"] == "paper" else ""
    lines = [
        t("{head}{paper} · bot {bot_id} {name} · {symbol}", head=head, paper=Html(paper), bot_id=p["bot_id"],
          name=p["bot_name"], symbol=p["symbol"]),
        t("amount {amount} {base} @ {price}", amount=num(p["amount"]), base=p["base"], price=price(p["price"])),
        t("cost {cost} {quote}, fee {fee}", cost=num(p["cost"], 2), quote=p["quote"], fee=fees_text(p)),
    ]
    if p.get("realized_profit") is not None:
        lines.append(t("realized profit {profit} {quote}", profit=signed(Decimal(p["realized_profit"])), quote=p["quote"]))
    return join(lines)


def fees_text(p: dict) -> str:
    """Every currency a fill's fee was paid in (Binance may charge BNB), e.g. "0.1 USDT + 0.0002 BNB"."""
    fees = p.get("fees") or {p["fee_currency"]: p["fee"]}
    parts = [f"{num(Decimal(amount))} {currency}" for currency, amount in sorted(fees.items()) if Decimal(amount)]
    return " + ".join(parts) or f"{num(0)} {p['fee_currency']}"


def bot_error_message(p: dict) -> Html:
    message = engine_texts.translate(p["message"])
    if p["paused"]:
        return join([t("⛔ Bot {id} {name} is paused: {message}", id=p["bot_id"], name=p["bot_name"], message=message),
                     t("Fix the cause, then /startbot {id}.", id=p["bot_id"])])
    return t("⚠️ Bot {id} {name}: {message}", id=p["bot_id"], name=p["bot_name"], message=message)


def balance_message(p: dict) -> Html:
    """A key's balances, or why they could not be fetched; shown in place (Refresh), with the
    time the exchange was asked, so a refresh shows even when nothing else changed."""
    checked = [t("checked at {time} UTC", time=p["checked_at"][11:19])] if "checked_at" in p else []
    if "error" in p:
        return join([error(t("Balance of key {id}: {error}", id=p["key_id"], error=engine_texts.translate(p["error"]))),
                     *checked])
    net = " testnet" if p.get("testnet") else ""
    head = t("<b>Balance</b>, key {id} {exchange}{net} <code>{masked}</code>", id=p["key_id"], exchange=p["exchange"],
             net=net, masked=p["masked"])
    rows = [t("{asset}: {free} free, {used} in orders", asset=asset, free=num(Decimal(free)), used=num(Decimal(used)))
            for asset, (free, used) in p["balances"].items()] or [_("empty")]
    return join([head, *rows, *checked])


def broadcast_message(p: dict) -> Html:
    return join([t("<b>Announcement</b>"), escape(p["text"])])


def admin_alert_message(p: dict) -> Html:
    """The scheduler's word to the admins (workers/health.py): what is wrong and what to do."""
    if p["problem"] == "no_worker":
        head = t("🚨 <b>botfleet</b>: no worker is alive, so no bot trades. Start a worker process.")
    elif p["problem"] == "tick_lag":
        head = t("🚨 <b>botfleet</b>: the tick lags {lag}s, more than three periods. Add workers.",
                 lag=num(Decimal(str(round(p.get("last_lag") or 0, 1)))))
    else:
        head = t("🚨 <b>botfleet</b>: no tick for more than three periods. Is a scheduler running?")
    queues = ", ".join(f"{name} {count}" for name, count in (p.get("queues") or {}).items())
    return join([head, t("workers {workers}, queued: {queues}", workers=p.get("workers"), queues=queues)])


OUTBOX_FORMATS = {"fill": fill_message, "bot_error": bot_error_message, "balance": balance_message,
                  "summary": summary_message, "broadcast": broadcast_message, "admin_alert": admin_alert_message}


def outbox_text(kind: str, payload: dict) -> Html:
    return OUTBOX_FORMATS[kind](payload)


# --- admin ------------------------------------------------------------------------------

def invite_created(code: str) -> Html:
    return join([t("Invite code: <code>{code}</code>", code=code), t("The new user sends: /start {code}", code=code)])


def broadcast_usage() -> Html:
    return error(t("Send the announcement with the command: /broadcast &lt;text&gt;"))


def broadcast_queued(count: int) -> Html:
    return t("Announcement queued for {count} reachable user(s).", count=count)


def admin_overview(o: dict) -> Html:
    def seconds(value):
        return "–" if value is None else f"{num(Decimal(str(round(value, 3))))}s"

    queues = ", ".join(t("{name} {queued} queued/{failed} failed", name=name, queued=q["queued"], failed=q["failed"])
                       for name, q in o["queues"].items())
    tick = o["last_tick"]
    last = (t("tick {tick}: {markets} markets, {lagging} lagging", tick=tick["tick"], markets=tick["markets"],
              lagging=tick["lagging_markets"]) if tick else t("no tick yet"))
    return join([
        t("<b>botfleet admin</b>"),
        t("users {users} ({unreachable} unreachable)", users=o["users"], unreachable=o["unreachable_users"]),
        t("bots running {running}, paused {paused}", running=o["running_bots"], paused=o["paused_bots"]),
        t("queues: {queues}", queues=Html(queues)),
        t("workers {workers}, unsent messages {unsent}", workers=o["workers"], unsent=o["unsent_messages"]),
        t("tick lag p50 {p50}, p99 {p99}, skipped bot runs {skipped}", p50=seconds(o["lag_p50"]),
          p99=seconds(o["lag_p99"]), skipped=o["skipped_bot_runs"]),
        t("last {last}", last=last),
    ])
