"""Order execution: size an order, record it, send it (or simulate it), and book the fill.

The order row, with its deterministic clientOrderId, is committed *before* anything is sent.
A send that fails or times out is looked up by that id before anything else happens, and a
job that finds an order still pending resolves it first. An order the exchange does not know
is sent again only once its first request can no longer arrive (Binance refuses a request
older than its recvWindow), so an order is never executed twice. The fill, the position
change and the owner's outbox row are written in one transaction.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from decimal import Decimal

import models
from models import Bot, Fill, Order, Outbox, PaperBalance, Position, utcnow, write_transaction
from workers import market_data
from workers.exchange import Credentials, KeyRejected, MarketRules, OrderRefused, OrderResult, Retryable

log = logging.getLogger(__name__)

# Room left in a buy's budget for the fee and for the price moving before the fill.
BUY_BUDGET_MARGIN = Decimal("0.003")
PAPER_SLIPPAGE = Decimal("0.0005")
PAPER_STARTING_BALANCE = {"USDT": Decimal("10000")}
PRICE_MAX_AGE_SECONDS = 120
# Longer than ccxt's Binance recvWindow (10 s) plus clock skew: after this, a request that was
# still travelling when we gave up can no longer execute, so "not found" means "never placed".
SAFE_RESEND_SECONDS = 30


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while number:
        number, rest = divmod(number, 36)
        text = digits[rest] + text
    return text or "0"


def client_order_id(bot: Bot, side: str) -> str:
    """bf<bot>x<bot created, ms base36>c<cycle><b|s><attempt>: the same decision, the same id.

    The creation stamp keeps ids apart when a database reuses a deleted bot's id or is reset
    while the same exchange account is still in use (at most 32 characters: Binance takes 36).
    """
    stamp = _base36(int(bot.created_at.replace(tzinfo=dt.timezone.utc).timestamp() * 1000))
    prefix = f"bf{bot.id}x{stamp}c{bot.cycle}{side[0]}"
    attempt = Order.select().where((Order.bot == bot) & Order.client_order_id.startswith(prefix)).count()
    return f"{prefix}{attempt}"


def current_price(ctx, bot: Bot) -> Decimal:
    seen = market_data.last_price(ctx.redis, bot.exchange, bot.symbol)
    if seen is None or time.time() - seen[1] > PRICE_MAX_AGE_SECONDS:
        raise Retryable("No recent price for this market yet.")
    return seen[0]


def buy_amount(rules: MarketRules, budget: Decimal, price: Decimal) -> Decimal:
    """The largest amount at the market's step whose cost plus fee stays within budget."""
    amount = rules.floor_amount(budget / (price * (1 + rules.taker_fee + BUY_BUDGET_MARGIN)))
    check_minimums(rules, amount, price)
    return amount


def tradable(rules: MarketRules, amount: Decimal, price: Decimal) -> bool:
    return amount > 0 and amount >= rules.min_amount and amount * price >= rules.min_cost


def check_minimums(rules: MarketRules, amount: Decimal, price: Decimal) -> None:
    if not tradable(rules, amount, price):
        raise OrderRefused(
            f"The order ({amount} {rules.base} at {price}) is below {rules.symbol}'s minimum "
            f"({rules.min_amount} {rules.base}, {rules.min_cost} {rules.quote})."
        )


def pending_order(bot: Bot) -> Order | None:
    return Order.select().where((Order.bot == bot) & (Order.status == "pending")).order_by(Order.id).first()


def open_position(bot: Bot) -> Position | None:
    return Position.get_or_none((Position.bot == bot) & (Position.status == "open"))


def record_order(bot: Bot, side: str, amount: Decimal) -> Order:
    with write_transaction():
        return Order.create(
            user=bot.user_id, bot=bot, client_order_id=client_order_id(bot, side),
            symbol=bot.symbol, side=side, amount=amount,
        )


def key_credentials(vault, key: models.ApiKey) -> Credentials:
    """Decrypt a stored key; called only inside a job, and the result never leaves it."""
    return Credentials(
        api_key=vault.decrypt(key.api_key_token),
        secret=vault.decrypt(key.secret_token),
        passphrase=vault.decrypt(key.passphrase_token) if key.passphrase_token else None,
        testnet=key.testnet,
    )


def credentials_for(ctx, bot: Bot) -> Credentials:
    if bot.api_key is None:
        raise OrderRefused("This bot has no API key any more. Create a new bot with a current key.")
    return key_credentials(ctx.vault, bot.api_key)


def send_live(ctx, bot: Bot, order: Order) -> OrderResult:
    client = ctx.gateway.private(bot.exchange, credentials_for(ctx, bot))
    if order.sent_at is not None:
        found = ctx.gateway.find_order(client, bot.symbol, order.client_order_id)
        if found is not None:
            return found
        if (utcnow() - order.sent_at).total_seconds() < SAFE_RESEND_SECONDS:
            raise Retryable("The exchange has not shown this order yet; looking again shortly.")
    Order.update(sent_at=utcnow()).where(Order.id == order.id).execute()
    try:
        return ctx.gateway.place_market_order(client, bot.symbol, order.side, order.amount, order.client_order_id)
    except Retryable:
        # The request may have reached the exchange: find out before anything is retried.
        found = ctx.gateway.find_order(client, bot.symbol, order.client_order_id)
        if found is None:
            raise
        return found


def paper_wallet(bot: Bot, asset: str, for_update: bool = False) -> PaperBalance:
    query = PaperBalance.select().where(
        (PaperBalance.user == bot.user_id) & (PaperBalance.exchange == bot.exchange) & (PaperBalance.asset == asset)
    )
    row = (query.for_update() if for_update and not isinstance(models.db.obj, models.SqliteDatabase) else query).first()
    if row is None:
        start = PAPER_STARTING_BALANCE.get(asset, Decimal(0))
        row = PaperBalance.create(user=bot.user_id, exchange=bot.exchange, asset=asset, amount=start)
    return row


def simulate_fill(bot: Bot, order: Order, rules: MarketRules, price: Decimal) -> OrderResult:
    """A paper fill at the live price, with slippage against us and the taker fee in quote."""
    slip = 1 + PAPER_SLIPPAGE if order.side == "buy" else 1 - PAPER_SLIPPAGE
    fill_price = rules.round_price(price * slip)
    cost = order.amount * fill_price
    fee = cost * rules.taker_fee
    if order.side == "buy" and paper_wallet(bot, rules.quote).amount < cost + fee:
        raise OrderRefused(f"Insufficient paper funds: this buy needs {cost + fee:.2f} {rules.quote}.")
    if order.side == "sell" and paper_wallet(bot, rules.base).amount < order.amount:
        raise OrderRefused(f"Insufficient paper {rules.base} for this sell.")
    return OrderResult(f"paper-{order.client_order_id}", "filled", order.amount, fill_price, cost, fee, rules.quote)


def _move_paper_funds(bot: Bot, rules: MarketRules, side: str, result: OrderResult) -> None:
    """Inside book_fill's transaction; rows locked on PostgreSQL (SQLite's IMMEDIATE locks it all)."""
    quote, base = paper_wallet(bot, rules.quote, for_update=True), paper_wallet(bot, rules.base, for_update=True)
    if side == "buy":
        quote.amount -= result.cost + result.fee
        base.amount += result.amount
    else:
        quote.amount += result.cost - result.fee
        base.amount -= result.amount
    quote.save()
    base.save()


def fee_in_quote(result: OrderResult, rules: MarketRules) -> Decimal:
    if result.fee_currency == rules.quote:
        return result.fee
    if result.fee_currency == rules.base:
        return result.fee * result.price
    return Decimal(0)  # paid in a third asset (e.g. BNB): not charged to this position


def _book_buy(bot: Bot, position: Position | None, result: OrderResult, rules: MarketRules) -> None:
    base_fee = result.fee if result.fee_currency == rules.base else Decimal(0)
    quote_fee = result.fee if result.fee_currency == rules.quote else Decimal(0)
    if position is None:
        fresh = Bot.get_by_id(bot.id)  # the dust of the last exit joins this position
        position = Position(
            user=bot.user_id, bot=bot, symbol=bot.symbol, amount=fresh.dust_amount, entry_cost=fresh.dust_cost,
            entry_price=result.price, peak_price=result.price,
        )
        Bot.update(dust_amount=0, dust_cost=0).where(Bot.id == bot.id).execute()
    position.amount += result.amount - base_fee
    position.entry_cost += result.cost + quote_fee
    position.entry_price = position.entry_cost / position.amount
    position.fees += fee_in_quote(result, rules)
    position.save()


def _book_sell(bot: Bot, position: Position, result: OrderResult, rules: MarketRules) -> Decimal:
    """Charge only the sold share of the entry cost; keep a remainder that can still be sold
    as an open position, and carry dust below the market's minimum into the next one."""
    base_fee = result.fee if result.fee_currency == rules.base else Decimal(0)
    quote_fee = result.fee if result.fee_currency == rules.quote else Decimal(0)
    sold = min(result.amount, position.amount)
    cost_share = position.entry_cost * sold / position.amount
    proceeds = result.cost - quote_fee - base_fee * result.price
    realized = proceeds - cost_share
    position.amount -= sold
    position.entry_cost -= cost_share
    position.proceeds += proceeds
    position.realized_profit += realized
    position.fees += fee_in_quote(result, rules)
    position.exit_price = result.price
    if not tradable(rules, rules.floor_amount(position.amount), result.price):
        Bot.update(dust_amount=position.amount, dust_cost=position.entry_cost, cycle=Bot.cycle + 1).where(
            Bot.id == bot.id
        ).execute()
        position.status, position.closed_at = "closed", utcnow()
        position.amount, position.entry_cost = Decimal(0), Decimal(0)
    position.save()
    return realized


def book_fill(bot: Bot, order: Order, result: OrderResult, rules: MarketRules) -> Fill:
    """Fill, position, order status, paper wallet and outbox: all or nothing."""
    with write_transaction():
        position = open_position(bot)
        realized = None
        if order.side == "buy":
            _book_buy(bot, position, result, rules)
        else:
            realized = _book_sell(bot, position, result, rules)
        if bot.mode == "paper":
            _move_paper_funds(bot, rules, order.side, result)
        order.status, order.exchange_order_id, order.updated_at = "filled", result.exchange_order_id, utcnow()
        order.save()
        fill = Fill.create(
            user=bot.user_id, bot=bot, order=order, symbol=bot.symbol, side=order.side,
            amount=result.amount, price=result.price, cost=result.cost, fee=result.fee,
            fee_currency=result.fee_currency, fee_quote=fee_in_quote(result, rules), realized_profit=realized,
        )
        Bot.update(failures=0).where(Bot.id == bot.id).execute()
        Outbox.create(user=bot.user_id, chat_id=bot.user.chat_id, kind="fill", payload=fill_payload(bot, fill, rules))
    return fill


def fill_payload(bot: Bot, fill: Fill, rules: MarketRules) -> dict:
    return {
        "bot_id": bot.id, "bot_name": bot.name, "mode": bot.mode, "side": fill.side,
        "symbol": fill.symbol, "base": rules.base, "quote": rules.quote,
        "amount": str(fill.amount), "price": str(fill.price), "cost": str(fill.cost),
        "fee": str(fill.fee), "fee_currency": fill.fee_currency,
        "realized_profit": None if fill.realized_profit is None else str(fill.realized_profit),
    }


def reject_order(order: Order, reason: str) -> None:
    Order.update(status="rejected", error=reason, updated_at=utcnow()).where(Order.id == order.id).execute()


def new_order(ctx, bot: Bot, action: str, rules: MarketRules, quote_amount: Decimal | None) -> Order | None:
    """Record the order a decision asks for, or None when the bot's state no longer allows it
    (a late or repeated job, or a bot stopped since the decision)."""
    position = open_position(bot)
    price = current_price(ctx, bot)
    if action == "buy" and bot.status == "running" and position is None:
        return record_order(bot, "buy", buy_amount(rules, quote_amount or bot.capital, price))
    if action == "sell" and position is not None:
        amount = rules.floor_amount(position.amount)
        check_minimums(rules, amount, price)
        return record_order(bot, "sell", amount)
    return None


def execute(ctx, bot: Bot, action: str, quote_amount: Decimal | None = None) -> Fill | None:
    """Carry out a decision (buy, sell, or only resolve a pending order) for one bot."""
    rules = ctx.gateway.market_rules(bot.exchange, bot.symbol)
    order = pending_order(bot)
    resuming = order is not None
    if order is None:
        order = new_order(ctx, bot, action, rules, quote_amount)
        if order is None:
            return None
    try:
        if bot.mode == "paper":
            result = simulate_fill(bot, order, rules, current_price(ctx, bot))
        else:
            result = send_live(ctx, bot, order)
    except OrderRefused as refused:
        reject_order(order, str(refused))
        raise
    except KeyRejected as rejected:
        if not resuming:  # a refused signature means this request placed nothing
            reject_order(order, str(rejected))
        raise
    if result.amount <= 0:
        reject_order(order, f"order {result.status} without a fill")
        raise OrderRefused(f"The exchange did not fill the {order.side} order ({result.status}).")
    return book_fill(bot, order, result, rules)
