"""What every guided conversation shares: /cancel (and the Cancel button) at any step, and
showing the next question in place of the last one when a button was pressed."""
from __future__ import annotations

from telegram import InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.ext import CallbackQueryHandler, CommandHandler, ContextTypes, ConversationHandler

from telegram_bot import formatting
from telegram_bot.access import PRIVATE_MESSAGE, button, edit_in_place, registered, reply


async def edit_or_send(update: Update, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    """After a button, the question message becomes the next question; after typing, a new one."""
    await edit_in_place(update, text, markup)


def cancel_handlers(*drafts: str) -> list:
    """/cancel and the Cancel button leave the conversation and forget its answers."""

    @registered
    async def cancel(update: Update, context: ContextTypes.DEFAULT_TYPE, user):
        """/cancel at any step."""
        for name in drafts:
            context.user_data.pop(name, None)
        await reply(update, formatting.cancelled())
        return ConversationHandler.END

    @button
    async def cancel_button(update: Update, context: ContextTypes.DEFAULT_TYPE, user):
        """The Cancel button under a question."""
        for name in drafts:
            context.user_data.pop(name, None)
        await update.callback_query.edit_message_text(formatting.cancelled(), parse_mode=ParseMode.HTML)
        return ConversationHandler.END

    return [CommandHandler("cancel", cancel, filters=PRIVATE_MESSAGE),
            CallbackQueryHandler(cancel_button, pattern=r"^cancel:")]
