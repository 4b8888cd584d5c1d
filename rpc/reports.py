"""Figures for /trades, /status, /profit and the paper /balance, from the user's own rows."""
from __future__ import annotations

from decimal import Decimal

from models import Bot, Fill, PaperBalance, Position, get_owned, owned
from rpc import periods
from workers import market_data
from exchanges.paper import STARTING_QUOTE

MAX_TRADES = 50


def latest_trades(user, n: int = 10) -> list[dict]:
    n = max(1, min(int(n), MAX_TRADES))
    fills = owned(Fill, user).join(Bot).order_by(Fill.id.desc()).limit(n)
    return [
        {"bot_id": f.bot_id, "bot_name": f.bot.name, "side": f.side, "symbol": f.symbol, "amount": f.amount,
         "price": f.price, "cost": f.cost, "fee": f.fee, "fee_currency": f.fee_currency,
         "realized_profit": f.realized_profit, "at": f.created_at}
        for f in fills
    ]


def _bots(user, bot_id=None):
    if bot_id is not None:
        return [get_owned(Bot, user, bot_id)]
    return list(owned(Bot, user).order_by(Bot.id))


def _unrealized(redis_client, bot: Bot, position: Position) -> tuple[Decimal | None, Decimal | None]:
    """(current price, unrealized profit net of the entry fee) or (None, None) without a recent price."""
    seen = market_data.last_price(redis_client, bot.exchange, bot.symbol, bot.mode == "testnet")
    if seen is None:
        return None, None
    price = seen[0]
    return price, position.amount * price - position.entry_cost


def open_positions(user, redis_client, bot_id=None) -> list[dict]:
    rows = []
    for bot in _bots(user, bot_id):
        for position in owned(Position, user).where((Position.bot == bot) & (Position.status == "open")):
            price, unrealized = _unrealized(redis_client, bot, position)
            rows.append({
                "bot_id": bot.id, "bot_name": bot.name, "symbol": bot.symbol, "amount": position.amount,
                "entry_price": position.entry_price, "entry_cost": position.entry_cost, "price": price,
                "unrealized_profit": unrealized, "opened_at": position.opened_at,
                "base": bot.symbol.split("/")[0], "quote": bot.symbol.split("/")[-1],
            })
    return rows


def profit(user, redis_client, bot_id=None) -> dict:
    """Realized and unrealized profit, fees, and over the trades (exits, see rpc/periods.py)
    win rate, profit factor and max drawdown, per quote currency."""
    totals: dict[str, dict] = {}
    for bot in _bots(user, bot_id):
        quote = bot.symbol.split("/")[-1]
        t = totals.setdefault(quote, {"realized": Decimal(0), "unrealized": Decimal(0), "fees": Decimal(0),
                                      "wins": 0, "losses": 0, "open": 0, "unpriced": 0})
        for position in owned(Position, user).where(Position.bot == bot):
            t["fees"] += position.fees
            t["realized"] += position.realized_profit  # includes partial exits of open positions
            if position.status == "closed":
                continue
            t["open"] += 1
            _, unrealized = _unrealized(redis_client, bot, position)
            if unrealized is None:
                t["unpriced"] += 1
            else:
                t["unrealized"] += unrealized
    fills = list(owned(Fill, user).where(True if bot_id is None else (Fill.bot == int(bot_id))).order_by(Fill.id))
    for fill in fills:
        t = totals.get(fill.symbol.split("/")[-1])
        if t is not None:
            by_currency = t.setdefault("fees_by_currency", {})
            for currency, amount in (fill.fees or {fill.fee_currency: str(fill.fee)}).items():
                by_currency[currency] = by_currency.get(currency, Decimal(0)) + Decimal(amount)
    results_by_quote: dict[str, list[Decimal]] = {}
    for trade in periods.trades_of(fills):  # oldest first, from the fills already read
        if trade["quote"] in totals:
            results_by_quote.setdefault(trade["quote"], []).append(trade["profit"])
            totals[trade["quote"]]["wins" if trade["profit"] > 0 else "losses"] += 1
    for quote, t in totals.items():
        closed = t["wins"] + t["losses"]
        t["win_rate"] = None if closed == 0 else Decimal(t["wins"] * 100) / closed
        results = results_by_quote.get(quote, [])
        t["profit_factor"] = profit_factor(results)
        t["max_drawdown"] = max_drawdown(results)
    return {"bot_id": bot_id, "by_quote": totals}


def profit_factor(results: list[Decimal]) -> Decimal | None:
    """Gross profit over gross loss of trades; None without a loss to divide by."""
    gains = sum((r for r in results if r > 0), Decimal(0))
    losses = -sum((r for r in results if r < 0), Decimal(0))
    return None if losses == 0 else gains / losses


def max_drawdown(results: list[Decimal]) -> Decimal:
    """The deepest fall of cumulative realized profit from its running peak, in quote currency."""
    total = peak = deepest = Decimal(0)
    for result in results:
        total += result
        peak = max(peak, total)
        deepest = max(deepest, peak - total)
    return deepest


def paper_balances(user) -> dict[str, dict[str, Decimal]]:
    """exchange -> asset -> amount of the user's simulated wallets."""
    result: dict[str, dict[str, Decimal]] = {}
    for row in owned(PaperBalance, user).order_by(PaperBalance.exchange, PaperBalance.asset):
        result.setdefault(row.exchange, {})[row.asset] = row.amount
    for bot in owned(Bot, user).where(Bot.mode == "paper"):
        quote = bot.symbol.split("/")[-1]
        result.setdefault(bot.exchange, {}).setdefault(quote, STARTING_QUOTE)  # funded at its first trade
    return result
