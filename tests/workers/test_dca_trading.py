"""A DCA deal through the engine, on paper and on the fake Binance: the base order, two safety
orders filled on the way down, the take profit on the average, the last safety order canceled."""
from __future__ import annotations

import secrets
from decimal import Decimal

import pytest

from models import ApiKey, Bot, Fill, Order, Outbox, PaperBalance, Position
from rpc import bots as rpc_bots
from rpc import reports
from tests.workers.conftest import make_key, make_user
from tests.workers.ticks import run_tick

SETTINGS = {"so": "3", "dev": "1", "vscale": "2", "sscale": "1", "tp": "1"}


def new_dca_bot(ctx, fake_binance, user, key_ref: str, capital: str = "800") -> Bot:
    fake_binance.set_history("BTC/USDT", ["60000"] * 40)
    fake_binance.set_price("BTC/USDT", "60000")
    view = rpc_bots.create_bot(user, ctx.gateway, key_ref, "BTC/USDT", Decimal(capital), "dca", dict(SETTINGS))
    rpc_bots.start_bot(user, view["id"])
    return Bot.get_by_id(view["id"])


def orders_of(bot) -> dict[str, Order]:
    return {o.role: o for o in Order.select().where(Order.bot == bot).order_by(Order.id)}


def play_the_deal(ctx, fake_binance, bot) -> None:
    run_tick(ctx, fake_binance, 1, "60000")  # the base order, at market
    base = orders_of(bot)["base"]
    assert base.status == "filled" and base.type == "market"
    position = Position.get(Position.bot == bot)
    run_tick(ctx, fake_binance, 2)  # the safety orders rest below the base order's price
    ladder = orders_of(bot)
    assert [(ladder[r].type, ladder[r].status) for r in ("so1", "so2", "so3")] == [("limit", "open")] * 3
    assert [ladder[r].price for r in ("so1", "so2", "so3")] == [
        (position.base_price * (1 - Decimal(n) / 100)).quantize(Decimal("0.01")) for n in (1, 2, 3)]
    run_tick(ctx, fake_binance, 3, "59000")  # under so1
    run_tick(ctx, fake_binance, 4, "58500")  # under so2
    filled = orders_of(bot)
    assert [filled[r].status for r in ("so1", "so2", "so3")] == ["filled", "filled", "open"]
    average = Position.get(Position.bot == bot).entry_price
    assert average < position.base_price
    # Just under the take profit on the average: nothing; at it: cancel so3, sell the deal.
    under = (average * Decimal("1.01")).quantize(Decimal("0.01")) - Decimal("0.02")
    run_tick(ctx, fake_binance, 5, str(under))
    assert Position.get(Position.bot == bot).status == "open"
    run_tick(ctx, fake_binance, 6, str((average * Decimal("1.01")).quantize(Decimal("0.01")) + Decimal("0.01")))


def test_a_paper_dca_deal_fills_two_safety_orders_and_closes_at_take_profit_on_the_average(ctx, fake_binance):
    user = make_user()
    bot = new_dca_bot(ctx, fake_binance, user, "paper:binance")

    play_the_deal(ctx, fake_binance, bot)

    done = orders_of(bot)
    assert done["so3"].status == "canceled" and done["tp"].status == "filled"
    [position] = Position.select().where(Position.bot == bot)
    assert position.status == "closed" and position.realized_profit > 0
    # The wallet moved by exactly what the fills say, and nothing stays locked.
    fills = list(Fill.select().where(Fill.bot == bot))
    spent = sum((f.cost + f.fee_quote if f.side == "buy" else -(f.cost - f.fee_quote)) for f in fills)
    usdt = PaperBalance.get((PaperBalance.user == user) & (PaperBalance.asset == "USDT"))
    assert usdt.amount == Decimal("10000") - spent and usdt.locked == 0
    assert position.realized_profit == -spent + Bot.get_by_id(bot.id).dust_cost
    assert reports.profit(user, ctx.redis)["by_quote"]["USDT"]["realized"] == position.realized_profit


@pytest.mark.parametrize("network", ["mainnet", "testnet"])
def test_a_live_dca_deal_profit_equals_the_exchanges_money_to_the_cent(ctx, fake_binance, network):
    user = make_user()
    bnb_price = Decimal("612.5")
    fake_binance.set_price("BNB/USDT", bnb_price)
    api_key, secret = "k" + secrets.token_hex(16), secrets.token_hex(32)
    fake_binance.add_account(api_key, secret, {"USDT": "1000", "BNB": "10"}, pay_fees_in_bnb=True)
    key = ApiKey.create(user=user, exchange="binance", api_key_token=ctx.vault.encrypt(api_key),
                        secret_token=ctx.vault.encrypt(secret), key_tail=api_key[-4:], testnet=network == "testnet")
    bot = new_dca_bot(ctx, fake_binance, user, str(key.id))
    assert bot.mode == ("testnet" if network == "testnet" else "live")

    play_the_deal(ctx, fake_binance, bot)

    done = orders_of(bot)
    assert done["so3"].status == "canceled" and done["tp"].status == "filled"
    assert fake_binance.locked(api_key)["USDT"] == 0
    balances = fake_binance.balances(api_key)
    assert balances["BTC"] == 0  # fees in BNB: the deal sold exactly what it bought
    money = balances["USDT"] - Decimal("1000") - (Decimal("10") - balances["BNB"]) * bnb_price
    profit = reports.profit(user, ctx.redis)["by_quote"]["USDT"]["realized"]
    assert profit.quantize(Decimal("0.01")) == money.quantize(Decimal("0.01"))
    assert abs(profit - money) < Decimal("0.000001")


@pytest.mark.parametrize("venue", ["paper", "live"])
def test_a_deal_closed_before_its_safety_orders_filled_cancels_them_without_a_failure(ctx, fake_binance, venue):
    """Canceling its own resting orders is the bot's doing, not the exchange ending them: the
    owner hears nothing of it and the bot is not counted as failing (three would pause it)."""
    user = make_user()
    key_ref = "paper:binance" if venue == "paper" else str(make_key(ctx, fake_binance, user)[0].id)
    bot = new_dca_bot(ctx, fake_binance, user, key_ref)
    run_tick(ctx, fake_binance, 1, "60000")  # the base order
    run_tick(ctx, fake_binance, 2)  # the three safety orders rest
    run_tick(ctx, fake_binance, 3, "60700")  # over the take profit: the three canceled, the deal sold

    done = orders_of(bot)
    assert [done[r].status for r in ("so1", "so2", "so3")] == ["canceled"] * 3 and done["tp"].status == "filled"
    after = Bot.get_by_id(bot.id)
    assert (after.status, after.failures) == ("running", 0)
    assert not Outbox.select().where((Outbox.user == user) & (Outbox.kind == "bot_error")).exists()
