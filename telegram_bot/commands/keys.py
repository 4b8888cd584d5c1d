"""/addkey (one-line form), /keys, /delkey with its confirm step, and the guard that deletes pasted secrets."""
from __future__ import annotations

import re

from telegram import Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from logcontext import get_logger
from rpc import keys as key_rpc
from telegram_bot import formatting, i18n, keyboards
from telegram_bot.access import blocking, button, edit_in_place, registered, reply, services, telegram_language

log = get_logger(__name__)

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
        log.warning("could not delete a message with a secret", chat=update.effective_chat.id, error=error.message)
        await reply(update, formatting.could_not_delete_secret())
    except TelegramError as error:
        log.warning("could not delete a message with a secret", chat=update.effective_chat.id,
                    error=type(error).__name__)
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


@registered
async def add_checked_key(update: Update, context: ContextTypes.DEFAULT_TYPE, user) -> None:
    """Check a key with the exchange and store it encrypted."""
    exchange, credentials = key_rpc.parse_addkey(context.args)
    await store_key(update, context, user, exchange, credentials)


async def store_key(update: Update, context: ContextTypes.DEFAULT_TYPE, user, exchange, credentials,
                    announce: bool = True) -> None:
    svc = services(context)
    if announce:
        await reply(update, formatting.checking_key(exchange))
    key = await blocking(key_rpc.add_key, user, svc.gateway, svc.vault, exchange, credentials)
    await reply(update, formatting.key_added(key))


@registered
async def keys(update: Update, context: ContextTypes.DEFAULT_TYPE, user) -> None:
    """The user's keys, masked."""
    await reply(update, formatting.keys_list(await blocking(key_rpc.list_keys, user)))


@registered
async def delkey(update: Update, context: ContextTypes.DEFAULT_TYPE, user) -> None:
    """Remove one key (asks to confirm; not while a running bot uses it); without an id, the
    user's keys as buttons."""
    if len(context.args) > 1:
        await reply(update, formatting.usage_key_id())
        return
    if not context.args:
        keys = await blocking(key_rpc.list_keys, user)
        if not keys:
            await reply(update, formatting.keys_list([]))
            return
        await reply(update, formatting.which_key(), reply_markup=keyboards.pick(
            "delkey", [(str(k["id"]), f"{k['id']} {k['exchange']} {k['masked']}") for k in keys]))
        return
    await ask_key_deletion(update, user, context.args[0])


async def ask_key_deletion(update: Update, user, key_id) -> None:
    key = await blocking(key_rpc.key_deletion_check, user, key_id)
    await reply(update, formatting.delete_key_question(key), reply_markup=keyboards.confirm_delete_key(key["id"]))


@button
async def delkey_answer(update: Update, context: ContextTypes.DEFAULT_TYPE, user) -> None:
    """Yes/No under the key deletion question."""
    _, answer, key_id = keyboards.parse_callback(update.callback_query.data)
    if answer == "yes":
        await edit_in_place(update, formatting.key_deleted(await blocking(key_rpc.delete_key, user, key_id)))
    else:
        await edit_in_place(update, formatting.key_kept(key_id))


async def picked(update: Update, context: ContextTypes.DEFAULT_TYPE, user, command: str, key_id: str) -> None:
    """A key chosen from /delkey's buttons."""
    await ask_key_deletion(update, user, key_id)
