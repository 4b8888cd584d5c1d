"""Logging for every process: one line per record, as logfmt key=value pairs, secrets redacted.

A line reads `time=... process=worker level=INFO logger=workers.booking msg="order filled"
user=3 bot=12 order=345 side=buy ...`: the record's own fields first, then the ids it concerns
(user, bot, order), then the rest (logcontext.py says where fields come from). A value with a
space, a quote, an equals sign, a backslash or a control character is quoted, with newlines
and other control characters escaped, so a traceback (the `traceback` field, last) stays on
its line. Everything that writes to the process's output goes through the one handler: our
lines, RQ's and python-telegram-bot's, Python's warnings and uncaught exceptions.

httpx logs every request URL at INFO, and Telegram's URLs contain the bot token, so its
logger is raised to WARNING; redaction is the second line of defence, applied to each finished
line (message, fields and traceback). RedactingFilter does the same for any other handler.
"""
from __future__ import annotations

import logging
import re
import sys
import threading
import time
from decimal import Decimal

from logcontext import current_fields, get_logger

REDACTED = "[redacted]"
CORE_KEYS = ("time", "process", "level", "logger", "msg")
ID_KEYS = ("user", "bot", "order")
# Attributes other libraries put on their records through `extra=`, and the field they fill.
LIBRARY_FIELDS = {"job_id": "job", "queue": "queue", "func": "func"}
_BARE_VALUE = re.compile(r"[^\s\"=\\\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_TO_ESCAPE = re.compile(r"[\\\"\x00-\x1f\x7f-\x9f\u2028\u2029]")


class FieldsFilter(logging.Filter):
    """Gathers a record's fields into `record.fields`: the context's (logcontext), those other
    libraries set through `extra=`, then the call's. Runs where the record is made, so the
    context is the caller's."""

    def filter(self, record: logging.LogRecord) -> bool:
        library = {field: getattr(record, attribute) for attribute, field in LIBRARY_FIELDS.items()
                   if getattr(record, attribute, None) is not None}
        record.fields = {**current_fields(), **library, **(getattr(record, "fields", None) or {})}
        return True


class RedactingFilter(logging.Filter):
    """Replaces known secret values in every record's final message, its traceback and its
    fields."""

    def __init__(self, secrets):
        super().__init__()
        self.secrets = tuple(s for s in secrets if s and len(s) >= 8)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def has_secret(self, text: str) -> bool:
        return any(secret in text for secret in self.secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.has_secret(message):
            record.msg, record.args = self.redact(message), None
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            # Cached where every formatter looks for it, so none formats the raw one again.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text and self.has_secret(record.exc_text):
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info and self.has_secret(record.stack_info):
            record.stack_info = self.redact(record.stack_info)
        fields = getattr(record, "fields", None)
        if fields:
            record.fields = {name: self.redact(text) if self.has_secret(text := _text(value)) else value
                             for name, value in fields.items()}
        return True


def _text(value) -> str:
    kind = type(value)
    if kind is str:
        return value
    if kind is int:
        return str(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is Decimal:
        return f"{value:f}"  # 0.00000001, not 1E-8
    return str(value)


def _quoted(text: str) -> str:
    if text and _BARE_VALUE.fullmatch(text):
        return text
    return '"' + _TO_ESCAPE.sub(lambda m: _ESCAPES.get(m.group(), f"\\u{ord(m.group()):04x}"), text) + '"'


_keys: dict[str, str] = {}


def _key(name: str) -> str:
    key = _keys.get(name)
    if key is None:
        key = _KEY_UNSAFE.sub("_", str(name)) or "_"
        if len(_keys) < 10_000:
            _keys[name] = key
    return key


class LogfmtFormatter(logging.Formatter):
    """One logfmt line per record (see the module's docstring). With `secrets`, the finished
    line is redacted as a whole: one scan covers the message, every field and the traceback
    (the secrets are keys and tokens, which quoting never alters)."""

    def __init__(self, process: str, secrets=()):
        super().__init__()
        self.process = process
        self.secrets = tuple(s for s in secrets if s and len(s) >= 8)

    def format(self, record: logging.LogRecord) -> str:
        seconds = int(record.created)
        parts = [
            f"time={time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(seconds))}."
            f"{int((record.created - seconds) * 1000):03d}Z",
            f"process={self.process}", f"level={record.levelname}", f"logger={_quoted(record.name)}",
            f"msg={_quoted(record.getMessage())}",
        ]
        fields = getattr(record, "fields", None)
        if fields:
            ordered = [(name, fields[name]) for name in ID_KEYS if name in fields]
            ordered += [(name, value) for name, value in fields.items() if name not in ID_KEYS]
            for name, value in ordered:
                if value is not None:
                    # A field never hides one of the record's own (`level=` becomes `field.level=`).
                    key = f"field.{name}" if name in CORE_KEYS else _key(name)
                    parts.append(f"{key}={_quoted(_text(value))}")
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            parts.append(f"traceback={_quoted(record.exc_text)}")
        if record.stack_info:
            parts.append(f"stack={_quoted(record.stack_info)}")
        line = " ".join(parts)
        for secret in self.secrets:
            if secret in line:
                line = line.replace(secret, REDACTED)
        return line


def structured_handler(process: str, secrets=(), stream=None) -> logging.Handler:
    """The handler every process writes through: fields gathered, one line, secrets redacted."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(LogfmtFormatter(process, secrets))
    handler.addFilter(FieldsFilter())
    return handler


def _log_uncaught(kind, value, traceback) -> None:
    if issubclass(kind, KeyboardInterrupt):
        get_logger("uncaught").info("interrupted")
        return
    get_logger("uncaught").critical("uncaught exception", exc_info=(kind, value, traceback))


def _log_uncaught_in_thread(args) -> None:
    if args.exc_type is SystemExit:
        return
    get_logger("uncaught").error("uncaught exception in a thread", exc_info=(args.exc_type, args.exc_value,
                                                                            args.exc_traceback),
                                 thread=args.thread.name if args.thread else None)


def _log_unraisable(unraisable) -> None:
    exc_info = (unraisable.exc_type, unraisable.exc_value, unraisable.exc_traceback)
    get_logger("uncaught").warning("exception ignored", exc_info=exc_info,
                                   where=unraisable.err_msg or repr(unraisable.object))


def configure_logging(process: str, secrets=(), level=logging.INFO) -> None:
    root = logging.getLogger()
    root.handlers[:] = [structured_handler(process, secrets)]
    root.setLevel(level)
    # ccxt logs request headers (an exchange key among them) at DEBUG.
    for noisy in ("httpx", "httpcore", "urllib3", "apscheduler", "telegram.ext.Updater", "ccxt"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # What Python would print on its own, over several lines, comes through the handler too.
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread
    sys.unraisablehook = _log_unraisable

