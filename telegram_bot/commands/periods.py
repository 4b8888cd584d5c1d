"""/daily, /weekly, /monthly [n] and /performance: realized profit over time and per symbol."""
from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from rpc import N_, UserError
from rpc import periods as period_rpc
from telegram_bot import formatting
from telegram_bot.access import blocking, registered, reply


def period_command(period: str, command: str):
    @registered
    async def report(update: Update, context: ContextTypes.DEFAULT_TYPE, user) -> None:
        """Realized profit per period: trades and percent of capital."""
        count = context.args[0] if context.args else str(period_rpc.DEFAULT_PERIODS[period])
        if len(context.args) > 1 or not count.isdigit() or int(count) < 1:
            raise UserError(N_("Usage: /{command} [n], e.g. /{command} {example} (at most {most})."), command=command,
                            example=period_rpc.DEFAULT_PERIODS[period], most=period_rpc.MAX_PERIODS[period])
        await reply(update, formatting.period_report(await blocking(period_rpc.period_profits, user, period, int(count))))

    return report


daily = period_command("day", "daily")
weekly = period_command("week", "weekly")
monthly = period_command("month", "monthly")


@registered
async def performance(update: Update, context: ContextTypes.DEFAULT_TYPE, user) -> None:
    """Realized profit per symbol."""
    await reply(update, formatting.performance_report(await blocking(period_rpc.performance, user)))
