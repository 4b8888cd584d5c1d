"""The fields a log line carries besides its message: the ids of the user, bot and order it
concerns, and facts of the event (exchange, symbol, tick, job, amounts).

They come from two places, merged when the line is written (logconfig.py):
- a context (contextvars) set where the work for one user, bot, order or job happens:
  `with log_context(bot=bot.id):` for a block, `bind(job=job.id)` for the rest of the current
  context (an RQ job, an update's asyncio task); every line written inside carries them, the
  lines of RQ and python-telegram-bot included;
- keywords at the call, through `get_logger`: `log.info("order filled", order=order.id, side="buy")`.
A field whose value is None is left out.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from contextvars import ContextVar

_fields: ContextVar[dict] = ContextVar("log_fields", default={})
# Keywords that keep their meaning in logging itself; every other keyword is a field.
_LOGGING_KEYWORDS = frozenset({"exc_info", "stack_info", "stacklevel", "extra"})


def current_fields() -> dict:
    """The context's fields now (never modified in place: each change makes a new dict)."""
    return _fields.get()


def _merged(fields: dict) -> dict:
    present = {name: value for name, value in fields.items() if value is not None}
    return {**_fields.get(), **present} if present else _fields.get()


@contextmanager
def log_context(**fields):
    """These fields on every line written inside the block, in this thread or task."""
    token = _fields.set(_merged(fields))
    try:
        yield
    finally:
        _fields.reset(token)


def bind(**fields) -> None:
    """These fields for the rest of the current context: an RQ job (the worker runs each in a
    fresh one), or an update's asyncio task (python-telegram-bot runs each update in its own)."""
    _fields.set(_merged(fields))


def begin(**fields) -> None:
    """A new piece of work starts in the current context: only these fields from now on."""
    _fields.set({name: value for name, value in fields.items() if value is not None})


class FieldsAdapter(logging.LoggerAdapter):
    """A logger whose calls take fields as keywords: log.info("order sent", order=7)."""

    def process(self, msg, kwargs):
        fields = {name: kwargs.pop(name) for name in list(kwargs) if name not in _LOGGING_KEYWORDS}
        if fields:
            extra = dict(kwargs.get("extra") or {})
            extra["fields"] = {**extra.get("fields", {}), **fields}
            kwargs["extra"] = extra
        return msg, kwargs


def get_logger(name: str) -> FieldsAdapter:
    return FieldsAdapter(logging.getLogger(name), {})
