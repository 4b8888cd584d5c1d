"""The tick's work for a market: every bot on it decides, and only bots that must act get work.

Each market is evaluated once per tick, a few markets of one venue per job (their candles
fetched at once): it reads the market's candles once (through the shared cache), lets every bot
decide, and enqueues `act` jobs in chunks for the bots that must act or have an order to
settle, so a tick costs markets and actions, not idle bots.
Running bots may enter and exit; stopped and paused bots holding a position still exit (a stop
loss always protects); a bot whose claim is held (still acting) is skipped and counted as lag.
"""
from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import NamedTuple

from rq import Queue

from logcontext import bind, get_logger, log_context
from models import ORDER_IN_FLIGHT, Bot, Order, Position, canonical, database_now, db
from workers import claims, health, market_data, strategies
from workers.context import TRADE_QUEUE, context
from workers.failures import register_failure
from workers.trading import act

log = get_logger(__name__)

MAX_CANDLES = 1000
LAG_SAMPLES = 1000
ACT_BATCH = 250  # bots per act job: large enough to amortise, small enough to share between workers
ACT_TIMEOUT_SECONDS = 120
MARKETS_PER_JOB = 5  # candles fetched at once per job; small enough to spread markets over workers
_fetch_pool = ThreadPoolExecutor(max_workers=MARKETS_PER_JOB, thread_name_prefix="candles")


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


def on_markets(exchange: str, testnet: bool, markets: list):
    """Bots of these (symbol, timeframe) markets of a venue, and maybe a few more (symbols and
    timeframes are matched apart; callers keep only their markets' rows)."""
    return (Bot.exchange == exchange) & Bot.symbol.in_(sorted({m[0] for m in markets})) & Bot.timeframe.in_(
        sorted({m[1] for m in markets})) & mode_filter(testnet)


def bots_to_evaluate(exchange: str, testnet: bool, markets: list) -> dict[tuple[str, str], list[BotRow]]:
    """Each market's bots as plain rows, in one query: a tick reads thousands, and model
    objects cost more than the decisions."""
    query = Bot.select(Bot.symbol, Bot.timeframe, Bot.id, Bot.status, Bot.version, Bot.strategy, Bot.params,
                       Bot.capital, Bot.exit_requested_at, Bot.state).where(
        on_markets(exchange, testnet, markets) & needs_a_look())
    wanted = {tuple(market) for market in markets}
    by_market: dict[tuple[str, str], list[BotRow]] = {}
    for symbol, timeframe, *row in db.execute(query).fetchall():
        if (symbol, timeframe) in wanted:
            by_market.setdefault((symbol, timeframe), []).append(BotRow(*row))
    return by_market


class BotRow(NamedTuple):
    id: int
    status: str
    version: int
    strategy: str
    params: str  # as stored (JSON text): bots sharing settings share one parse
    capital: object  # as stored: a Decimal (PostgreSQL) or its text (SQLite)
    exit_requested: object  # as stored; "Sell now" pressed at this time (rare: converted when read)
    state: str | None  # the strategy's memory as stored (JSON text)

    @property
    def capital_amount(self) -> Decimal:
        # PostgreSQL hands back a Decimal, SQLite the decimal text: either is exact.
        return self.capital if isinstance(self.capital, Decimal) else Decimal(self.capital)

    @property
    def exit_requested_at(self):
        return None if self.exit_requested is None else Bot.exit_requested_at.python_value(self.exit_requested)


_parsed_states: dict[str, dict] = {}
NO_ORDERS = ()
# A resting limit order is looked up when the price reaches it, and besides every this many
# ticks (a fill in a spike between two ticks, a cancel on the exchange's own site).
RESTING_CHECK_TICKS = 12


def parsed_state(stored: str | None) -> dict:
    """A bot's strategy memory, parsed once per distinct text (most bots share "{}")."""
    key = stored or "{}"
    if key not in _parsed_states:
        if len(_parsed_states) > 10_000:
            _parsed_states.clear()
        _parsed_states[key] = json.loads(key)
    return _parsed_states[key]


_parsed_params: dict[tuple[str, str], dict | strategies.ParamError] = {}


def parsed_params(strategy: str, stored: str) -> dict:
    """A bot's full parameters from its stored text, parsed once per distinct settings."""
    key = (strategy, stored)
    if key not in _parsed_params:
        if len(_parsed_params) > 10_000:
            _parsed_params.clear()
        try:
            _parsed_params[key] = strategies.validate(strategy, json.loads(stored or "{}"))
        except strategies.ParamError as error:
            _parsed_params[key] = error
    result = _parsed_params[key]
    if isinstance(result, strategies.ParamError):
        raise result
    return result


def evaluate_markets(exchange: str, testnet: bool, markets: list, tick: int, scheduled_at: float) -> dict:
    """Evaluate a few markets of one venue: their candles are fetched at once (an exchange's
    latency is paid once per job, not once per market), then each market's bots decide."""
    ctx = context()
    bind(exchange=exchange, testnet=testnet or None, tick=tick)  # testnet named only when it is
    try:
        loaded = [(symbol, timeframe, bots, parse_all(bots))
                  for (symbol, timeframe), bots in bots_to_evaluate(exchange, testnet, markets).items()]
        if not loaded:
            return {"bots": 0, "acting": 0, "skipped": 0}
        scope = on_markets(exchange, testnet, markets)
        positions = {p.bot_id: p for p in Position.select().join(Bot).where(scope & (Position.status == "open"))}
        to_settle, blocked, resting = orders_to_settle(scope, tick)
        candles = _prefetch(ctx, exchange, testnet, tick, [
            (symbol, timeframe, min(MAX_CANDLES, max((p.get("period", 1) for p in parsed.values()), default=1)))
            for symbol, timeframe, _, parsed in loaded])
        items, evaluated, skipped = [], 0, 0
        for (symbol, timeframe, bots, parsed), fetched in zip(loaded, candles):
            if isinstance(fetched, Exception):
                log.warning("no candles this tick", symbol=symbol, timeframe=timeframe, bots=len(bots),
                            error=str(fetched) or type(fetched).__name__)
                continue
            lag = time.time() - scheduled_at  # how late this market's decisions start
            acting, busy = _evaluate(ctx, bots, parsed, *fetched, positions, to_settle, blocked, resting)
            record_lag(ctx, lag, busy)
            items += acting
            evaluated += len(bots)
            skipped += busy
        # One act job for the markets' bots together: their orders go out at once.
        return {"bots": evaluated, "acting": enqueue_acts(ctx, exchange, testnet, tick, items), "skipped": skipped}
    finally:
        ctx.redis.delete(*[market_busy_key(exchange, symbol, timeframe, testnet) for symbol, timeframe in markets])


def evaluate_market(exchange: str, symbol: str, timeframe: str, tick: int, scheduled_at: float,
                    testnet: bool = False) -> dict:
    return evaluate_markets(exchange, testnet, [(symbol, timeframe)], tick, scheduled_at)


def parse_all(bots: list[BotRow]) -> dict[int, dict]:
    """Each bot's parameters; a bot whose stored settings are no longer valid is told so."""
    parsed = {}
    for bot in bots:
        try:
            parsed[bot.id] = parsed_params(bot.strategy, bot.params)
        except strategies.ParamError as error:
            register_failure(Bot.get_by_id(bot.id), f"Its settings are no longer valid: {error}")
    return parsed


def _prefetch(ctx, exchange: str, testnet: bool, tick: int, wanted: list) -> list:
    """(closes, price) per (symbol, timeframe, candles), fetched concurrently; or the error."""
    def fetch(symbol, timeframe, limit):
        try:
            closes, price = market_data.closes_and_price(ctx, exchange, symbol, timeframe, limit, tick, testnet)
            return strategies.Closes(closes), price
        except Exception as error:  # one market's failure must not cost the others their tick
            return error
    if len(wanted) == 1:
        return [fetch(*wanted[0])]
    return list(_fetch_pool.map(lambda args: fetch(*args), wanted))


def _evaluate(ctx, bots: list[BotRow], parsed: dict, closes, price, positions: dict, to_settle: set,
              blocked: set, resting: dict) -> tuple[list, int]:
    """(act items of the market's bots that must act, how many of those are still busy)."""
    wanted = []
    for bot in bots:
        if bot.id not in parsed:
            continue
        item = None
        if bot.id not in blocked:
            try:
                item = decide_for(bot, parsed[bot.id], closes, price, positions.get(bot.id),
                                  resting.get(bot.id, NO_ORDERS))
            except Exception:
                # Only a failing bot pays for its log context: the others are too many per tick.
                row = Bot.get_by_id(bot.id)
                with log_context(user=row.user_id, bot=bot.id, symbol=row.symbol):
                    log.exception("strategy failed")
                    register_failure(row, "Its strategy failed on the latest prices.")
                continue
        if item is None and (bot.id in to_settle or (bot.id in resting and price_reached(resting[bot.id], price))):
            item = [bot.id, "settle", None, bot.version]
        if item:
            wanted.append(item)
    # A bot whose claim is held is still acting on an earlier tick: never two actors for one
    # bot. (A decision made on rows its actor changed since carries an old version and is
    # dropped when recorded, so this check only saves work; it reads acting bots only.)
    busy = ctx.redis.mget([claims.claim_key(item[0]) for item in wanted]) if wanted else []
    items = [item for item, claimed in zip(wanted, busy) if not claimed]
    return items, len(wanted) - len(items)


def orders_to_settle(scope, tick: int = 0) -> tuple[set[int], set[int], dict[int, list]]:
    """(bots with an order due for a look, bots whose order in flight blocks a new decision,
    each bot's resting limit orders as its strategy sees them). A resting order is due now and
    then or when a lookup is due; when the price reaches it is the market's to say
    (`price_reached`), since the scope spans several markets."""
    now = database_now()
    to_settle, blocked, resting = set(), set(), {}
    query = Order.select(Order.id, Order.bot, Order.status, Order.type, Order.side, Order.price, Order.amount,
                         Order.filled, Order.role, Order.next_check_at).join(Bot).where(
        scope & (Order.status.in_(ORDER_IN_FLIGHT)
                  | ((Order.status == "expired") & Order.next_check_at.is_null(False))))
    for order in query:
        if order.status == "open" and order.type == "limit":
            resting.setdefault(order.bot_id, []).append(
                strategies.OpenOrder(order.role, order.side, order.price, order.amount, order.filled))
            # Looked up now and then, or when a lookup is due (or when the price reaches it).
            if (order.id + tick) % RESTING_CHECK_TICKS == 0 or (
                    order.next_check_at is not None and order.next_check_at <= now):
                to_settle.add(order.bot_id)
            continue
        if order.next_check_at is None or order.next_check_at <= now or order.status == "recorded":
            to_settle.add(order.bot_id)
        if order.status in ("recorded", "sent") or (order.status == "open" and order.type == "market"):
            blocked.add(order.bot_id)
    return to_settle, blocked, resting


def price_reached(orders: list, price) -> bool:
    """Whether the market's price has reached one of these resting orders (it may have filled)."""
    return price is not None and any(
        price <= order.price if order.side == "buy" else price >= order.price for order in orders)


def decide_for(bot: BotRow, params: dict, closes, price, position, orders=NO_ORDERS) -> list | None:
    """The act item of one bot's decision, or None when it has nothing to do."""
    holding = None if position is None else strategies.Holding(
        amount=position.amount, entry_price=position.entry_price, entry_cost=position.entry_cost,
        peak_price=position.peak_price, base_price=position.base_price, id=position.id,
    )
    if holding is not None and bot.exit_requested_at is not None and bot.exit_requested_at >= position.opened_at:
        return sell_now(bot, orders)  # the owner pressed "Sell now" for this position (rpc/bots.py:request_exit)
    running = bot.status == "running"
    if holding is None and not running and not orders:
        return None  # stopped or paused: no new entries
    decision = strategies.get(bot.strategy).decide(closes, price, holding, params, bot.capital_amount, orders,
                                                   parsed_state(bot.state))
    if decision.peak_price is not None and position is not None:
        Position.update(peak_price=decision.peak_price).where(Position.id == position.id).execute()
    if not running:
        decision = without_entries(decision, orders, bot.status == "stopped")
    if not decision.acts:
        return None
    if decision.is_market_order:
        want = decision.place[0]
        return [bot.id, want.side, None if want.quote is None else str(canonical(want.quote)), bot.version]
    return [bot.id, "orders", None, bot.version, None, plan_of(decision)]


def sell_now(bot: BotRow, orders) -> list:
    """The whole position sold at the market, its resting orders canceled first (a resting sell
    holds the base, a resting buy would open the position again)."""
    roles = tuple(dict.fromkeys(o.role for o in orders if o.role))
    if not roles:
        return [bot.id, "sell", None, bot.version]
    return [bot.id, "orders", None, bot.version, None,
            plan_of(strategies.Decision(place=(strategies.Want("sell", "exit"),), cancel=roles))]


def without_entries(decision: strategies.Decision, orders, stopped: bool) -> strategies.Decision:
    """A stopped or paused bot's decision: exits only. A stopped bot's resting buys are canceled
    too; its memory is kept as it was when buys it asked for are left out."""
    place = tuple(want for want in decision.place if want.side == "sell")
    cancel = decision.cancel
    if stopped:
        cancel = tuple(dict.fromkeys(cancel + tuple(o.role for o in orders if o.side == "buy" and o.role)))
    if place == decision.place and cancel == decision.cancel:
        return decision
    state = decision.state if len(place) == len(decision.place) else None
    return strategies.Decision(place=place, cancel=cancel, reason=decision.reason, state=state,
                               notice=decision.notice if state is decision.state else None)


def _text(value) -> str | None:
    return None if value is None else str(value)


def plan_of(decision: strategies.Decision) -> dict:
    """A decision as act job data: orders to place and cancel, the memory and notice to write."""
    plan = {"place": [[w.side, w.role, _text(w.price), _text(w.quote), _text(w.amount), _text(w.pair_price)]
                      for w in decision.place]}
    if decision.cancel:
        plan["cancel"] = list(decision.cancel)
    if decision.state is not None:
        plan["state"] = decision.state
    if decision.notice:
        plan["notice"] = decision.notice
    return plan


def enqueue_acts(ctx, exchange: str, testnet: bool, tick: int, items: list) -> int:
    """One act job per chunk of bots, enqueued in one Redis round trip."""
    if not items:
        return 0
    jobs = [
        Queue.prepare_data(act, args=(exchange, testnet, tick, items[start:start + ACT_BATCH]),
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
    pipe.set(health.LAST_LAG_KEY, f"{lag_seconds:.4f}", ex=health.lag_counts_for(ctx.settings.tick_seconds))
    if skipped:
        pipe.incrby("botfleet:metrics:skipped_bot_runs", skipped)
    pipe.execute()
