"""/status, /trades, /profit, /balance."""
from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from models import ApiKey, get_owned
from rpc import N_, UserError
from rpc import reports as report_rpc
from telegram_bot import formatting
from telegram_bot.access import blocking, registered, reply, services
from workers.jobs import report_balance


def optional_id(context: ContextTypes.DEFAULT_TYPE, command: str) -> str | None:
    if len(context.args) > 1:
        raise UserError(N_("Usage: /{command} [id], e.g. /{command} or /{command} 1."), command=command)
    return context.args[0] if context.args else None


@registered
async def status(update: Update, context: ContextTypes.DEFAULT_TYPE, user) -> None:
    """Open positions with unrealized profit."""
    bot_id = optional_id(context, "status")
    rows = await blocking(report_rpc.open_positions, user, services(context).redis, bot_id)
    await reply(update, formatting.positions_list(rows))


@registered
async def trades(update: Update, context: ContextTypes.DEFAULT_TYPE, user) -> None:
    """The latest fills of the user's bots."""
    count = optional_id(context, "trades") or "10"
    if not count.isdigit() or int(count) < 1:
        raise UserError(N_("Usage: /trades [n], e.g. /trades 20 (at most 50)."))
    await reply(update, formatting.trades_list(await blocking(report_rpc.latest_trades, user, int(count))))


@registered
async def profit(update: Update, context: ContextTypes.DEFAULT_TYPE, user) -> None:
    """Realized and unrealized profit, fees, win rate."""
    bot_id = optional_id(context, "profit")
    report = await blocking(report_rpc.profit, user, services(context).redis, bot_id)
    await reply(update, formatting.profit_report(report))


@registered
async def balance(update: Update, context: ContextTypes.DEFAULT_TYPE, user) -> None:
    """A key's balances (fetched by a worker, which alone decrypts keys) or the paper wallet."""
    key_id = optional_id(context, "balance")
    if key_id is None:
        await reply(update, formatting.paper_balance(await blocking(report_rpc.paper_balances, user)))
        return
    key = await blocking(get_owned, ApiKey, user, key_id)
    await blocking(services(context).reports_queue.enqueue, report_balance, user.id, key.id, result_ttl=60, failure_ttl=3600)
    await reply(update, formatting.fetching_balance(key))
