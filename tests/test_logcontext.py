"""logcontext: the ids a line carries come from where the work happens and from the call, and
never spill over into another piece of work."""
from __future__ import annotations

import asyncio
import contextvars

from logcontext import begin, bind, current_fields, get_logger, log_context

log = get_logger("tests.logcontext")


def test_a_block_adds_its_fields_and_takes_them_away_after():
    with log_context(user=1, bot=2):
        with log_context(bot=3, order=4, symbol=None):
            assert current_fields() == {"user": 1, "bot": 3, "order": 4}
        assert current_fields() == {"user": 1, "bot": 2}
    assert current_fields() == {}


def test_bind_lasts_for_the_rest_of_its_context_only():
    def job():
        bind(job="abc", tick=7)
        with log_context(bot=2):
            pass
        return current_fields()

    assert contextvars.copy_context().run(job) == {"job": "abc", "tick": 7}
    assert current_fields() == {}


def test_begin_starts_afresh():
    def update():
        bind(user=1, chat=10)
        begin(chat=20)
        return current_fields()

    assert contextvars.copy_context().run(update) == {"chat": 20}


def test_concurrent_tasks_keep_their_own_ids():
    async def chat(user: int) -> dict:
        with log_context(user=user):
            await asyncio.sleep(0.01)  # the other task runs meanwhile
            return current_fields()

    async def both():
        return await asyncio.gather(chat(1), chat(2))

    assert asyncio.run(both()) == [{"user": 1}, {"user": 2}]


def test_the_calls_keywords_are_fields_and_logging_keeps_its_own(log_lines):
    with log_context(user=1, bot=2):
        log.info("order sent", bot=5, order=9, side="buy")
        try:
            1 / 0
        except ZeroDivisionError:
            log.warning("it failed", exc_info=True, stacklevel=1, extra={"fields": {"tick": 3}}, order=9)
    sent, failed = log_lines.records()
    assert (sent["user"], sent["bot"], sent["order"], sent["side"]) == ("1", "5", "9", "buy")  # the call wins
    assert failed["tick"] == "3" and failed["order"] == "9" and "ZeroDivisionError" in failed["traceback"]
