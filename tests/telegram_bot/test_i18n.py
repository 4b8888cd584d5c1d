"""The chat's languages: catalogs complete and in step with the source, locale-aware numbers,
and the language picked from Telegram's language_code."""
from __future__ import annotations

import re
from decimal import Decimal as D
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from telegram_bot import engine_texts, formatting, i18n, strategy_texts
from workers import strategies
from tests.fakes.telegram_api import parse_html

PROJECT = Path(__file__).resolve().parents[2]
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2), "t": None, "ParamError": None, "Param": (3,)}
PLACEHOLDER = re.compile(r"\{(\w*)\}")


# Where texts for readers are marked (as babel.cfg lists them): folder, files in it.
SOURCES = (("telegram_bot", "**.py"), ("rpc", "**.py"), ("workers/strategies", "**.py"), ("workers", "charts.py"))


def source_texts() -> set[str]:
    texts = set()
    for folder, files in SOURCES:
        for _file, _line, message, _comments, _context in extract_from_dir(
                PROJECT / folder, method_map=[(files, "python")], keywords=KEYWORDS):
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


def test_a_strategys_parameters_read_in_the_readers_language():
    i18n.use("pt_BR")
    text = strategy_texts.strategy_help("dca", strategies.summary("dca"), strategies.parameters("dca"))
    assert "<code>so</code> — ordens de segurança;" in text
    i18n.use("en")
    assert "<code>so</code> — safety orders;" in strategy_texts.strategy_help(
        "dca", strategies.summary("dca"), strategies.parameters("dca"))


def test_every_strategys_summary_is_in_the_catalog():
    for name in strategies.STRATEGIES:
        assert strategies.summary(name) == strategy_texts.SUMMARIES[name], f"reworded: mark the new {name} summary"
    i18n.use("pt_BR")
    assert "<b>Estratégia grid</b>: Uma grade" in strategy_texts.strategy_help(
        "grid", strategies.summary("grid"), strategies.parameters("grid"))


def test_backtest_and_chart_answers_read_in_the_readers_language():
    report = {"strategy": "dip", "symbol": "BTC/USDT", "days": 30, "exchange": "binance", "timeframe": "1m",
              "candles": 43200, "capital": "1000", "quote": "USDT", "trades": 3, "fills": 6, "return_pct": "1234.5",
              "hold_pct": "-2", "max_drawdown": "3.25", "win_rate": "66.7", "profit_factor": "1.5", "fees": "1.2",
              "params": {"dip": "1", "tp": "2"}}
    i18n.use("pt_BR")
    caption = strategy_texts.report_caption("backtest", report)
    assert "Backtest de dip em BTC/USDT, 30 dia(s)" in caption and "retorno +1.234,50%" in caption
    assert "rebaixamento máximo 3,25% · taxa de acerto 66,7% · fator de lucro 1,50" in caption
    assert "<code>dip=1 tp=2</code>" in caption
    failed = {**report, "error": "binance has too little history of BTC/USDT for a backtest."}
    assert "binance tem histórico insuficiente de BTC/USDT" in strategy_texts.report_caption("backtest", failed)
    refused = {"bot_id": 4, "error": "low must be below high; got low=2 high=1.",
               "error_template": "low must be below high; got low={low} high={high}.",
               "error_params": {"low": "2", "high": "1"}}
    assert strategy_texts.report_caption("chart", refused) == \
        "⚠️ Gráfico do robô 4: low deve ficar abaixo de high; recebi low=2 high=1."
    assert "Robô 9 não encontrado." in strategy_texts.report_caption("chart", {"bot_id": 9, "error": "Bot 9 not found."})
    assert "Desenhando o gráfico do robô 9" in strategy_texts.chart_queued(9)
    head = {"strategy": "dca", "symbol": "ETH/USDT", "days": 30}
    assert "histórico, parte 3 de 44" in strategy_texts.backtest_progress({**head, "stage": "history", "done": 3,
                                                                            "total": 44})
    assert "simulando 43.200 velas" in strategy_texts.backtest_progress({**head, "stage": "simulating",
                                                                          "candles": 43200})
    assert "concluído" in strategy_texts.backtest_progress({**head, "stage": "done"})
    i18n.use("en")
    assert "return +1,234.50% · buy and hold -2.00%" in strategy_texts.report_caption("backtest", report)
