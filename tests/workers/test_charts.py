"""The words, numbers and dates drawn in /backtest and /chart PNGs are the reader's: read back from
the figures matplotlib draws, and from the PNGs the jobs put in the outbox."""
from __future__ import annotations

import base64
import datetime as dt
import io
from decimal import Decimal as D

import pytest
from matplotlib import pyplot
from PIL import Image

from models import Bot, Outbox, User
from tests.workers.conftest import make_bot, make_user
from workers import charts, strategies
from workers.strategy_reports import draw_chart, run_backtest

START = int(dt.datetime(2026, 11, 21, 22, 0, tzinfo=dt.timezone.utc).timestamp() * 1000)
MINUTE, DAY = 60_000, 86_400_000


def drawn(figure) -> dict:
    """Every text of a chart figure as matplotlib draws it (tick labels are formatted when drawn)."""
    figure.canvas.draw()
    axes = figure.axes[0]
    legend = axes.get_legend()
    texts = {
        "title": axes.get_title(), "xlabel": axes.get_xlabel(), "ylabel": axes.get_ylabel(),
        "legend": [t.get_text() for t in legend.get_texts()] if legend else [],
        "notes": [t.get_text() for t in axes.texts],
        "x": [t.get_text() for t in axes.get_xticklabels() if t.get_text()],
        "y": [t.get_text() for t in axes.get_yticklabels() if t.get_text()],
    }
    pyplot.close(figure)
    return texts


def equity(language):
    points = [(START + day * DAY, 1000 + day * 12.5) for day in range(30)]
    hold = [(START + day * DAY, 1000 - day * 3.0) for day in range(30)]
    return charts.equity_figure("dca", "ETH/USDT", 30, points, hold, "USDT", language)


def dca_market(language):
    params = strategies.validate("dca", {"sl": "5"})
    holding = strategies.Holding(D("0.01"), D("60000"), D("600"), D("60500"), D("60500"))
    lines = [(label, float(price)) for label, price in strategies.get("dca").chart_lines(params, holding)]
    candles = [(START + i * MINUTE, 60000 + (i % 9) * 250.0) for i in range(120)]
    fills = [{"at": START + 5 * MINUTE, "side": "buy", "price": 60500.0},
             {"at": START + 50 * MINUTE, "side": "sell", "price": 61000.0}]
    return charts.market_figure("deals", "BTC/USDT", "1m", candles, fills, lines, "USDT", language)


def test_a_portuguese_readers_backtest_chart_has_portuguese_words_numbers_and_dates():
    texts = drawn(equity("pt_BR"))
    assert texts["title"] == "Backtest de dca · ETH/USDT · 30 d"
    assert texts["legend"] == ["estratégia", "comprar e manter"]
    assert texts["xlabel"] == "horário (UTC)" and texts["ylabel"] == "USDT"
    assert "1.000" in texts["y"] and "1.200" in texts["y"]  # thousands grouped with a dot
    assert all(label.endswith(("de nov.", "de dez.")) for label in texts["x"]), texts["x"]


def test_an_english_readers_backtest_chart_is_in_english():
    texts = drawn(equity("en"))
    assert texts["title"] == "dca backtest · ETH/USDT · 30 d"
    assert texts["legend"] == ["strategy", "buy and hold"] and texts["xlabel"] == "time (UTC)"
    assert "1,000" in texts["y"] and all(label.startswith(("Nov", "Dec")) for label in texts["x"]), texts["x"]


def test_a_portuguese_readers_bot_chart_names_sides_and_lines_in_portuguese():
    texts = drawn(dca_market("pt_BR"))
    assert texts["title"] == "deals · BTC/USDT 1m"
    assert texts["legend"] == ["compra", "venda"]
    assert texts["notes"] == ["preço médio", "take profit", "stop loss"]
    assert "60.000" in texts["y"] and "61.000" in texts["y"]
    # Two hours over midnight: day/month and the time of day.
    assert texts["x"][0] == "21/11 22:00" and "22/11 00:00" in texts["x"], texts["x"]


def test_an_english_readers_bot_chart_keeps_the_english_names():
    texts = drawn(dca_market(None))  # no language known: English
    assert texts["legend"] == ["buy", "sell"] and texts["notes"] == ["average", "take profit", "stop loss"]
    assert "60,000" in texts["y"] and texts["x"][0] == "11/21 22:00"


def test_every_line_a_strategy_draws_has_a_name_in_the_catalog():
    """(tests/telegram_bot/test_i18n.py checks that every marked name is translated.)"""
    holding = strategies.Holding(D("1"), D("100"), D("100"), D("110"), D("100"))
    every = {"dip": {"sl": "3", "tsl": "2"}, "dca": {"sl": "5"}, "grid": {"low": "90", "high": "110", "grids": "4"}}
    for name, settings in every.items():
        for label, _price in strategies.get(name).chart_lines(strategies.validate(name, settings), holding):
            if label.startswith("level"):
                continue  # a grid's levels are drawn without a name
            assert label in charts.LINE_NAMES, f"{name} draws '{label}': mark its name in charts.LINE_NAMES"


@pytest.mark.parametrize("ticks, decimals", [([59990, 60000, 60010], 0), ([1.5, 2.0, 2.5], 1),
                                             ([0.00001230, 0.00001235, 0.00001240], 8), ([1000, 1250], 0)])
def test_a_value_axis_shows_the_decimals_its_ticks_need(ticks, decimals):
    assert charts.decimals_for(ticks) == decimals


def png_title(payload: dict) -> str:
    return Image.open(io.BytesIO(base64.b64decode(payload["png"]))).text["Title"]


def history(fake_binance) -> None:
    fake_binance.set_history("BTC/USDT", ["60000"] * 25 + ["59000", "60500"] * 10)


def test_the_backtest_job_draws_in_the_language_it_was_given(ctx, fake_binance):
    user = make_user()
    history(fake_binance)
    run_backtest(user.id, "dip", "BTC/USDT", 1, {"dip": "1", "tp": "2"}, language="pt_BR")
    report = Outbox.get((Outbox.user == user) & (Outbox.kind == "backtest")).payload
    assert report["language"] == "pt_BR" and png_title(report) == "Backtest de dip · BTC/USDT · 1 d"


def test_a_job_queued_without_a_language_draws_in_the_owners_stored_one_else_english(ctx, fake_binance):
    history(fake_binance)
    reader = make_user()
    User.update(language="pt_BR").where(User.id == reader.id).execute()
    newcomer = make_user()  # language not known yet
    for user in (reader, newcomer):
        run_backtest(user.id, "dip", "BTC/USDT", 1, {"dip": "1", "tp": "2"})  # as queued before languages
        draw_chart(user.id, make_bot(user, None).id)
    titles = {user.id: png_title(Outbox.get((Outbox.user == user) & (Outbox.kind == "backtest")).payload)
              for user in (reader, newcomer)}
    assert titles == {reader.id: "Backtest de dip · BTC/USDT · 1 d", newcomer.id: "dip backtest · BTC/USDT · 1 d"}
    charted = {user.id: Outbox.get((Outbox.user == user) & (Outbox.kind == "chart")).payload
               for user in (reader, newcomer)}
    assert {user_id: (p["language"], "png" in p) for user_id, p in charted.items()} == {
        reader.id: ("pt_BR", True), newcomer.id: ("en", True)}
    assert png_title(charted[reader.id]) == f"{Bot.get(Bot.user == reader).name} · BTC/USDT 1m"
