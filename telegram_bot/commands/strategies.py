"""/help <strategy> (a strategy's parameters with defaults and bounds), /backtest, /chart."""
from __future__ import annotations

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import ContextTypes

from rpc import backtests
from telegram_bot import formatting, i18n, strategy_texts
from telegram_bot.access import blocking, registered, reply, services
from workers import strategies

# By name: the bot process never loads the charting library the jobs use. The jobs get the
# reader's language code (the one this reply is written in) for the words they draw.
RUN_BACKTEST = "workers.strategy_reports.run_backtest"
DRAW_CHART = "workers.strategy_reports.draw_chart"


@registered
async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE, user) -> None:
    """Every command with an example, or with a strategy's name its parameters."""
    if not context.args:
        await reply(update, formatting.join([formatting.help_text(),
                                             strategy_texts.strategy_list(list(strategies.STRATEGIES))]))
        return
    name = context.args[0].lower()
    if name not in strategies.STRATEGIES:
        await reply(update, strategy_texts.unknown_strategy(name, list(strategies.STRATEGIES)))
        return
    await reply(update, strategy_texts.strategy_help(name, strategies.summary(name), strategies.parameters(name)))


@registered
async def backtest(update: Update, context: ContextTypes.DEFAULT_TYPE, user) -> None:
    """Replay a strategy over the exchange's history; a worker sends the report and its chart."""
    request = backtests.parse_backtest(context.args)
    # The job edits this message as it goes, so it is sent first and its id goes with the job.
    queued = await update.effective_chat.send_message(
        strategy_texts.backtest_queued(request["strategy"], request["symbol"], request["days"]),
        parse_mode=ParseMode.HTML)
    await blocking(services(context).reports_queue.enqueue, RUN_BACKTEST, user.id, **request,
                   progress_message_id=queued.message_id, language=i18n.current(), job_timeout=300, result_ttl=60,
                   failure_ttl=3600)


@registered
async def chart(update: Update, context: ContextTypes.DEFAULT_TYPE, user) -> None:
    """A PNG of a bot's market with its fills and levels, drawn by a worker."""
    if len(context.args) != 1:
        await reply(update, formatting.usage_bot_id("chart"))
        return
    await queue_chart(update, context, user, context.args[0])


async def queue_chart(update: Update, context: ContextTypes.DEFAULT_TYPE, user, bot_id) -> None:
    """/chart <id> and the Chart button under /bots: the user's own bot (NotFound otherwise) to a worker."""
    bot = await blocking(backtests.chart_bot, user, bot_id)
    await blocking(services(context).reports_queue.enqueue, DRAW_CHART, user.id, bot.id, language=i18n.current(),
                   result_ttl=60, failure_ttl=3600)
    await reply(update, strategy_texts.chart_queued(bot.id))
