"""The chat's languages: catalogs complete and in step with the source, locale-aware numbers,
and the language picked from Telegram's language_code."""
from __future__ import annotations

import re
from decimal import Decimal as D
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from telegram_bot import engine_texts, formatting, i18n
from tests.fakes.telegram_api import parse_html

PROJECT = Path(__file__).resolve().parents[2]
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2), "t": None, "ParamError": None, "Param": (3,)}
PLACEHOLDER = re.compile(r"\{(\w*)\}")


def source_texts() -> set[str]:
    texts = set()
    for folder in ("telegram_bot", "rpc", "workers/strategies"):
        for _file, _line, message, _comments, _context in extract_from_dir(
                PROJECT / folder, method_map=[("**.py", "python")], keywords=KEYWORDS):
            texts.add(message if isinstance(message, str) else message[0])
    return texts


def catalog(language: str) -> dict[str, str]:
    path = i18n.LOCALES_DIR / language / "LC_MESSAGES" / "botfleet.po"
    with path.open("rb") as po:
        return {m.id: m.string for m in read_po(po) if m.id and not m.fuzzy}


@pytest.fixture(autouse=True)
def english_afterwards():
    yield
    i18n.use("en")


def test_brazilian_portuguese_is_available():
    assert i18n.languages() == ("en", "pt_BR")


def test_every_text_in_the_source_is_translated_in_every_catalog():
    for language in i18n.languages()[1:]:
        translated = catalog(language)
        missing = sorted(text for text in source_texts() if not translated.get(text))
        assert missing == [], f"{language}: run scripts/catalogs.sh and translate: {missing}"


def test_translations_keep_every_placeholder_and_are_valid_telegram_html():
    for language in i18n.languages()[1:]:
        for source, text in catalog(language).items():
            assert sorted(PLACEHOLDER.findall(source)) == sorted(PLACEHOLDER.findall(text)), (source, text)
            try:
                parse_html(PLACEHOLDER.sub("x", source))
            except ValueError:
                continue  # a plain-text template (escaped as a whole when shown)
            parse_html(PLACEHOLDER.sub("x", text))


def test_every_engine_text_still_exists_in_the_engine_source():
    engine = "\n".join(p.read_text() for folder in ("workers", "exchanges") for p in (PROJECT / folder).rglob("*.py"))
    flat = re.sub(r'"\s*\n\s*f?"', "", engine)  # join implicitly concatenated string literals
    for text in engine_texts.FIXED:
        assert text in flat, f"engine text no longer in the source: {text!r}"
    for pattern, _template in engine_texts.PATTERNS:
        head = re.split(r"[(\\]", pattern, maxsplit=1)[0]
        assert head in flat, f"engine text no longer in the source: {pattern!r}"


@pytest.mark.parametrize("code, language", [
    ("pt-br", "pt_BR"), ("pt", "pt_BR"), ("pt-PT", "pt_BR"), ("en", "en"), ("en-US", "en"),
    ("de", "en"), (None, "en"), ("", "en"),
])
def test_the_language_follows_telegrams_language_code(code, language):
    assert i18n.pick(code) == language


def test_numbers_money_and_dates_follow_the_locale():
    i18n.use("pt_BR")
    assert formatting.num(D("1234.56"), 2) == "1.234,56"
    assert formatting.price(D("64000.12345678")) == "64.000,123"
    assert formatting.signed(D("-2.5")) == "-2,50"
    i18n.use("en")
    assert formatting.num(D("1234.56"), 2) == "1,234.56"


def test_a_notification_reads_in_the_readers_language():
    payload = {"bot_id": 7, "bot_name": "dipper", "mode": "paper", "side": "sell", "symbol": "BTC/USDT",
               "base": "BTC", "quote": "USDT", "amount": "0.0015", "price": "64000.5", "cost": "96.0008",
               "fee": "0.096", "fee_currency": "USDT", "realized_profit": "1234.5"}
    i18n.use("pt_BR")
    text = formatting.fill_message(payload)
    assert text.startswith("🔴 VENDA (simulado) · robô 7 dipper") and "lucro realizado +1.234,50 USDT" in text


def test_engine_texts_with_values_are_translated_by_pattern():
    i18n.use("pt_BR")
    assert engine_texts.translate("binance has no active spot market DOGE/EUR.") == \
        "binance não tem mercado à vista ativo DOGE/EUR."
    assert engine_texts.translate("Something new from the engine.") == "Something new from the engine."
