"""Fees through the engine, checked against the fake exchange's own trade records: kept per
currency (base, quote, and BNB as a third asset), charged to the position in the quote.

Amounts, costs and fees are exact; figures that divide (an average price, the cost share of a
partial exit) are exact to the 18th decimal place, the last one the database keeps.
"""
from __future__ import annotations

import secrets
from decimal import Decimal

from models import ApiKey, Bot, Fill, Order, Position
from rpc import reports
from telegram_bot import formatting
from tests.workers.conftest import act_for, make_bot, make_user, see_price

LAST_PLACE = Decimal("1e-18")
BNB_PRICE = Decimal("612.5")


def key_paying_fees_in_bnb(ctx, fake_binance, user, bnb: str) -> tuple[ApiKey, str]:
    api_key, secret = "k" + secrets.token_hex(16), secrets.token_hex(32)
    fake_binance.add_account(api_key, secret, {"USDT": "10000", "BNB": bnb}, pay_fees_in_bnb=True)
    key = ApiKey.create(user=user, exchange="binance", api_key_token=ctx.vault.encrypt(api_key),
                        secret_token=ctx.vault.encrypt(secret), key_tail=api_key[-4:])
    return key, api_key


def traded(fake_binance, api_key: str, buyer: bool) -> tuple[Decimal, Decimal, dict[str, Decimal]]:
    """(base amount, quote cost, fees per currency) of one side's trades, as the exchange recorded them."""
    amount, cost, fees = Decimal(0), Decimal(0), {}
    for trade in fake_binance.trades(api_key):
        if trade["isBuyer"] == buyer:
            amount, cost = amount + Decimal(trade["qty"]), cost + Decimal(trade["quoteQty"])
            asset = trade["commissionAsset"]
            fees[asset] = fees.get(asset, Decimal(0)) + Decimal(trade["commission"])
    return amount, cost, fees


def fees_of(fill: Fill) -> dict[str, Decimal]:
    return {currency: Decimal(amount) for currency, amount in fill.fees.items()}


def near(actual: Decimal, expected: Decimal) -> bool:
    return abs(actual - expected) <= LAST_PLACE


def test_fees_in_bnb_base_and_quote_of_one_cycle_are_kept_per_currency_and_charged_exactly(ctx, fake_binance):
    user = make_user()
    fake_binance.set_price("BNB/USDT", BNB_PRICE)
    # BNB for the first trade's fee only: the buy's later trades pay in BTC, the sell pays in USDT.
    key, api_key = key_paying_fees_in_bnb(ctx, fake_binance, user, bnb="0.0004")
    bot = make_bot(user, key, capital="1000")
    see_price(ctx, fake_binance, "BTC/USDT", "60000")
    fake_binance.set_book("BTC/USDT", bids=[("59990", "1")],
                          asks=[("60000.5", "0.005"), ("60001", "0.005"), ("60002.25", "1")])

    act_for(bot, "buy")

    amount, cost, fees = traded(fake_binance, api_key, buyer=True)
    assert set(fees) == {"BNB", "BTC"} and len(fake_binance.trades(api_key)) == 3
    [buy] = Fill.select().where(Fill.bot == bot)
    assert (buy.amount, buy.cost, fees_of(buy)) == (amount, cost, fees)
    position = Position.get(Position.bot == bot)
    held, entry_cost = amount - fees["BTC"], cost + fees["BNB"] * BNB_PRICE
    assert (position.amount, position.entry_cost) == (held, entry_cost)
    assert near(position.entry_price, entry_cost / held)
    assert near(position.fees, fees["BTC"] * (cost / amount) + fees["BNB"] * BNB_PRICE)

    see_price(ctx, fake_binance, "BTC/USDT", "61000", tick=2)
    fake_binance.set_book("BTC/USDT", bids=[("61000", "0.01"), ("60999.99", "1")], asks=[("61000.01", "1")])
    act_for(bot, "sell", tick=2)

    sold, proceeds, sell_fees = traded(fake_binance, api_key, buyer=False)
    assert set(sell_fees) == {"USDT"} and len(fake_binance.trades(api_key)) == 5
    sell = Fill.get((Fill.bot == bot) & (Fill.side == "sell"))
    assert (sell.amount, sell.cost, fees_of(sell)) == (sold, proceeds, sell_fees)
    cost_share = entry_cost * sold / held
    assert near(sell.realized_profit, proceeds - sell_fees["USDT"] - cost_share)
    fresh = Bot.get_by_id(bot.id)  # what the step left unsold carries its share of the cost
    assert fresh.dust_amount == held - sold and near(fresh.dust_cost, entry_cost - cost_share)
    assert Order.get((Order.bot == bot) & (Order.side == "buy")).fees == {c: str(a) for c, a in fees.items()}

    report = reports.profit(user, ctx.redis)["by_quote"]["USDT"]
    assert report["fees_by_currency"] == {"BNB": fees["BNB"], "BTC": fees["BTC"], "USDT": sell_fees["USDT"]}
    assert report["realized"] == sell.realized_profit
    assert report["fees"] == Position.get(Position.bot == bot).fees
    text = formatting.profit_report(reports.profit(user, ctx.redis))
    assert "BNB" in text and "BTC" in text and "fees paid" in text


def test_fees_paid_in_bnb_are_valued_in_the_quote_and_charged_to_the_position(ctx, fake_binance):
    user = make_user()
    fake_binance.set_price("BNB/USDT", BNB_PRICE)
    key, api_key = key_paying_fees_in_bnb(ctx, fake_binance, user, bnb="1")
    bot = make_bot(user, key, capital="1000")
    see_price(ctx, fake_binance, "BTC/USDT", "60000")
    fake_binance.set_book("BTC/USDT", bids=[("59990", "1")], asks=[("60000.5", "0.01"), ("60003", "1")])

    act_for(bot, "buy")
    see_price(ctx, fake_binance, "BTC/USDT", "61000", tick=2)
    fake_binance.set_book("BTC/USDT", bids=[("61000", "0.005"), ("60998.5", "1")], asks=[("61000.01", "1")])
    act_for(bot, "sell", tick=2)

    amount, cost, buy_fees = traded(fake_binance, api_key, buyer=True)
    sold, proceeds, sell_fees = traded(fake_binance, api_key, buyer=False)
    assert set(buy_fees) == set(sell_fees) == {"BNB"} and sold == amount  # no base fee: all of it sold
    position = Position.get(Position.bot == bot)
    entry_cost = cost + buy_fees["BNB"] * BNB_PRICE
    realized = proceeds - sell_fees["BNB"] * BNB_PRICE - entry_cost
    assert position.status == "closed" and position.realized_profit == realized  # no division: exact
    assert position.fees == (buy_fees["BNB"] + sell_fees["BNB"]) * BNB_PRICE
    sell = Fill.get((Fill.bot == bot) & (Fill.side == "sell"))
    assert sell.realized_profit == realized and sell.fee_currency == "BNB"
    assert sell.fee_quote == sell_fees["BNB"] * BNB_PRICE

    report = reports.profit(user, ctx.redis)["by_quote"]["USDT"]
    assert report["fees_by_currency"] == {"BNB": buy_fees["BNB"] + sell_fees["BNB"]}
    assert report["fees"] == position.fees and report["realized"] == realized
