"""telegram_bot.formatting: numbers, HTML escaping of dynamic text, and message splitting."""
from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telegram_bot import formatting
from telegram_bot.formatting import TELEGRAM_LIMIT, num, price, signed, split_message

FAST = settings(max_examples=200, deadline=None)
NASTY = "<b>&"
ESCAPED = "&lt;b&gt;&amp;"


def fill(side="buy", realized_profit=None, **overrides) -> dict:
    """The shape workers/booking.py:fill_payload puts in the outbox."""
    payload = {
        "bot_id": 7, "bot_name": "dipper", "mode": "paper", "side": side, "symbol": "BTC/USDT",
        "base": "BTC", "quote": "USDT", "amount": "0.00150000", "price": "64000.12345678",
        "cost": "96.000185185", "fee": "0.0960001851850", "fee_currency": "USDT",
        "realized_profit": realized_profit,
    }
    return payload | overrides


def bot_view(**overrides) -> dict:
    """The shape rpc/bots.py:bot_view returns."""
    view = {
        "id": 3, "name": "dipper", "exchange": "binance", "symbol": "BTC/USDT", "mode": "paper",
        "capital": D("100.00"), "strategy": "dip", "params": {"dip": "0.6", "period": 20, "timeframe": "1m"},
        "status": "stopped", "status_reason": "", "key_id": None, "realized_profit": D(0), "quote": "USDT",
    }
    return view | overrides


# --- numbers ---------------------------------------------------------------

@pytest.mark.parametrize("value, text", [
    (D("1.50000000"), "1.5"),
    (D("100"), "100"),
    (D("1E+3"), "1,000"),
    (D("0.00000001"), "0.00000001"),
    (D("0.000000012345"), "0.00000001"),
    ("2.000", "2"),
    (D("-3.10"), "-3.1"),
    (None, "–"),
])
def test_num_has_no_exponent_no_trailing_zeros_at_most_8_decimals_and_groups_thousands(value, text):
    assert num(value) == text


def test_num_with_places_keeps_exactly_that_many_decimals():
    assert num(D("96.000185185"), 2) == "96.00"
    assert num(D("1"), 2) == "1.00"


@pytest.mark.parametrize("value, text", [
    (D("64000.12345678"), "64,000.123"),
    (D("123456789.5"), "123,456,790"),
    (D("0.00012345678"), "0.00012345678"),
    (D("0.0000012345678"), "0.0000012345678"),
    (D("1.10000000"), "1.1"),
    (None, "–"),
])
def test_price_has_8_significant_digits_and_no_exponent(value, text):
    assert price(value) == text


@pytest.mark.parametrize("value, text", [(D("1.5"), "+1.50"), (D("-1.5"), "-1.50"), (D("0"), "0.00")])
def test_signed_shows_a_plus_only_for_gains(value, text):
    assert signed(value) == text


@FAST
@given(st.decimals(min_value=D("-1e12"), max_value=D("1e12"), allow_nan=False, allow_infinity=False))
def test_num_and_price_never_use_an_exponent_or_trailing_zeros(value):
    for text in (num(value), price(value)):
        assert "E" not in text and "e" not in text
        assert not ("." in text and text.endswith("0"))
    assert len(num(value).partition(".")[2]) <= 8
    shown = price(value).lstrip("-").replace(",", "")
    digits = shown.replace(".", "").lstrip("0") if "." in shown else shown.strip("0")
    assert len(digits) <= 8  # significant digits


# --- escaping --------------------------------------------------------------

def test_bot_settings_escapes_dynamic_text():
    text = formatting.bot_settings(bot_view(
        name=NASTY, symbol=f"{NASTY}/USDT", status_reason=NASTY, params={"x": NASTY}))
    assert NASTY not in text
    assert f"Bot <b>3</b> {ESCAPED}" in text
    assert f"{ESCAPED}/USDT" in text and f"x={ESCAPED}" in text and f"({ESCAPED})" in text


def test_bot_settings_shows_capital_and_params():
    text = formatting.bot_settings(bot_view())
    assert "capital 100 USDT" in text
    assert "<code>dip=0.6 period=20 timeframe=1m</code>" in text


def test_fill_message_escapes_bot_name_and_symbol():
    text = formatting.fill_message(fill(bot_name=NASTY, symbol=f"{NASTY}/USDT"))
    assert NASTY not in text
    assert f"bot 7 {ESCAPED} · {ESCAPED}/USDT" in text


def test_key_line_escapes_exchange_and_mask():
    text = formatting.key_line({"id": 1, "exchange": NASTY, "masked": f"...{NASTY}", "testnet": True, "bots": 2})
    assert NASTY not in text
    assert text == f"Key <b>1</b>: {ESCAPED} (testnet) <code>...{ESCAPED}</code>, 2 bot(s)"


def test_not_found_escapes_the_id():
    assert formatting.not_found("Bot", NASTY) == f"Bot {ESCAPED} not found. See your own with /bots."


# --- fills -----------------------------------------------------------------

def test_fill_message_of_an_entry_names_bot_side_symbol_amount_price_cost_fee_and_no_profit():
    text = formatting.fill_message(fill())
    assert text.startswith("🟢 BUY (paper) · bot 7 dipper · BTC/USDT")
    assert "amount 0.0015 BTC @ 64,000.123" in text
    assert "cost 96.00 USDT, fee 0.09600019 USDT" in text
    assert "profit" not in text


def test_fill_message_of_a_profitable_exit_shows_the_signed_profit():
    text = formatting.fill_message(fill(side="sell", realized_profit="1.23456"))
    assert text.startswith("🔴 SELL (paper)")
    assert text.endswith("realized profit +1.23 USDT")


def test_fill_message_of_a_losing_exit_shows_the_negative_profit():
    assert formatting.fill_message(fill(side="sell", realized_profit="-2.5")).endswith("realized profit -2.50 USDT")


def test_fill_message_of_a_live_bot_has_no_paper_tag():
    assert "(paper)" not in formatting.fill_message(fill(mode="live"))


def test_outbox_text_dispatches_by_kind():
    assert formatting.outbox_text("fill", fill()) == formatting.fill_message(fill())


# --- splitting -------------------------------------------------------------

def test_short_message_is_one_piece():
    assert split_message("hello\nworld") == ["hello\nworld"]


def test_default_limit_is_below_telegrams():
    pieces = split_message(("x" * 99 + "\n") * 200)
    assert len(pieces) > 1 and all(len(p) < TELEGRAM_LIMIT for p in pieces)


def test_cuts_at_line_ends():
    assert split_message("aaa\nbbb\nccc", limit=7) == ["aaa\nbbb", "ccc"]


def test_overlong_single_line_is_cut_hard():
    assert split_message("abcdefghij", limit=4) == ["abcd", "efgh", "ij"]


@FAST
@given(text=st.text(alphabet="ab\n", max_size=300), limit=st.integers(1, 40))
def test_no_piece_is_over_the_limit_and_no_character_but_newlines_is_lost(text, limit):
    pieces = split_message(text, limit=limit)
    assert all(len(piece) <= limit for piece in pieces)
    assert "".join(pieces).replace("\n", "") == text.replace("\n", "")


@FAST
@given(lines=st.lists(st.text(alphabet="xy<&", min_size=1, max_size=15), max_size=40), limit=st.integers(15, 60))
def test_joining_pieces_with_newlines_gives_back_text_cut_at_line_ends(lines, limit):
    text = "\n".join(lines)
    assert "\n".join(split_message(text, limit=limit)) == text


@pytest.mark.parametrize("text, limit", [("\nabc", 10), ("aaaaa\n\nb", 5)])
def test_joining_pieces_with_newlines_keeps_blank_lines(text, limit):
    assert "\n".join(split_message(text, limit=limit)) == text


def test_the_daily_summary_names_the_day_profit_and_positions_in_the_readers_language():
    from telegram_bot import i18n

    payload = {"day": "2026-11-18", "open_positions": 2, "running_bots": 3,
               "by_quote": {"USDT": {"profit": "1234.5", "trades": 4, "percent": "1.2"}}}
    try:
        i18n.use("pt_BR")
        text = formatting.summary_message(payload)
    finally:
        i18n.use("en")
    assert "Seu dia, 18 de nov. de 2026" in text and "+1.234,50 USDT (+1,20%) em 4" in text
    assert "3 robô(s) rodando, 2 posição(ões)" in text
