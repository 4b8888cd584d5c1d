"""The buttons a command offers when it comes without an id ("pick:<command>:<id>"): the chosen
object goes to the command as if its id had been typed, through the same owner-scoped lookups."""
from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from telegram_bot import keyboards
from telegram_bot.access import button
from telegram_bot.commands import bots, keys, reports

PICKERS = {
    "startbot": bots.picked, "stopbot": bots.picked, "deletebot": bots.picked,
    "delkey": keys.picked, "profit": reports.picked, "balance": reports.picked,
}


@button
async def picked(update: Update, context: ContextTypes.DEFAULT_TYPE, user) -> None:
    """An object chosen for a command."""
    _, command, ident = keyboards.parse_callback(update.callback_query.data)
    if command in PICKERS:
        await PICKERS[command](update, context, user, command, ident)
