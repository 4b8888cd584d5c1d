"""The grid strategy's levels, plan and pure decisions."""
from __future__ import annotations

from decimal import Decimal as D

import pytest

from exchanges import MarketRules
from workers import strategies
from workers.strategies import Holding, OpenOrder, ParamError, grid

RULES = MarketRules("BTC/USDT", "BTC", "USDT", amount_step=D("0.00001"), price_step=D("0.01"),
                    min_amount=D("0.00001"), min_cost=D("5"), taker_fee=D("0.001"))
FACTOR = D("1.004")
Q = D("0.01")


def params(**overrides) -> dict:
    return strategies.validate("grid", {name: str(value) for name, value in overrides.items()})


def held(units: int) -> Holding | None:
    return Holding(amount=Q * units, entry_price=D("150"), entry_cost=Q * units * 150, peak_price=D("150"), id=3)


def resting(**sides) -> tuple[OpenOrder, ...]:
    levels = grid.levels(params(low=100, high=200, grids=4))
    return tuple(OpenOrder(role, side, levels[int(role[1:])], Q) for role, side in sides.items())


STARTED = {"amount": str(Q), "started": True, "outside": None}
P = params(low=100, high=200, grids=4)  # levels 100 125 150 175 200


def test_defaults_and_bounds_are_the_contract():
    assert params() == {"low": None, "high": None, "grids": 10, "mode": "arithmetic"}
    with pytest.raises(ParamError, match=r"grids must be between 2 and 200; got '201'"):
        params(grids=201)
    with pytest.raises(ParamError, match=r"low must be at least 1E-8; got '0'"):
        params(low=0)
    with pytest.raises(ParamError, match=r"mode must be one of arithmetic, geometric"):
        params(mode="log")
    with pytest.raises(ParamError, match="low must be below high"):
        params(low=200, high=100)


def test_arithmetic_levels_are_equal_steps_and_geometric_equal_ratios():
    assert grid.levels(params(low=100, high=200, grids=4)) == (D(100), D(125), D(150), D(175), D(200))
    geometric = grid.levels(params(low=100, high=1600, grids=4, mode="geometric"))
    assert [round(level, 12) for level in geometric] == [D(100), D(200), D(400), D(800), D(1600)]


def test_plan_defaults_the_range_around_the_price_and_sizes_every_level_to_fit_the_capital():
    plan = grid.plan(params(grids=4), D("1000"), D("60000"), RULES, FACTOR)
    assert (plan["params"]["low"], plan["params"]["high"]) == (D("54000.00"), D("66000.00"))
    prices = [o["price"] for o in plan["orders"]]
    assert prices == [D("54000.00"), D("57000.00"), D("63000.00"), D("66000.00")]  # 60000 stays empty
    amount = D(plan["state"]["amount"])
    assert amount * (57000 + 60000 + 63000 + 66000) * FACTOR <= 1000
    assert (amount + D("0.00001")) * (57000 + 60000 + 63000 + 66000) * FACTOR > 1000
    assert [o["side"] for o in plan["orders"]] == ["buy", "buy", "sell", "sell"]


def test_plan_refuses_levels_under_the_minimum_and_names_the_smallest_capital_that_works():
    with pytest.raises(ParamError, match=r"at least (\S+) USDT") as refused:
        grid.plan(params(grids=50), D("100"), D("60000"), RULES, FACTOR)
    smallest = D(refused.value.args[0].split("at least ")[1].split(" ")[0])
    grid.plan(params(grids=50), smallest, D("60000"), RULES, FACTOR)
    with pytest.raises(ParamError):
        grid.plan(params(grids=50), smallest - D("0.01"), D("60000"), RULES, FACTOR)


SOL = MarketRules("SOL/USDT", "SOL", "USDT", amount_step=D("0.001"), price_step=D("0.01"), min_amount=D("0.001"),
                  min_cost=D("5"), taker_fee=D("0.001"))


def smallest_capital(refused) -> D:
    return D(refused.value.args[0].split("at least ")[1].split(" ")[0])


def test_plan_leaves_room_for_a_buys_fee_taken_in_the_base_under_each_sell():
    # 0.036 SOL a level clears 5 USDT at 140, but a buy delivers 0.035964: its sell of 0.035 at 142 would not
    with pytest.raises(ParamError, match=r"leaves too little to sell .* at least (\S+) USDT") as refused:
        grid.plan(params(low=140, high=160, grids=10), D("55"), D("150"), SOL, FACTOR)
    plan = grid.plan(params(low=140, high=160, grids=10), smallest_capital(refused), D("150"), SOL, FACTOR)
    assert plan["state"]["amount"] == "0.037"
    with pytest.raises(ParamError):
        grid.plan(params(low=140, high=160, grids=10), smallest_capital(refused) - D("0.01"), D("150"), SOL, FACTOR)


def test_plan_leaves_room_for_the_fee_of_a_start_that_buys_every_level():
    # Started at 140, 200 levels are bought at once: the last sell, at 160, is short of 0.2 of a level
    with pytest.raises(ParamError, match="leaves too little to sell") as refused:
        grid.plan(params(low=140, high=160, grids=200), D("1100"), D("150"), SOL, FACTOR)
    plan = grid.plan(params(low=140, high=160, grids=200), smallest_capital(refused), D("150"), SOL, FACTOR)
    amount = D(plan["state"]["amount"])
    assert SOL.tradable(SOL.floor_amount(amount * D("0.8") - D("0.00000001")), D("160"))


def test_plan_refuses_so_many_grids_that_the_start_would_pay_close_to_half_a_level_in_fees():
    costly = MarketRules("SOL/USDT", "SOL", "USDT", amount_step=D("0.001"), price_step=D("0.01"),
                         min_amount=D("0.001"), min_cost=D("5"), taker_fee=D("0.002"))
    with pytest.raises(ParamError, match=r"200 grids would pay 0.40 of a level in fees"):
        grid.plan(params(low=140, high=160, grids=200), D("100000"), D("150"), costly, FACTOR)
    grid.plan(params(low=140, high=160, grids=199), D("100000"), D("150"), costly, FACTOR)


def test_plan_refuses_levels_closer_than_the_price_step():
    with pytest.raises(ParamError, match="closer than"):
        grid.plan(params(low="100", high="100.05", grids=10), D("1000"), D("100.02"), RULES, FACTOR)


def test_start_buys_the_levels_above_at_market_and_rests_buys_below():
    decision = grid.decide([], D("151"), None, P, D("1000"), (), {"amount": str(Q)})
    assert [(w.side, w.role, w.price, w.amount) for w in decision.place] == [
        ("buy", "gstart", None, Q * 2), ("buy", "g0", D(100), Q), ("buy", "g1", D(125), Q)]
    assert decision.state["started"] is True


def test_once_holding_it_rests_sells_above_the_empty_level_with_their_pair():
    decision = grid.decide([], D("151"), held(2), P, D("1000"), resting(g0="buy", g1="buy"), STARTED)
    assert [(w.side, w.role, w.price, w.pair_price) for w in decision.place] == [
        ("sell", "g3", D(175), D(150)), ("sell", "g4", D(200), D(175))]


def test_a_grid_whose_orders_all_rest_does_nothing():
    decision = grid.decide([], D("151"), held(2), P, D("1000"), resting(g0="buy", g1="buy", g3="sell", g4="sell"),
                           STARTED)
    assert not decision.acts


def test_a_filled_buy_rests_a_sell_one_level_up():
    decision = grid.decide([], D("124"), held(3), P, D("1000"), resting(g0="buy", g3="sell", g4="sell"), STARTED)
    assert [(w.side, w.role, w.pair_price) for w in decision.place] == [("sell", "g2", D(125))]


def test_a_filled_sell_rests_a_buy_one_level_down_that_names_the_level_of_its_sell():
    decision = grid.decide([], D("176"), held(1), P, D("1000"), resting(g0="buy", g1="buy", g4="sell"), STARTED)
    assert [(w.side, w.role, w.pair_price) for w in decision.place] == [("buy", "g2", D(175))]


def test_nothing_rests_where_the_price_already_is_past():
    # the buy at g1 filled but the price jumped back over g2: no sell under the price
    decision = grid.decide([], D("160"), held(3), P, D("1000"), resting(g0="buy", g3="sell", g4="sell"), STARTED)
    assert not decision.place


def test_an_order_on_the_wrong_side_of_the_empty_level_is_canceled():
    decision = grid.decide([], D("151"), held(2), P, D("1000"),
                           resting(g0="buy", g1="buy", g2="buy", g3="sell", g4="sell"), STARTED)
    assert decision.cancel == ("g2",)


def test_the_owner_hears_once_when_the_price_leaves_the_range_and_when_it_comes_back():
    orders = resting(g0="buy", g1="buy", g2="buy", g3="buy")
    left = grid.decide([], D("201"), None, P, D("1000"), orders, STARTED)
    assert "left the grid's range" in left.notice and left.state["outside"] == "above"
    assert not grid.decide([], D("202"), None, P, D("1000"), orders, left.state).acts
    back = grid.decide([], D("199"), None, P, D("1000"), orders, left.state)
    assert "back in the grid's range" in back.notice and back.state["outside"] is None


def test_a_grid_never_planned_does_nothing():
    assert not grid.decide([], D("150"), None, params(), D("1000"), (), {}).acts
