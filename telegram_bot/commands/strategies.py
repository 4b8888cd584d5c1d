"""/help <strategy>: a strategy's parameters with defaults and bounds."""
from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from telegram_bot import formatting, strategy_texts
from telegram_bot.access import registered, reply
from workers import strategies


@registered
async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE, user) -> None:
    """Every command with an example, or with a strategy's name its parameters."""
    if not context.args:
        await reply(update, formatting.help_text() + "\n" + strategy_texts.strategy_list(list(strategies.STRATEGIES)))
        return
    name = context.args[0].lower()
    if name not in strategies.STRATEGIES:
        await reply(update, strategy_texts.unknown_strategy(name, list(strategies.STRATEGIES)))
        return
    await reply(update, strategy_texts.strategy_help(name, strategies.summary(name), strategies.parameters(name)))
