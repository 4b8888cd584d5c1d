"""Every text the bot sends, as HTML with dynamic parts escaped. No I/O, no database.

Handlers and the notifier pass plain data (rpc dicts, outbox payloads) in and get strings
out; `split_message` keeps each piece under Telegram's 4096-character limit.
"""
from __future__ import annotations

from decimal import Decimal
from html import escape

TELEGRAM_LIMIT = 4096
SAFE_LIMIT = 4000  # leaves room for nothing to go wrong at the edge
MAX_PLACES = 8  # no exchange quotes finer than this

COMMANDS = [
    ("start", "/start", "register this chat"),
    ("help", "/help", "this list"),
    ("addkey", "/addkey binance <api_key> <secret> [testnet]", "add an exchange API key (your message is deleted at once)"),
    ("keys", "/keys", "your API keys, masked"),
    ("delkey", "/delkey 1", "remove key 1"),
    ("newbot", "/newbot 1 BTC/USDT 100 dip dip=0.6 tp=1.5 sl=3", "a bot on key 1, or on paper:binance"),
    ("bots", "/bots", "your bots with status and profit"),
    ("startbot", "/startbot 1", "start bot 1"),
    ("stopbot", "/stopbot 1", "stop bot 1 (no new entries; an open position still exits)"),
    ("deletebot", "/deletebot 1", "delete bot 1 (asks to confirm)"),
    ("status", "/status [1]", "open positions with unrealized profit"),
    ("trades", "/trades [10]", "your latest fills"),
    ("profit", "/profit [1]", "realized and unrealized profit, fees, win rate"),
    ("balance", "/balance [1]", "balances of key 1, or your paper wallet"),
]


def num(value, places: int | None = None) -> str:
    """A Decimal without exponent or trailing zeros (or with exactly `places` decimals)."""
    if value is None:
        return "–"
    value = Decimal(value)
    if places is not None:
        return f"{value.quantize(Decimal(1).scaleb(-places))}"
    if value.as_tuple().exponent < -MAX_PLACES:
        value = value.quantize(Decimal(1).scaleb(-MAX_PLACES))
    return plain(value)


def plain(value: Decimal) -> str:
    """Positional notation, trailing zeros stripped."""
    text = format(value.normalize(), "f")
    return text if "." not in text else text.rstrip("0").rstrip(".")


def price(value) -> str:
    """A price to 8 significant digits: enough for BTC and for coins worth a millionth."""
    if value is None:
        return "–"
    return plain(Decimal(format(Decimal(value), ".8g")))


def signed(value, places: int = 2) -> str:
    return ("+" if Decimal(value) > 0 else "") + num(value, places)


def split_message(text: str, limit: int = SAFE_LIMIT) -> list[str]:
    """Pieces of at most `limit` characters, cut at line ends where possible (blank lines kept)."""
    pieces: list[str] = []
    current: str | None = None
    for line in text.split("\n"):
        while len(line) > limit:  # a single overlong line is cut hard
            if current is not None:
                pieces.append(current)
                current = None
            pieces.append(line[:limit])
            line = line[limit:]
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


def help_text(registered_now: bool = False) -> str:
    head = "<b>Welcome to botfleet!</b> You are registered.\n\n" if registered_now else "<b>botfleet</b>\n\n"
    lines = [f"{escape(example)} — {escape(what)}" for _, example, what in COMMANDS]
    strategies = "\nStrategy <code>dip</code>: buys when the price is <code>dip</code>% under its moving average of <code>period</code> candles of <code>timeframe</code>, sells at take profit <code>tp</code>% or stop loss <code>sl</code>% (optional <code>trail</code>)."
    return head + "\n".join(lines) + "\n" + strategies


def not_found(what: str, ident) -> str:
    return f"{what} {escape(str(ident))} not found. See your own with /{'bots' if what == 'Bot' else 'keys'}."


def error(text: str) -> str:
    return f"⚠️ {escape(text)}"


def key_line(key: dict) -> str:
    net = " (testnet)" if key["testnet"] else ""
    return f"Key <b>{key['id']}</b>: {escape(key['exchange'])}{net} <code>{escape(key['masked'])}</code>, {key['bots']} bot(s)"


def key_added(key: dict) -> str:
    return (f"✅ {key_line(key)} added and checked with the exchange.\n"
            f"Your message with the secret was deleted. Next: /newbot {key['id']} BTC/USDT 100")


def keys_list(keys: list[dict]) -> str:
    if not keys:
        return "You have no API keys yet. Add one with /addkey binance &lt;api_key&gt; &lt;secret&gt;."
    return "<b>Your keys</b>\n" + "\n".join(key_line(k) for k in keys)


def key_deleted(key: dict) -> str:
    return f"🗑 Key {key['id']} ({escape(key['exchange'])} <code>{escape(key['masked'])}</code>) deleted."


def bot_settings(bot: dict) -> str:
    params = " ".join(f"{escape(name)}={escape(str(value))}" for name, value in sorted(bot["params"].items()))
    return (
        f"Bot <b>{bot['id']}</b> {escape(bot['name'])}\n"
        f"{escape(bot['exchange'])} {escape(bot['symbol'])}, {bot['mode']}, capital {num(bot['capital'])} {escape(bot['quote'])}\n"
        f"strategy {escape(bot['strategy'])}: <code>{params}</code>\n"
        f"status: {bot['status']}" + (f" ({escape(bot['status_reason'])})" if bot["status_reason"] else "")
    )


def bot_created(bot: dict) -> str:
    return f"✅ Created, stopped.\n{bot_settings(bot)}\nStart it with /startbot {bot['id']}"


def bot_started(bot: dict) -> str:
    return f"▶️ Bot {bot['id']} {escape(bot['name'])} is running on {escape(bot['symbol'])}."


def bot_stopped(bot: dict) -> str:
    tail = " Its open position will still exit at take profit or stop loss." if bot.get("open_position") else ""
    return f"⏹ Bot {bot['id']} {escape(bot['name'])} stopped: no new entries.{tail}"


def delete_question(bot: dict) -> str:
    warning = ("\n⚠️ It holds an open position: deleting it leaves those coins on your account, unmanaged."
               if bot.get("open_position") else "")
    return f"Delete bot {bot['id']} {escape(bot['name'])} ({escape(bot['symbol'])}) and its history?{warning}"


def bot_deleted(bot: dict) -> str:
    return f"🗑 Bot {bot['id']} {escape(bot['name'])} deleted."


def bots_list(bots: list[dict]) -> str:
    if not bots:
        return "You have no bots yet. Create one with /newbot, e.g. /newbot paper:binance BTC/USDT 100"
    lines = ["<b>Your bots</b>"]
    for b in bots:
        lines.append(
            f"<b>{b['id']}</b> {escape(b['name'])} · {escape(b['exchange'])} {escape(b['symbol'])} · {b['mode']} · "
            f"{b['status']} · profit {signed(b['realized_profit'])} {escape(b['quote'])}"
        )
    return "\n".join(lines)


def trades_list(trades: list[dict]) -> str:
    if not trades:
        return "No fills yet."
    lines = ["<b>Latest fills</b>"]
    for t in trades:
        profit = f", profit {signed(t['realized_profit'])}" if t["realized_profit"] is not None else ""
        lines.append(
            f"{t['at']:%Y-%m-%d %H:%M} bot {t['bot_id']} {t['side'].upper()} {num(t['amount'])} {escape(t['symbol'])} "
            f"@ {price(t['price'])} = {num(t['cost'], 2)}, fee {num(t['fee'])} {escape(t['fee_currency'])}{profit}"
        )
    return "\n".join(lines)


def positions_list(rows: list[dict]) -> str:
    if not rows:
        return "No open positions."
    lines = ["<b>Open positions</b>"]
    for p in rows:
        now = (f"now {price(p['price'])}, unrealized {signed(p['unrealized_profit'])} {escape(p['quote'])}"
               if p["price"] is not None else "no recent price")
        lines.append(
            f"Bot {p['bot_id']} {escape(p['bot_name'])}: {num(p['amount'])} {escape(p['base'])} on {escape(p['symbol'])}, "
            f"entry {price(p['entry_price'])} (cost {num(p['entry_cost'], 2)} {escape(p['quote'])}), {now}"
        )
    return "\n".join(lines)


def profit_report(report: dict) -> str:
    scope = f"bot {report['bot_id']}" if report["bot_id"] is not None else "all your bots"
    if not report["by_quote"]:
        return f"No profit yet for {scope}."
    lines = [f"<b>Profit, {scope}</b>"]
    for quote, t in report["by_quote"].items():
        rate = "–" if t["win_rate"] is None else f"{num(t['win_rate'], 1)}%"
        lines.append(
            f"{escape(quote)}: realized {signed(t['realized'])}, unrealized {signed(t['unrealized'])} "
            f"({t['open']} open), fees {num(t['fees'], 2)}, win rate {rate} ({t['wins']}W/{t['losses']}L)"
        )
        paid = t.get("fees_by_currency") or {}
        if any(currency != quote for currency, amount in paid.items() if amount):
            lines.append("fees paid: " + ", ".join(
                f"{num(amount)} {escape(currency)}" for currency, amount in sorted(paid.items()) if amount))
    return "\n".join(lines)


def paper_balance(wallets: dict) -> str:
    if not wallets:
        return "You have no paper wallet yet: it starts with 10000 USDT when you create a paper:binance bot."
    lines = ["<b>Paper wallet</b>"]
    for exchange, assets in wallets.items():
        parts = ", ".join(f"{num(amount)} {escape(asset)}" for asset, amount in assets.items() if amount)
        lines.append(f"{escape(exchange)}: {parts or 'empty'}")
    return "\n".join(lines)


def fill_message(p: dict) -> str:
    head = "🟢 BUY" if p["side"] == "buy" else "🔴 SELL"
    paper = " (paper)" if p["mode"] == "paper" else ""
    text = (
        f"{head}{paper} · bot {p['bot_id']} {escape(p['bot_name'])} · {escape(p['symbol'])}\n"
        f"amount {num(p['amount'])} {escape(p['base'])} @ {price(p['price'])}\n"
        f"cost {num(p['cost'], 2)} {escape(p['quote'])}, fee {fees_text(p)}"
    )
    if p.get("realized_profit") is not None:
        text += f"\nrealized profit {signed(Decimal(p['realized_profit']))} {escape(p['quote'])}"
    return text


def fees_text(p: dict) -> str:
    """Every currency a fill's fee was paid in (Binance may charge BNB), e.g. "0.1 USDT + 0.0002 BNB"."""
    fees = p.get("fees") or {p["fee_currency"]: p["fee"]}
    parts = [f"{num(Decimal(amount))} {escape(currency)}" for currency, amount in sorted(fees.items()) if Decimal(amount)]
    return " + ".join(parts) or f"0 {escape(p['fee_currency'])}"


def bot_error_message(p: dict) -> str:
    if p["paused"]:
        return (f"⛔ Bot {p['bot_id']} {escape(p['bot_name'])} is paused: {escape(p['message'])}\n"
                f"Fix the cause, then /startbot {p['bot_id']}.")
    return f"⚠️ Bot {p['bot_id']} {escape(p['bot_name'])}: {escape(p['message'])}"


def balance_message(p: dict) -> str:
    if "error" in p:
        return error(f"Balance of key {p['key_id']}: {p['error']}")
    net = " testnet" if p.get("testnet") else ""
    head = f"<b>Balance</b>, key {p['key_id']} {escape(p['exchange'])}{net} <code>{escape(p['masked'])}</code>"
    if not p["balances"]:
        return head + "\nempty"
    rows = [f"{escape(asset)}: {num(Decimal(free))} free, {num(Decimal(used))} in orders"
            for asset, (free, used) in p["balances"].items()]
    return head + "\n" + "\n".join(rows)


ALERTS = {
    "no_worker": "no worker is alive: no bot trades. Start a worker process.",
    "tick_lag": "the tick lags {last_lag:.1f}s, more than three periods: add workers.",
    "no_tick": "no tick for more than three periods: is a scheduler running?",
}


def admin_alert_message(p: dict) -> str:
    text = ALERTS.get(p["problem"], p["problem"]).format(last_lag=p.get("last_lag") or 0)
    queues = ", ".join(f"{escape(name)} {count}" for name, count in (p.get("queues") or {}).items())
    return f"🚨 <b>botfleet</b>: {escape(text)}\nworkers {p.get('workers')}, queued: {queues}"


OUTBOX_FORMATS = {"fill": fill_message, "bot_error": bot_error_message, "balance": balance_message,
                  "admin_alert": admin_alert_message}


def outbox_text(kind: str, payload: dict) -> str:
    return OUTBOX_FORMATS[kind](payload)


def invite_created(code: str) -> str:
    return f"Invite code: <code>{escape(code)}</code>\nThe new user sends: /start {escape(code)}"


def admin_overview(o: dict) -> str:
    def seconds(value):
        return "–" if value is None else f"{value:.3f}s"

    queues = ", ".join(f"{name} {q['queued']} queued/{q['failed']} failed" for name, q in o["queues"].items())
    tick = o["last_tick"]
    last = f"tick {tick['tick']}: {tick['markets']} markets, {tick['lagging_markets']} lagging" if tick else "no tick yet"
    return (
        "<b>botfleet admin</b>\n"
        f"users {o['users']} ({o['unreachable_users']} unreachable)\n"
        f"bots running {o['running_bots']}, paused {o['paused_bots']}\n"
        f"queues: {escape(queues)}\n"
        f"workers {o['workers']}, unsent messages {o['unsent_messages']}\n"
        f"tick lag p50 {seconds(o['lag_p50'])}, p99 {seconds(o['lag_p99'])}, skipped bot runs {o['skipped_bot_runs']}\n"
        f"last {escape(last)}"
    )
