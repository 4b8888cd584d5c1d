"""Trading bots: create, list, start, stop, delete; each change is one log line."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from logcontext import get_logger
from models import ORDER_IN_FLIGHT, ApiKey, Bot, Fill, Order, Position, database_now, get_owned, owned, utcnow, write_transaction
from rpc import N_, UserError
from workers import strategies
from exchanges import check_exchange
from workers.sizing import BUY_BUDGET_MARGIN, smallest_capital

log = get_logger(__name__)

NEWBOT_USAGE = "/newbot <key_id or paper:<exchange>> <symbol> <capital> [strategy] [name=value ...]"
NEWBOT_EXAMPLE = "/newbot 1 BTC/USDT 100 dip dip=0.6 tp=1.5 sl=3"
MAX_CAPITAL = Decimal("1000000000")
# An order still unresolved after this long is stuck (e.g. its key was revoked): deleting the
# bot is then the user's call, not something to refuse forever.
IN_FLIGHT_GRACE_SECONDS = 120


def parse_newbot(args: list[str]) -> dict:
    """The /newbot words as {key_ref, symbol, capital, strategy, params}, or UserError."""
    if len(args) < 3:
        raise UserError(N_("Usage: {usage}\nExample: {example}"), usage=NEWBOT_USAGE, example=NEWBOT_EXAMPLE)
    key_ref, symbol, capital_text, rest = args[0], args[1].upper(), args[2], args[3:]
    strategy = strategies.DEFAULT_STRATEGY
    if rest and "=" not in rest[0]:
        strategy, rest = rest[0].lower(), rest[1:]
    params = parse_params(rest)
    try:
        capital = Decimal(decimal_text(capital_text))
    except InvalidOperation:
        raise UserError(N_("Capital must be a number in the quote currency, like 100; got '{capital}'."),
                        capital=capital_text) from None
    if not capital.is_finite() or capital <= 0 or capital > MAX_CAPITAL:
        raise UserError(N_("Capital must be a positive amount, like 100; got '{capital}'."), capital=capital_text)
    if "/" not in symbol:
        raise UserError(N_("Symbols look like BTC/USDT (base/quote); got '{symbol}'."), symbol=args[1])
    return {"key_ref": key_ref, "symbol": symbol, "capital": capital, "strategy": strategy, "params": params}


def bot_view(bot: Bot) -> dict:
    realized = sum((f.realized_profit for f in bot.fills.where(Fill.realized_profit.is_null(False))), Decimal(0))
    return {
        "id": bot.id, "name": bot.name, "exchange": bot.exchange, "symbol": bot.symbol,
        "mode": bot.mode, "capital": bot.capital, "strategy": bot.strategy, "params": bot.params,
        "status": bot.status, "status_reason": bot.status_reason, "key_id": bot.api_key_id,
        "realized_profit": realized, "quote": bot.symbol.split("/")[-1],
    }


def _resolve_key(user, key_ref: str) -> tuple[ApiKey | None, str, str]:
    """(key, exchange, mode) for a key id or paper:<exchange>."""
    if key_ref.lower().startswith("paper:"):
        return None, check_exchange(key_ref.split(":", 1)[1]), "paper"
    if not key_ref.isdigit():
        raise UserError(N_("The first word is a key id from /keys or paper:<exchange>; got '{word}'."), word=key_ref)
    key = get_owned(ApiKey, user, key_ref)
    return key, key.exchange, "testnet" if key.testnet else "live"


def create_bot(user, gateway, key_ref: str, symbol: str, capital: Decimal, strategy: str, params: dict) -> dict:
    """A new bot, stopped, after checking the market, its minimums and the strategy settings."""
    key, exchange, mode = _resolve_key(user, key_ref)
    full_params = strategies.validate(strategy, params)
    rules = gateway.market_rules(exchange, symbol, mode == "testnet")
    spendable = capital / (1 + rules.taker_fee + BUY_BUDGET_MARGIN)
    if spendable < rules.min_cost and not hasattr(strategies.get(strategy), "plan"):  # plans check each order
        smallest = smallest_capital(rules)
        raise UserError(
            N_("Capital {capital} {quote} is below the minimum order on {exchange} {symbol} "
               "once fees are set aside: use at least {smallest} {quote}."),
            capital=capital, quote=rules.quote, exchange=exchange, symbol=rules.symbol, smallest=smallest,
        )
    plan = strategy_plan(gateway, exchange, mode == "testnet", rules, strategy, full_params, capital)
    count = owned(Bot, user).count()
    bot = Bot.create(
        user=user, api_key=key, name=f"{strategy}-{rules.base.lower()}-{count + 1}", exchange=exchange,
        symbol=rules.symbol, mode=mode, capital=capital, strategy=strategy,
        params={name: str(value) for name, value in plan["params"].items()},
        timeframe=str(plan["params"].get("timeframe", "1m")), state=plan["state"],
    )
    log.info("bot created", user=user.id, bot=bot.id, exchange=exchange, symbol=bot.symbol, mode=mode,
             strategy=strategy, capital=capital)
    view = bot_view(bot)
    if plan.get("orders"):
        view["plan"] = {"price": plan["price"], "orders": plan["orders"], "base": rules.base}
    return view


def strategy_plan(gateway, exchange: str, testnet: bool, rules, strategy: str, params: dict,
                  capital: Decimal) -> dict:
    """The strategy's orders resolved on the market as it is now (a DCA ladder, grid levels),
    checked against its minimums; {"params", "state", "orders", "price"}."""
    module = strategies.get(strategy)
    if not hasattr(module, "plan"):
        return {"params": params, "state": {}}
    price = gateway.candles(exchange, rules.symbol, "1m", 1, testnet)[-1][4]
    plan = module.plan(params, capital, price, rules, 1 + rules.taker_fee + BUY_BUDGET_MARGIN)
    return {**plan, "price": price}


def market_for_newbot(gateway, exchange: str, symbol: str, testnet: bool) -> dict:
    """The market a guided /newbot asks about: its symbol, currencies and the least capital."""
    if "/" not in symbol:
        raise UserError(N_("Symbols look like BTC/USDT (base/quote); got '{symbol}'."), symbol=symbol)
    rules = gateway.market_rules(exchange, symbol.upper(), testnet)
    return {"symbol": rules.symbol, "base": rules.base, "quote": rules.quote, "minimum": smallest_capital(rules)}


def parse_capital(text: str, minimum: Decimal | None = None) -> Decimal:
    """A typed capital, checked like /newbot's (and against the market's minimum when known)."""
    capital = parse_newbot(["paper:x", "X/Y", text.strip()])["capital"]
    if minimum is not None and capital < minimum:
        raise UserError(N_("Use at least {minimum} for this market; got '{capital}'."), minimum=minimum, capital=text)
    return capital


def decimal_text(text: str) -> str:
    """A typed number with a decimal comma (pt-BR writes 0,6) as Decimal reads it."""
    return text.replace(",", ".") if text.count(",") == 1 and "." not in text else text


def parse_params(words: list[str]) -> dict:
    """name=value words as a dict, or UserError."""
    params = {}
    for word in words:
        name, sep, value = word.partition("=")
        if not sep or not name or not value:
            raise UserError(N_("Strategy settings are name=value pairs, like dip=0.6; got '{word}'."), word=word)
        params[name.lower()] = decimal_text(value)
    return params


def list_bots(user) -> list[dict]:
    return [bot_view(bot) for bot in owned(Bot, user).order_by(Bot.id)]


def start_bot(user, bot_id) -> dict:
    bot = get_owned(Bot, user, bot_id)
    if bot.mode != "paper" and bot.api_key_id is None:
        raise UserError(N_("Bot {id} has no API key any more (it was deleted). Create a new bot with /newbot."), id=bot.id)
    if bot.status == "running":
        raise UserError(N_("Bot {id} is already running."), id=bot.id)
    Bot.update(status="running", status_reason="", failures=0).where(Bot.id == bot.id).execute()
    log.info("bot started", user=user.id, bot=bot.id, was=bot.status)
    return bot_view(Bot.get_by_id(bot.id))


def stop_bot(user, bot_id) -> dict:
    bot = get_owned(Bot, user, bot_id)
    if bot.status == "stopped":
        raise UserError(N_("Bot {id} is already stopped."), id=bot.id)
    # A new state version: a decision taken while the bot ran and not yet recorded records nothing
    # (workers/orders.py:record), even if the bot is started again before that job runs.
    Bot.update(status="stopped", status_reason="", version=Bot.version + 1).where(Bot.id == bot.id).execute()
    log.info("bot stopped", user=user.id, bot=bot.id, was=bot.status)
    view = bot_view(Bot.get_by_id(bot.id))
    view["open_position"] = bot.positions.where(Position.status == "open").exists()
    return view


def deletion_check(user, bot_id) -> dict:
    """What deleting would leave behind, for the confirmation question."""
    bot = get_owned(Bot, user, bot_id)
    view = bot_view(bot)
    view["open_position"] = bot.positions.where(Position.status == "open").exists()
    return view


def delete_bot(user, bot_id) -> dict:
    with write_transaction():
        bot = get_owned(Bot, user, bot_id)
        recent = utcnow() - dt.timedelta(seconds=IN_FLIGHT_GRACE_SECONDS)
        if bot.orders.where(Order.status.in_(ORDER_IN_FLIGHT) & (Order.created_at > recent)).exists():
            raise UserError(N_("Bot {id} has an order in flight. Try again in a minute."), id=bot.id)
        view = bot_view(bot)
        bot.delete_instance(recursive=True)
    log.info("bot deleted", user=user.id, bot=bot.id)
    return view


def sell_check(user, bot_id) -> dict:
    """What "Sell now" would do, for the confirmation question: whether there is a position to
    sell, and whether the bot stops too."""
    bot = get_owned(Bot, user, bot_id)
    view = bot_view(bot)
    view.update(open_position=bot.positions.where(Position.status == "open").exists(),
                stops=bot.status != "stopped" and strategies.stops_after_sell_now(bot.strategy))
    return view


def request_exit(user, bot_id) -> dict:
    """ "Sell now": the bot's open position exits at the market on the next evaluation, like any
    exit, its resting orders canceled first (the engine reads Bot.exit_requested_at; later
    positions ignore the request). A dca or grid bot is stopped too, or it would enter again at
    once; a dip bot keeps running and waits for its next signal."""
    with write_transaction():
        bot = get_owned(Bot, user, bot_id)
        position = bot.positions.where(Position.status == "open").first()
        if position is None:
            raise UserError(N_("Bot {id} has no open position to sell."), id=bot.id)
        # The database's clock, as the position's opened_at: the engine compares the two.
        changes = {Bot.exit_requested_at: database_now()}
        stops = strategies.stops_after_sell_now(bot.strategy)
        if stops and bot.status != "stopped":
            # Stopped in the request's own write, before anything is sold: a crash at any later
            # point leaves a stopped bot whose exit the engine still completes (stopped bots
            # holding a position exit), never one that opens a deal after the sale. The new
            # state version drops a decision taken before the press and not yet recorded (a
            # safety order, a grid's buy): it records nothing (workers/orders.py:record).
            changes.update({Bot.status: "stopped", Bot.status_reason: "", Bot.version: Bot.version + 1})
        Bot.update(changes).where(Bot.id == bot.id).execute()
    log.info("exit requested", user=user.id, bot=bot.id, amount=position.amount, stops=stops)
    view = bot_view(Bot.get_by_id(bot.id))
    view.update(amount=position.amount, base=bot.symbol.split("/")[0], stopped=stops)
    return view
