"""The one door every handler goes through: who is asking, and what a failure tells them.

`registered` resolves the chat to its User (or asks them to /start), runs the handler with
that user, and turns the expected failures (bad input, not found, exchange refusals) into
a friendly reply that changed nothing. Anything else is logged and answered generically.
"""
from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass

from telegram import Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from models import NotFound
from rpc import UserError
from rpc.users import find_user
from telegram_bot import formatting
from exchanges import GatewayError
from workers.strategies import ParamError

log = logging.getLogger(__name__)
NOT_FOUND_NAMES = {"Bot": "Bot", "ApiKey": "Key"}


@dataclass
class Services:
    """What handlers need besides the database, built once in main()."""

    settings: object
    redis: object
    gateway: object
    vault: object
    reports_queue: object


def services(context: ContextTypes.DEFAULT_TYPE) -> Services:
    return context.application.bot_data["services"]


async def blocking(function, *args, **kwargs):
    """Run database or exchange work off the event loop, so one slow call delays no one else."""
    return await asyncio.to_thread(function, *args, **kwargs)


async def reply(update: Update, text: str, **kwargs) -> None:
    for piece in formatting.sendable(text):
        await update.effective_chat.send_message(piece, parse_mode=ParseMode.HTML, **kwargs)


def failure_text(error: Exception) -> str | None:
    if isinstance(error, NotFound):
        kind, ident = error.args
        return formatting.not_found(NOT_FOUND_NAMES.get(kind, kind), ident)
    if isinstance(error, (UserError, GatewayError, ParamError)):
        return formatting.error(str(error))
    return None


def registered(handler):
    """Wrap a handler(update, context, user) so it runs only for a registered chat."""

    @functools.wraps(handler)
    async def wrapper(update: Update, context: ContextTypes.DEFAULT_TYPE):
        user = await blocking(find_user, update.effective_chat.id)
        if user is None:
            await reply(update, "Send /start to register first.")
            return
        try:
            await handler(update, context, user)
        except Exception as error:
            text = failure_text(error)
            if text is None:
                raise
            if update.callback_query:
                try:  # the handler may have answered it already; Telegram refuses a second answer
                    await update.callback_query.answer()
                except TelegramError:
                    pass
            await reply(update, text)

    return wrapper


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Last resort: log without the update's text (it may hold a secret) and apologise."""
    log.error("handler failed: %s", type(context.error).__name__, exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat:
        try:
            await reply(update, "Sorry, something went wrong on our side. Please try again in a moment.")
        except Exception:
            log.warning("could not send the error reply")
