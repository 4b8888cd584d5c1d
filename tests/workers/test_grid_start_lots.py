"""A grid started at the bottom of a wide range buys every level above at market: each of those
levels' sells is charged what the start really paid for its share (the start is kept as one lot
per level), so the position's cost is always what the coins still held cost, and never runs out
while coins are held (it once did: sells charged each level's price, which was more than the
start paid, drained it, and the last sells booked their whole sale as profit).

Checked in the backtest (up through every level, down through every level, up again: the second
rise's pairs make the levels' difference less fees) and through the act jobs on paper."""
from __future__ import annotations

from decimal import Decimal as D

from exchanges import MarketRules
from models import Bot, Fill, Order, Position
from rpc import bots as rpc_bots
from tests.workers.conftest import make_user
from tests.workers.ticks import run_tick
from workers import backtest, evaluation, strategies
from workers.sizing import BUY_BUDGET_MARGIN
from workers.strategies import grid

import pytest

SYMBOL = "SOL/USDT"
RULES = MarketRules(SYMBOL, "SOL", "USDT", amount_step=D("0.001"), price_step=D("0.01"), min_amount=D("0.001"),
                    min_cost=D("5"), taker_fee=D("0.001"), maker_fee=D("0.001"))
ZERO = D(0)
EXACT = D("1e-15")  # what a database's 18 places and a lot's division leave


def start_cost_per_unit(start: Fill | backtest.Fill) -> D:
    """What the start's market buy paid per unit received, fees included (the paper's, in the quote)."""
    return (start.amount * start.price + start.fee) / start.amount


def check_position(position, unit: D, lots: bool = True) -> None:
    """The position's cost is what its coins cost, never nothing while coins are held, and its lot's."""
    assert position.amount > 0 and position.entry_cost > 0
    assert abs(position.entry_cost - position.amount * unit) < EXACT
    if not lots:
        return
    assert position.entry_cost == sum((D(lot[1]) for lot in position.lots), ZERO)
    assert position.amount == sum((D(lot[2]) for lot in position.lots), ZERO)
    assert [lot[3] for lot in position.lots] == ["start"]  # the start's lot, nothing else


def test_a_grid_started_at_its_bottom_books_every_level_at_what_the_start_paid():
    params = strategies.validate("grid", {"low": "100", "high": "150", "grids": "20"})
    capital = D("3000")
    plan = grid.plan(params, capital, D("100"), RULES, 1 + RULES.taker_fee + BUY_BUDGET_MARGIN)
    levels = [RULES.round_price(p) for p in grid.levels(plan["params"])]
    simulation = backtest.Simulation(grid, plan["params"], capital, RULES, plan["state"])
    minute = 0

    def candle(close: D, low: D, high: D) -> None:
        nonlocal minute
        simulation.run([[minute * 60_000, close, high, low, close, D(1)]])
        minute += 1

    for _ in range(2):  # the start's market buy of levels 1 to 20, then their sells
        candle(D("100"), D("100"), D("100"))
    [start] = simulation.fills
    assert (start.role, start.amount) == ("gstart", D(plan["state"]["amount"]) * 20)
    unit = start_cost_per_unit(start)
    check_position(simulation.position, unit, lots=False)  # the sells' checks come first

    for level in range(1, 21):  # up through every level, one sell at a time
        candle(levels[level] + D("0.05"), levels[level - 1], levels[level] + D("0.05"))
        sell = simulation.fills[-1]
        assert (sell.role, sell.side) == (f"g{level}", "sell")
        assert abs(sell.realized_profit - (sell.amount * sell.price - sell.fee - sell.amount * unit)) < EXACT
        if level < 20:
            check_position(simulation.position, unit)
    assert simulation.position is None  # all sold: nothing left at no cost
    total = sum(f.realized_profit for f in simulation.fills if f.realized_profit is not None)
    assert abs(simulation.quote - capital - total) < EXACT  # the realized profit is the wallet's gain

    for level in range(19, -1, -1):  # down through every level: each buy is its own lot
        candle(levels[level] - D("0.05"), levels[level] - D("0.05"), levels[level + 1])
        assert simulation.fills[-1].role == f"g{level}" and simulation.fills[-1].side == "buy"
    buys = {f.role: f for f in simulation.fills[-20:]}
    for level in range(1, 21):  # and up again: each pair makes the levels' difference less fees
        candle(levels[level] + D("0.05"), levels[level - 1], levels[level] + D("0.05"))
        sell, buy = simulation.fills[-1], buys[f"g{level - 1}"]
        assert (sell.role, sell.side) == (f"g{level}", "sell")
        assert sell.realized_profit == (sell.amount * sell.price - sell.fee) - (buy.amount * buy.price + buy.fee)
        assert sell.realized_profit == buy.amount * (levels[level] - levels[level - 1]) - sell.fee - buy.fee


@pytest.fixture
def no_periodic_lookups(monkeypatch):
    """Resting orders are looked up when the price reaches them: each move settles one fill."""
    monkeypatch.setattr(evaluation, "RESTING_CHECK_TICKS", 10**9)


def test_a_grid_started_at_its_bottom_books_every_level_at_what_the_start_paid_through_the_act_jobs(
        ctx, fake_binance, no_periodic_lookups):
    user = make_user()
    fake_binance.set_history(SYMBOL, ["100"] * 40)
    fake_binance.set_price(SYMBOL, "100")
    view = rpc_bots.create_bot(user, ctx.gateway, "paper:binance", SYMBOL, D("600"), "grid",
                               {"low": "100", "high": "150", "grids": "10"})  # a start within the fake's book
    rpc_bots.start_bot(user, view["id"])
    bot_id = view["id"]
    levels = [D(100 + 5 * i) for i in range(11)]
    tick = 1
    for _ in range(2):  # the start's market buy of levels 1 to 10, then their sells
        run_tick(ctx, fake_binance, tick, symbol=SYMBOL)
        tick += 1
    start_order = Order.get((Order.bot == bot_id) & (Order.role == "gstart"))
    [start] = Fill.select().where(Fill.order == start_order)
    assert start_order.status == "filled" and start.amount == 10 * D(Bot.get_by_id(bot_id).state["amount"])
    unit = start_cost_per_unit(start)
    check_position(Position.get((Position.bot == bot_id) & (Position.status == "open")), unit, lots=False)

    for level in range(1, 11):
        run_tick(ctx, fake_binance, tick, str(levels[level] + D("0.05")), symbol=SYMBOL)  # the sell fills
        run_tick(ctx, fake_binance, tick + 1, symbol=SYMBOL)
        tick += 2
        [sell] = Fill.select().join(Order).where((Order.bot == bot_id) & (Order.role == f"g{level}"))
        assert abs(sell.realized_profit - (sell.cost - sell.fee - sell.amount * unit)) < EXACT
        if level < 10:
            check_position(Position.get((Position.bot == bot_id) & (Position.status == "open")), unit)
    assert not Position.select().where((Position.bot == bot_id) & (Position.status == "open")).exists()
