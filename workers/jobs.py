"""RQ jobs. Plain functions of plain ids and strings: never a secret, never an object.

evaluate_market runs once per market and tick: it fetches candles once, lets every bot on
that market decide, and enqueues a `trade` job only for the bots that must act, so the cost
of a tick grows with markets and actions, not with idle bots. One bot's failure is counted
against that bot alone; after MAX_CONSECUTIVE_FAILURES it is paused and its owner told.
"""
from __future__ import annotations

import logging
import time
from decimal import Decimal

from rq import Queue, Retry, get_current_job

from models import ApiKey, Bot, NotFound, Order, Outbox, Position, User, get_owned, write_transaction
from vault import VaultError, mask
from workers import execution, market_data, strategies
from workers.context import TRADE_QUEUE, context
from workers.exchange import BadRequest, GatewayError, KeyRejected, OrderRefused, Retryable

log = logging.getLogger(__name__)

MAX_CONSECUTIVE_FAILURES = 3
TRADE_RETRY = Retry(max=3, interval=[1, 3, 10])
BOT_BUSY_SECONDS = 120
MAX_CANDLES = 1000
LAG_SAMPLES = 1000


def bot_busy_key(bot_id: int) -> str:
    return f"botfleet:busy:bot:{bot_id}"


def market_busy_key(exchange: str, symbol: str, timeframe: str) -> str:
    return f"botfleet:busy:market:{exchange}:{symbol}:{timeframe}"


def needs_a_look():
    """Running bots; stopped bots still holding a position (exits only); and any bot with an
    order in flight, whatever its status, so that order is always resolved."""
    holding = Position.select(Position.bot).where(Position.status == "open")
    in_flight = Order.select(Order.bot).where(Order.status == "pending")
    return (
        (Bot.status == "running")
        | ((Bot.status == "stopped") & Bot.id.in_(holding))
        | Bot.id.in_(in_flight)
    )


def bots_to_evaluate(exchange: str, symbol: str, timeframe: str) -> list[Bot]:
    return list(
        Bot.select().where(
            (Bot.exchange == exchange) & (Bot.symbol == symbol) & (Bot.timeframe == timeframe) & needs_a_look()
        )
    )


def holding_of(position: Position | None) -> strategies.Holding | None:
    if position is None:
        return None
    return strategies.Holding(
        amount=position.amount, entry_price=position.entry_price, entry_cost=position.entry_cost,
        peak_price=position.peak_price,
    )


def evaluate_market(exchange: str, symbol: str, timeframe: str, tick: int, scheduled_at: float) -> dict:
    ctx = context()
    started = time.time()
    try:
        bots = bots_to_evaluate(exchange, symbol, timeframe)
        if not bots:
            return {"bots": 0, "acting": 0}
        ids = [bot.id for bot in bots]
        # Busy flags first: a trade that finishes after this read is seen in the rows below.
        busy = dict(zip(ids, ctx.redis.mget([bot_busy_key(i) for i in ids])))
        positions = {p.bot_id: p for p in Position.select().where(Position.bot.in_(ids) & (Position.status == "open"))}
        pending = {o.bot_id for o in Order.select(Order.bot).where(Order.bot.in_(ids) & (Order.status == "pending"))}
        parsed = {}
        for bot in bots:
            try:
                parsed[bot.id] = strategies.validate(bot.strategy, bot.params)
            except strategies.ParamError as error:
                register_failure(bot, f"Its settings are no longer valid: {error}")
        periods = [params.get("period", 1) for params in parsed.values()]
        closes, price = market_data.closes_and_price(
            ctx, exchange, symbol, timeframe, min(MAX_CANDLES, max(periods, default=1)), tick
        )
        actions, skipped = [], 0
        for bot in bots:
            if bot.id not in parsed:
                continue
            if busy[bot.id]:
                skipped += 1  # still acting on an earlier tick: never two runs of one bot
                continue
            try:
                action, quote = decide_for(bot, parsed[bot.id], closes, price, positions.get(bot.id), bot.id in pending)
            except Exception:
                log.exception("strategy of bot %s failed", bot.id)
                register_failure(bot, "Its strategy failed on the latest prices.")
                continue
            if action:
                actions.append((bot.id, action, quote))
        acting = enqueue_trades(ctx, actions, tick)
        record_lag(ctx, started - scheduled_at, skipped)
        return {"bots": len(bots), "acting": acting, "skipped": skipped}
    finally:
        ctx.redis.delete(market_busy_key(exchange, symbol, timeframe))


def enqueue_trades(ctx, actions: list[tuple[int, str, str | None]], tick: int) -> int:
    """Mark each acting bot busy and enqueue its trade job, in two Redis round trips in all."""
    if not actions:
        return 0
    pipe = ctx.redis.pipeline()
    for bot_id, _, _ in actions:
        pipe.set(bot_busy_key(bot_id), tick, nx=True, ex=BOT_BUSY_SECONDS)
    claimed = pipe.execute()
    jobs = [
        Queue.prepare_data(trade, args=(bot_id, action, quote), retry=TRADE_RETRY, timeout=60,
                           result_ttl=60, failure_ttl=86400)
        for (bot_id, action, quote), ok in zip(actions, claimed) if ok
    ]
    with ctx.redis.pipeline() as pipe:
        Queue(TRADE_QUEUE, connection=ctx.redis).enqueue_many(jobs, pipeline=pipe)
        pipe.execute()
    return len(jobs)


def decide_for(bot: Bot, params: dict, closes, price, position, has_pending: bool):
    """(action or None, quote amount as a string or None) for one bot."""
    if has_pending:
        return "resolve", None
    holding = holding_of(position)
    if bot.status == "paused" or (holding is None and bot.status != "running"):
        return None, None  # paused: only its order in flight is resolved; stopped: no new entries
    decision = strategies.get(bot.strategy).decide(closes, price, holding, params, bot.capital)
    if decision.peak_price is not None and position is not None:
        Position.update(peak_price=decision.peak_price).where(Position.id == position.id).execute()
    if not decision.acts:
        return None, None
    return decision.action, None if decision.quote_amount is None else str(decision.quote_amount)


def record_lag(ctx, lag_seconds: float, skipped: int) -> None:
    pipe = ctx.redis.pipeline()
    pipe.lpush("botfleet:metrics:tick_lag", f"{lag_seconds:.4f}")
    pipe.ltrim("botfleet:metrics:tick_lag", 0, LAG_SAMPLES - 1)
    if skipped:
        pipe.incrby("botfleet:metrics:skipped_bot_runs", skipped)
    pipe.execute()


def trade(bot_id: int, action: str, quote_amount: str | None = None) -> str:
    """Act for one bot: buy, sell, or resolve an order left pending by an earlier attempt."""
    ctx = context()
    retrying, bot = False, None
    try:
        bot = Bot.select(Bot, User).join(User).where(Bot.id == bot_id).first()
        if bot is None:
            return "bot deleted"
        fill = execution.execute(ctx, bot, action, Decimal(quote_amount) if quote_amount else None)
        return f"filled {fill.side} {fill.amount}" if fill else "nothing to do"
    except KeyRejected as error:
        pause_bot(bot, f"{error} Add a new key with /addkey, then create the bot again with it.")
        return "paused: key rejected"
    except VaultError:
        pause_bot(bot, "Its API key cannot be decrypted any more. Add the key again with /addkey.")
        return "paused: key unreadable"
    except (OrderRefused, BadRequest) as error:
        register_failure(bot, str(error))
        return "refused"
    except Retryable as error:
        job = get_current_job()
        if job is not None and job.retries_left:
            retrying = True
            raise
        register_failure(bot, str(error))
        return "gave up after retries"
    except Exception:
        log.exception("trade job for bot %s failed unexpectedly", bot_id)
        if bot is None:
            raise  # not even the bot could be read (database down): let RQ keep the failed job
        register_failure(bot, "An unexpected error stopped this trade.")
        return "failed"
    finally:
        if not retrying:
            ctx.redis.delete(bot_busy_key(bot_id))


def register_failure(bot: Bot, message: str) -> None:
    """Count a failed tick, tell the owner, and pause the bot after several in a row."""
    with write_transaction():
        Bot.update(failures=Bot.failures + 1).where(Bot.id == bot.id).execute()
        failures = Bot.get_by_id(bot.id).failures
        paused = failures >= MAX_CONSECUTIVE_FAILURES
        if paused:
            Bot.update(status="paused", status_reason=message).where(Bot.id == bot.id).execute()
        notify_bot_error(bot, message, paused, failures)


def pause_bot(bot: Bot, message: str) -> None:
    with write_transaction():
        Bot.update(status="paused", status_reason=message).where(Bot.id == bot.id).execute()
        notify_bot_error(bot, message, True, bot.failures)


def notify_bot_error(bot: Bot, message: str, paused: bool, failures: int) -> None:
    Outbox.create(
        user=bot.user_id, chat_id=bot.user.chat_id, kind="bot_error",
        payload={"bot_id": bot.id, "bot_name": bot.name, "message": message, "paused": paused, "failures": failures},
    )


def report_balance(user_id: int, key_id: int) -> str:
    """Fetch the balances behind one of the user's keys and send them to the user's chat."""
    ctx = context()
    user = User.get_by_id(user_id)
    payload = {"key_id": key_id}
    try:
        key = get_owned(ApiKey, user, key_id)
        payload.update(exchange=key.exchange, masked=mask(key.key_tail), testnet=key.testnet)
        balances = ctx.gateway.balances(key.exchange, execution.key_credentials(ctx.vault, key))
        payload["balances"] = {asset: [str(free), str(used)] for asset, (free, used) in sorted(balances.items())}
    except NotFound:
        payload["error"] = f"Key {key_id} not found."
    except (GatewayError, VaultError) as error:
        payload["error"] = str(error)
    Outbox.create(user=user, chat_id=user.chat_id, kind="balance", payload=payload)
    return "reported"
