"""/start, /help, and what to say to anything else."""
from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from rpc import UserError
from rpc.users import register
from telegram_bot import formatting
from telegram_bot.access import blocking, registered, reply, services


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Register this chat (idempotent) and show the help."""
    config = services(context).settings
    chat = update.effective_chat
    invite = context.args[0] if context.args else None
    name = update.effective_user.full_name if update.effective_user else ""
    try:
        _, created = await blocking(
            register, chat.id, name, invite, config.registration, chat.id in config.admin_chat_ids
        )
    except UserError as error:
        await reply(update, formatting.error(str(error)))
        return
    await reply(update, formatting.help_text(registered_now=created))


@registered
async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE, user) -> None:
    """Every command with an example."""
    await reply(update, formatting.help_text())


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A /command we do not have."""
    word = (update.effective_message.text or "").split()[0][:40]
    await reply(update, formatting.error(f"Unknown command {word}. Send /help to see what I can do."))


async def plain_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Text that is not a command."""
    await reply(update, "I understand commands only. Send /help to see them.")
