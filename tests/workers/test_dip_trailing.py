"""The dip strategy's trailing stop loss through the engine, on paper: entry on the dip, the
stop follows the peak up, the exit when the price falls `tsl` % under it."""
from __future__ import annotations

from decimal import Decimal

from models import Fill, Position
from tests.workers.conftest import make_bot, make_user
from tests.workers.ticks import run_tick


def test_a_dip_bot_with_a_trailing_stop_loss_exits_tsl_under_the_peak(ctx, fake_binance):
    bot = make_bot(make_user(), None, dip="1", tp="50", sl="0", tsl="2")
    fake_binance.set_history("BTC/USDT", ["60000"] * 40)
    run_tick(ctx, fake_binance, 1, "59000")  # 1.7 % under the average: buy
    entry = Position.get(Position.bot == bot)
    run_tick(ctx, fake_binance, 2, "61000")
    run_tick(ctx, fake_binance, 3, "62000")  # the peak
    assert Position.get_by_id(entry.id).peak_price == Decimal("62000")
    run_tick(ctx, fake_binance, 4, "60800")  # 1.94 % under it: holds
    assert Position.get_by_id(entry.id).status == "open"
    run_tick(ctx, fake_binance, 5, "60760")  # 2 % under the peak: out

    position = Position.get_by_id(entry.id)
    [sell] = Fill.select().where((Fill.bot == bot) & (Fill.side == "sell"))
    assert position.status == "closed" and sell.price < Decimal("60760") and position.realized_profit > 0
