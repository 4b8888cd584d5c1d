"""The dip strategy's pure decide(), and parameter parsing shared by every strategy."""
from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workers import strategies
from workers.strategies import Holding, Param, ParamError, dip, parse_params
from workers.strategies.base import sma

FAST = settings(max_examples=200, deadline=None)
CAPITAL = D("100")


def params(**overrides) -> dict:
    return strategies.validate("dip", {name: str(value) for name, value in overrides.items()})


def holding(entry="100", peak=None) -> Holding:
    entry = D(entry)
    return Holding(amount=D("1"), entry_price=entry, entry_cost=entry, peak_price=D(peak) if peak else entry)


# --- entries ---------------------------------------------------------------

def test_buys_exactly_at_the_dip_threshold_with_the_capital():
    decision = dip.decide([D("100")] * 20, D("99.4"), None, params(dip="0.6", period=20), CAPITAL)
    assert decision.action == "buy"
    assert decision.quote_amount == CAPITAL


def test_buys_below_the_dip_threshold():
    assert dip.decide([D("100")] * 20, D("90"), None, params(dip="0.6"), CAPITAL).action == "buy"


def test_holds_just_above_the_dip_threshold():
    assert dip.decide([D("100")] * 20, D("99.41"), None, params(dip="0.6"), CAPITAL).action == "hold"


def test_threshold_uses_only_the_last_period_closes():
    closes = [D("1000")] * 10 + [D("100")] * 5  # the SMA5 is 100, the SMA15 would be 700
    assert dip.decide(closes, D("99"), None, params(dip="1", period=5), CAPITAL).action == "buy"


def test_holds_without_enough_candles_for_the_average():
    assert dip.decide([D("100")] * 19, D("1"), None, params(period=20), CAPITAL).action == "hold"


# --- exits -----------------------------------------------------------------

def test_sells_at_take_profit():
    decision = dip.decide([], D("101.5"), holding("100"), params(tp="1.5"), CAPITAL)
    assert decision.action == "sell" and "take profit" in decision.reason


def test_holds_just_below_take_profit():
    assert dip.decide([], D("101.49"), holding("100"), params(tp="1.5"), CAPITAL).action == "hold"


def test_sells_at_stop_loss():
    decision = dip.decide([], D("97"), holding("100"), params(sl="3"), CAPITAL)
    assert decision.action == "sell" and "stop loss" in decision.reason


def test_holds_just_above_stop_loss():
    assert dip.decide([], D("97.01"), holding("100"), params(sl="3"), CAPITAL).action == "hold"


def test_zero_stop_loss_means_no_stop_loss():
    assert dip.decide([], D("1"), holding("100"), params(sl="0"), CAPITAL).action == "hold"


def test_trailing_exit_after_take_profit_when_price_falls_trail_from_peak():
    decision = dip.decide([], D("103.95"), holding("100", peak="105"), params(tp="2", trail="1"), CAPITAL)
    assert decision.action == "sell" and "trailing" in decision.reason


def test_trailing_holds_while_price_is_within_trail_of_peak():
    assert dip.decide([], D("103.96"), holding("100", peak="105"), params(tp="2", trail="1"), CAPITAL).action == "hold"


def test_trailing_does_not_exit_before_take_profit_level_was_reached():
    # peak 101.5 is under tp 102: a fall of more than 1 % from it is no trailing exit
    decision = dip.decide([], D("100.4"), holding("100", peak="101.5"), params(tp="2", trail="1"), CAPITAL)
    assert decision.action == "hold"


def test_trailing_replaces_the_plain_take_profit_exit():
    decision = dip.decide([], D("110"), holding("100", peak="105"), params(tp="2", trail="1"), CAPITAL)
    assert decision.action == "hold"


def test_trailing_reports_a_new_peak():
    decision = dip.decide([], D("106"), holding("100", peak="105"), params(tp="2", trail="1"), CAPITAL)
    assert decision.action == "hold" and decision.peak_price == D("106")
    assert not decision.acts


def test_trailing_reports_no_peak_when_price_stays_below_it():
    decision = dip.decide([], D("104.5"), holding("100", peak="105"), params(tp="2", trail="1"), CAPITAL)
    assert decision.peak_price is None


def test_stop_loss_still_applies_with_trailing():
    assert dip.decide([], D("96"), holding("100", peak="105"), params(sl="3", trail="1"), CAPITAL).action == "sell"


# --- trailing stop loss ----------------------------------------------------

def test_trailing_stop_loss_is_armed_at_the_entry():
    decision = dip.decide([], D("97.9"), holding("100"), params(sl="0", tsl="2"), CAPITAL)
    assert decision.action == "sell" and "trailing stop loss" in decision.reason


def test_trailing_stop_loss_holds_within_tsl_of_the_peak():
    assert dip.decide([], D("102.91"), holding("100", peak="105"), params(sl="0", tsl="2", tp="50"), CAPITAL).action == "hold"


def test_trailing_stop_loss_follows_the_peak_up():
    # peak 105: the stop is 102.9, above the entry; the plain stop loss (97) is far below
    decision = dip.decide([], D("102.89"), holding("100", peak="105"), params(sl="3", tsl="2", tp="50"), CAPITAL)
    assert decision.action == "sell" and "peak 105" in decision.reason


def test_trailing_stop_loss_remembers_a_new_peak():
    decision = dip.decide([], D("106"), holding("100", peak="105"), params(tsl="2", tp="50"), CAPITAL)
    assert decision.action == "hold" and decision.peak_price == D("106")


def test_take_profit_still_sells_with_a_trailing_stop_loss():
    assert dip.decide([], D("101.5"), holding("100"), params(tp="1.5", tsl="2"), CAPITAL).action == "sell"


@pytest.mark.parametrize("value", ["-0.1", "50.1"])
def test_tsl_out_of_bounds_is_refused(value):
    with pytest.raises(ParamError, match=rf"tsl must be between 0 and 50; got '{value}'"):
        strategies.validate("dip", {"tsl": value})


# --- parameters ------------------------------------------------------------

def test_defaults_fill_in_every_parameter():
    assert strategies.validate("dip", {}) == {
        "dip": D("0.6"), "period": 20, "timeframe": "1m", "tp": D("1.5"), "sl": D("3"), "trail": D("0"),
        "tsl": D("0"),
    }


def test_given_values_override_defaults_and_parse_to_decimal_and_int():
    result = strategies.validate("dip", {"dip": "1.25", "period": "50", "timeframe": "1h"})
    assert result["dip"] == D("1.25") and isinstance(result["dip"], D)
    assert result["period"] == 50 and isinstance(result["period"], int)
    assert result["timeframe"] == "1h" and result["tp"] == D("1.5")


def test_get_returns_the_strategy_module():
    assert strategies.get("dip") is dip


def test_unknown_strategy_is_a_param_error_listing_the_available_ones():
    with pytest.raises(ParamError, match=r"Unknown strategy 'moon'\. Available: dip, dca, grid"):
        strategies.validate("moon", {})


def test_unknown_parameter_is_a_param_error_naming_it_and_the_known_ones():
    with pytest.raises(ParamError, match=r"Unknown parameter foo\. Known: dip, period, timeframe, tp, sl, trail, tsl"):
        strategies.validate("dip", {"foo": "1"})


@pytest.mark.parametrize("name, value", [("dip", "0.01"), ("dip", "51"), ("sl", "-1"), ("period", "1"), ("tp", "1001")])
def test_out_of_bounds_value_is_a_param_error_with_the_bounds(name, value):
    low, high = dip.PARAMS[name].low, dip.PARAMS[name].high
    with pytest.raises(ParamError, match=rf"{name} must be between {low} and {high}; got '{value}'"):
        strategies.validate("dip", {name: value})


def test_bounds_are_inclusive():
    assert strategies.validate("dip", {"dip": "0.05", "period": "500"})["period"] == 500


@pytest.mark.parametrize("value", ["abc", "", "nan", "inf", "-Infinity"])
def test_non_number_is_a_param_error(value):
    with pytest.raises(ParamError, match="dip must be a number"):
        strategies.validate("dip", {"dip": value})


def test_non_integer_period_is_a_param_error():
    with pytest.raises(ParamError, match=r"period must be a whole number; got '20.5'"):
        strategies.validate("dip", {"period": "20.5"})


def test_integral_decimal_period_is_accepted_as_int():
    assert Param("period", 20, "", D(2), D(500), integer=True).parse("30.0") == 30


def test_bad_timeframe_is_a_param_error_listing_choices():
    with pytest.raises(ParamError, match=r"timeframe must be one of 1m, 3m, .*1d; got '2m'"):
        strategies.validate("dip", {"timeframe": "2m"})


def test_param_parse_strips_whitespace():
    assert dip.PARAMS["tp"].parse(" 2.5 ") == D("2.5")


def test_parse_params_reports_all_unknown_names_sorted():
    with pytest.raises(ParamError, match=r"Unknown parameter a, b\."):
        parse_params(dip.PARAMS, {"b": "1", "a": "1"})


def test_sma_is_the_mean_of_the_last_period_closes():
    assert sma([D("1"), D("2"), D("3"), D("4")], 2) == D("3.5")


def test_sma_is_none_without_enough_closes_or_with_no_period():
    assert sma([D("1")], 2) is None
    assert sma([D("1")], 0) is None


# --- properties ------------------------------------------------------------

prices = st.decimals(min_value=D("0.00000001"), max_value=D("1000000"), places=8)
dips = st.decimals(min_value=D("0.05"), max_value=D("50"), places=2)


@FAST
@given(level=prices, dip_pct=dips, period=st.integers(2, 50))
def test_flat_series_never_triggers_a_buy(level, dip_pct, period):
    decision = dip.decide([level] * period, level, None, params(dip=dip_pct, period=period), CAPITAL)
    assert decision.action == "hold"


@FAST
@given(
    entry=prices,
    tp=st.decimals(min_value=D("0.1"), max_value=D("1000"), places=2),
    sl=st.decimals(min_value=D("0"), max_value=D("99"), places=2),
    fraction=st.decimals(min_value=D("0.001"), max_value=D("0.999"), places=3),
)
def test_never_sells_strictly_between_stop_loss_and_take_profit_without_trailing(entry, tp, sl, fraction):
    low = entry * (1 - sl / 100)
    high = entry * (1 + tp / 100)
    price = low + (high - low) * fraction
    assert low < price < high
    decision = dip.decide([], price, holding(str(entry)), params(tp=tp, sl=sl, trail=0), CAPITAL)
    assert decision.action == "hold"
