"""The failure policy: count a bot's failed ticks, pause it after several, and tell its owner once.

One bot's failure is counted against that bot alone. A bot already paused for a reason is not
told the same reason again every tick.
"""
from __future__ import annotations

from logcontext import get_logger
from models import Bot, Outbox, write_transaction

log = get_logger(__name__)
MAX_CONSECUTIVE_FAILURES = 3


def register_failure(bot: Bot, message: str) -> None:
    """Count a failed tick, tell the owner, and pause the bot after several in a row."""
    with write_transaction():
        current = Bot.get_or_none(Bot.id == bot.id)
        if current is None or (current.status == "paused" and current.status_reason == message):
            return
        failures = current.failures + 1
        paused = current.status == "paused" or failures >= MAX_CONSECUTIVE_FAILURES
        changes = {"failures": failures}
        if paused:
            changes.update(status="paused", status_reason=message)
        Bot.update(**changes).where(Bot.id == bot.id).execute()
        notify_bot_error(bot, message, paused, failures)
    if paused and current.status != "paused":
        log.info("bot paused", user=bot.user_id, bot=bot.id, reason=message, failures=failures)
    else:
        log.warning("bot failed", user=bot.user_id, bot=bot.id, reason=message, failures=failures, paused=paused)


def pause_bot(bot: Bot, message: str) -> None:
    """Pause at once (a rejected key): told once, however many ticks it takes to fix."""
    with write_transaction():
        current = Bot.get_or_none(Bot.id == bot.id)
        if current is None or (current.status == "paused" and current.status_reason == message):
            return
        Bot.update(status="paused", status_reason=message).where(Bot.id == bot.id).execute()
        notify_bot_error(bot, message, True, current.failures)
    log.info("bot paused", user=bot.user_id, bot=bot.id, reason=message, failures=current.failures)


def notify_bot_error(bot: Bot, message: str, paused: bool, failures: int) -> None:
    Outbox.create(
        user=bot.user_id, chat_id=bot.user.chat_id, kind="bot_error",
        payload={"bot_id": bot.id, "bot_name": bot.name, "message": message, "paused": paused, "failures": failures},
    )
