"""Logging for every process: one format, quiet HTTP clients, and secrets redacted.

httpx logs every request URL at INFO, and Telegram's URLs contain the bot token, so its
logger is raised to WARNING; the redacting filter is the second line of defence.
"""
from __future__ import annotations

import logging

REDACTED = "[redacted]"


class RedactingFilter(logging.Filter):
    """Replaces known secret values in every record's final message."""

    def __init__(self, secrets):
        super().__init__()
        self.secrets = tuple(s for s in secrets if s and len(s) >= 8)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(secret in message for secret in self.secrets):
            for secret in self.secrets:
                message = message.replace(secret, REDACTED)
            record.msg, record.args = message, None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            if any(secret in text for secret in self.secrets):
                for secret in self.secrets:
                    text = text.replace(secret, REDACTED)
                record.msg, record.args = f"{record.getMessage()}\n{text}", None
                record.exc_info, record.exc_text = None, None
        return True


def configure_logging(process: str, secrets=(), level=logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(f"%(asctime)s {process} %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "urllib3", "apscheduler", "telegram.ext.Updater"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
