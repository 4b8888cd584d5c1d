"""/backtest and /chart: the request checked here, the work done by a worker (workers/strategy_reports.py)."""
from __future__ import annotations

from models import Bot, get_owned
from rpc import N_, UserError
from workers import history, strategies

BACKTEST_USAGE = "/backtest <strategy> <symbol> [days] [name=value ...]"
BACKTEST_EXAMPLE = "/backtest dca ETH/USDT 30 so=3 tp=2"
DEFAULT_DAYS = 30
MAX_DAYS = 365
MAX_CANDLES = 100_000


def parse_backtest(args: list[str]) -> dict:
    """The /backtest words as {strategy, symbol, days, params}, checked; UserError or ParamError."""
    if len(args) < 2:
        raise UserError(N_("Usage: {usage}\nExample: {example}"), usage=BACKTEST_USAGE, example=BACKTEST_EXAMPLE)
    strategy, symbol, rest = args[0].lower(), args[1].upper(), args[2:]
    strategies.get(strategy)
    if "/" not in symbol:
        raise UserError(N_("Symbols look like BTC/USDT (base/quote); got '{symbol}'."), symbol=args[1])
    days = DEFAULT_DAYS
    if rest and "=" not in rest[0]:
        if not rest[0].isdigit() or not 1 <= int(rest[0]) <= MAX_DAYS:
            raise UserError(N_("Days must be a whole number from 1 to {most}; got '{value}'."), most=MAX_DAYS,
                            value=rest[0])
        days, rest = int(rest[0]), rest[1:]
    params = {}
    for word in rest:
        name, sep, value = word.partition("=")
        if not sep or not name or not value:
            raise UserError(N_("Strategy settings are name=value pairs, like tp=2; got '{word}'."), word=word)
        params[name.lower()] = value
    full = strategies.validate(strategy, params)
    timeframe = str(full.get("timeframe", "1m"))
    candles = days * 86_400_000 // history.TIMEFRAME_MS[timeframe]
    if candles > MAX_CANDLES:
        raise UserError(N_("{days} days of {timeframe} candles are {candles}; at most {most} per backtest: "
                           "use fewer days or a longer timeframe."), days=days, timeframe=timeframe, candles=candles,
                        most=MAX_CANDLES)
    return {"strategy": strategy, "symbol": symbol, "days": days, "raw_params": params}


def chart_bot(user, bot_id) -> Bot:
    """The user's bot to chart (NotFound for another user's)."""
    return get_owned(Bot, user, bot_id)
