"""The one door every handler goes through: who is asking, in which language, and what a
failure tells them.

Only private chats reach the handlers (main.py filters on `PRIVATE`); edited messages never
re-run a command. `registered` resolves the chat to its User (or asks them to /start), sets
the user's language, runs the handler with that user, and turns the expected failures (bad
input, not found, exchange refusals) into a friendly reply that changed nothing. `button` does
the same for an inline button and answers its callback query exactly once, whatever happens.
Anything unexpected is logged and answered generically.

Every update starts a log context of its own (`start_log_context`, before any handler) with
its chat; `registered` and `button` add the user's id and the handler. Every line written while
the update is handled carries them, the error handler's included.
"""
from __future__ import annotations

import asyncio
import functools
import html
import re
from dataclasses import dataclass

from telegram import Update
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import ContextTypes, filters

from exchanges import GatewayError
from logcontext import begin, bind, get_logger
from models import NotFound
from rpc import UserError
from rpc.users import find_user, remember_language
from telegram_bot import engine_texts, formatting, i18n
from workers.strategies import ParamError

log = get_logger(__name__)

# New messages in private chats: groups and channels are refused, edits never re-run a command.
PRIVATE = filters.ChatType.PRIVATE
NEW_MESSAGE = filters.UpdateType.MESSAGE
PRIVATE_MESSAGE = PRIVATE & NEW_MESSAGE


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


async def start_log_context(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Before any handler: this update's lines name its chat, and nothing of an earlier update."""
    chat = update.effective_chat if isinstance(update, Update) else None
    begin(chat=chat.id if chat else None)


async def reply(update: Update, text: str, **kwargs) -> None:
    pieces = formatting.sendable(text)
    for number, piece in enumerate(pieces, start=1):
        extra = kwargs if number == len(pieces) else {}  # buttons go under the last piece
        await update.effective_chat.send_message(piece, parse_mode=ParseMode.HTML, **extra)


async def edit_in_place(update: Update, text: str, markup=None) -> bool:
    """Show `text` in place of the message whose button was pressed (a refresh, the next
    question); False when nothing changed. Without a pressed button, a new message."""
    query = update.callback_query
    if query is None or query.message is None:
        await reply(update, text, reply_markup=markup)
        return True
    try:
        await query.edit_message_text(formatting.sendable(text)[0], parse_mode=ParseMode.HTML, reply_markup=markup)
    except BadRequest as error:
        if "not modified" in error.message.lower():
            return False
        raise
    return True


def plain(text: str) -> str:
    """HTML as plain text, for callback answers (Telegram shows them without markup)."""
    return html.unescape(re.sub(r"<[^>]+>", "", text))[:200]


def telegram_language(update: Update) -> str:
    user = update.effective_user
    return i18n.pick(user.language_code if user else None)


def failure_text(error: Exception) -> str | None:
    if isinstance(error, NotFound):
        kind, ident = error.args
        return formatting.not_found(kind, ident)
    if isinstance(error, (UserError, ParamError)):
        return formatting.translated_error(error.template, error.params)
    if isinstance(error, GatewayError):
        return formatting.error(engine_texts.translate(str(error)))
    return None


async def current_user(update: Update):
    """The registered User of this chat (or None), with the language to answer in set."""
    i18n.use(telegram_language(update))
    user = await blocking(find_user, update.effective_chat.id)
    if user is not None:
        if not user.language:  # registered before languages existed: keep what Telegram says
            user.language = telegram_language(update)
            await blocking(remember_language, user.id, user.language)
        i18n.use(user.language)
    return user


def registered(handler):
    """Wrap a handler(update, context, user) so it runs only for a registered chat; returns
    the handler's result (a conversation's next state), or None after a failure."""

    @functools.wraps(handler)
    async def wrapper(update: Update, context: ContextTypes.DEFAULT_TYPE):
        user = await current_user(update)
        if user is None:
            await reply(update, formatting.start_first())
            return None
        bind(user=user.id, chat=update.effective_chat.id, handler=handler.__name__)
        try:
            return await handler(update, context, user)
        except Exception as error:
            text = failure_text(error)
            if text is None:
                raise
            await reply(update, text)
            return None

    return wrapper


def button(handler):
    """Wrap a handler(update, context, user) for an inline button. The callback query is
    answered exactly once: with the handler's returned note (a toast), "not found" for ids
    that are not the user's (copied callback data), or silently before an error reply."""

    @functools.wraps(handler)
    async def wrapper(update: Update, context: ContextTypes.DEFAULT_TYPE):
        query = update.callback_query
        answered = False

        async def answer(text: str | None = None) -> None:
            nonlocal answered
            if not answered:
                answered = True
                await query.answer(plain(text) if text else None)

        try:
            if update.effective_chat is None or update.effective_chat.type != "private":
                await answer(formatting.private_only())
                return None
            user = await current_user(update)
            if user is None:
                await answer(formatting.start_first())
                return None
            bind(user=user.id, chat=update.effective_chat.id, handler=handler.__name__)
            try:
                result = await handler(update, context, user)
            except NotFound as error:
                await answer(failure_text(error))
                return None
            except Exception as error:
                text = failure_text(error)
                if text is None:
                    raise
                await answer()
                await reply(update, text)
                return None
            if isinstance(result, Note):
                await answer(result.text)
                return result.state
            await answer()
            return result
        finally:
            if not answered:  # an unexpected failure: still answer, once; on_error apologises
                try:
                    await answer()
                except Exception:
                    log.warning("could not answer a callback query")

    return wrapper


@dataclass
class Note:
    """A button handler's result: a short toast for the presser, and the conversation's next state."""

    text: str
    state: object = None


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Last resort: log without the update's text (it may hold a secret) and apologise."""
    chat = update.effective_chat.id if isinstance(update, Update) and update.effective_chat else None
    log.error("handler failed", chat=chat, error=type(context.error).__name__, exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat:
        try:
            await reply(update, formatting.something_went_wrong())
        except Exception:
            log.warning("could not send the error reply")
