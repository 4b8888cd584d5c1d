"""The paper exchange under concurrency and on any quote: one user's wallet, locked and checked
inside the booking transaction, shared by bots buying at the same instant."""
from __future__ import annotations

import multiprocessing
import os
import threading
import time
from decimal import Decimal

import pytest
from rq import Queue, SimpleWorker

from models import Bot, Fill, Outbox, PaperBalance, Position, db
from rpc import bots as rpc_bots
from rpc import reports
from tests.fakes.binance_api import DEFAULT_MARKETS, FakeBinance
from tests.workers.conftest import act_for, make_bot, make_user, see_price
from workers.context import TRADE_QUEUE
from workers.evaluation import evaluate_market

START = Decimal("10000")


@pytest.fixture
def fake_binance():
    """The fake Binance with ETH/BTC too (binance.com's real filters), for a non-USDT quote."""
    markets = {**DEFAULT_MARKETS, "ETH/BTC": {"tickSize": "0.00001", "stepSize": "0.0001", "minQty": "0.0001",
                                              "minNotional": "0.0001", "price": "0.05"}}
    fake = FakeBinance(markets=markets).start()
    yield fake
    fake.stop()


def wallet(user, asset: str) -> Decimal:
    row = PaperBalance.get_or_none((PaperBalance.user == user) & (PaperBalance.asset == asset))
    return Decimal(0) if row is None else row.amount


def assert_wallet_matches_fills(user, quote: str = "USDT") -> None:
    """Every asset of the wallet is its start plus what the booked fills moved, to the last unit,
    never below zero."""
    moved = {quote: START}
    for fill in Fill.select().where(Fill.user == user):
        base = fill.symbol.split("/")[0]
        sign = 1 if fill.side == "buy" else -1
        moved[base] = moved.get(base, Decimal(0)) + sign * fill.amount
        moved[quote] -= sign * fill.cost + fill.fee_quote  # paper fees are paid in the quote
    for asset, amount in moved.items():
        assert wallet(user, asset) == amount, asset
    assert all(row.amount >= 0 and row.locked == 0 for row in PaperBalance.select().where(PaperBalance.user == user))


def _buy_in_child(env: dict, bot_id: int, start, results) -> None:
    os.environ.update(env)
    from workers.context import context
    from workers.trading import act

    ctx = context()  # connected, markets loaded, before the start line: the children race only on trading
    bot = Bot.get_by_id(bot_id)
    ctx.gateway.market_rules(bot.exchange, bot.symbol)
    start.wait(10)
    results.put(act(bot.exchange, False, 1, [[bot_id, "buy", None, bot.version]]))


def test_two_first_trades_of_one_user_at_once_both_fill_from_one_wallet(ctx, fake_binance):
    user = make_user()
    bots = [make_bot(user, None, symbol="BTC/USDT", capital="4000"),
            make_bot(user, None, symbol="ETH/USDT", capital="4000")]
    see_price(ctx, fake_binance, "BTC/USDT", "60000")
    see_price(ctx, fake_binance, "ETH/USDT", "3000")
    ctx.gateway.market_rules("binance", "BTC/USDT")  # markets loaded before the start line
    fake_binance.set_latency(0.2)  # each buyer fetches its book from a slow exchange: the two trades overlap
    start, results = threading.Barrier(2), []

    def buy(bot):
        start.wait()
        results.append(act_for(bot, "buy"))
        db.close()

    threads = [threading.Thread(target=buy, args=(bot,)) for bot in bots]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(r["booked"] for r in results) == [1, 1]  # the wallet's first use did not fail either
    assert [m.kind for m in Outbox.select().where(Outbox.user == user)] == ["fill", "fill"]
    assert all(Bot.get_by_id(bot.id).failures == 0 for bot in bots)
    assert_wallet_matches_fills(user)


def test_two_bots_of_one_user_overdrawing_the_wallet_at_once_fill_one_and_never_go_negative(ctx, fake_binance):
    user = make_user()
    see_price(ctx, fake_binance, "SOL/USDT", "150")
    act_for(make_bot(user, None, symbol="SOL/USDT", capital="100"), "buy")  # the wallet is in use already
    bots = [make_bot(user, None, symbol="BTC/USDT", capital="5000"),
            make_bot(user, None, symbol="ETH/USDT", capital="5000")]
    see_price(ctx, fake_binance, "BTC/USDT", "60000")
    see_price(ctx, fake_binance, "ETH/USDT", "3000")
    fake_binance.set_latency(0.2)  # each buyer fetches its book from a slow exchange: the two trades overlap
    env = {name: os.environ[name] for name in ("DATABASE_URL", "REDIS_URL", "FERNET_KEYS", "EXCHANGE_OVERRIDES")}
    spawn = multiprocessing.get_context("spawn")
    start, results = spawn.Event(), spawn.Queue()
    children = [spawn.Process(target=_buy_in_child, args=(env, bot.id, start, results)) for bot in bots]
    for child in children:
        child.start()
    time.sleep(0.5)  # both connected and waiting
    start.set()
    answers = [results.get(timeout=60) for _ in children]
    for child in children:
        child.join(30)

    assert sorted(a["booked"] for a in answers) == [0, 1]
    [fill] = Fill.select().where(Fill.bot.in_([bot.id for bot in bots]))
    refused = next(bot for bot in bots if bot.id != fill.bot_id)
    [told] = [m for m in Outbox.select().where(Outbox.user == user) if m.kind == "bot_error"]
    assert told.payload["bot_id"] == refused.id and "Insufficient paper funds" in told.payload["message"]
    assert Position.select().where(Position.bot == refused.id).count() == 0
    assert_wallet_matches_fills(user)
    assert wallet(user, "USDT") < 5000


def run_tick(ctx, symbol: str, tick: int) -> dict:
    """The tick's evaluation of one market, then its act jobs on a real RQ worker."""
    summary = evaluate_market("binance", symbol, "1m", tick, time.time())
    SimpleWorker([Queue(TRADE_QUEUE, connection=ctx.redis)], connection=ctx.redis).work(burst=True)
    return summary


def test_a_paper_bot_on_a_btc_quote_buys_and_sells_from_a_wallet_of_10000_btc(ctx, fake_binance):
    user = make_user()
    created = rpc_bots.create_bot(user, ctx.gateway, "paper:binance", "ETH/BTC", Decimal("0.5"), "dip",
                                  {"dip": "0.6", "tp": "1.5"})
    rpc_bots.start_bot(user, created["id"])
    assert reports.paper_balances(user) == {"binance": {"BTC": START}}
    fake_binance.set_book_depth("ETH/BTC", qty="100")
    fake_binance.set_history("ETH/BTC", ["0.05"] * 40)
    fake_binance.set_price("ETH/BTC", "0.0496")  # 0.8 % under the average

    assert run_tick(ctx, "ETH/BTC", 1)["acting"] == 1

    buy = Fill.get(Fill.user == user)
    assert buy.side == "buy" and buy.fee_currency == "BTC" and buy.cost + buy.fee <= Decimal("0.5")
    assert wallet(user, "ETH") == buy.amount and wallet(user, "BTC") == START - buy.cost - buy.fee
    fake_binance.set_price("ETH/BTC", "0.051")  # past the take profit

    assert run_tick(ctx, "ETH/BTC", 2)["acting"] == 1

    sell = Fill.get((Fill.user == user) & (Fill.side == "sell"))
    position = Position.get(Position.bot == created["id"])
    assert position.status == "closed" and sell.amount == buy.amount
    assert sell.realized_profit == sell.cost - sell.fee - buy.cost - buy.fee and sell.realized_profit > 0
    assert_wallet_matches_fills(user, quote="BTC")
    assert reports.paper_balances(user)["binance"] == {"BTC": START + sell.realized_profit, "ETH": Decimal(0)}
