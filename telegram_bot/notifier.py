"""Delivers the outbox to the owners' chats: at least once, in order, one message per chat.

Rows are read in id order and grouped per chat, so a chat's fills of one tick go out as one
message (cut below 4096 characters at row boundaries). A row is marked sent only after
Telegram accepted the piece that carries it. Rate limits and 429 retries are
python-telegram-bot's AIORateLimiter's job; a 403 marks the user unreachable and keeps the
rows for when they come back; other failures back off and try again.
"""
from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

from telegram import Bot
from telegram.constants import ParseMode
from telegram.error import Forbidden, TelegramError

from models import Outbox, User, utcnow
from telegram_bot import formatting

log = logging.getLogger(__name__)

BATCH_ROWS = 1000
IDLE_SLEEP_SECONDS = 0.2
MAX_BACKOFF_SECONDS = 60


def pending_rows() -> list[Outbox]:
    """Unsent rows of reachable users, oldest first."""
    reachable = User.select(User.id).where(User.reachable == True)  # noqa: E712 (peewee expression)
    return list(
        Outbox.select().where(Outbox.sent_at.is_null() & Outbox.user.in_(reachable)).order_by(Outbox.id).limit(BATCH_ROWS)
    )


def mark_sent(row_ids: list[int]) -> None:
    Outbox.update(sent_at=utcnow()).where(Outbox.id.in_(row_ids)).execute()


def mark_failed_attempt(row_ids: list[int]) -> None:
    Outbox.update(attempts=Outbox.attempts + 1).where(Outbox.id.in_(row_ids)).execute()


def mark_unreachable(user_id: int) -> None:
    User.update(reachable=False).where(User.id == user_id).execute()


def pieces_for_chat(rows: list[Outbox]) -> list[tuple[str, list[int]]]:
    """(text, row ids it carries) pieces, each under Telegram's limit, rows never reordered."""
    pieces: list[tuple[str, list[int]]] = []
    text, ids = "", []
    for row in rows:
        row_text = formatting.outbox_text(row.kind, row.payload)
        if len(row_text) > formatting.SAFE_LIMIT:  # a long report goes alone, split in parts
            if ids:
                pieces.append((text, ids))
                text, ids = "", []
            parts = formatting.sendable(row_text)
            pieces.extend((part, []) for part in parts[:-1])
            pieces.append((parts[-1], [row.id]))
            continue
        joined = f"{text}\n\n{row_text}" if text else row_text
        if len(joined) > formatting.SAFE_LIMIT:
            pieces.append((text, ids))
            joined, ids = row_text, []
        text = joined
        ids.append(row.id)
    if ids:
        pieces.append((text, ids))
    return pieces


class Notifier:
    def __init__(self, bot: Bot):
        self.bot = bot
        self.backoff: dict[int, tuple[float, float]] = {}  # chat -> (retry at, current delay)

    async def deliver_chat(self, chat_id: int, user_id: int, rows: list[Outbox]) -> None:
        loop = asyncio.get_running_loop()
        for text, row_ids in pieces_for_chat(rows):
            try:
                await self.bot.send_message(chat_id, text, parse_mode=ParseMode.HTML)
            except Forbidden:
                log.info("chat %s blocked the bot; keeping its messages", chat_id)
                await asyncio.to_thread(mark_unreachable, user_id)
                return
            except TelegramError as error:
                delay = min(MAX_BACKOFF_SECONDS, self.backoff.get(chat_id, (0, 0.5))[1] * 2)
                self.backoff[chat_id] = (loop.time() + delay, delay)
                log.warning("delivery to chat %s failed (%s); retrying in %.1fs", chat_id, type(error).__name__, delay)
                await asyncio.to_thread(mark_failed_attempt, [r.id for r in rows])
                return
            if row_ids:
                await asyncio.to_thread(mark_sent, row_ids)
        self.backoff.pop(chat_id, None)

    async def deliver_once(self) -> int:
        """Send what is pending now; returns how many rows were looked at."""
        rows = await asyncio.to_thread(pending_rows)
        now = asyncio.get_running_loop().time()
        by_chat: dict[int, list[Outbox]] = defaultdict(list)
        for row in rows:
            if self.backoff.get(row.chat_id, (0, 0))[0] <= now:
                by_chat[row.chat_id].append(row)
        await asyncio.gather(*(self.deliver_chat(chat, chat_rows[0].user_id, chat_rows) for chat, chat_rows in by_chat.items()))
        return len(rows)

    async def run(self) -> None:
        while True:
            try:
                seen = await self.deliver_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox delivery round failed")
                seen = 0
            if seen < BATCH_ROWS:
                await asyncio.sleep(IDLE_SLEEP_SECONDS)
