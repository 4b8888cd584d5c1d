"""/bots with a start/stop/chart/delete button per bot, /startbot, /stopbot, /deletebot (each with
the user's bots as buttons when given without an id), and the deletion's confirm step."""
from __future__ import annotations

from telegram import Update
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from rpc import bots as bot_rpc
from telegram_bot import formatting, keyboards
from telegram_bot.access import Note, blocking, button, edit_in_place, registered, reply
from telegram_bot.commands.strategies import queue_chart

# command -> which of the user's bots to offer when it comes without an id
OFFERED = {
    "startbot": lambda bot: bot["status"] != "running",
    "stopbot": lambda bot: bot["status"] != "stopped",
    "deletebot": lambda bot: True,
}


def one_bot_id(context: ContextTypes.DEFAULT_TYPE) -> str | None:
    return context.args[0] if len(context.args) == 1 else None


async def offer_bots(update: Update, user, command: str) -> None:
    """The command came without an id: the user's own bots it applies to, as buttons."""
    choices = [b for b in await blocking(bot_rpc.list_bots, user) if OFFERED[command](b)]
    if not choices:
        await reply(update, formatting.no_bots_for(command))
        return
    await reply(update, formatting.which_bot(command), reply_markup=keyboards.pick(
        command, [(str(b["id"]), f"{b['id']} {b['name']} · {b['symbol']}") for b in choices]))


@registered
async def bots(update: Update, context: ContextTypes.DEFAULT_TYPE, user) -> None:
    """The user's bots with mode, status and profit, and buttons to act on each."""
    listed = await blocking(bot_rpc.list_bots, user)
    await reply(update, formatting.bots_list(listed), reply_markup=keyboards.bots_actions(listed))


@registered
async def startbot(update: Update, context: ContextTypes.DEFAULT_TYPE, user) -> None:
    """Run a bot."""
    if (bot_id := one_bot_id(context)) is None:
        return await offer_bots(update, user, "startbot")
    await reply(update, formatting.bot_started(await blocking(bot_rpc.start_bot, user, bot_id)))


@registered
async def stopbot(update: Update, context: ContextTypes.DEFAULT_TYPE, user) -> None:
    """Stop a bot's new entries."""
    if (bot_id := one_bot_id(context)) is None:
        return await offer_bots(update, user, "stopbot")
    await reply(update, formatting.bot_stopped(await blocking(bot_rpc.stop_bot, user, bot_id)))


async def ask_deletion(update: Update, user, bot_id) -> None:
    bot = await blocking(bot_rpc.deletion_check, user, bot_id)
    await reply(update, formatting.delete_question(bot), reply_markup=keyboards.confirm_delete_bot(bot["id"]))


@registered
async def deletebot(update: Update, context: ContextTypes.DEFAULT_TYPE, user) -> None:
    """Ask before deleting a bot."""
    if (bot_id := one_bot_id(context)) is None:
        return await offer_bots(update, user, "deletebot")
    await ask_deletion(update, user, bot_id)


@button
async def bot_button(update: Update, context: ContextTypes.DEFAULT_TYPE, user) -> Note | None:
    """Start or Stop under /bots (and a bot picked for /startbot or /stopbot): acts, says so
    below, and shows the list again with the new status. Chart queues the bot's chart, as /chart."""
    _, action, bot_id = keyboards.parse_callback(update.callback_query.data)
    if action == "chart":
        await queue_chart(update, context, user, bot_id)
        return None
    if action == "start":
        text = formatting.bot_started(await blocking(bot_rpc.start_bot, user, bot_id))
    elif action == "stop":
        text = formatting.bot_stopped(await blocking(bot_rpc.stop_bot, user, bot_id))
    else:
        return None
    await reply(update, text)
    listed = await blocking(bot_rpc.list_bots, user)
    await edit_in_place(update, formatting.bots_list(listed), keyboards.bots_actions(listed))
    return None


@button
async def deletebot_answer(update: Update, context: ContextTypes.DEFAULT_TYPE, user) -> None:
    """Delete under /bots asks; Yes/No under the question answers."""
    query = update.callback_query
    _, answer, bot_id = keyboards.parse_callback(query.data)
    if answer == "ask":
        await ask_deletion(update, user, bot_id)
        return
    if answer != "yes":
        await edit_into_answer(query, formatting.bot_kept(bot_id), parse_mode=ParseMode.HTML)
        return
    bot = await blocking(bot_rpc.delete_bot, user, bot_id)
    await edit_into_answer(query, formatting.bot_deleted(bot), parse_mode=ParseMode.HTML)


async def edit_into_answer(query, text: str, **kwargs) -> None:
    """Turn the question into its answer; a second tap on the same button changes nothing."""
    try:
        await query.edit_message_text(text, **kwargs)
    except BadRequest as error:
        if "not modified" not in error.message.lower():
            raise


async def picked(update: Update, context: ContextTypes.DEFAULT_TYPE, user, command: str, bot_id: str) -> None:
    """A bot chosen from the buttons of /startbot, /stopbot or /deletebot given without an id."""
    if command == "startbot":
        await reply(update, formatting.bot_started(await blocking(bot_rpc.start_bot, user, bot_id)))
    elif command == "stopbot":
        await reply(update, formatting.bot_stopped(await blocking(bot_rpc.stop_bot, user, bot_id)))
    else:
        await ask_deletion(update, user, bot_id)
