"""Inline keyboards, their labels (through the catalog) and the callback data they carry.

Callback data is "<action>:<field>:<field>..." (at most 64 bytes). It names objects by their
ids only; every handler looks an id up through the owner-scoped helpers, so data copied from
another user's buttons finds nothing.
"""
from __future__ import annotations

from telegram import InlineKeyboardButton as Button
from telegram import InlineKeyboardMarkup as Markup

from telegram_bot.i18n import _

# actions
DELETE_BOT = "deletebot"  # deletebot:<ask|yes|no>:<bot id>
BOT = "bot"  # bot:<start|stop|chart>:<bot id>
DELETE_KEY = "delkey"  # delkey:<ask|yes|no>:<key id>
STATUS = "status"  # status:<refresh>:<bot id or all>
PROFIT = "profit"  # profit:<refresh>:<bot id or all>
BALANCE = "balance"  # balance:refresh:<key id or paper>
SELL = "sell"  # sell:<ask|yes|no>:<bot id>
NEWBOT = "nb"  # nb:<step>:<answer>
ADDKEY = "ak"  # ak:<step>:<answer>
SETTINGS = "set"  # set:<what>:<value>
PICK = "pick"  # pick:<command>:<id>: an object chosen for a command given without one


def parse_callback(data: str) -> tuple[str, str, str]:
    action, answer, ident = ((data or "").split(":", 2) + ["", "", ""])[:3]
    return action, answer, ident


def _rows(buttons: list[Button], per_row: int) -> list[list[Button]]:
    return [buttons[i:i + per_row] for i in range(0, len(buttons), per_row)]


# --- confirmations --------------------------------------------------------------------------

def confirm_delete_bot(bot_id: int) -> Markup:
    return Markup([[Button(_("Yes, delete"), callback_data=f"{DELETE_BOT}:yes:{bot_id}"),
                    Button(_("No, keep it"), callback_data=f"{DELETE_BOT}:no:{bot_id}")]])


def confirm_delete_key(key_id: int) -> Markup:
    return Markup([[Button(_("Yes, delete"), callback_data=f"{DELETE_KEY}:yes:{key_id}"),
                    Button(_("No, keep it"), callback_data=f"{DELETE_KEY}:no:{key_id}")]])


def confirm_sell(bot_id: int) -> Markup:
    return Markup([[Button(_("Yes, sell now"), callback_data=f"{SELL}:yes:{bot_id}"),
                    Button(_("No"), callback_data=f"{SELL}:no:{bot_id}")]])


# --- results ---------------------------------------------------------------------------------

def bots_actions(bots: list[dict]) -> Markup | None:
    """Per bot: start or stop, its chart, and delete."""
    rows = []
    for bot in bots:
        if bot["status"] == "running":
            toggle = Button(_("⏹ Stop {id}").format(id=bot["id"]), callback_data=f"{BOT}:stop:{bot['id']}")
        else:
            toggle = Button(_("▶️ Start {id}").format(id=bot["id"]), callback_data=f"{BOT}:start:{bot['id']}")
        rows.append([toggle, Button(_("📈 Chart {id}").format(id=bot["id"]), callback_data=f"{BOT}:chart:{bot['id']}"),
                     Button(_("🗑 Delete {id}").format(id=bot["id"]), callback_data=f"{DELETE_BOT}:ask:{bot['id']}")])
    return Markup(rows) if rows else None


def status_actions(positions: list[dict], scope: str) -> Markup:
    """Refresh, and "Sell now" on each open position."""
    rows = [[Button(_("💰 Sell now: bot {id}").format(id=p["bot_id"]), callback_data=f"{SELL}:ask:{p['bot_id']}")]
            for p in positions]
    rows.append([Button(_("🔄 Refresh"), callback_data=f"{STATUS}:refresh:{scope}")])
    return Markup(rows)


def refresh(action: str, scope: str) -> Markup:
    return Markup([[Button(_("🔄 Refresh"), callback_data=f"{action}:refresh:{scope}")]])


def pick(command: str, choices: list[tuple[str, str]], everything: str | None = None) -> Markup:
    """Buttons naming the user's own objects for a command given without an id."""
    buttons = [Button(label, callback_data=f"{PICK}:{command}:{ident}") for ident, label in choices]
    rows = _rows(buttons, 2)
    if everything:
        rows.append([Button(everything, callback_data=f"{PICK}:{command}:all")])
    return Markup(rows)


# --- /newbot ---------------------------------------------------------------------------------

def newbot_exchanges(exchanges: list[str]) -> Markup:
    return Markup(_rows([Button(e, callback_data=f"{NEWBOT}:ex:{e}") for e in exchanges], 3) + [cancel_row()])


def newbot_keys(keys: list[dict]) -> Markup:
    rows = [[Button(_("🔑 Key {id} {masked}{net}").format(id=k["id"], masked=k["masked"],
                                                          net=" testnet" if k["testnet"] else ""),
                    callback_data=f"{NEWBOT}:key:{k['id']}")] for k in keys]
    rows.append([Button(_("📝 Paper (simulated wallet)"), callback_data=f"{NEWBOT}:key:paper")])
    return Markup(rows + [cancel_row()])


def newbot_symbols(symbols: list[str]) -> Markup:
    return Markup(_rows([Button(s, callback_data=f"{NEWBOT}:sym:{s}") for s in symbols], 3) + [cancel_row()])


def newbot_capitals(amounts: list[str], quote: str) -> Markup:
    return Markup(_rows([Button(f"{a} {quote}", callback_data=f"{NEWBOT}:cap:{a}") for a in amounts], 3)
                  + [cancel_row()])


def newbot_strategies(names: list[str]) -> Markup:
    return Markup(_rows([Button(n, callback_data=f"{NEWBOT}:st:{n}") for n in names], 3) + [cancel_row()])


def newbot_params() -> Markup:
    return Markup([[Button(_("✅ Use these settings"), callback_data=f"{NEWBOT}:params:ok")], cancel_row()])


def newbot_confirm() -> Markup:
    return Markup([[Button(_("✅ Create"), callback_data=f"{NEWBOT}:create:yes"), cancel_row()[0]]])


def cancel_row() -> list[Button]:
    return [Button(_("✖️ Cancel"), callback_data="cancel:flow:")]


# --- /addkey ---------------------------------------------------------------------------------

def addkey_exchanges(exchanges: list[str]) -> Markup:
    return Markup(_rows([Button(e, callback_data=f"{ADDKEY}:ex:{e}") for e in exchanges], 3) + [cancel_row()])


def addkey_network() -> Markup:
    return Markup([[Button(_("Live"), callback_data=f"{ADDKEY}:net:live"),
                    Button(_("Testnet"), callback_data=f"{ADDKEY}:net:testnet")], cancel_row()])


# --- /settings -------------------------------------------------------------------------------

LEVEL_MARKS = {"on": "🔔", "silent": "🔕", "off": "🚫"}


def settings(preferences: dict, kinds: list[tuple[str, str]], languages: list[tuple[str, str]]) -> Markup:
    """One row per message kind (on / silent / off, the current one marked), languages, hours."""
    rows = []
    for kind, label in kinds:
        current = preferences[kind]
        rows.append([Button(label, callback_data=f"{SETTINGS}:noop:{kind}")] + [
            Button(("• " if level == current else "") + LEVEL_MARKS[level], callback_data=f"{SETTINGS}:{kind}:{level}")
            for level in ("on", "silent", "off")])
    rows.append([Button(("• " if code == preferences["language"] else "") + name, callback_data=f"{SETTINGS}:lang:{code}")
                 for code, name in languages])
    rows.append([Button(_("🕗 Summary hour: {hour}:00 UTC").format(hour=preferences["summary_hour"]),
                        callback_data=f"{SETTINGS}:hours:")])
    return Markup(rows)


def summary_hours(current: int) -> Markup:
    buttons = [Button(("• " if hour == current else "") + f"{hour:02d}", callback_data=f"{SETTINGS}:hour:{hour}")
               for hour in range(24)]
    return Markup(_rows(buttons, 6))
