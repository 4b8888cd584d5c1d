"""Reads and validates the environment contract once; the only module that touches os.environ.

Every process calls `load()` at start. A missing or malformed value raises SettingsError
naming the variable, and the process's entry point turns that into a clear exit.
"""
from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.fernet import Fernet
from dotenv import load_dotenv

PROJECT_DIR = Path(__file__).resolve().parent
DATA_DIR = PROJECT_DIR / "data"
DEFAULT_DATABASE_URL = "sqlite:///data/botfleet.db"
DEFAULT_TELEGRAM_API_URL = "https://api.telegram.org/bot"
REGISTRATION_MODES = ("open", "invite", "closed")

BOTFATHER_HELP = (
    "TELEGRAM_TOKEN is not set. Talk to @BotFather in Telegram, send /newbot, and put the "
    "token it gives you in the environment or in a .env file: TELEGRAM_TOKEN=123456:ABC..."
)


class SettingsError(Exception):
    """A variable of the environment contract is missing or malformed."""


@dataclass(frozen=True)
class Settings:
    # repr=False: secrets, and URLs that may carry passwords, stay out of any printed Settings.
    telegram_token: str | None = field(repr=False)
    telegram_api_url: str
    database_url: str = field(repr=False)
    redis_url: str | None = field(repr=False)
    fernet_keys: tuple[str, ...] = field(repr=False)
    tick_seconds: float
    exchange_overrides: dict = field(default_factory=dict)
    admin_chat_ids: frozenset[int] = frozenset()
    registration: str = "open"
    webhook_url: str | None = None
    port: int = 8443

    def require_telegram_token(self) -> str:
        if not self.telegram_token:
            raise SettingsError(BOTFATHER_HELP)
        return self.telegram_token

    def require_redis_url(self) -> str:
        if not self.redis_url:
            raise SettingsError("REDIS_URL is not set (redis:// or rediss://, or unix:// locally).")
        return self.redis_url

    def require_fernet_keys(self) -> tuple[str, ...]:
        if not self.fernet_keys:
            raise SettingsError(
                "FERNET_KEYS is not set: give one or more comma-separated Fernet keys "
                "(make one with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())')."
            )
        return self.fernet_keys

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that must never reach a log line."""
        return tuple(s for s in (self.telegram_token, *self.fernet_keys) if s)


def _get(environ, name: str) -> str | None:
    value = environ.get(name)
    return value.strip() if value and value.strip() else None


def _as_fernet_key(key: str) -> str:
    """A 64-hex-digit secret (what a platform's secret generator makes, e.g. app.json's
    "generator": "secret") stands for the 32 bytes it spells, as a Fernet key."""
    if len(key) == 64 and all(c in "0123456789abcdefABCDEF" for c in key):
        return base64.urlsafe_b64encode(bytes.fromhex(key)).decode()
    return key


def _parse_fernet_keys(raw: str | None) -> tuple[str, ...]:
    if raw is None:
        return ()
    keys = tuple(_as_fernet_key(k.strip()) for k in raw.split(",") if k.strip())
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key.encode())
        except (ValueError, TypeError):
            # Never echo the key itself: it is a secret even when malformed.
            raise SettingsError(
                f"FERNET_KEYS: key number {position} is not a valid Fernet key "
                "(32 url-safe base64-encoded bytes)."
            ) from None
    return keys


def _parse_tick_seconds(raw: str | None) -> float:
    if raw is None:
        return 5.0
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"TICK_SECONDS must be a number of seconds, got {raw!r}.") from None
    if not 0.1 <= value <= 3600:
        raise SettingsError(f"TICK_SECONDS must be between 0.1 and 3600, got {raw!r}.")
    return value


def _parse_exchange_overrides(raw: str | None) -> dict:
    if raw is None:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"EXCHANGE_OVERRIDES is not valid JSON: {exc.msg}.") from None
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise SettingsError(
            "EXCHANGE_OVERRIDES must be a JSON object of exchange id -> ccxt config object."
        )
    return value


def _parse_admin_chat_ids(raw: str | None) -> frozenset[int]:
    if raw is None:
        return frozenset()
    try:
        return frozenset(int(part) for part in raw.split(",") if part.strip())
    except ValueError:
        raise SettingsError(
            f"ADMIN_CHAT_IDS must be comma-separated chat ids, got {raw!r}."
        ) from None


def _parse_registration(raw: str | None) -> str:
    value = (raw or "open").lower()
    if value not in REGISTRATION_MODES:
        raise SettingsError(f"REGISTRATION must be one of open, invite, closed; got {raw!r}.")
    return value


def _parse_redis_url(raw: str | None) -> str | None:
    if raw is not None and not raw.startswith(("redis://", "rediss://", "unix://")):
        raise SettingsError("REDIS_URL must start with redis://, rediss:// or unix://.")
    if raw is not None and raw.startswith("rediss://") and "ssl_cert_reqs=" not in raw:
        # Heroku's Key-Value Store serves TLS with a self-signed certificate and documents
        # connecting without verifying it; the link stays encrypted. A URL that says
        # ssl_cert_reqs=required (or optional) keeps its choice.
        raw += ("&" if "?" in raw else "?") + "ssl_cert_reqs=none"
    return raw


def _parse_database_url(raw: str | None) -> str:
    value = raw or DEFAULT_DATABASE_URL
    if not value.startswith(("sqlite:", "postgres://", "postgresql://", "postgresext://")):
        raise SettingsError("DATABASE_URL must be a sqlite:/// or postgres:// URL.")
    return value


def _parse_port(raw: str | None) -> int:
    if raw is None:
        return 8443
    if not (raw.isascii() and raw.isdigit()) or not 0 < int(raw) < 65536:
        raise SettingsError(f"PORT must be a TCP port number, got {raw!r}.")
    return int(raw)


def load(environ=None) -> Settings:
    """Build Settings from the environment (and a .env file in the project, if any)."""
    if environ is None:
        load_dotenv(PROJECT_DIR / ".env", override=False)
        environ = os.environ
    return Settings(
        telegram_token=_get(environ, "TELEGRAM_TOKEN"),
        telegram_api_url=_get(environ, "TELEGRAM_API_URL") or DEFAULT_TELEGRAM_API_URL,
        database_url=_parse_database_url(_get(environ, "DATABASE_URL")),
        redis_url=_parse_redis_url(_get(environ, "REDIS_URL")),
        fernet_keys=_parse_fernet_keys(_get(environ, "FERNET_KEYS")),
        tick_seconds=_parse_tick_seconds(_get(environ, "TICK_SECONDS")),
        exchange_overrides=_parse_exchange_overrides(_get(environ, "EXCHANGE_OVERRIDES")),
        admin_chat_ids=_parse_admin_chat_ids(_get(environ, "ADMIN_CHAT_IDS")),
        registration=_parse_registration(_get(environ, "REGISTRATION")),
        webhook_url=_get(environ, "WEBHOOK_URL"),
        port=_parse_port(_get(environ, "PORT")),
    )
