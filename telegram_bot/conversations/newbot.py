"""/newbot as a guided conversation: exchange, key or paper, symbol, capital, strategy, its
settings, then a summary and a Create button. With arguments it is the one-line form.

The answers so far live in user_data["newbot"] (plain strings), persisted with the state in
Redis (telegram_bot/persistence.py), so a restart of `bot` in the middle loses nothing and any
`bot` process can take the next answer.
"""
from __future__ import annotations

from decimal import Decimal

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import CallbackQueryHandler, CommandHandler, ContextTypes, ConversationHandler, MessageHandler, filters

from exchanges import SUPPORTED_EXCHANGES
from models import ApiKey, get_owned
from rpc import bots as bot_rpc
from rpc import keys as key_rpc
from telegram_bot import formatting, keyboards
from telegram_bot.access import PRIVATE_MESSAGE, blocking, button, registered, reply, services
from telegram_bot.conversations.common import cancel_handlers, edit_or_send
from workers import strategies

EXCHANGE, KEY, SYMBOL, CAPITAL, STRATEGY, PARAMS, CONFIRM = (
    "exchange", "key", "symbol", "capital", "strategy", "params", "confirm")
DRAFT = "newbot"
SYMBOL_BUTTONS = 9
CAPITAL_STEPS = (Decimal(50), Decimal(100), Decimal(250), Decimal(500), Decimal(1000))


def draft(context: ContextTypes.DEFAULT_TYPE) -> dict:
    return context.user_data.setdefault(DRAFT, {})


@registered
async def begin(update: Update, context: ContextTypes.DEFAULT_TYPE, user):
    """/newbot: the one-line form with arguments; without, ask for the exchange."""
    if context.args:
        spec = bot_rpc.parse_newbot(context.args)
        bot = await blocking(bot_rpc.create_bot, user, services(context).gateway, **spec)
        await reply(update, formatting.bot_created(bot))
        return ConversationHandler.END
    context.user_data[DRAFT] = {}
    await reply(update, formatting.newbot_ask_exchange(), reply_markup=keyboards.newbot_exchanges(list(SUPPORTED_EXCHANGES)))
    return EXCHANGE


@button
async def chose_exchange(update: Update, context: ContextTypes.DEFAULT_TYPE, user):
    """Exchange chosen: ask for one of the user's keys on it, or paper."""
    exchange = keyboards.parse_callback(update.callback_query.data)[2]
    if exchange not in SUPPORTED_EXCHANGES:
        return None
    draft(context).clear()
    draft(context)["exchange"] = exchange
    keys = [k for k in await blocking(key_rpc.list_keys, user) if k["exchange"] == exchange]
    await edit_or_send(update, formatting.newbot_ask_key(exchange, bool(keys)), keyboards.newbot_keys(keys))
    return KEY


@button
async def chose_key(update: Update, context: ContextTypes.DEFAULT_TYPE, user):
    """Key (or paper) chosen: ask for the symbol, offering the exchange's most traded markets."""
    answer = keyboards.parse_callback(update.callback_query.data)[2]
    answers = draft(context)
    if "exchange" not in answers:
        return None
    if answer == "paper":
        answers.update(key_ref=f"paper:{answers['exchange']}", testnet=False, mode="paper")
    else:
        key = await blocking(get_owned, ApiKey, user, answer)
        answers.update(key_ref=str(key.id), testnet=key.testnet, mode="testnet" if key.testnet else "live")
    symbols = await blocking(services(context).gateway.most_traded, answers["exchange"], SYMBOL_BUTTONS, answers["testnet"])
    await edit_or_send(update, formatting.newbot_ask_symbol(), keyboards.newbot_symbols(symbols))
    return SYMBOL


async def _symbol_chosen(update: Update, context: ContextTypes.DEFAULT_TYPE, symbol: str):
    answers = draft(context)
    market = await blocking(bot_rpc.market_for_newbot, services(context).gateway, answers["exchange"], symbol,
                            answers["testnet"])
    answers.update(symbol=market["symbol"], quote=market["quote"], minimum=str(market["minimum"]))
    amounts = [market["minimum"].to_integral_value(rounding="ROUND_CEILING")] + [
        step for step in CAPITAL_STEPS if step > market["minimum"]]
    await edit_or_send(update, formatting.newbot_ask_capital(market),
                       keyboards.newbot_capitals([formatting.plain(a) for a in amounts[:5]], market["quote"]))
    return CAPITAL


@button
async def chose_symbol(update: Update, context: ContextTypes.DEFAULT_TYPE, user):
    """Symbol pressed: check the market, ask for the capital with the market's minimum shown."""
    return await _symbol_chosen(update, context, keyboards.parse_callback(update.callback_query.data)[2])


@registered
async def typed_symbol(update: Update, context: ContextTypes.DEFAULT_TYPE, user):
    """Symbol typed, like BTC/USDT."""
    return await _symbol_chosen(update, context, update.effective_message.text.strip())


async def _capital_chosen(update: Update, context: ContextTypes.DEFAULT_TYPE, text: str):
    answers = draft(context)
    capital = bot_rpc.parse_capital(text, Decimal(answers["minimum"]))
    answers["capital"] = formatting.plain(capital)
    await edit_or_send(update, formatting.newbot_ask_strategy(), keyboards.newbot_strategies(list(strategies.STRATEGIES)))
    return STRATEGY


@button
async def chose_capital(update: Update, context: ContextTypes.DEFAULT_TYPE, user):
    """Capital pressed: ask for the strategy."""
    return await _capital_chosen(update, context, keyboards.parse_callback(update.callback_query.data)[2])


@registered
async def typed_capital(update: Update, context: ContextTypes.DEFAULT_TYPE, user):
    """Capital typed, in the quote currency."""
    return await _capital_chosen(update, context, update.effective_message.text)


async def _show_params(update: Update, context: ContextTypes.DEFAULT_TYPE):
    answers = draft(context)
    full = strategies.validate(answers["strategy"], answers.get("params", {}))
    specs = strategies.get(answers["strategy"]).PARAMS
    await edit_or_send(update, formatting.newbot_ask_params(answers["strategy"], full, specs), keyboards.newbot_params())
    return PARAMS


@button
async def chose_strategy(update: Update, context: ContextTypes.DEFAULT_TYPE, user):
    """Strategy chosen: show its settings with their defaults."""
    name = keyboards.parse_callback(update.callback_query.data)[2]
    strategies.get(name)  # ParamError for a name we do not have
    draft(context).update(strategy=name, params={})
    return await _show_params(update, context)


@registered
async def typed_params(update: Update, context: ContextTypes.DEFAULT_TYPE, user):
    """Settings typed as name=value pairs: checked, merged, shown again."""
    answers = draft(context)
    changes = bot_rpc.parse_params(update.effective_message.text.split())
    merged = {**answers.get("params", {}), **changes}
    strategies.validate(answers["strategy"], merged)  # ParamError says what is wrong; nothing changes
    answers["params"] = merged
    return await _show_params(update, context)


@button
async def accepted_params(update: Update, context: ContextTypes.DEFAULT_TYPE, user):
    """Settings accepted: the summary and a Create button."""
    answers = draft(context)
    if "strategy" not in answers:
        return None
    full = strategies.validate(answers["strategy"], answers.get("params", {}))
    await edit_or_send(update, formatting.newbot_summary(answers, full), keyboards.newbot_confirm())
    return CONFIRM


@button
async def create(update: Update, context: ContextTypes.DEFAULT_TYPE, user):
    """Create pressed: the bot is created, stopped, exactly as /newbot's one-line form would."""
    answers = draft(context)
    if "strategy" not in answers:
        return None
    bot = await blocking(bot_rpc.create_bot, user, services(context).gateway, key_ref=answers["key_ref"],
                         symbol=answers["symbol"], capital=Decimal(answers["capital"]), strategy=answers["strategy"],
                         params=answers.get("params", {}))
    context.user_data.pop(DRAFT, None)
    await update.callback_query.edit_message_text(formatting.bot_created(bot), parse_mode=ParseMode.HTML)
    return ConversationHandler.END


def conversation() -> ConversationHandler:
    text = PRIVATE_MESSAGE & filters.TEXT & ~filters.COMMAND
    return ConversationHandler(
        entry_points=[CommandHandler("newbot", begin, filters=PRIVATE_MESSAGE)],
        states={
            EXCHANGE: [CallbackQueryHandler(chose_exchange, pattern=r"^nb:ex:")],
            KEY: [CallbackQueryHandler(chose_key, pattern=r"^nb:key:")],
            SYMBOL: [CallbackQueryHandler(chose_symbol, pattern=r"^nb:sym:"), MessageHandler(text, typed_symbol)],
            CAPITAL: [CallbackQueryHandler(chose_capital, pattern=r"^nb:cap:"), MessageHandler(text, typed_capital)],
            STRATEGY: [CallbackQueryHandler(chose_strategy, pattern=r"^nb:st:")],
            PARAMS: [CallbackQueryHandler(accepted_params, pattern=r"^nb:params:"), MessageHandler(text, typed_params)],
            CONFIRM: [CallbackQueryHandler(create, pattern=r"^nb:create:")],
        },
        fallbacks=cancel_handlers(DRAFT),
        allow_reentry=True,
        name="newbot",
        persistent=True,
    )
