"""A testnet bot trades on its own venue's data: candles, market rules and prices of the testnet,
never the mainnet's, even when the mainnet's were fetched moments before in the same tick.

Both networks reach the one fake Binance (the EXCHANGE_OVERRIDES contract), so the test tells
them apart in time: the mainnet's data is read and cached first, then the fake changes its
rules and price, and only a fetch of the testnet's own can see the change.
"""
from __future__ import annotations

import secrets
import time
from decimal import Decimal

from rq import Queue, SimpleWorker

from models import ApiKey, Bot, Fill
from rpc import reports
from tests.workers.conftest import make_bot, make_user
from workers import market_data
from workers.context import TRADE_QUEUE
from workers.evaluation import evaluate_market
from workers.scheduler import markets_in_use


def make_testnet_bot(ctx, fake_binance, capital: str) -> tuple[Bot, str]:
    user = make_user()
    api_key, secret = "t" + secrets.token_hex(16), secrets.token_hex(32)
    fake_binance.add_account(api_key, secret, {"USDT": "10000"})
    key = ApiKey.create(user=user, exchange="binance", api_key_token=ctx.vault.encrypt(api_key),
                        secret_token=ctx.vault.encrypt(secret), key_tail=api_key[-4:], testnet=True)
    bot = make_bot(user, key, capital=capital)
    Bot.update(mode="testnet").where(Bot.id == bot.id).execute()
    return Bot.get_by_id(bot.id), api_key


def test_a_testnet_bot_decides_sizes_and_trades_on_testnet_candles_rules_and_prices(ctx, fake_binance):
    # 120.3 USDT at 59500 with the testnet's 0.001 step buys 0.002 BTC; the mainnet's price (60000)
    # would give 0.001, the mainnet's step (0.00001) 0.00201 or 0.00199.
    bot, api_key = make_testnet_bot(ctx, fake_binance, capital="120.3")
    paper = make_bot(make_user(), None)  # a mainnet-priced bot on the same symbol
    assert markets_in_use() == [("binance", False, "BTC/USDT", "1m"), ("binance", True, "BTC/USDT", "1m")]
    fake_binance.set_history("BTC/USDT", ["60000"] * 40)
    fake_binance.set_price("BTC/USDT", "60000")
    assert evaluate_market("binance", "BTC/USDT", "1m", 1, time.time())["acting"] == 0  # mainnet, this tick

    fake_binance.set_filters("BTC/USDT", stepSize="0.001", minQty="0.001")
    fake_binance.set_price("BTC/USDT", "59500")  # 0.83 % under the average: the testnet's dip
    fake_binance.reset_log()
    summary = evaluate_market("binance", "BTC/USDT", "1m", 1, time.time(), testnet=True)

    assert summary["acting"] == 1
    [job] = Queue(TRADE_QUEUE, connection=ctx.redis).jobs
    assert job.args[:3] == ("binance", True, 1) and [item[0] for item in job.args[3]] == [bot.id]
    SimpleWorker([Queue(TRADE_QUEUE, connection=ctx.redis)], connection=ctx.redis).work(burst=True)

    [order] = fake_binance.orders(api_key)
    assert order["quantity"] == Decimal("0.002") and order["status"] == "FILLED"
    paths = [r["path"] for r in fake_binance.requests()]
    assert paths.count("/api/v3/klines") == 1  # its own candles, though the mainnet's were cached this tick
    assert paths.count("/api/v3/exchangeInfo") == 1  # its own markets: spot only, nothing else loaded
    assert all(path.startswith("/api/v3/") for path in paths)
    assert Fill.select().where(Fill.bot == paper).count() == 0

    assert market_data.last_price(ctx.redis, "binance", "BTC/USDT", testnet=True)[0] == Decimal("59500")
    assert market_data.last_price(ctx.redis, "binance", "BTC/USDT")[0] == Decimal("60000")
    [position] = reports.open_positions(bot.user, ctx.redis)
    assert position["price"] == Decimal("59500")  # /status values it at the testnet's price
