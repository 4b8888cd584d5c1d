"""A "Sell now" request (Bot.exit_requested_at, written by rpc/bots.py:request_exit) makes the
engine exit the position it was made for, like any exit, and no later position."""
from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal

from rq import Queue

from models import Bot, Position, utcnow
from tests.workers.conftest import make_bot, make_user
from workers.context import TRADE_QUEUE
from workers.evaluation import evaluate_market


def holding(bot: Bot, opened_at: dt.datetime) -> Position:
    return Position.create(user=bot.user_id, bot=bot, symbol="BTC/USDT", amount=Decimal("0.001"),
                           entry_price=Decimal("60000"), entry_cost=Decimal("60"), peak_price=Decimal("60000"),
                           opened_at=opened_at)


def calm_market(fake_binance) -> None:
    fake_binance.set_history("BTC/USDT", ["60000"] * 40)
    fake_binance.set_price("BTC/USDT", "60100")  # neither take profit nor stop loss


def test_a_requested_exit_sells_the_open_position_at_the_next_evaluation(ctx, fake_binance):
    bot = make_bot(make_user(), None, status="stopped")
    holding(bot, utcnow() - dt.timedelta(minutes=5))
    Bot.update(exit_requested_at=utcnow()).where(Bot.id == bot.id).execute()
    calm_market(fake_binance)

    assert evaluate_market("binance", "BTC/USDT", "1m", 1, time.time())["acting"] == 1
    [job] = Queue(TRADE_QUEUE, connection=ctx.redis).jobs
    assert job.args[4][0][:2] == [bot.id, "sell"]


def test_a_request_made_for_an_earlier_position_leaves_a_later_one_alone(ctx, fake_binance):
    bot = make_bot(make_user(), None)
    Bot.update(exit_requested_at=utcnow() - dt.timedelta(minutes=5)).where(Bot.id == bot.id).execute()
    holding(bot, utcnow())
    calm_market(fake_binance)

    assert evaluate_market("binance", "BTC/USDT", "1m", 1, time.time())["acting"] == 0
