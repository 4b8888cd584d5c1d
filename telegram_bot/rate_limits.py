"""Telegram's ~30 messages a second, shared so that replies come before notifications.

python-telegram-bot's AIORateLimiter does the limiting (its overall bucket, its 429 handling
with retry_after, its group limits); this subclass adds one rule: a request sent with
`rate_limit_args=NOTIFICATION` (the outbox notifier) takes a slot only when no reply is waiting
for one and HEADROOM slots stay free. So a user's command is answered at once even while
thousands of fill messages drain, and the drain still runs at whatever replies leave unused.
"""
from __future__ import annotations

import asyncio
import contextlib

from telegram.error import RetryAfter
from telegram.ext import AIORateLimiter

from logcontext import get_logger

log = get_logger(__name__)

HEADROOM = 5  # slots of the overall bucket that only replies may take: a burst of commands goes at once
POLL_SECONDS = 0.01


class Notification(int):
    """rate_limit_args of the notifier's requests: they yield to replies. An int (the retries on
    429), so a plain AIORateLimiter reads it as its usual max_retries."""


NOTIFICATION = Notification(3)


class ReplyFirstRateLimiter(AIORateLimiter):
    __slots__ = ("_replies_waiting", "_notification_gate")

    def __init__(self, max_retries: int = 3, **kwargs):
        super().__init__(max_retries=max_retries, **kwargs)
        self._replies_waiting = 0
        self._notification_gate = asyncio.Lock()  # notifications queue here, in order, one at a time

    async def _take_slot(self, notification: bool) -> None:
        limiter = self._base_limiter
        if limiter is None:
            return
        if not notification:
            self._replies_waiting += 1
            try:
                await limiter.acquire()
            finally:
                self._replies_waiting -= 1
            return
        async with self._notification_gate:
            while self._replies_waiting or not limiter.has_capacity(1 + HEADROOM):
                await asyncio.sleep(POLL_SECONDS)
            await limiter.acquire()

    async def _send(self, chat: bool, group, notification: bool, callback, args, kwargs):
        group_limiter = (self._get_group_limiter(group) if group and self._group_max_rate
                         else contextlib.nullcontext())
        async with group_limiter:
            if chat:
                await self._take_slot(notification)
            await self._retry_after_event.wait()
            return await callback(*args, **kwargs)

    async def process_request(self, callback, args, kwargs, endpoint, data, rate_limit_args):
        notification = isinstance(rate_limit_args, Notification)
        if data.get("allow_paid_broadcast") or not (notification or rate_limit_args is None
                                                    or isinstance(rate_limit_args, int)):
            return await super().process_request(callback, args, kwargs, endpoint, data, None)
        max_retries = int(rate_limit_args) if rate_limit_args is not None else self._max_retries
        chat_id = data.get("chat_id")
        with contextlib.suppress(ValueError, TypeError):
            chat_id = int(chat_id)
        group = chat_id if (isinstance(chat_id, int) and chat_id < 0) or isinstance(chat_id, str) else False
        for attempt in range(max_retries + 1):
            try:
                return await self._send(chat_id is not None, group, notification, callback, args, kwargs)
            except RetryAfter as error:
                if attempt == max_retries:
                    raise
                pause = error._retry_after.total_seconds()  # as AIORateLimiter reads it, without the deprecation
                log.info("rate limit hit; every request waits", wait=round(pause + 0.1, 3))
                self._retry_after_event.clear()
                await asyncio.sleep(pause + 0.1)
            finally:
                self._retry_after_event.set()
        return None
