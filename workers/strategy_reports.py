"""On-demand RQ jobs for /backtest and /chart: plain ids and words in, a message with a PNG in
the owner's outbox out (payload: figures as text, the PNG as base64, or an error).

The words drawn in the PNG are in the reader's language: the chat puts its language code in the
job's arguments; a job queued before it did (no `language`) draws in the owner's stored one."""
from __future__ import annotations

import base64
import datetime as dt
import time
from decimal import Decimal

import catalogs
from exchanges import GatewayError
from logcontext import bind
from models import Bot, Fill, NotFound, Outbox, Position, User, get_owned
from workers import backtest, charts, history, strategies
from workers.context import context
from workers.sizing import BUY_BUDGET_MARGIN

BACKTEST_CAPITAL = Decimal("1000")  # of the quote currency; the report speaks in % of it
CHART_CANDLES = 120
PROGRESS_SECONDS = 2  # between two edits of the progress message while history comes in


def _base64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _ms(moment: dt.datetime) -> int:
    return int(moment.replace(tzinfo=dt.timezone.utc).timestamp() * 1000)


class Progress:
    """Edits the chat's "Backtesting…" message as the job goes (outbox rows of kind "progress",
    at most one every PROGRESS_SECONDS but for the stage changes; the notifier shows the latest)."""

    def __init__(self, user: User, message_id: int | None, head: dict):
        self.user, self.message_id, self.head, self.last = user, message_id, head, 0.0

    def __call__(self, stage: str, force: bool = True, **figures) -> None:
        now = time.monotonic()
        if self.message_id is None or (not force and now - self.last < PROGRESS_SECONDS):
            return
        self.last = now
        Outbox.create(user=self.user, chat_id=self.user.chat_id, kind="progress",
                      payload={**self.head, "message_id": self.message_id, "stage": stage, **figures})


def reader_language(user: User, language: str | None) -> str:
    """The language to draw in: the one the job was given, else the owner's stored one, else English."""
    return catalogs.known(language or user.language)


def run_backtest(user_id: int, strategy: str, symbol: str, days: int, raw_params: dict, exchange: str = "binance",
                 progress_message_id: int | None = None, language: str | None = None) -> str:
    """Replay the strategy over the exchange's last `days` days and send the report."""
    ctx = context()
    bind(user=user_id, exchange=exchange, symbol=symbol, strategy=strategy)
    user = User.get_by_id(user_id)
    language = reader_language(user, language)
    payload: dict = {"strategy": strategy, "symbol": symbol, "days": days, "exchange": exchange,
                     "language": language}
    progress = Progress(user, progress_message_id, {"strategy": strategy, "symbol": symbol, "days": days})
    try:
        module = strategies.get(strategy)
        params = strategies.validate(strategy, raw_params)
        rules = ctx.gateway.market_rules(exchange, symbol)
        timeframe = str(params.get("timeframe", "1m"))
        end = int(time.time() * 1000)
        candles = history.closed_candles(
            ctx, exchange, rules.symbol, timeframe, end - days * 86_400_000, end,
            progress=lambda done, total: progress("history", force=False, done=done, total=total))
        if len(candles) < 2:
            raise GatewayError(f"{exchange} has too little history of {rules.symbol} for a backtest.")
        state = {}
        if hasattr(module, "plan"):
            plan = module.plan(params, BACKTEST_CAPITAL, candles[0][4], rules, 1 + rules.taker_fee + BUY_BUDGET_MARGIN)
            params, state = plan["params"], plan["state"]
        progress("simulating", candles=len(candles))
        started = time.perf_counter()
        result = backtest.simulate(module, params, BACKTEST_CAPITAL, rules, candles, state)
        payload.update(
            symbol=rules.symbol, quote=rules.quote, timeframe=timeframe, candles=result.candles,
            capital=str(BACKTEST_CAPITAL), fills=len(result.fills), trades=len(result.exits),
            return_pct=str(result.return_pct), hold_pct=str(result.hold_pct),
            max_drawdown=str(result.max_drawdown), fees=str(result.fees),
            win_rate=None if result.win_rate is None else str(result.win_rate),
            profit_factor=None if result.profit_factor is None else str(result.profit_factor),
            params={name: str(value) for name, value in params.items()},
            seconds=round(time.perf_counter() - started, 2),
        )
        first = candles[0][4]
        hold = [(at, float(BACKTEST_CAPITAL * close / first)) for at, _, _, _, close, *_ in
                candles[::max(1, len(candles) // backtest.EQUITY_POINTS)]]
        payload["png"] = _base64(charts.png(charts.equity_figure(
            strategy, rules.symbol, days, [(t, float(v)) for t, v in result.equity], hold, rules.quote, language)))
    except (strategies.ParamError, GatewayError) as error:
        payload.update(_failure(error))
    progress("done")
    Outbox.create(user=user, chat_id=user.chat_id, kind="backtest", payload=payload)
    return "reported"


def _failure(error: Exception) -> dict:
    """An error for the payload: English, plus a strategy's template and values for the chat to translate."""
    failure = {"error": str(error)}
    if isinstance(error, strategies.ParamError):
        failure.update(error_template=error.template, error_params={k: str(v) for k, v in error.params.items()})
    return failure


def draw_chart(user_id: int, bot_id: int, language: str | None = None) -> str:
    """A PNG of the bot's market: its candles' closes, its fills, its lines or levels."""
    ctx = context()
    bind(user=user_id, bot=bot_id)
    user = User.get_by_id(user_id)
    language = reader_language(user, language)
    payload: dict = {"bot_id": bot_id, "language": language}
    try:
        bot = get_owned(Bot, user, bot_id)
        payload.update(bot_name=bot.name, symbol=bot.symbol, timeframe=bot.timeframe)
        candles = ctx.gateway.candles(bot.exchange, bot.symbol, bot.timeframe, CHART_CANDLES, bot.mode == "testnet")
        since = dt.datetime.fromtimestamp(float(candles[0][0]) / 1000, dt.timezone.utc).replace(tzinfo=None)
        fills = [{"at": _ms(f.created_at), "side": f.side, "price": float(f.price)}
                 for f in Fill.select().where((Fill.bot == bot) & (Fill.created_at >= since)).order_by(Fill.id)]
        module = strategies.get(bot.strategy)
        params = strategies.validate(bot.strategy, bot.params)
        position = Position.get_or_none((Position.bot == bot) & (Position.status == "open"))
        holding = None if position is None else strategies.Holding(
            position.amount, position.entry_price, position.entry_cost, position.peak_price, position.base_price,
            position.id)
        lines = [(label, float(price)) for label, price in module.chart_lines(params, holding)]
        quote = bot.symbol.split("/")[-1]
        payload["fills"] = len(fills)
        payload["png"] = _base64(charts.png(charts.market_figure(
            bot.name, bot.symbol, bot.timeframe, [(row[0], float(row[4])) for row in candles], fills, lines, quote,
            language)))
    except NotFound:
        payload["error"] = f"Bot {bot_id} not found."
    except (strategies.ParamError, GatewayError) as error:
        payload.update(_failure(error))
    Outbox.create(user=user, chat_id=user.chat_id, kind="chart", payload=payload)
    return "reported"
