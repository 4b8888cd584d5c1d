"""The chat's languages: gettext catalogs under telegram_bot/locales/, one .po file each.

A new language is one new `locales/<code>/LC_MESSAGES/botfleet.po` (see scripts/catalogs.sh);
the catalog is compiled in memory when first used, so there is no build step to forget.
The language of the message being written is a context variable: each update and each
outbox delivery runs in its own asyncio task, so one chat's language never leaks into another's.
"""
from __future__ import annotations

import contextvars
import functools
import gettext
import io
from pathlib import Path

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
DOMAIN = "botfleet"
DEFAULT = "en"

_current: contextvars.ContextVar[str] = contextvars.ContextVar("chat_language", default=DEFAULT)


@functools.lru_cache(maxsize=None)
def languages() -> tuple[str, ...]:
    """English (the source texts) and every language with a catalog."""
    found = sorted(p.parent.parent.name for p in LOCALES_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
    return (DEFAULT, *[code for code in found if code != DEFAULT])


@functools.lru_cache(maxsize=None)
def translations(language: str) -> gettext.NullTranslations:
    path = LOCALES_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if language == DEFAULT or not path.exists():
        return gettext.NullTranslations()
    with path.open("rb") as po:
        catalog = read_po(po, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


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
    language = language if language in languages() else DEFAULT
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


def N_(message: str) -> str:
    """Marks a text for the catalog; translated later, where the reader's language is known."""
    return message
