"""A grid through the engine, on paper and on the fake Binance: it rests its orders, a fall fills
a buy and a sell rests one level up, the way back fills that sell for one pair's profit; a grid
whose orders all rest needs no work; leaving the range is reported."""
from __future__ import annotations

import secrets
from decimal import Decimal

import pytest
from rq import Queue

from models import ApiKey, Bot, Fill, Order, Outbox, PaperBalance, Position
from rpc import bots as rpc_bots
from tests.workers.conftest import make_user
from tests.workers.ticks import run_tick
from workers import evaluation
from workers.context import TRADE_QUEUE

LEVELS = [Decimal(p) for p in ("54000", "56000", "58000", "60000", "62000", "64000", "66000")]


def new_grid_bot(ctx, fake_binance, user, key_ref: str) -> Bot:
    fake_binance.set_history("BTC/USDT", ["60000"] * 40)
    fake_binance.set_price("BTC/USDT", "60000")
    view = rpc_bots.create_bot(user, ctx.gateway, key_ref, "BTC/USDT", Decimal("1000"), "grid",
                               {"low": "54000", "high": "66000", "grids": "6"})
    rpc_bots.start_bot(user, view["id"])
    return Bot.get_by_id(view["id"])


def resting(bot) -> dict[str, tuple[str, Decimal]]:
    return {o.role: (o.side, o.price) for o in Order.select().where((Order.bot == bot) & (Order.status == "open"))}


def play_a_pair(ctx, fake_binance, bot) -> Decimal:
    """Start, rest, fill a buy on a fall and its sell on the way back; the amount each level trades."""
    amount = Decimal(bot.state["amount"])
    assert amount == Decimal("0.00272")  # 1000 / ((56000 + ... + 66000) * 1.004), at the step
    run_tick(ctx, fake_binance, 1)
    start = Order.get((Order.bot == bot) & (Order.role == "gstart"))
    assert start.type == "market" and start.amount == amount * 3 and start.status == "filled"
    run_tick(ctx, fake_binance, 2)
    assert resting(bot) == {"g0": ("buy", LEVELS[0]), "g1": ("buy", LEVELS[1]), "g2": ("buy", LEVELS[2]),
                            "g4": ("sell", LEVELS[4]), "g5": ("sell", LEVELS[5]), "g6": ("sell", LEVELS[6])}
    assert run_tick(ctx, fake_binance, 3)["acting"] == 0  # every order rests: no work at all
    run_tick(ctx, fake_binance, 4, "57900")  # the fall fills the buy at 58000
    run_tick(ctx, fake_binance, 5)
    assert resting(bot)["g3"] == ("sell", LEVELS[3]) and "g2" not in resting(bot)
    run_tick(ctx, fake_binance, 6, "60100")  # the way back fills that sell
    run_tick(ctx, fake_binance, 7)
    assert resting(bot)["g2"] == ("buy", LEVELS[2]) and "g3" not in resting(bot)
    return amount


@pytest.fixture(autouse=True)
def no_periodic_lookups(monkeypatch):
    """Resting orders are looked up only when the price reaches them, for counting work exactly."""
    monkeypatch.setattr(evaluation, "RESTING_CHECK_TICKS", 10**9)


def test_a_paper_grid_trades_one_pair_for_the_levels_difference(ctx, fake_binance):
    user = make_user()
    bot = new_grid_bot(ctx, fake_binance, user, "paper:binance")

    amount = play_a_pair(ctx, fake_binance, bot)

    [sell] = Fill.select().where((Fill.bot == bot) & (Fill.side == "sell"))
    fee = Decimal("0.001")
    assert sell.price == LEVELS[3] and sell.amount == amount
    # One pair: sold at 60000, bought at 58000, both as a maker (paper fees in the quote).
    assert sell.realized_profit == amount * LEVELS[3] * (1 - fee) - amount * LEVELS[2] * (1 + fee)
    usdt = PaperBalance.get((PaperBalance.user == user) & (PaperBalance.asset == "USDT"))
    locked = sum(o.amount * o.price * (1 + fee) for o in Order.select().where(
        (Order.bot == bot) & (Order.status == "open") & (Order.side == "buy")))
    assert usdt.locked == locked


@pytest.mark.parametrize("network", ["mainnet", "testnet"])
def test_a_live_grid_trades_one_pair_on_the_exchange_and_reports_leaving_the_range(ctx, fake_binance, network):
    user = make_user()
    api_key, secret = "k" + secrets.token_hex(16), secrets.token_hex(32)
    fake_binance.add_account(api_key, secret, {"USDT": "1000"})
    key = ApiKey.create(user=user, exchange="binance", api_key_token=ctx.vault.encrypt(api_key),
                        secret_token=ctx.vault.encrypt(secret), key_tail=api_key[-4:], testnet=network == "testnet")
    bot = new_grid_bot(ctx, fake_binance, user, str(key.id))
    assert bot.mode == ("testnet" if network == "testnet" else "live")

    amount = play_a_pair(ctx, fake_binance, bot)

    on_exchange = {o["clientOrderId"]: o for o in fake_binance.orders(api_key)}
    for order in Order.select().where(Order.bot == bot):
        assert on_exchange[order.client_order_id]["status"] in {"open": ("NEW",), "filled": ("FILLED",)}[order.status]
    # Fees were taken in BTC: the last sell rests what is left, never more than the account holds.
    btc_locked = fake_binance.locked(api_key)["BTC"]
    assert btc_locked <= Position.get(Position.bot == bot).amount
    assert btc_locked == sum(o.amount for o in Order.select().where(
        (Order.bot == bot) & (Order.status == "open") & (Order.side == "sell")))

    run_tick(ctx, fake_binance, 8, "67000")  # over the range: every sell fills
    run_tick(ctx, fake_binance, 9)
    told = [m.payload["message"] for m in Outbox.select().where((Outbox.user == user) & (Outbox.kind == "bot_error"))]
    assert len(told) == 1 and "left the grid's range" in told[0]
    run_tick(ctx, fake_binance, 10)
    assert len(list(Outbox.select().where((Outbox.user == user) & (Outbox.kind == "bot_error")))) == 1
    assert not any(side == "sell" for side, _ in resting(bot).values())
    assert Queue(TRADE_QUEUE, connection=ctx.redis).count == 0


def test_a_stopped_grid_cancels_its_resting_buys_and_keeps_its_sells(ctx, fake_binance):
    user = make_user()
    bot = new_grid_bot(ctx, fake_binance, user, "paper:binance")
    run_tick(ctx, fake_binance, 1)
    run_tick(ctx, fake_binance, 2)
    rpc_bots.stop_bot(user, bot.id)

    run_tick(ctx, fake_binance, 3)

    assert {role: side for role, (side, _) in resting(bot).items()} == {"g4": "sell", "g5": "sell", "g6": "sell"}
    canceled = Order.select().where((Order.bot == bot) & (Order.status == "canceled"))
    assert sorted(o.role for o in canceled) == ["g0", "g1", "g2"]
    # Its own cancels are no failure: stopped, not paused, and its owner told nothing.
    assert Bot.get_by_id(bot.id).status == "stopped"
    assert not Outbox.select().where((Outbox.user == user) & (Outbox.kind == "bot_error")).exists()
    usdt = PaperBalance.get((PaperBalance.user == user) & (PaperBalance.asset == "USDT"))
    assert usdt.locked == 0
    # Cancels the bot asked for are no failures: it stays stopped, and its owner hears of no error.
    assert Bot.get_by_id(bot.id).status == "stopped"
    assert not Outbox.select().where((Outbox.user == user) & (Outbox.kind == "bot_error")).exists()
    run_tick(ctx, fake_binance, 4, "57000")  # a fall places no new buy
    assert not any(side == "buy" for side, _ in resting(bot).values())
