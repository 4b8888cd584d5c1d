"""/addkey (one-line form), /keys, /delkey, and the guard that deletes pasted secrets."""
from __future__ import annotations

import logging
import re

from telegram import Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from rpc import keys as key_rpc
from telegram_bot import formatting, i18n
from telegram_bot.access import blocking, registered, reply, services, telegram_language

log = logging.getLogger(__name__)

# Exchange keys and secrets are long runs of letters and digits (Binance: 64, OKX: a UUID and
# 32 hex digits); words, symbols, amounts and invite codes are shorter or lack one of the two.
SECRET_LIKE = re.compile(r"(?<![\w+/=-])(?=[\w+/=-]*\d)(?=[\w+/=-]*[A-Za-z])[\w+/=-]{20,}")
COLLECTING_SECRET = "collecting_secret"  # user_data flag: a guided /addkey step expects one


def looks_like_secret(text: str | None) -> bool:
    return bool(text) and SECRET_LIKE.search(text) is not None


async def delete_pasted_secret(update: Update) -> None:
    """The message holds an API secret: remove it from the chat before anything else."""
    try:
        await update.effective_message.delete()
    except BadRequest as error:
        if "not found" in error.message.lower():
            return  # already gone (the guard deleted it first)
        log.warning("could not delete a message with a secret in chat %s", update.effective_chat.id)
        await reply(update, formatting.could_not_delete_secret())
    except TelegramError:
        log.warning("could not delete a message with a secret in chat %s", update.effective_chat.id)
        await reply(update, formatting.could_not_delete_secret())


async def guard_secrets(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Runs before every handler, in any chat: a message (text, caption, edit, mistyped command)
    that looks like a pasted API secret is deleted, and its sender told why."""
    message = update.effective_message
    if message is None or not looks_like_secret(message.text or message.caption):
        return
    await delete_pasted_secret(update)
    text = message.text or ""
    expected = text.startswith("/addkey") or (context.user_data or {}).get(COLLECTING_SECRET)
    if not expected and update.effective_chat.type == "private":
        i18n.use(telegram_language(update))
        await reply(update, formatting.secret_deleted())


async def addkey_line(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The one-line /addkey: delete the pasted secret first, whoever sent it, then check and store."""
    await delete_pasted_secret(update)
    await add_checked_key(update, context)


@registered
async def add_checked_key(update: Update, context: ContextTypes.DEFAULT_TYPE, user) -> None:
    """Check a key with the exchange and store it encrypted."""
    exchange, credentials = key_rpc.parse_addkey(context.args)
    await store_key(update, context, user, exchange, credentials)


async def store_key(update: Update, context: ContextTypes.DEFAULT_TYPE, user, exchange, credentials) -> None:
    svc = services(context)
    await reply(update, formatting.checking_key(exchange))
    key = await blocking(key_rpc.add_key, user, svc.gateway, svc.vault, exchange, credentials)
    await reply(update, formatting.key_added(key))


@registered
async def keys(update: Update, context: ContextTypes.DEFAULT_TYPE, user) -> None:
    """The user's keys, masked."""
    await reply(update, formatting.keys_list(await blocking(key_rpc.list_keys, user)))


@registered
async def delkey(update: Update, context: ContextTypes.DEFAULT_TYPE, user) -> None:
    """Remove one key (not while a running bot uses it)."""
    if len(context.args) != 1:
        await reply(update, formatting.usage_key_id())
        return
    await reply(update, formatting.key_deleted(await blocking(key_rpc.delete_key, user, context.args[0])))
