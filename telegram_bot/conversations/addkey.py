"""/addkey as a guided conversation: exchange, API key, secret (and passphrase where the exchange
has one), live or testnet; then the key is checked and stored. With arguments it is the
one-line form.

Every message holding a key, secret or passphrase is deleted at once. Between steps the pasted
values are kept in user_data only as Fernet tokens (user_data is persisted in Redis), and
forgotten when the flow ends.
"""
from __future__ import annotations

from telegram import Update
from telegram.ext import CallbackQueryHandler, CommandHandler, ContextTypes, ConversationHandler, MessageHandler, filters

from exchanges import SUPPORTED_EXCHANGES, Credentials
from rpc import N_, UserError
from telegram_bot import formatting, keyboards
from telegram_bot.access import PRIVATE_MESSAGE, button, failure_text, registered, reply, services
from telegram_bot.commands.keys import COLLECTING_SECRET, add_checked_key, delete_pasted_secret, store_key
from telegram_bot.conversations.common import cancel_handlers, edit_or_send

EXCHANGE, API_KEY, SECRET, PASSPHRASE, NETWORK = "exchange", "api_key", "secret", "passphrase", "network"
DRAFT = "addkey"
PASSPHRASE_EXCHANGES = ("okx",)  # exchanges whose API keys come with a passphrase
MIN_LENGTH = 8


def draft(context: ContextTypes.DEFAULT_TYPE) -> dict:
    return context.user_data.setdefault(DRAFT, {})


def forget(context: ContextTypes.DEFAULT_TYPE) -> None:
    context.user_data.pop(DRAFT, None)
    context.user_data.pop(COLLECTING_SECRET, None)


async def begin(update: Update, context: ContextTypes.DEFAULT_TYPE):
    """/addkey: the one-line form with arguments (deleted at once); without, ask for the exchange."""
    if context.args:
        await delete_pasted_secret(update)
        await add_checked_key(update, context)
        return ConversationHandler.END
    return await ask_exchange(update, context)


@registered
async def ask_exchange(update: Update, context: ContextTypes.DEFAULT_TYPE, user):
    forget(context)
    await reply(update, formatting.addkey_ask_exchange(), reply_markup=keyboards.addkey_exchanges(list(SUPPORTED_EXCHANGES)))
    return EXCHANGE


@button
async def chose_exchange(update: Update, context: ContextTypes.DEFAULT_TYPE, user):
    """Exchange chosen: ask for the API key."""
    exchange = keyboards.parse_callback(update.callback_query.data)[2]
    if exchange not in SUPPORTED_EXCHANGES:
        return None
    draft(context)["exchange"] = exchange
    context.user_data[COLLECTING_SECRET] = True
    await edit_or_send(update, formatting.addkey_ask_key(exchange), keyboards.Markup([keyboards.cancel_row()]))
    return API_KEY


async def _pasted(update: Update, context: ContextTypes.DEFAULT_TYPE, name: str) -> str:
    """Delete the pasted value from the chat first, then keep it encrypted."""
    value = (update.effective_message.text or "").strip()
    await delete_pasted_secret(update)
    if len(value) < MIN_LENGTH or " " in value:
        raise UserError(N_("That does not look like an API key and secret: both are long strings from the exchange's API page."))
    draft(context)[name] = services(context).vault.encrypt(value)
    return value


@registered
async def pasted_key(update: Update, context: ContextTypes.DEFAULT_TYPE, user):
    """API key pasted: ask for the secret."""
    await _pasted(update, context, "api_key")
    await reply(update, formatting.addkey_ask_secret(), reply_markup=keyboards.Markup([keyboards.cancel_row()]))
    return SECRET


@registered
async def pasted_secret(update: Update, context: ContextTypes.DEFAULT_TYPE, user):
    """Secret pasted: ask for the passphrase where the exchange has one, else the network."""
    await _pasted(update, context, "secret")
    if draft(context)["exchange"] in PASSPHRASE_EXCHANGES:
        await reply(update, formatting.addkey_ask_passphrase(), reply_markup=keyboards.Markup([keyboards.cancel_row()]))
        return PASSPHRASE
    return await _ask_network(update, context)


@registered
async def pasted_passphrase(update: Update, context: ContextTypes.DEFAULT_TYPE, user):
    """Passphrase pasted: ask for the network."""
    await _pasted(update, context, "passphrase")
    return await _ask_network(update, context)


async def _ask_network(update: Update, context: ContextTypes.DEFAULT_TYPE):
    context.user_data.pop(COLLECTING_SECRET, None)
    await reply(update, formatting.addkey_ask_network(), reply_markup=keyboards.addkey_network())
    return NETWORK


@button
async def chose_network(update: Update, context: ContextTypes.DEFAULT_TYPE, user):
    """Live or testnet chosen: check the key with the exchange and store it."""
    answers = draft(context)
    if "secret" not in answers:
        return None
    vault = services(context).vault
    credentials = Credentials(
        api_key=vault.decrypt(answers["api_key"]), secret=vault.decrypt(answers["secret"]),
        passphrase=vault.decrypt(answers["passphrase"]) if answers.get("passphrase") else None,
        testnet=keyboards.parse_callback(update.callback_query.data)[2] == "testnet",
    )
    forget(context)  # a refused key is entered again from the start
    await edit_or_send(update, formatting.checking_key(answers["exchange"]))
    try:
        await store_key(update, context, user, answers["exchange"], credentials, announce=False)
    except Exception as error:
        if (text := failure_text(error)) is None:
            raise
        await reply(update, text)
    return ConversationHandler.END


def conversation() -> ConversationHandler:
    text = PRIVATE_MESSAGE & filters.TEXT & ~filters.COMMAND
    return ConversationHandler(
        entry_points=[CommandHandler("addkey", begin, filters=PRIVATE_MESSAGE)],
        states={
            EXCHANGE: [CallbackQueryHandler(chose_exchange, pattern=r"^ak:ex:")],
            API_KEY: [MessageHandler(text, pasted_key)],
            SECRET: [MessageHandler(text, pasted_secret)],
            PASSPHRASE: [MessageHandler(text, pasted_passphrase)],
            NETWORK: [CallbackQueryHandler(chose_network, pattern=r"^ak:net:")],
        },
        fallbacks=cancel_handlers(DRAFT, COLLECTING_SECRET),
        allow_reentry=True,
        name="addkey",
        persistent=True,
    )
