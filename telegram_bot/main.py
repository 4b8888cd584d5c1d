"""The `bot` process: wires the command handlers, runs the outbox notifier beside them, and
serves Telegram by long polling, or by webhook on $PORT when WEBHOOK_URL is set."""
from __future__ import annotations

import asyncio
import sys
import warnings

from rq import Queue
from telegram import BotCommand, Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

import models
import settings as settings_module
from logconfig import configure_logging
from logcontext import get_logger
from telegram_bot import daily_summary, formatting, i18n, keyboards
from telegram_bot.access import NEW_MESSAGE, PRIVATE, PRIVATE_MESSAGE, Services, on_error, start_log_context
from telegram_bot.commands import admin, bots, keys, periods, picks, reports, settings, start, strategies
from telegram_bot.conversations import addkey, newbot
from telegram_bot.persistence import RedisPersistence, SharedConversationsApplication
from telegram_bot.rate_limits import ReplyFirstRateLimiter
from telegram_bot.updates import ChatOrderedUpdateProcessor
from telegram_bot.notifier import Notifier
from telegram_bot.webhook import run_webhook, webhook_path
from vault import Vault
from workers.context import REPORT_QUEUE, redis_from_url
from exchanges import Gateway

log = get_logger(__name__)
# Our conversations track callback queries per chat and user, not per message, on purpose.
warnings.filterwarnings("ignore", message=".*per_message=False.*")

CONVERSATIONS = (newbot.conversation, addkey.conversation)

COMMAND_HANDLERS = {
    "start": start.start,
    "help": strategies.help_command,
    "keys": keys.keys,
    "delkey": keys.delkey,
    "bots": bots.bots,
    "startbot": bots.startbot,
    "stopbot": bots.stopbot,
    "deletebot": bots.deletebot,
    "status": reports.status,
    "trades": reports.trades,
    "profit": reports.profit,
    "balance": reports.balance,
    "daily": periods.daily,
    "weekly": periods.weekly,
    "monthly": periods.monthly,
    "performance": periods.performance,
    "settings": settings.settings,
    "admin": admin.admin,
    "invite": admin.invite,
    "broadcast": admin.broadcast,
    "backtest": strategies.backtest,
    "chart": strategies.chart,
}

BUTTON_HANDLERS = {
    keyboards.BOT: bots.bot_button,
    keyboards.DELETE_BOT: bots.deletebot_answer,
    keyboards.DELETE_KEY: keys.delkey_answer,
    keyboards.STATUS: reports.status_refresh,
    keyboards.SELL: reports.sell_answer,
    keyboards.PROFIT: reports.profit_refresh,
    keyboards.BALANCE: reports.balance_refresh,
    keyboards.PICK: picks.picked,
    keyboards.SETTINGS: settings.settings_button,
}


async def publish_command_menu(bot) -> None:
    """The command menu in every language (Telegram picks it by the user's language_code)."""
    for language in i18n.languages():
        i18n.use(language)
        commands = [BotCommand(name, what) for name, what in formatting.command_menu()]
        code = None if language == i18n.DEFAULT else language.split("_")[0]
        await bot.set_my_commands(commands, language_code=code)
    i18n.use(i18n.DEFAULT)


async def on_startup(application: Application) -> None:
    """Publish the command menu and start delivering the outbox."""
    await publish_command_menu(application.bot)
    notifier = Notifier(application.bot)
    loop = asyncio.get_running_loop()
    application.bot_data["notifier"] = notifier
    application.bot_data["notifier_task"] = loop.create_task(notifier.run())
    application.bot_data["tasks"] = [loop.create_task(daily_summary.run())]


async def on_stop(application: Application) -> None:
    """SIGTERM (a dyno restart): the notifier finishes the message in hand and hands the rest
    back, while the bot can still send."""
    task = application.bot_data.get("notifier_task")
    if task:
        await application.bot_data["notifier"].stop(task)
        log.info("outbox delivery stopped")


async def on_shutdown(application: Application) -> None:
    for task in application.bot_data.get("tasks", []):
        task.cancel()


def build_application(config: settings_module.Settings) -> Application:
    redis = redis_from_url(config.require_redis_url())
    builder = ApplicationBuilder()
    if config.webhook_url:
        builder = builder.updater(None)  # telegram_bot/webhook.py serves the updates
    application = (
        builder
        .token(config.require_telegram_token())
        .base_url(config.telegram_api_url)
        .rate_limiter(ReplyFirstRateLimiter(max_retries=3))  # AIORateLimiter, replies before notifications
        .concurrent_updates(ChatOrderedUpdateProcessor())  # chats at once, each chat's updates in order
        .persistence(RedisPersistence(config.require_redis_url()))  # conversations in Redis, shared by processes
        .application_class(SharedConversationsApplication)  # read before each update, written right after
        .post_init(on_startup)
        .post_stop(on_stop)
        .post_shutdown(on_shutdown)
        .build()
    )
    application.bot_data["services"] = Services(
        settings=config,
        redis=redis,
        gateway=Gateway(config.exchange_overrides),
        vault=Vault(config.require_fernet_keys()),
        reports_queue=Queue(REPORT_QUEUE, connection=redis),
    )
    application.add_handler(TypeHandler(Update, start_log_context), group=-2)
    # Before anything else, in any chat: a pasted secret is deleted.
    application.add_handler(MessageHandler(filters.UpdateType.MESSAGES, keys.guard_secrets), group=-1)
    for conversation in CONVERSATIONS:
        application.add_handler(conversation())
    for name, handler in COMMAND_HANDLERS.items():
        application.add_handler(CommandHandler(name, handler, filters=PRIVATE_MESSAGE))
    for pattern, handler in BUTTON_HANDLERS.items():
        application.add_handler(CallbackQueryHandler(handler, pattern=f"^{pattern}:"))
    application.add_handler(CommandHandler("cancel", start.nothing_to_cancel, filters=PRIVATE_MESSAGE))
    application.add_handler(CallbackQueryHandler(start.expired_button))  # a question no flow waits for any more
    application.add_handler(MessageHandler(PRIVATE_MESSAGE & filters.COMMAND, start.unknown_command))
    application.add_handler(MessageHandler(PRIVATE_MESSAGE & filters.TEXT & ~filters.COMMAND, start.plain_text))
    application.add_handler(MessageHandler(~PRIVATE & NEW_MESSAGE & filters.COMMAND, start.group_chat))
    application.add_error_handler(on_error)
    return application


def run(config: settings_module.Settings) -> None:
    application = build_application(config)
    if config.webhook_url:
        run_webhook(application, config)
    else:
        application.run_polling(allowed_updates=Update.ALL_TYPES)


def main() -> int:
    try:
        config = settings_module.load()
        config.require_telegram_token()
        config.require_fernet_keys()
        config.require_redis_url()
    except settings_module.SettingsError as error:
        print(f"bot: {error}", file=sys.stderr)
        return 2
    # The webhook's path is its secret token too.
    configure_logging("bot", (*config.secrets, webhook_path(config.telegram_token)))
    models.connect(config.database_url)
    log.info("bot starting", mode="webhook" if config.webhook_url else "long polling")
    run(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
