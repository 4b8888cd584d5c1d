"""Writes each user's daily summary into the outbox at the hour they picked (the notifier then
delivers it like any message, on, silent or off as /settings says)."""
from __future__ import annotations

import asyncio

from logcontext import get_logger
from rpc.periods import write_due_summaries

log = get_logger(__name__)
CHECK_SECONDS = 60


async def run() -> None:
    while True:
        try:
            written = await asyncio.to_thread(write_due_summaries)
            if written:
                log.info("daily summaries written", summaries=written)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("daily summaries failed; trying again in a minute")
        await asyncio.sleep(CHECK_SECONDS)
