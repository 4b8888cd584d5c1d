"""A long-running grid keeps its levels, its holdings and its profit right over many round trips,
whatever the exchange takes its fees in: the quote (the paper exchange), the base bought (Binance's
default: a buy of 0.131 SOL delivers 0.130869), or BNB at its discount.

After every move of the price, checked against the exchange's own record of its trades:
- every level but the one last traded has its order, buys below and sells above it (the empty
  level the decision derives from what is held is the right one);
- the base held is what the resting sells sell, and less than a step more: nothing piles up and
  no sell asks for more than is held; the held levels stay within a fee of the level amount each;
- each completed pair's realized profit is what its two trades say, to the last unit of the quote;
  and no money is lost: the realized profit and the position's cost add up to the wallet's change.

1,000 round trips replay through the backtest (the same strategy module, sizing and accounting);
a few dozen go through the act jobs on the fake Binance (fees in SOL or BNB) and on paper.
"""
from __future__ import annotations

import random
import secrets
from decimal import Decimal as D

import pytest

from exchanges import MarketRules
from models import ApiKey, Bot, Fill, Order, PaperBalance, PaperOrder, Position
from rpc import bots as rpc_bots
from tests.workers.conftest import make_user
from tests.workers.ticks import run_tick
from workers import backtest, evaluation, strategies
from workers.sizing import BUY_BUDGET_MARGIN
from workers.strategies import grid

SYMBOL = "SOL/USDT"
RULES = MarketRules(SYMBOL, "SOL", "USDT", amount_step=D("0.001"), price_step=D("0.01"), min_amount=D("0.001"),
                    min_cost=D("5"), taker_fee=D("0.001"), maker_fee=D("0.001"))
LEVELS = [D(140 + 2 * i) for i in range(11)]  # low=140 high=160 grids=10
START = 5  # at 150: the start buys levels 6 to 10 at market
FEE_RULES = {"quote": backtest.FeeRule(), "base": backtest.FeeRule("received"),
             "bnb": backtest.FeeRule("BNB", D("600"), D("0.75"))}
ZERO = D(0)


def level_walk(trips: int, seed: int) -> list[int]:
    """The level each move of the price trades: one level up or down at a time, between levels
    0 and 9 (the position never empties, so every sell completes a pair)."""
    rng, level, moves, sells = random.Random(seed), START, [], 0
    while sells < trips:
        step = 1 if level == 0 else -1 if level == 9 else rng.choice((1, -1))
        level += step
        sells += step > 0
        moves.append(level)
    return moves


def crossing(previous: int, level: int) -> D:
    """A price just past `level`, coming from `previous`: the level's order fills, no other."""
    return LEVELS[level] + (D("0.05") if level > previous else D("-0.05"))


def expected_orders(empty: int) -> dict[str, str]:
    return {f"g{i}": "buy" if i < empty else "sell" for i in range(len(LEVELS)) if i != empty}


class Pairs:
    """Each sell against the buy one level down it completes, from the exchange's trades: (sell
    proceeds net of its fees) - (the base sold x what that buy paid, fees included, per unit received)."""

    def __init__(self):
        self.open: list[tuple[int, D, D]] = []  # (level, quote paid, base received), newest last

    def buy(self, level: int, paid: D, received: D) -> None:
        self.open.append((level, paid, received))

    def sell(self, level: int, sold: D, proceeds: D) -> D:
        bought_at, paid, received = self.open.pop()
        assert bought_at == level - 1
        return proceeds - paid * sold / received


@pytest.mark.parametrize("capital", ["200", "56.1"])  # 56.1: the least the plan takes, 0.037 SOL a level
@pytest.mark.parametrize("fees", FEE_RULES)
def test_a_thousand_round_trips_keep_the_levels_the_holdings_and_each_pairs_profit_right(fees, capital):
    params = strategies.validate("grid", {"low": "140", "high": "160", "grids": "10"})
    capital = D(capital)
    plan = grid.plan(params, capital, LEVELS[START], RULES, 1 + RULES.taker_fee + BUY_BUDGET_MARGIN)
    amount = D(plan["state"]["amount"])
    simulation = backtest.Simulation(grid, plan["params"], capital, RULES, plan["state"], FEE_RULES[fees])
    start = LEVELS[START]
    for minute in range(2):  # the start's market buy, then its sells
        simulation.run([[minute * 60_000, start, start, start, start, D(1)]])
    pairs, checked, empty = Pairs(), 0, START
    for minute, level in enumerate(level_walk(1000, seed=8), start=2):
        price = crossing(empty, level)
        simulation.run([[minute * 60_000, price, max(price, start), min(price, start), price, D(1)]])
        start, empty = price, level
        trade = simulation.fills[-1]
        assert grid.LEVEL_OF[trade.role] == level and len(simulation.fills) == minute  # one fill a move

        # The levels: every one but the empty level has its order, on its side.
        resting = {o.role: o.side for o in simulation.orders}
        assert resting == expected_orders(empty)
        # The holdings: what the sells sell, and less than a step more; each level within a fee.
        sells = [o.amount for o in simulation.orders if o.side == "sell"]
        held = simulation.position.amount
        assert held == simulation.base and ZERO <= held - sum(sells) < RULES.amount_step
        assert all(s >= RULES.floor_amount(amount * (1 - RULES.maker_fee)) for s in sells)
        assert abs(held - len(sells) * amount) < amount / 10
        # The pair: exactly what the two trades say.
        base_fee, quote_fee = trade.fees.get("SOL", ZERO), trade.fees.get("USDT", ZERO)
        other_fees = trade.fee - quote_fee - base_fee * trade.price
        if trade.side == "buy":
            pairs.buy(level, trade.amount * trade.price + quote_fee + other_fees, trade.amount - base_fee)
        elif pairs.open:  # else a level the start bought at market: no pair
            assert trade.realized_profit == pairs.sell(level, trade.amount,
                                                       trade.amount * trade.price - quote_fee - other_fees)
            checked += 1

    assert checked > 900
    # No money lost: the wallet's change is the realized profit less the cost still held.
    position = simulation.position
    realized = sum(f.realized_profit for f in simulation.fills if f.realized_profit is not None)
    assert abs(simulation.quote - simulation.other_fees - capital - (realized - position.entry_cost)) < D("1e-12")


# ---------------------------------------------------------------------- through the engine


@pytest.fixture(autouse=False)
def no_periodic_lookups(monkeypatch):
    """Resting orders are looked up when the price reaches them: each move settles one fill."""
    monkeypatch.setattr(evaluation, "RESTING_CHECK_TICKS", 10**9)


def new_grid(ctx, fake_binance, fees: str) -> tuple[Bot, str | None]:
    user = make_user()
    fake_binance.set_history("BNB/USDT", ["600"] * 40)  # to value fees paid in BNB
    fake_binance.set_history(SYMBOL, ["150"] * 40)
    fake_binance.set_price(SYMBOL, "150")
    api_key, ref = None, "paper:binance"
    if fees != "quote":
        api_key, secret = "k" + secrets.token_hex(16), secrets.token_hex(32)
        fake_binance.add_account(api_key, secret, {"USDT": "1000", "BNB": "1"}, pay_fees_in_bnb=fees == "bnb")
        ref = str(ApiKey.create(user=user, exchange="binance", api_key_token=ctx.vault.encrypt(api_key),
                                secret_token=ctx.vault.encrypt(secret), key_tail=api_key[-4:]).id)
    view = rpc_bots.create_bot(user, ctx.gateway, ref, SYMBOL, D("200"), "grid",
                               {"low": "140", "high": "160", "grids": "10"})
    rpc_bots.start_bot(user, view["id"])
    return Bot.get_by_id(view["id"]), api_key


def exchange_trades(fake_binance, bot: Bot, api_key: str | None) -> list[dict]:
    """The exchange's own record of the bot's trades, oldest first: side, level, amount, quote
    paid or received net of every fee (BNB at the fake's 600), base received."""
    orders = {o.client_order_id: o for o in Order.select().where(Order.bot == bot)}
    trades = []
    if api_key is None:  # the paper exchange keeps no time of fill: in the order they were booked
        papers = {p.client_order_id: p for p in PaperOrder.select().where(PaperOrder.client_order_id.in_(list(orders)))}
        for fill in Fill.select().where(Fill.bot == bot):
            order = Order.get_by_id(fill.order_id)
            paper = papers[order.client_order_id]
            trades.append((fill.id, order, paper.filled, paper.cost, {"USDT": paper.fee}))
    else:
        by_exchange_id = {o.exchange_order_id: o for o in orders.values()}
        for t in fake_binance.trades(api_key):
            trades.append((t["id"], by_exchange_id[str(t["orderId"])], t["qty"], t["quoteQty"],
                           {t["commissionAsset"]: t["commission"]}))
    result = []
    for _, order, qty, cost, fee in sorted(trades, key=lambda t: t[0]):
        quote_fees = fee.get("USDT", ZERO) + fee.get("BNB", ZERO) * 600
        result.append({"order": order, "side": order.side, "amount": qty, "received": qty - fee.get("SOL", ZERO),
                       "quote": cost + quote_fees if order.side == "buy" else cost - quote_fees})
    return result


@pytest.mark.parametrize("fees", FEE_RULES)
def test_round_trips_through_the_act_jobs_keep_a_grid_right_on_the_exchange(ctx, fake_binance, fees,
                                                                         no_periodic_lookups):
    bot, api_key = new_grid(ctx, fake_binance, fees)
    amount = D(bot.state["amount"])
    tick = 1
    for _ in range(2):  # the start's market buy, then its resting orders
        run_tick(ctx, fake_binance, tick, symbol=SYMBOL)
        tick += 1
    empty = START
    for level in level_walk(12, seed=3):
        run_tick(ctx, fake_binance, tick, str(crossing(empty, level)), symbol=SYMBOL)  # the fill is booked
        run_tick(ctx, fake_binance, tick + 1, symbol=SYMBOL)  # the next decision rests what is missing
        tick, empty = tick + 2, level
        live = Order.select().where((Order.bot == bot) & Order.status.in_(("recorded", "sent", "open")))
        assert {o.role: o.side for o in live} == expected_orders(empty)
        position = Position.get((Position.bot == bot) & (Position.status == "open"))
        if api_key:
            wallet = fake_binance.balances(api_key)["SOL"] + fake_binance.locked(api_key)["SOL"]
        else:
            wallet = PaperBalance.get((PaperBalance.user == bot.user_id) & (PaperBalance.asset == "SOL")).amount
        sells = [o.amount for o in live if o.side == "sell"]
        assert position.amount == wallet and ZERO <= wallet - sum(sells) < RULES.amount_step
        assert abs(wallet - len(sells) * amount) < amount / 10

    assert Bot.get_by_id(bot.id).failures == 0
    booked = {f.order_id: f for f in Fill.select().where(Fill.bot == bot)}
    pairs, checked = Pairs(), 0
    for trade in exchange_trades(fake_binance, bot, api_key):
        order = trade["order"]
        if order.role == "gstart":
            continue
        level = grid.LEVEL_OF[order.role]
        if trade["side"] == "buy":
            pairs.buy(level, trade["quote"], trade["received"])
        elif pairs.open:
            truth = pairs.sell(level, trade["amount"], trade["quote"])
            assert abs(booked[order.id].realized_profit - truth) < D("1e-12")  # 8 places are the quote's unit
            checked += 1
    assert checked >= 8
