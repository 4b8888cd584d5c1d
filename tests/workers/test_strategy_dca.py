"""The dca strategy's ladder and pure decisions."""
from __future__ import annotations

from decimal import Decimal as D

import pytest

from exchanges import MarketRules
from workers import strategies
from workers.strategies import Holding, OpenOrder, ParamError, dca

RULES = MarketRules("BTC/USDT", "BTC", "USDT", amount_step=D("0.00001"), price_step=D("0.01"),
                    min_amount=D("0.00001"), min_cost=D("5"), taker_fee=D("0.001"))
FACTOR = D("1.004")


def params(**overrides) -> dict:
    return strategies.validate("dca", {name: str(value) for name, value in overrides.items()})


def deal(entry="100", base="100", peak=None, amount="1", position=7) -> Holding:
    return Holding(amount=D(amount), entry_price=D(entry), entry_cost=D(entry) * D(amount),
                   peak_price=D(peak or base), base_price=D(base), id=position)


def test_defaults_and_bounds_are_the_contract():
    assert params() == {"so": 5, "dev": D("1"), "vscale": D("1.5"), "sscale": D("1"), "tp": D("1.5"),
                        "trail": D("0"), "sl": D("0"), "start": "now", "dip": D("0.6"), "period": 20,
                        "timeframe": "1m"}
    with pytest.raises(ParamError, match=r"so must be between 0 and 50; got '51'"):
        params(so=51)
    with pytest.raises(ParamError, match=r"start must be one of now, dip; got 'later'"):
        params(start="later")
    with pytest.raises(ParamError, match=r"Unknown parameter safety\. Known: so, dev, vscale"):
        strategies.validate("dca", {"safety": "3"})


def test_ladder_base_and_first_safety_order_are_the_same_and_sizes_grow_by_vscale():
    ladder = dca.ladder(params(so=3, vscale=2, dev=1, sscale=2), D("800"))
    assert ladder == (("base", D(0), D(100)), ("so1", D(1), D(100)), ("so2", D(3), D(200)), ("so3", D(7), D(400)))


@pytest.mark.parametrize("capital, so, vscale", [("100", 5, "1.5"), ("333.33", 7, "1.3"), ("1000", 50, "1"),
                                                  ("77.77", 3, "0.7")])
def test_the_whole_ladder_fits_the_capital_within_a_hundred_millionth(capital, so, vscale):
    ladder = dca.ladder(params(so=so, vscale=vscale), D(capital))
    spent = sum(quote for _, _, quote in ladder)
    assert spent <= D(capital) and D(capital) - spent <= D("0.00000001") * len(ladder)
    assert ladder[0][2] == ladder[1][2]


def test_plan_resolves_each_order_at_the_market_precision():
    plan = dca.plan(params(so=2, vscale=2, dev="1.5"), D("400"), D("60000"), RULES, FACTOR)
    assert [(o["role"], o["price"], o["amount"]) for o in plan["orders"]] == [
        ("base", D("60000"), D("0.00166")), ("so1", D("59100.00"), D("0.00168")), ("so2", D("58200.00"), D("0.00342"))]


def test_plan_refuses_a_ladder_under_the_minimum_and_names_the_smallest_capital_that_works():
    with pytest.raises(ParamError, match=r"use a capital of at least (\d+\.\d\d) USDT") as refused:
        dca.plan(params(so=5), D("50"), D("60000"), RULES, FACTOR)
    smallest = D(refused.value.args[0].split("at least ")[1].split(" ")[0])
    dca.plan(params(so=5), smallest, D("60000"), RULES, FACTOR)  # works
    with pytest.raises(ParamError):
        dca.plan(params(so=5), smallest - D("0.01"), D("60000"), RULES, FACTOR)


def test_a_ladder_reaching_zero_is_refused():
    with pytest.raises(ParamError, match="below the base price"):
        params(so=10, dev=10, sscale=2)


def test_opens_a_deal_with_the_base_order_at_once():
    decision = dca.decide([], D("100"), None, params(so=2, vscale=2), D("400"))
    assert [(w.side, w.role, w.price, w.quote) for w in decision.place] == [("buy", "base", None, D("100"))]


def test_start_dip_waits_for_the_signal():
    closes = [D("100")] * 20
    assert not dca.decide(closes, D("99.5"), None, params(start="dip", dip=1), D("400")).acts
    assert dca.decide(closes, D("99"), None, params(start="dip", dip=1), D("400")).place[0].role == "base"


def test_rests_the_first_safety_orders_below_the_base_price_and_remembers_them():
    decision = dca.decide([], D("100"), deal(), params(so=5, dev=1, sscale=2), D("1000"))
    assert [(w.role, w.price) for w in decision.place] == [("so1", D("99")), ("so2", D("97")), ("so3", D("93"))]
    assert decision.state == {"deal": 7, "placed": 3}


def test_places_the_next_safety_order_when_one_has_filled():
    resting = (OpenOrder("so2", "buy", D("98"), D("1")), OpenOrder("so3", "buy", D("97"), D("1")))
    decision = dca.decide([], D("99"), deal(entry="99.5"), params(so=5), D("1000"), resting,
                          {"deal": 7, "placed": 3})
    assert [w.role for w in decision.place] == ["so4"] and decision.state == {"deal": 7, "placed": 4}


def test_a_new_deal_forgets_the_last_deals_safety_orders():
    decision = dca.decide([], D("100"), deal(position=8), params(so=5), D("1000"), (), {"deal": 7, "placed": 5})
    assert [w.role for w in decision.place] == ["so1", "so2", "so3"]


def test_takes_profit_on_the_average_and_cancels_the_resting_safety_orders():
    resting = (OpenOrder("so3", "buy", D("97"), D("1")),)
    decision = dca.decide([], D("99.99"), deal(entry="99", base="100"), params(so=3, tp=1), D("1000"), resting,
                          {"deal": 7, "placed": 3})
    assert [(w.side, w.role, w.price) for w in decision.place] == [("sell", "tp", None)]
    assert decision.cancel == ("so3",)


def test_holds_just_under_take_profit():
    assert not dca.decide([], D("99.98"), deal(entry="99"), params(so=0, tp=1), D("1000")).acts


def test_stop_loss_from_the_average():
    decision = dca.decide([], D("89.1"), deal(entry="99"), params(so=0, sl=10), D("1000"))
    assert decision.place[0].role == "sl"


def test_trailing_take_profit_follows_the_peak_after_the_target():
    p = params(so=0, tp=1, trail="0.5")
    assert dca.decide([], D("102"), deal(), p, D("1000")).peak_price == D("102")
    assert not dca.decide([], D("101.5"), deal(peak="102"), p, D("1000")).place
    assert dca.decide([], D("101.49"), deal(peak="102"), p, D("1000")).place[0].role == "tp"


def test_cancels_safety_orders_left_over_when_the_deal_closed():
    decision = dca.decide([], D("100"), None, params(), D("1000"), (OpenOrder("so4", "buy", D("95"), D("1")),))
    assert decision.cancel == ("so4",) and not decision.place
