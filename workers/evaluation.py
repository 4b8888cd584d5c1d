"""The tick's work for one market: every bot on it decides, and only bots that must act get work.

evaluate_market runs once per market and tick: it reads the market's candles once (through
the shared cache), lets every bot decide, and enqueues `act` jobs in chunks for the bots that
must act or have an order to settle, so a tick costs markets and actions, not idle bots.
Running bots may enter and exit; stopped and paused bots holding a position still exit (a stop
loss always protects); a bot whose claim is held (still acting) is skipped and counted as lag.
"""
from __future__ import annotations

import logging
import time

from rq import Queue

from models import ORDER_IN_FLIGHT, Bot, Order, Position, database_now
from workers import claims, market_data, strategies
from workers.context import TRADE_QUEUE, context
from workers.failures import register_failure
from workers.trading import act

log = logging.getLogger(__name__)

MAX_CANDLES = 1000
LAG_SAMPLES = 1000
ACT_BATCH = 250  # bots per act job: large enough to amortise, small enough to share between workers
ACT_TIMEOUT_SECONDS = 120


def market_busy_key(exchange: str, symbol: str, timeframe: str, testnet: bool = False) -> str:
    return f"botfleet:busy:market:{market_data.venue(exchange, testnet)}:{symbol}:{timeframe}"


def needs_a_look():
    """Running bots; bots holding a position, whatever their status (exits and stop losses);
    and bots with an order in flight, so that order is always settled."""
    holding = Position.select(Position.bot).where(Position.status == "open")
    in_flight = Order.select(Order.bot).where(
        Order.status.in_(ORDER_IN_FLIGHT) | ((Order.status == "expired") & Order.next_check_at.is_null(False))
    )
    return (Bot.status == "running") | Bot.id.in_(holding) | Bot.id.in_(in_flight)


def mode_filter(testnet: bool):
    return (Bot.mode == "testnet") if testnet else (Bot.mode != "testnet")


def bots_to_evaluate(exchange: str, symbol: str, timeframe: str, testnet: bool = False) -> list[Bot]:
    return list(Bot.select().where(
        (Bot.exchange == exchange) & (Bot.symbol == symbol) & (Bot.timeframe == timeframe) & mode_filter(testnet)
        & needs_a_look()
    ))


def evaluate_market(exchange: str, symbol: str, timeframe: str, tick: int, scheduled_at: float,
                    testnet: bool = False) -> dict:
    ctx = context()
    started = time.time()
    try:
        bots = bots_to_evaluate(exchange, symbol, timeframe, testnet)
        if not bots:
            return {"bots": 0, "acting": 0, "skipped": 0}
        ids = [bot.id for bot in bots]
        # Claims first: an actor that finishes after this read is seen in the rows below.
        busy = dict(zip(ids, ctx.redis.mget([claims.claim_key(i) for i in ids])))
        positions = {p.bot_id: p for p in Position.select().where(Position.bot.in_(ids) & (Position.status == "open"))}
        now = database_now()
        to_settle, blocked = set(), set()
        for order in Order.select(Order.bot, Order.status, Order.type, Order.next_check_at).where(
            Order.bot.in_(ids) & (Order.status.in_(ORDER_IN_FLIGHT)
                                  | ((Order.status == "expired") & Order.next_check_at.is_null(False)))
        ):
            if order.next_check_at is None or order.next_check_at <= now or order.status == "recorded":
                to_settle.add(order.bot_id)
            if order.status in ("recorded", "sent") or (order.status == "open" and order.type == "market"):
                blocked.add(order.bot_id)
        parsed = {}
        for bot in bots:
            try:
                parsed[bot.id] = strategies.validate(bot.strategy, bot.params)
            except strategies.ParamError as error:
                register_failure(bot, f"Its settings are no longer valid: {error}")
        periods = [params.get("period", 1) for params in parsed.values()]
        closes, price = market_data.closes_and_price(
            ctx, exchange, symbol, timeframe, min(MAX_CANDLES, max(periods, default=1)), tick, testnet
        )
        items, skipped = [], 0
        for bot in bots:
            if bot.id not in parsed:
                continue
            if busy[bot.id]:
                skipped += 1  # still acting on an earlier tick: never two actors for one bot
                continue
            action, quote = None, None
            if bot.id not in blocked:
                try:
                    action, quote = decide_for(bot, parsed[bot.id], closes, price, positions.get(bot.id))
                except Exception:
                    log.exception("strategy of bot %s failed", bot.id)
                    register_failure(bot, "Its strategy failed on the latest prices.")
                    continue
            if action is None and bot.id in to_settle:
                action = "settle"
            if action:
                items.append([bot.id, action, quote, bot.version])
        acting = enqueue_acts(ctx, exchange, testnet, symbol, tick, items)
        record_lag(ctx, started - scheduled_at, skipped)
        return {"bots": len(bots), "acting": acting, "skipped": skipped}
    finally:
        ctx.redis.delete(market_busy_key(exchange, symbol, timeframe, testnet))


def decide_for(bot: Bot, params: dict, closes, price, position):
    """(action or None, quote amount as a string or None) for one bot."""
    holding = None if position is None else strategies.Holding(
        amount=position.amount, entry_price=position.entry_price, entry_cost=position.entry_cost,
        peak_price=position.peak_price,
    )
    if holding is None and bot.status != "running":
        return None, None  # stopped or paused: no new entries
    if holding is not None and bot.exit_requested_at is not None and bot.exit_requested_at >= position.opened_at:
        return "sell", None  # the owner pressed "Sell now" for this position (rpc/bots.py:request_exit)
    decision = strategies.get(bot.strategy).decide(closes, price, holding, params, bot.capital)
    if decision.peak_price is not None and position is not None:
        Position.update(peak_price=decision.peak_price).where(Position.id == position.id).execute()
    if not decision.acts or (decision.action == "buy" and bot.status != "running"):
        return None, None
    return decision.action, None if decision.quote_amount is None else str(decision.quote_amount)


def enqueue_acts(ctx, exchange: str, testnet: bool, symbol: str, tick: int, items: list) -> int:
    """One act job per chunk of bots, enqueued in one Redis round trip."""
    if not items:
        return 0
    jobs = [
        Queue.prepare_data(act, args=(exchange, testnet, symbol, tick, items[start:start + ACT_BATCH]),
                           timeout=ACT_TIMEOUT_SECONDS, result_ttl=60, failure_ttl=86400)
        for start in range(0, len(items), ACT_BATCH)
    ]
    with ctx.redis.pipeline() as pipe:
        Queue(TRADE_QUEUE, connection=ctx.redis).enqueue_many(jobs, pipeline=pipe)
        pipe.execute()
    return len(items)


def record_lag(ctx, lag_seconds: float, skipped: int) -> None:
    pipe = ctx.redis.pipeline()
    pipe.lpush("botfleet:metrics:tick_lag", f"{lag_seconds:.4f}")
    pipe.ltrim("botfleet:metrics:tick_lag", 0, LAG_SAMPLES - 1)
    if skipped:
        pipe.incrby("botfleet:metrics:skipped_bot_runs", skipped)
    pipe.execute()
