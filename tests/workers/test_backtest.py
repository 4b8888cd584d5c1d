"""Backtests: the same strategy modules over candles, with the paper exchange's fill rules;
figures checked against a hand computation."""
from __future__ import annotations

from decimal import Decimal as D

from exchanges import MarketRules
from workers import backtest, strategies
from workers.strategies import dca, dip, grid

RULES = MarketRules("BTC/USDT", "BTC", "USDT", amount_step=D("0.00001"), price_step=D("0.01"),
                    min_amount=D("0.00001"), min_cost=D("5"), taker_fee=D("0.001"), maker_fee=D("0.001"))
MINUTE = 60_000


def candles(*rows) -> list[list[D]]:
    """(close) or (close, low, high) per candle, a minute apart."""
    out = []
    for i, row in enumerate(rows):
        close, low, high = (row, row, row) if not isinstance(row, tuple) else row
        out.append([i * MINUTE, D(close), D(high), D(low), D(close), D(1)])
    return out


def test_a_dip_round_trip_equals_the_hand_computation():
    path = candles(*(["100"] * 20), "99", "101")
    result = backtest.simulate(dip, strategies.validate("dip", {}), D("1000"), RULES, path)

    buy, sell = result.fills
    # buy: 1000 / (99 * 1.004) at the 0.00001 step = 10.06076 BTC for 996.01524, fee 0.99601524
    assert (buy.side, buy.price, buy.amount, buy.fee) == ("buy", D("99"), D("10.06076"), D("0.99601524"))
    # sell at 101: 1016.13676, fee 1.01613676; cost of the position 997.01125524
    assert (sell.side, sell.price, sell.amount, sell.fee) == ("sell", D("101"), D("10.06076"), D("1.01613676"))
    assert sell.realized_profit == D("1016.13676") - D("1.01613676") - D("997.01125524")
    assert result.final_equity == D("1000") + sell.realized_profit == D("1018.109368")
    assert result.return_pct == D("1.8109368")
    assert result.hold_pct == D("1")
    assert result.fees == D("2.012152")
    # the deepest point: after the buy, valued at 99: 2.98874476 + 10.06076 * 99
    assert result.max_drawdown == (D("1000") - D("999.00398476")) * 100 / D("1000")
    assert result.win_rate == 100 and result.profit_factor is None and len(result.exits) == 1


def test_a_resting_safety_order_fills_when_a_candle_low_reaches_it():
    params = strategies.validate("dca", {"so": "1", "dev": "1", "vscale": "1", "tp": "5"})
    path = candles("100", "100", ("100", "98.9", "100"), "100")
    result = backtest.simulate(dca, params, D("200"), RULES, path)

    assert [(f.role, f.side, f.price) for f in result.fills] == [("base", "buy", D("100")), ("so1", "buy", D("99"))]
    assert result.fills[1].at == 2 * MINUTE  # the candle whose low reached it, though it closed at 100


def test_a_grid_backtest_trades_a_pair_on_the_candles_range():
    params = strategies.validate("grid", {"low": "90", "high": "110", "grids": "4"})  # 90 95 100 105 110
    plan = grid.plan(params, D("1000"), D("100"), RULES, D("1.004"))
    path = candles("100", "100", ("96", "94", "100"), "97", ("99", "97", "100.5"))
    result = backtest.simulate(grid, plan["params"], D("1000"), RULES, path, plan["state"])

    amount = D(plan["state"]["amount"])
    sides = [(f.role, f.side, f.price) for f in result.fills]
    assert sides == [("gstart", "buy", D("100")), ("g1", "buy", D("95")), ("g2", "sell", D("100"))]
    pair = result.fills[2]
    assert pair.realized_profit == amount * 100 - pair.fee - amount * 95 * D("1.001")


def test_fees_can_be_taken_as_binance_takes_them_from_the_asset_received():
    path = candles(*(["100"] * 20), "99", "101")
    result = backtest.simulate(dip, strategies.validate("dip", {}), D("1000"), RULES, path,
                               fee_rule=backtest.FeeRule("received"))

    buy, sell = result.fills
    # the buy of 10.06076 BTC for 996.01524 pays 0.01006076 BTC: 10.05069924 BTC held
    assert (buy.amount, buy.fees, buy.fee) == (D("10.06076"), {"BTC": D("0.01006076")}, D("0.0100607600") * 99)
    # the sell sells what is held, at the step: 10.05069 at 101 for 1015.11969, fee 1.01511969 USDT;
    # the 0.00000924 BTC left is dust and keeps its share of the cost
    assert (sell.amount, sell.fees) == (D("10.05069"), {"USDT": D("1.01511969")})
    assert sell.realized_profit == D("1015.11969") - D("1.01511969") - D("996.01524") * D("10.05069") / D("10.05069924")
    assert result.final_equity == D("1000") - D("996.01524") + D("1015.11969") - D("1.01511969") + D("0.00000924") * 101


def test_fees_can_be_paid_in_bnb_at_its_discount_and_count_against_the_equity():
    path = candles(*(["100"] * 20), "99", "101")
    result = backtest.simulate(dip, strategies.validate("dip", {}), D("1000"), RULES, path,
                               fee_rule=backtest.FeeRule("BNB", D("600"), D("0.75")))

    buy, sell = result.fills
    # 996.01524 * 0.75 / 600 * 0.1 % = 0.00124502 BNB (0.747012 USDT); 1016.13676 -> 0.00127017 BNB
    assert (buy.fees, buy.fee) == ({"BNB": D("0.00124502")}, D("0.747012"))
    assert (sell.amount, sell.fees, sell.fee) == (D("10.06076"), {"BNB": D("0.00127017")}, D("0.762102"))
    assert sell.realized_profit == D("1016.13676") - D("0.762102") - D("996.01524") - D("0.747012")
    assert result.final_equity == D("1000") + sell.realized_profit
    assert result.fees == D("0.747012") + D("0.762102")


def test_the_sells_of_one_decision_share_what_is_held_as_in_the_engine():
    params = strategies.validate("grid", {"low": "90", "high": "110", "grids": "4"})  # 90 95 100 105 110
    plan = grid.plan(params, D("1000"), D("100"), RULES, D("1.004"))
    simulation = backtest.Simulation(grid, plan["params"], D("1000"), RULES, plan["state"],
                                     backtest.FeeRule("received"))
    simulation.run(candles("100", "100"))

    # The start bought 2 * 2.42930 BTC and holds 4.85374140 after its fee: the first sell rests the
    # level's amount, the last what is left at the step, and neither is refused.
    assert [(o.role, o.side, o.amount) for o in simulation.orders if o.side == "sell"] == [
        ("g3", "sell", D("2.42930")), ("g4", "sell", D("2.42444"))]


def test_the_backtest_job_fetches_history_through_the_gateway_caches_the_past_and_reports_to_the_outbox(ctx, fake_binance):
    from models import Outbox
    from tests.workers.conftest import make_user
    from workers.strategy_reports import run_backtest

    user = make_user()
    fake_binance.set_history("BTC/USDT", ["60000"] * 25 + ["59000", "60500"] * 10)
    fake_binance.reset_log()
    run_backtest(user.id, "dip", "BTC/USDT", 1, {"dip": "1", "tp": "2"})
    first_fetches = len([r for r in fake_binance.requests() if r["path"] == "/api/v3/klines"])
    run_backtest(user.id, "dip", "BTC/USDT", 1, {"dip": "1", "tp": "2"})
    fetches = len([r for r in fake_binance.requests() if r["path"] == "/api/v3/klines"])

    # A day of minutes spans two or three chunks of 1000; only the one still growing is fetched again.
    assert first_fetches in (2, 3) and fetches == first_fetches + 1

    first, second = Outbox.select().where(Outbox.user == user).order_by(Outbox.id)
    assert first.kind == "backtest" and "error" not in first.payload, first.payload
    assert first.payload["candles"] == 45 and first.payload["trades"] == 10
    assert len(first.payload["png"]) > 10_000
    assert {k: v for k, v in second.payload.items() if k != "seconds"} == {
        k: v for k, v in first.payload.items() if k != "seconds"}


def test_the_backtest_job_reports_its_progress_for_the_chat_message_it_was_given(ctx, fake_binance):
    from models import Outbox
    from tests.workers.conftest import make_user
    from workers.strategy_reports import run_backtest

    user = make_user()
    fake_binance.set_history("BTC/USDT", ["60000"] * 25 + ["59000", "60500"] * 10)
    run_backtest(user.id, "dip", "BTC/USDT", 1, {"dip": "1", "tp": "2"}, progress_message_id=77)
    rows = list(Outbox.select().where(Outbox.user == user).order_by(Outbox.id))
    progress = [r.payload for r in rows if r.kind == "progress"]
    # history from its first chunk on (further chunks only PROGRESS_SECONDS apart), the simulation, the end;
    # then the report
    stages = [p["stage"] for p in progress]
    assert stages[-2:] == ["simulating", "done"] and stages[:-2] and set(stages[:-2]) == {"history"}
    assert progress[0]["done"] == 1 and progress[0]["total"] in (2, 3) and progress[-2]["candles"] == 45
    assert {p["message_id"] for p in progress} == {77} and rows[-1].kind == "backtest"
    assert progress[0]["strategy"] == "dip" and progress[0]["symbol"] == "BTC/USDT" and progress[0]["days"] == 1
