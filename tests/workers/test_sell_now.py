"""A "Sell now" request (Bot.exit_requested_at, written by rpc/bots.py:request_exit) makes the
engine exit the position it was made for, like any exit, and no later position; a bot with
resting orders has them canceled first. A dca or grid bot is stopped by the request itself, so
it opens nothing after the sale; a dip bot keeps running and waits for its next signal."""
from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal

from rq import Queue

from models import Bot, Order, Outbox, PaperBalance, Position, utcnow
from rpc import bots as rpc_bots
from tests.workers.conftest import make_bot, make_user
from tests.workers.test_dca_trading import new_dca_bot, orders_of
from tests.workers.test_grid_trading import new_grid_bot, resting
from tests.workers.ticks import run_tick
from workers.context import TRADE_QUEUE
from workers.evaluation import evaluate_market
from workers.trading import CURRENT_TICK_KEY


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
    assert job.args[3][0][:2] == [bot.id, "sell"]


def test_a_request_made_for_an_earlier_position_leaves_a_later_one_alone(ctx, fake_binance):
    bot = make_bot(make_user(), None)
    Bot.update(exit_requested_at=utcnow() - dt.timedelta(minutes=5)).where(Bot.id == bot.id).execute()
    holding(bot, utcnow())
    calm_market(fake_binance)

    assert evaluate_market("binance", "BTC/USDT", "1m", 1, time.time())["acting"] == 0


def test_a_requested_exit_of_a_grid_cancels_its_resting_orders_then_sells_everything(ctx, fake_binance):
    user = make_user()
    bot = new_grid_bot(ctx, fake_binance, user, "paper:binance")
    run_tick(ctx, fake_binance, 1)  # the start buy
    run_tick(ctx, fake_binance, 2)  # buys rest below the price, sells (holding the base) above it
    assert sorted(side for side, _ in resting(bot).values()) == ["buy"] * 3 + ["sell"] * 3
    Bot.update(exit_requested_at=utcnow()).where(Bot.id == bot.id).execute()

    run_tick(ctx, fake_binance, 3)

    assert resting(bot) == {}
    assert Order.get((Order.bot == bot) & (Order.role == "exit")).status == "filled"
    [position] = Position.select().where(Position.bot == bot)
    assert position.status == "closed"
    wallet = {b.asset: b for b in PaperBalance.select().where(PaperBalance.user == user)}
    assert wallet["USDT"].locked == 0 and wallet["BTC"].locked == 0 and wallet["BTC"].amount == 0


def nothing_locked(user) -> bool:
    return all(b.locked == 0 for b in PaperBalance.select().where(PaperBalance.user == user))


def no_error_told(user) -> bool:
    return not Outbox.select().where((Outbox.user == user) & (Outbox.kind == "bot_error")).exists()


def test_sell_now_on_a_dca_bot_cancels_its_safety_orders_sells_the_deal_and_stops_the_bot(ctx, fake_binance):
    user = make_user()
    bot = new_dca_bot(ctx, fake_binance, user, "paper:binance")
    run_tick(ctx, fake_binance, 1, "60000")  # the base order
    run_tick(ctx, fake_binance, 2)  # the safety orders rest below it
    assert {role: o.status for role, o in orders_of(bot).items()} == {
        "base": "filled", "so1": "open", "so2": "open", "so3": "open"}

    view = rpc_bots.request_exit(user, bot.id)
    # Stopped by the request's own write, before anything is sold: whatever crashes from here
    # on, the bot opens no new deal.
    assert view["stopped"] and Bot.get_by_id(bot.id).status == "stopped"
    run_tick(ctx, fake_binance, 3)

    done = orders_of(bot)
    assert [done[r].status for r in ("so1", "so2", "so3")] == ["canceled"] * 3 and done["exit"].status == "filled"
    [position] = Position.select().where(Position.bot == bot)
    assert position.status == "closed" and Bot.get_by_id(bot.id).status == "stopped"
    # start=now would open the next deal at once; stopped, the bot places nothing, whatever the price.
    for tick, price in ((4, "60000"), (5, "59000"), (6, "61000")):
        run_tick(ctx, fake_binance, tick, price)
    assert Order.select().where(Order.bot == bot).count() == 5 and Position.select().where(
        Position.bot == bot).count() == 1
    wallet = {b.asset: b.amount for b in PaperBalance.select().where(PaperBalance.user == user)}
    assert nothing_locked(user) and wallet.get("BTC", 0) < Decimal("0.00001")  # at most dust below the step
    assert no_error_told(user)  # the cancels were asked for: no failure


def test_sell_now_on_a_grid_bot_cancels_its_orders_sells_everything_and_stops_the_bot(ctx, fake_binance):
    user = make_user()
    bot = new_grid_bot(ctx, fake_binance, user, "paper:binance")
    run_tick(ctx, fake_binance, 1)  # the start buy
    run_tick(ctx, fake_binance, 2)  # buys rest below the price, sells above it
    placed = Order.select().where(Order.bot == bot).count()

    assert rpc_bots.request_exit(user, bot.id)["stopped"]
    run_tick(ctx, fake_binance, 3)

    assert resting(bot) == {} and Order.get((Order.bot == bot) & (Order.role == "exit")).status == "filled"
    assert Position.get(Position.bot == bot).status == "closed" and Bot.get_by_id(bot.id).status == "stopped"
    # Running, the grid would buy its base and rest its orders again; stopped, it places nothing,
    # not even when the price crosses its levels.
    for tick, price in ((4, "60000"), (5, "57900"), (6, "62100")):
        run_tick(ctx, fake_binance, tick, price)
    assert Order.select().where(Order.bot == bot).count() == placed + 1
    assert Position.select().where(Position.bot == bot).count() == 1 and nothing_locked(user) and no_error_told(user)


def test_a_dca_decision_taken_before_sell_now_places_nothing_after_it(ctx, fake_binance):
    user = make_user()
    bot = new_dca_bot(ctx, fake_binance, user, "paper:binance")
    run_tick(ctx, fake_binance, 1, "60000")  # the base order
    ctx.redis.set(CURRENT_TICK_KEY, 2)
    assert evaluate_market("binance", "BTC/USDT", "1m", 2, time.time())["acting"] == 1  # safety orders, queued

    rpc_bots.request_exit(user, bot.id)  # pressed while that decision waits for a worker
    run_tick(ctx, fake_binance, 3)  # the worker acts on both: the old decision records nothing

    [base, sale] = Order.select().where(Order.bot == bot).order_by(Order.id)
    assert (base.role, sale.side, sale.status) == ("base", "sell", "filled")  # no safety order at all
    assert Position.get(Position.bot == bot).status == "closed" and Bot.get_by_id(bot.id).status == "stopped"
    run_tick(ctx, fake_binance, 4, "60000")
    assert Order.select().where(Order.bot == bot).count() == 2 and nothing_locked(user)


def test_sell_now_on_a_dip_bot_sells_and_keeps_it_running_until_its_next_signal(ctx, fake_binance):
    user = make_user()
    bot = make_bot(user, None)  # dip 0.6 % under the average of 60000 buys; tp 1.5 %, sl 3 %
    fake_binance.set_history("BTC/USDT", ["60000"] * 40)
    run_tick(ctx, fake_binance, 1, "59000")  # the signal: a buy
    assert Position.get(Position.bot == bot).status == "open"

    view = rpc_bots.request_exit(user, bot.id)
    assert not view["stopped"] and Bot.get_by_id(bot.id).status == "running"
    run_tick(ctx, fake_binance, 2, "59700")  # no take profit, no stop loss: sold because it was asked

    sold = Position.get(Position.bot == bot)
    assert sold.status == "closed" and Bot.get_by_id(bot.id).status == "running"
    run_tick(ctx, fake_binance, 3, "59700")  # no signal: nothing
    assert Order.select().where(Order.bot == bot).count() == 2
    run_tick(ctx, fake_binance, 4, "59000")  # the next signal: a new position
    assert Position.select().where((Position.bot == bot) & (Position.status == "open")).count() == 1
