"""/addkey, /keys, /delkey."""
from __future__ import annotations

import logging

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from rpc import keys as key_rpc
from telegram_bot import formatting
from telegram_bot.access import blocking, registered, reply, services

log = logging.getLogger(__name__)


async def delete_pasted_secret(update: Update) -> None:
    """The message holds an API secret: remove it from the chat before anything else."""
    try:
        await update.effective_message.delete()
    except TelegramError:
        log.warning("could not delete an /addkey message in chat %s", update.effective_chat.id)
        await reply(update, formatting.error("I could not delete your message with the secret: please delete it yourself."))


async def addkey(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Delete the pasted secret first, whoever sent it, then check and store the key."""
    await delete_pasted_secret(update)
    await add_checked_key(update, context)


@registered
async def add_checked_key(update: Update, context: ContextTypes.DEFAULT_TYPE, user) -> None:
    """Check a key with the exchange and store it encrypted."""
    exchange, credentials = key_rpc.parse_addkey(context.args)
    svc = services(context)
    await reply(update, f"Checking the key with {exchange}…")
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
        await reply(update, formatting.error("Usage: /delkey <key_id>, e.g. /delkey 1. See your keys with /keys."))
        return
    await reply(update, formatting.key_deleted(await blocking(key_rpc.delete_key, user, context.args[0])))
