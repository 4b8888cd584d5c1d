"""/newbot, /bots, /startbot, /stopbot, /deletebot and its confirmation button."""
from __future__ import annotations

from telegram import Update
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from rpc import bots as bot_rpc
from telegram_bot import formatting, keyboards
from telegram_bot.access import blocking, registered, reply, services


def one_bot_id(context: ContextTypes.DEFAULT_TYPE) -> str | None:
    return context.args[0] if len(context.args) == 1 else None


@registered
async def newbot(update: Update, context: ContextTypes.DEFAULT_TYPE, user) -> None:
    """Create a bot, stopped, and show its full settings."""
    spec = bot_rpc.parse_newbot(context.args)
    bot = await blocking(bot_rpc.create_bot, user, services(context).gateway, **spec)
    await reply(update, formatting.bot_created(bot))


@registered
async def bots(update: Update, context: ContextTypes.DEFAULT_TYPE, user) -> None:
    """The user's bots with mode, status and profit."""
    await reply(update, formatting.bots_list(await blocking(bot_rpc.list_bots, user)))


async def _usage(update: Update, command: str) -> None:
    await reply(update, formatting.error(f"Usage: /{command} <bot_id>, e.g. /{command} 1. See your bots with /bots."))


@registered
async def startbot(update: Update, context: ContextTypes.DEFAULT_TYPE, user) -> None:
    """Run a bot."""
    if (bot_id := one_bot_id(context)) is None:
        return await _usage(update, "startbot")
    await reply(update, formatting.bot_started(await blocking(bot_rpc.start_bot, user, bot_id)))


@registered
async def stopbot(update: Update, context: ContextTypes.DEFAULT_TYPE, user) -> None:
    """Stop a bot's new entries."""
    if (bot_id := one_bot_id(context)) is None:
        return await _usage(update, "stopbot")
    await reply(update, formatting.bot_stopped(await blocking(bot_rpc.stop_bot, user, bot_id)))


@registered
async def deletebot(update: Update, context: ContextTypes.DEFAULT_TYPE, user) -> None:
    """Ask before deleting a bot."""
    if (bot_id := one_bot_id(context)) is None:
        return await _usage(update, "deletebot")
    bot = await blocking(bot_rpc.deletion_check, user, bot_id)
    await update.effective_chat.send_message(
        formatting.delete_question(bot), parse_mode=ParseMode.HTML,
        reply_markup=keyboards.confirm_delete_bot(bot["id"]),
    )


@registered
async def deletebot_answer(update: Update, context: ContextTypes.DEFAULT_TYPE, user) -> None:
    """The Yes/No button under the deletion question."""
    query = update.callback_query
    _, answer, bot_id = keyboards.parse_callback(query.data)
    await query.answer()
    if answer != "yes":
        await edit_into_answer(query, f"Kept bot {bot_id}.")
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
