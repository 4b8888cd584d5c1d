"""The service's gettext catalogs: one `botfleet.po` per language under telegram_bot/locales/
(see scripts/catalogs.sh), compiled in memory when first used, so there is no build step to forget.

The chat writes its messages with them (telegram_bot/i18n.py), and the jobs that draw texts into
a PNG write those with them too (workers/charts.py): one catalog wherever a reader's text is
written. It lives on the bottom floor, beside settings.py, so a job can read it without importing
the chat; nothing here knows of chats or jobs.
"""
from __future__ import annotations

import functools
import gettext
import io
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES_DIR = Path(__file__).resolve().parent / "telegram_bot" / "locales"
DOMAIN = "botfleet"
DEFAULT = "en"


@functools.lru_cache(maxsize=None)
def languages() -> tuple[str, ...]:
    """English (the source texts) and every language with a catalog."""
    found = sorted(p.parent.parent.name for p in LOCALES_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
    return (DEFAULT, *[code for code in found if code != DEFAULT])


def known(language: str | None) -> str:
    """`language` when there is a catalog for it, English otherwise ("" and None included)."""
    return language if language in languages() else DEFAULT


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


def N_(message: str) -> str:
    """Marks a text for the catalog; translated later, where the reader's language is known."""
    return message
