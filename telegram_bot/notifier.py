"""Delivers the outbox to the owners' chats: at least once, in order, one message per chat.

Rows are read in id order and grouped per chat, so a chat's fills of one tick go out as one
message (cut below 4096 characters at row boundaries). A row is marked sent only after
Telegram accepted the piece that carries it. Rate limits and 429 retries are
python-telegram-bot's AIORateLimiter's job (telegram_bot/rate_limits.py lets replies go first);
a 403 marks the user unreachable and keeps the rows for when they come back; other failures
back off and try again, for as long as it takes: only Telegram's permanent refusals (400) give
a row up. Each user's /settings say whether a kind of message goes out with sound, silently, or
not at all; it is written in the user's language. Some rows edit a message the chat already
has instead (EDITS: a /backtest's progress, a key's balances with Refresh); of several rows for
one message only the latest is shown.

Any number of `bot` processes may run (a scaled webhook, or the old and new dyno of a deploy):
each claims the rows it sends with a lease (one notifier per chat at a time, claims taken one
after another), renews it before every message and sends nothing it no longer holds. A row
Telegram accepted but that could not be marked sent (the database away) is remembered and
marked later, never sent again by this process.
"""
from __future__ import annotations

import asyncio
import base64
import datetime as dt
import functools
import os
import socket
import time
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

from peewee import PostgresqlDatabase
from telegram import Bot
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, TelegramError

from logcontext import get_logger, log_context
from models import Outbox, User, database_now, db, utcnow, write_transaction
from rpc.preferences import delivery_level
from telegram_bot import formatting, i18n, keyboards, strategy_texts
from telegram_bot.rate_limits import NOTIFICATION
from workers.jobs import BALANCE_IN_PLACE

log = get_logger(__name__)

BATCH_ROWS = 1000  # at 30 messages a second, well within one lease
IDLE_SLEEP_SECONDS = 0.2
MAX_BACKOFF_SECONDS = 30
LEASE_SECONDS = 120
CLAIM_LOCK = 4242007  # PostgreSQL advisory lock: notifiers take their claims one at a time


def claim_rows(owner: str, waiting_chats: list[int], lease_seconds: float = LEASE_SECONDS) -> list[Outbox]:
    """Lease this notifier the unsent rows of reachable users, oldest first, leaving out chats
    that wait to retry here (one chat's backlog never starves the others) and chats another
    notifier holds (a chat's messages stay in order)."""
    unsent = Outbox.sent_at.is_null() & Outbox.failed_at.is_null()
    if not Outbox.select(Outbox.id).where(unsent).limit(1).exists():
        return []  # nothing to send: no write lock taken (SQLite has only one)
    with write_transaction():
        if isinstance(db.obj, PostgresqlDatabase):
            db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (CLAIM_LOCK,))  # SQLite: the write lock
        now = database_now()
        held_by_others = Outbox.select(Outbox.chat_id).where(
            unsent & (Outbox.lease_until > now) & (Outbox.lease_owner != owner))
        reachable = User.select(User.id).where(User.reachable == True)  # noqa: E712 (peewee expression)
        query = Outbox.select(Outbox.id).where(unsent & Outbox.user.in_(reachable) & Outbox.chat_id.not_in(held_by_others))
        if waiting_chats:
            query = query.where(Outbox.chat_id.not_in(waiting_chats))
        ids = [row.id for row in query.order_by(Outbox.id).limit(BATCH_ROWS)]
        if not ids:
            return []
        Outbox.update(lease_owner=owner, lease_until=now + dt.timedelta(seconds=lease_seconds)).where(
            Outbox.id.in_(ids)).execute()
    # The user's language and preferences come along.
    return list(Outbox.select(Outbox, User).join(User).where(Outbox.id.in_(ids)).order_by(Outbox.id))


def renew_lease(owner: str, row_ids: list[int], until: dt.datetime) -> bool:
    """Extend the lease right before sending; False when another notifier took the rows over."""
    changed = Outbox.update(lease_until=until).where(
        Outbox.id.in_(row_ids) & (Outbox.lease_owner == owner) & Outbox.sent_at.is_null()).execute()
    return changed == len(row_ids)


def release_leases(owner: str, row_ids: list[int] | None = None) -> None:
    """Hand this notifier's unsent rows back (the end of a chat's turn, a clean stop): whoever
    comes next need not wait for the leases to end."""
    query = Outbox.update(lease_owner=None, lease_until=None).where(
        (Outbox.lease_owner == owner) & Outbox.sent_at.is_null())
    if row_ids is not None:
        query = query.where(Outbox.id.in_(row_ids))
    query.execute()


def mark_sent(row_ids: list[int]) -> None:
    Outbox.update(sent_at=utcnow()).where(Outbox.id.in_(row_ids)).execute()


def mark_failed_attempt(row_ids: list[int]) -> None:
    """Count a failed attempt; the rows stay due (a temporary failure never gives a message up)."""
    Outbox.update(attempts=Outbox.attempts + 1).where(Outbox.id.in_(row_ids)).execute()


def mark_given_up(row_ids: list[int]) -> None:
    Outbox.update(failed_at=utcnow()).where(Outbox.id.in_(row_ids)).execute()


def mark_unreachable(user_id: int) -> None:
    User.update(reachable=False).where(User.id == user_id).execute()


def pieces_for_chat(rows: list[Outbox], silent: set[int] = frozenset()) -> list[tuple[str, list[int], bool, bool]]:
    """(text, ids of the rows it carries, whether it completes them, whether it is silent)
    pieces, each under Telegram's limit, rows never reordered; a piece never mixes silent rows
    (the user's /settings) with loud ones. A long row goes alone, in several parts."""
    pieces: list[tuple[str, list[int], bool, bool]] = []
    text, ids, quiet = "", [], False
    for row in rows:
        row_text = formatting.outbox_text(row.kind, row.payload)
        row_quiet = row.id in silent
        if len(row_text) > formatting.SAFE_LIMIT:
            if ids:
                pieces.append((text, ids, True, quiet))
                text, ids = "", []
            parts = formatting.sendable(row_text)
            pieces.extend((part, [row.id], number == len(parts), row_quiet) for number, part in enumerate(parts, start=1))
            continue
        joined = f"{text}\n\n{row_text}" if text else row_text
        if ids and (len(joined) > formatting.SAFE_LIMIT or row_quiet != quiet):
            pieces.append((text, ids, True, quiet))
            joined, ids = row_text, []
        text, quiet = joined, row_quiet
        ids.append(row.id)
    if ids:
        pieces.append((text, ids, True, quiet))
    return pieces


def render_caption(kind: str, payload: dict, language: str) -> str:
    """A photo's caption with the user's numbers (run on the notifier's threads)."""
    i18n.use(language)
    return strategy_texts.report_caption(kind, payload)


def balance_in_place(payload: dict):
    """A key's balances with Refresh under them (no Refresh once the key is gone: no exchange then)."""
    markup = keyboards.refresh(keyboards.BALANCE, str(payload["key_id"])) if "exchange" in payload else None
    return formatting.balance_message(payload), markup


# Outbox kinds that edit the chat message payload["message_id"] instead of sending a new one:
# kind -> payload to (text, buttons). Rows of one message are folded: only the latest is shown.
EDITS = {
    strategy_texts.PROGRESS_KIND: lambda payload: (strategy_texts.backtest_progress(payload), None),
    BALANCE_IN_PLACE: balance_in_place,
}


def render_edit(kind: str, payload: dict, language: str):
    i18n.use(language)
    return EDITS[kind](payload)


def render(rows: list[Outbox], silent: set[int], language: str) -> list[tuple[str, list[int], bool, bool]]:
    """A chat's pieces in its user's language (run on the notifier's threads)."""
    i18n.use(language)
    return pieces_for_chat(rows, silent)


class Notifier:
    def __init__(self, bot: Bot):
        self.bot = bot
        self.owner = f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.backoff: dict[int, tuple[float, float]] = {}  # chat -> (retry at, current delay)
        self.unrecorded: set[int] = set()  # accepted by Telegram, not yet marked sent
        self.stopping = False
        self._lease_base: tuple[dt.datetime, float] | None = None  # (database clock, monotonic) at the claim
        # Its own threads for its database work and its formatting, so neither blocks the event loop
        # nor queues replies' database work behind a drain.
        self.executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="notifier")
        # Behind a rate limiter, notifications take only what replies leave (telegram_bot/rate_limits.py).
        self.yield_to_replies = {"rate_limit_args": NOTIFICATION} if getattr(bot, "rate_limiter", None) else {}

    def off_loop(self, function, *args):
        return asyncio.get_running_loop().run_in_executor(self.executor, functools.partial(function, *args))

    def lease_until(self) -> dt.datetime:
        database_time, taken = self._lease_base
        return database_time + dt.timedelta(seconds=time.monotonic() - taken + LEASE_SECONDS)

    def wait(self, chat_id: int, error: Exception) -> None:
        delay = min(MAX_BACKOFF_SECONDS, self.backoff.get(chat_id, (0, 0.5))[1] * 2)
        self.backoff[chat_id] = (time.monotonic() + delay, delay)
        log.warning("delivery failed; retrying later", chat=chat_id, error=type(error).__name__, retry_in=delay)

    async def deliver_chat(self, chat_id: int, user_id: int, rows: list[Outbox]) -> None:
        """Send one chat's rows; any failure stays with this chat (the round goes on for the others)."""
        with log_context(user=user_id, chat=chat_id):
            try:
                await self._deliver_chat(chat_id, user_id, rows)
            except Exception as error:  # the database away while marking, a text that cannot be made
                self.wait(chat_id, error)
            try:  # what is left goes back, except what Telegram has accepted and waits to be marked
                await self.off_loop(release_leases, self.owner, [r.id for r in rows if r.id not in self.unrecorded])
            except Exception:
                log.warning("could not hand back a chat's rows; their lease ends by itself")

    async def _deliver_chat(self, chat_id: int, user_id: int, rows: list[Outbox]) -> None:
        rows = [row for row in rows if row.id not in self.unrecorded]  # sent: only the marking is due
        if not rows:
            return
        language = rows[0].user.language
        levels = {row.id: delivery_level(row.user, row.kind) for row in rows}
        muted = [row.id for row in rows if levels[row.id] == "off"]
        if muted:  # the user turned this kind of message off: done, without a word
            await self.off_loop(mark_sent, muted)
            rows = [row for row in rows if levels[row.id] != "off"]
            if not rows:
                return
        silent = {row_id for row_id, level in levels.items() if level == "silent"}
        given_up: set[int] = set()
        for text, row_ids, completes, quiet in await self.off_loop(render, rows, silent, language):
            if given_up.issuperset(row_ids):
                continue
            if self.stopping:
                return  # a clean stop comes between messages, never inside one
            if not await self.off_loop(renew_lease, self.owner, row_ids, self.lease_until()):
                log.info("rows taken over by another notifier", rows=len(row_ids))
                return
            try:
                await self.bot.send_message(chat_id, text, parse_mode=ParseMode.HTML, disable_notification=quiet,
                                            **self.yield_to_replies)
            except Forbidden:
                log.info("chat blocked the bot; keeping its messages", rows=len(rows))
                await self.off_loop(mark_unreachable, user_id)
                return
            except BadRequest as error:
                # Telegram will refuse this the same way every time (chat gone, bad text).
                log.warning("message refused for good; given up", rows=len(row_ids), error=error.message)
                await self.off_loop(mark_given_up, row_ids)
                given_up.update(row_ids)
                continue
            except TelegramError as error:  # 5xx, 429 beyond the rate limiter, network: temporary
                self.wait(chat_id, error)
                await self.off_loop(mark_failed_attempt, [r.id for r in rows])
                return
            if completes:
                self.unrecorded.update(row_ids)
                await self.off_loop(mark_sent, row_ids)
                self.unrecorded.difference_update(row_ids)
        self.backoff.pop(chat_id, None)

    async def deliver_photo(self, row: Outbox) -> None:
        """A /backtest or /chart answer: its PNG with the figures as caption (or the error alone).
        An answer the user asked for: always delivered, whatever the /settings."""
        caption = await self.off_loop(render_caption, row.kind, row.payload, row.user.language)
        try:
            if "png" in row.payload:
                await self.bot.send_photo(row.chat_id, base64.b64decode(row.payload["png"]), caption=caption,
                                          parse_mode=ParseMode.HTML, **self.yield_to_replies)
            else:
                await self.bot.send_message(row.chat_id, caption, parse_mode=ParseMode.HTML, **self.yield_to_replies)
        except Forbidden:
            await self.off_loop(mark_unreachable, row.user_id)
            return
        except BadRequest:
            await self.off_loop(mark_given_up, [row.id])
            return
        except TelegramError:
            await self.off_loop(mark_failed_attempt, [row.id])
            return
        await self.off_loop(mark_sent, [row.id])

    async def deliver_edit(self, rows: list[Outbox]) -> None:
        """Rows editing one message (a /backtest's progress, a key's balances at each Refresh):
        only the latest is shown; an edit Telegram refuses (unchanged, message gone) is simply
        over, it is no answer of its own."""
        row, ids = rows[-1], [r.id for r in rows]
        text, markup = await self.off_loop(render_edit, row.kind, row.payload, row.user.language)
        try:
            await self.bot.edit_message_text(text, row.chat_id, row.payload["message_id"], parse_mode=ParseMode.HTML,
                                             reply_markup=markup, **self.yield_to_replies)
        except Forbidden:
            await self.off_loop(mark_unreachable, row.user_id)
            return
        except BadRequest:
            pass
        except TelegramError:
            await self.off_loop(mark_failed_attempt, ids)
            return
        await self.off_loop(mark_sent, ids)

    async def record_sent(self) -> None:
        """Mark what Telegram accepted while the database was away."""
        if self.unrecorded:
            done = list(self.unrecorded)
            await self.off_loop(mark_sent, done)
            self.unrecorded.difference_update(done)

    async def deliver_once(self) -> int:
        """Send what is pending now; returns how many rows were looked at."""
        await self.record_sent()
        now = time.monotonic()
        waiting = [chat for chat, (retry_at, _) in self.backoff.items() if retry_at > now]
        self._lease_base = (await self.off_loop(database_now), time.monotonic())
        rows = await self.off_loop(claim_rows, self.owner, waiting)
        by_chat: dict[int, list[Outbox]] = defaultdict(list)
        photos = []
        edits: dict[tuple[int, int], list[Outbox]] = defaultdict(list)
        for row in rows:
            if row.kind in EDITS:
                edits[(row.chat_id, row.payload["message_id"])].append(row)
            else:
                (photos if row.kind in strategy_texts.PHOTO_KINDS else by_chat[row.chat_id]).append(row)
        await asyncio.gather(*(self.deliver_edit(message_rows) for message_rows in edits.values()))
        await asyncio.gather(*(self.deliver_photo(row) for row in photos))
        await asyncio.gather(*(self.deliver_chat(chat, chat_rows[0].user_id, chat_rows) for chat, chat_rows in by_chat.items()))
        return len(rows)

    async def run(self) -> None:
        while not self.stopping:
            try:
                seen = await self.deliver_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox delivery round failed")
                seen = 0
            if seen < BATCH_ROWS and not self.stopping:  # a full batch means more is waiting: go on at once
                await asyncio.sleep(IDLE_SLEEP_SECONDS)
        try:
            await self.record_sent()
            await self.off_loop(release_leases, self.owner)
        except Exception:
            log.warning("could not hand the outbox back on stopping; its leases end by itself")

    async def stop(self, task: asyncio.Task, timeout: float = 10) -> None:
        """Finish the message in hand, hand the rest back, then end the task."""
        self.stopping = True
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except asyncio.TimeoutError:
            task.cancel()
        except Exception:
            log.exception("outbox delivery stopped with an error")
