"""The chat's languages: the gettext catalogs of catalogs.py, and the language of the message
being written.

A new language is one new `locales/<code>/LC_MESSAGES/botfleet.po` (see scripts/catalogs.sh).
The language of the message being written is a context variable: each update and each
outbox delivery runs in its own asyncio task, so one chat's language never leaks into another's.
"""
from __future__ import annotations

import contextvars

from babel import Locale

# The chat's names for the catalogs' own (telegram_bot modules import them from here).
from catalogs import DEFAULT, LOCALES_DIR, N_, known, languages, translations  # noqa: F401

_current: contextvars.ContextVar[str] = contextvars.ContextVar("chat_language", default=DEFAULT)


def pick(language_code: str | None) -> str:
    """Our language for a Telegram `language_code` ("pt-br", "pt", "en-US", ...)."""
    if not language_code:
        return DEFAULT
    wanted = language_code.replace("-", "_").lower()
    by_lower = {code.lower(): code for code in languages()}
    if wanted in by_lower:
        return by_lower[wanted]
    base = wanted.split("_")[0]
    for code in languages():  # "pt" and "pt_PT" get Brazilian Portuguese, our only Portuguese
        if code.lower().split("_")[0] == base:
            return code
    return DEFAULT


def use(language: str | None) -> str:
    """Write what follows (in this task) in `language`; returns the language in use."""
    language = known(language)
    _current.set(language)
    return language


def current() -> str:
    return _current.get()


def locale() -> Locale:
    return Locale.parse(current())


def language_name(language: str) -> str:
    """The language's own name, e.g. "português (Brasil)"."""
    return Locale.parse(language).get_display_name(language)


def _(message: str) -> str:
    return translations(current()).gettext(message)


def ngettext(singular: str, plural: str, count: int) -> str:
    return translations(current()).ngettext(singular, plural, count)
