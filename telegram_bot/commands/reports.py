"""/status (with "Sell now" per position), /trades, /profit, /balance: each with Refresh, which
edits the message in place, and the user's own bots or keys as buttons. A key's balances come
from a worker (keys are decrypted only there): its answer, and each Refresh's, is edited into
the same message by the notifier."""
from __future__ import annotations

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import ContextTypes

from models import ApiKey, get_owned
from rpc import N_, UserError
from rpc import bots as bot_rpc
from rpc import keys as key_rpc
from rpc import reports as report_rpc
from telegram_bot import formatting, keyboards
from telegram_bot.access import Note, blocking, button, edit_in_place, registered, reply, services
from workers import jobs


def optional_id(context: ContextTypes.DEFAULT_TYPE, command: str) -> str | None:
    if len(context.args) > 1:
        raise UserError(N_("Usage: /{command} [id], e.g. /{command} or /{command} 1."), command=command)
    return context.args[0] if context.args else None


def scope_id(scope: str) -> str | None:
    return None if scope in ("", "all") else scope


# --- /status ----------------------------------------------------------------------------------

async def status_view(context, user, scope: str):
    rows = await blocking(report_rpc.open_positions, user, services(context).redis, scope_id(scope))
    return formatting.positions_list(rows), keyboards.status_actions(rows, scope)


@registered
async def status(update: Update, context: ContextTypes.DEFAULT_TYPE, user) -> None:
    """Open positions with unrealized profit, "Sell now" on each, and Refresh."""
    text, markup = await status_view(context, user, optional_id(context, "status") or "all")
    await reply(update, text, reply_markup=markup)


@button
async def status_refresh(update: Update, context: ContextTypes.DEFAULT_TYPE, user) -> Note | None:
    """Refresh under /status: the same message, current figures."""
    text, markup = await status_view(context, user, keyboards.parse_callback(update.callback_query.data)[2])
    return None if await edit_in_place(update, text, markup) else Note(formatting.up_to_date())


@button
async def sell_answer(update: Update, context: ContextTypes.DEFAULT_TYPE, user) -> Note | None:
    """ "Sell now" asks; Yes asks the engine to exit the position at the market, like any exit
    (a dca or grid bot is stopped too: the question and the answer say so)."""
    _, answer, bot_id = keyboards.parse_callback(update.callback_query.data)
    if answer == "ask":
        bot = await blocking(bot_rpc.sell_check, user, bot_id)  # owner check, the position, whether it stops
        if not bot["open_position"]:
            raise UserError(N_("Bot {id} has no open position to sell."), id=bot["id"])
        await reply(update, formatting.sell_question(bot), reply_markup=keyboards.confirm_sell(bot["id"]))
        return None
    if answer == "yes":
        bot = await blocking(bot_rpc.request_exit, user, bot_id)
        await edit_in_place(update, formatting.sell_requested(bot))
        return None
    await edit_in_place(update, formatting.sell_kept(bot_id))
    return None


# --- /trades ----------------------------------------------------------------------------------

@registered
async def trades(update: Update, context: ContextTypes.DEFAULT_TYPE, user) -> None:
    """The latest fills of the user's bots."""
    count = optional_id(context, "trades") or "10"
    if not count.isdigit() or int(count) < 1:
        raise UserError(N_("Usage: /trades [n], e.g. /trades 20 (at most 50)."))
    await reply(update, formatting.trades_list(await blocking(report_rpc.latest_trades, user, int(count))))


# --- /profit ----------------------------------------------------------------------------------

async def profit_view(context, user, scope: str):
    report = await blocking(report_rpc.profit, user, services(context).redis, scope_id(scope))
    markup = keyboards.refresh(keyboards.PROFIT, scope)
    if scope == "all":
        bots = await blocking(bot_rpc.list_bots, user)
        choices = keyboards.pick("profit", [(str(b["id"]), f"{b['id']} {b['name']}") for b in bots])
        markup = keyboards.Markup(list(choices.inline_keyboard) + list(markup.inline_keyboard))
    return formatting.profit_report(report), markup


@registered
async def profit(update: Update, context: ContextTypes.DEFAULT_TYPE, user) -> None:
    """Realized and unrealized profit, fees, win rate, profit factor, drawdown; a bot's own by button."""
    text, markup = await profit_view(context, user, optional_id(context, "profit") or "all")
    await reply(update, text, reply_markup=markup)


@button
async def profit_refresh(update: Update, context: ContextTypes.DEFAULT_TYPE, user) -> Note | None:
    """Refresh under /profit."""
    text, markup = await profit_view(context, user, keyboards.parse_callback(update.callback_query.data)[2])
    return None if await edit_in_place(update, text, markup) else Note(formatting.up_to_date())


# --- /balance ---------------------------------------------------------------------------------

async def paper_view(user):
    wallets = await blocking(report_rpc.paper_balances, user)
    keys = await blocking(key_rpc.list_keys, user)
    choices = keyboards.pick("balance", [(str(k["id"]), f"🔑 {k['id']} {k['exchange']} {k['masked']}") for k in keys])
    markup = keyboards.Markup(list(choices.inline_keyboard) + list(keyboards.refresh(keyboards.BALANCE, "paper").inline_keyboard))
    return formatting.paper_balance(wallets), markup


async def queue_balance(context, user, key_id: int, message_id: int) -> bool:
    """A worker (which alone decrypts keys) fetches the key's balances and shows them in place of
    the chat's message `message_id`, with Refresh; False when a fetch for it is under way."""
    if not await blocking(jobs.start_fetch, services(context).redis, user.chat_id, message_id):
        return False
    await blocking(services(context).reports_queue.enqueue, jobs.report_balance, user.id, key_id, message_id,
                   result_ttl=60, failure_ttl=3600)
    return True


async def fetch_key_balance(update: Update, context, user, key_id) -> None:
    """/balance <key> and a key's button under the paper wallet: "Fetching…", which becomes the balances."""
    key = await blocking(get_owned, ApiKey, user, key_id)
    fetching = await update.effective_chat.send_message(formatting.fetching_balance(key), parse_mode=ParseMode.HTML)
    await queue_balance(context, user, key.id, fetching.message_id)


@registered
async def balance(update: Update, context: ContextTypes.DEFAULT_TYPE, user) -> None:
    """A key's balances, or the paper wallet with the user's keys as buttons."""
    key_id = optional_id(context, "balance")
    if key_id is not None:
        return await fetch_key_balance(update, context, user, key_id)
    text, markup = await paper_view(user)
    await reply(update, text, reply_markup=markup)


@button
async def balance_refresh(update: Update, context: ContextTypes.DEFAULT_TYPE, user) -> Note | None:
    """Refresh under the paper wallet (edited here) or under a key's balances (a worker fetches
    them again and the notifier edits the same message; a second press meanwhile queues nothing)."""
    scope = keyboards.parse_callback(update.callback_query.data)[2]
    if scope != "paper":
        key = await blocking(get_owned, ApiKey, user, scope)  # NotFound for another user's key id
        started = await queue_balance(context, user, key.id, update.callback_query.message.message_id)
        return Note(formatting.refreshing_balance() if started else formatting.balance_fetch_under_way())
    text, markup = await paper_view(user)
    return None if await edit_in_place(update, text, markup) else Note(formatting.up_to_date())


async def picked(update: Update, context: ContextTypes.DEFAULT_TYPE, user, command: str, ident: str) -> None:
    """A bot or key chosen from /profit's or /balance's buttons."""
    if command == "profit":
        text, markup = await profit_view(context, user, str((await blocking(bot_rpc.deletion_check, user, ident))["id"]))
        await reply(update, text, reply_markup=markup)
    else:
        await fetch_key_balance(update, context, user, ident)
