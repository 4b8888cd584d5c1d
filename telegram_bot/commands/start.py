"""/start, /help, and what to say to anything else (including groups, which we do not serve)."""
from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from rpc import UserError
from rpc.users import register
from telegram_bot import formatting, i18n
from telegram_bot.access import Note, blocking, button, registered, reply, services, telegram_language


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Register this chat (idempotent) and show the help."""
    config = services(context).settings
    chat = update.effective_chat
    language = i18n.use(telegram_language(update))
    invite = context.args[0] if context.args else None
    name = update.effective_user.full_name if update.effective_user else ""
    try:
        user, created = await blocking(
            register, chat.id, name, invite, config.registration, chat.id in config.admin_chat_ids, language
        )
    except UserError as error:
        await reply(update, formatting.translated_error(error.template, error.params))
        return
    i18n.use(user.language or language)
    await reply(update, formatting.help_text(registered_now=created))


@registered
async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE, user) -> None:
    """Every command with an example."""
    await reply(update, formatting.help_text())


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A /command we do not have."""
    i18n.use(telegram_language(update))
    word = (update.effective_message.text or "").split()[0][:40]
    await reply(update, formatting.unknown_command(word))


async def plain_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Text that is not a command, outside any guided conversation."""
    i18n.use(telegram_language(update))
    await reply(update, formatting.commands_only())


async def group_chat(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A command in a group or channel: one short answer, nothing registered or done."""
    i18n.use(telegram_language(update))
    await update.effective_chat.send_message(formatting.private_only())


@registered
async def nothing_to_cancel(update: Update, context: ContextTypes.DEFAULT_TYPE, user) -> None:
    """/cancel outside any guided conversation."""
    await reply(update, formatting.nothing_to_cancel())


@button
async def expired_button(update: Update, context: ContextTypes.DEFAULT_TYPE, user) -> Note:
    """A button of a question no conversation is waiting for (finished, cancelled, or forged)."""
    return Note(formatting.expired_question())
