"""The `bot` process: wires the command handlers, runs the outbox notifier beside them, and
serves Telegram by long polling, or by webhook on $PORT when WEBHOOK_URL is set."""
from __future__ import annotations

import asyncio
import hashlib
import logging
import sys

from rq import Queue
from telegram import BotCommand, Update
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

import models
import settings as settings_module
from logconfig import configure_logging
from telegram_bot import formatting, keyboards
from telegram_bot.access import Services, on_error
from telegram_bot.commands import admin, bots, keys, reports, start
from telegram_bot.notifier import Notifier
from vault import Vault
from workers.context import REPORT_QUEUE, redis_from_url
from exchanges import Gateway

log = logging.getLogger(__name__)

COMMAND_HANDLERS = {
    "start": start.start,
    "help": start.help_command,
    "addkey": keys.addkey,
    "keys": keys.keys,
    "delkey": keys.delkey,
    "newbot": bots.newbot,
    "bots": bots.bots,
    "startbot": bots.startbot,
    "stopbot": bots.stopbot,
    "deletebot": bots.deletebot,
    "status": reports.status,
    "trades": reports.trades,
    "profit": reports.profit,
    "balance": reports.balance,
    "admin": admin.admin,
}


async def on_startup(application: Application) -> None:
    """Publish the command menu and start delivering the outbox."""
    await application.bot.set_my_commands(
        [BotCommand(name, what[:256]) for name, _, what in formatting.COMMANDS]
    )
    notifier = Notifier(application.bot)
    application.bot_data["notifier"] = notifier
    application.bot_data["notifier_task"] = asyncio.get_running_loop().create_task(notifier.run())


async def on_stop(application: Application) -> None:
    """SIGTERM (a dyno restart): the notifier finishes the message in hand and hands the rest
    back, while the bot can still send."""
    task = application.bot_data.get("notifier_task")
    if task:
        await application.bot_data["notifier"].stop(task)


def build_application(config: settings_module.Settings) -> Application:
    redis = redis_from_url(config.require_redis_url())
    application = (
        ApplicationBuilder()
        .token(config.require_telegram_token())
        .base_url(config.telegram_api_url)
        .rate_limiter(AIORateLimiter(max_retries=3))
        .concurrent_updates(True)  # one slow chat never holds up the others
        .post_init(on_startup)
        .post_stop(on_stop)
        .build()
    )
    application.bot_data["services"] = Services(
        settings=config,
        redis=redis,
        gateway=Gateway(config.exchange_overrides),
        vault=Vault(config.require_fernet_keys()),
        reports_queue=Queue(REPORT_QUEUE, connection=redis),
    )
    for name, handler in COMMAND_HANDLERS.items():
        application.add_handler(CommandHandler(name, handler))
    application.add_handler(CallbackQueryHandler(bots.deletebot_answer, pattern=f"^{keyboards.DELETE_BOT}:"))
    application.add_handler(MessageHandler(filters.COMMAND, start.unknown_command))
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, start.plain_text))
    application.add_error_handler(on_error)
    return application


def run(config: settings_module.Settings) -> None:
    application = build_application(config)
    if config.webhook_url:
        # The path is derived from the token without revealing it in URLs or logs.
        path = hashlib.sha256(config.telegram_token.encode()).hexdigest()[:32]
        application.run_webhook(
            listen="0.0.0.0", port=config.port, url_path=path,
            webhook_url=f"{config.webhook_url.rstrip('/')}/{path}", secret_token=path,
            allowed_updates=Update.ALL_TYPES,
        )
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
    configure_logging("bot", config.secrets)
    models.connect(config.database_url)
    log.info("bot starting (%s)", "webhook" if config.webhook_url else "long polling")
    run(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
