"""Order execution: size an order, record it, send it (or simulate it), and book the fill.

The order row, with its deterministic clientOrderId, is committed *before* anything is sent.
A send that times out is looked up by that id before anything else happens, and a job that
finds an order still pending resolves it first, so an order is never sent twice. The fill,
the position change and the owner's outbox row are written in one transaction.
"""
from __future__ import annotations

import logging
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


def client_order_id(bot: Bot, side: str) -> str:
    """bf<bot>c<cycle><b|s><attempt>: the same decision always yields the same id."""
    attempt = Order.select().where(
        (Order.bot == bot) & (Order.side == side) & (Order.client_order_id.startswith(f"bf{bot.id}c{bot.cycle}{side[0]}"))
    ).count()
    return f"bf{bot.id}c{bot.cycle}{side[0]}{attempt}"


def current_price(ctx, bot: Bot) -> Decimal:
    seen = market_data.last_price(ctx.redis, bot.exchange, bot.symbol)
    if seen is None:
        raise Retryable("No recent price for this market yet.")
    return seen[0]


def buy_amount(rules: MarketRules, budget: Decimal, price: Decimal) -> Decimal:
    """The largest amount at the market's step whose cost plus fee stays within budget."""
    amount = rules.floor_amount(budget / (price * (1 + rules.taker_fee + BUY_BUDGET_MARGIN)))
    check_minimums(rules, amount, price)
    return amount


def check_minimums(rules: MarketRules, amount: Decimal, price: Decimal) -> None:
    if amount <= 0 or amount < rules.min_amount or amount * price < rules.min_cost:
        raise OrderRefused(
            f"The order ({amount} {rules.base} at {price}) is below {rules.symbol}'s minimum "
            f"({rules.min_amount} {rules.base}, {rules.min_cost} {rules.quote})."
        )


def pending_order(bot: Bot) -> Order | None:
    return Order.select().where((Order.bot == bot) & (Order.status == "pending")).order_by(Order.id).first()


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


def send_live(ctx, bot: Bot, order: Order, resuming: bool) -> OrderResult:
    client = ctx.gateway.private(bot.exchange, credentials_for(ctx, bot))
    if resuming:
        found = ctx.gateway.find_order(client, bot.symbol, order.client_order_id)
        if found is not None:
            return found
    try:
        return ctx.gateway.place_market_order(client, bot.symbol, order.side, order.amount, order.client_order_id)
    except Retryable:
        # The request may have reached the exchange: find out before anything is retried.
        found = ctx.gateway.find_order(client, bot.symbol, order.client_order_id)
        if found is None:
            raise
        return found


def paper_wallet(bot: Bot, asset: str) -> PaperBalance:
    row = PaperBalance.get_or_none(user=bot.user_id, exchange=bot.exchange, asset=asset)
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
    quote, base = paper_wallet(bot, rules.quote), paper_wallet(bot, rules.base)
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


def book_fill(bot: Bot, order: Order, result: OrderResult, rules: MarketRules) -> Fill:
    """Fill, position, order status, paper wallet and outbox: all or nothing."""
    fee_quote = fee_in_quote(result, rules)
    base_fee = result.fee if result.fee_currency == rules.base else Decimal(0)
    quote_fee = result.fee if result.fee_currency == rules.quote else Decimal(0)
    with write_transaction():
        position = Position.get_or_none((Position.bot == bot) & (Position.status == "open"))
        realized = None
        if order.side == "buy":
            received = result.amount - base_fee
            if position is None:
                position = Position(
                    user=bot.user_id, bot=bot, symbol=bot.symbol, amount=Decimal(0),
                    entry_cost=Decimal(0), entry_price=result.price, peak_price=result.price,
                )
            position.amount += received
            position.entry_cost += result.cost + quote_fee
            position.entry_price = position.entry_cost / position.amount
            position.fees += fee_quote
            position.save()
        else:
            proceeds = result.cost - quote_fee - base_fee * result.price
            realized = proceeds - position.entry_cost
            position.fees += fee_quote
            position.status, position.closed_at = "closed", utcnow()
            position.exit_price, position.proceeds, position.realized_profit = result.price, proceeds, realized
            position.amount -= result.amount
            position.save()
            Bot.update(cycle=Bot.cycle + 1).where(Bot.id == bot.id).execute()
        if bot.mode == "paper":
            _move_paper_funds(bot, rules, order.side, result)
        order.status, order.exchange_order_id, order.updated_at = "filled", result.exchange_order_id, utcnow()
        order.save()
        fill = Fill.create(
            user=bot.user_id, bot=bot, order=order, symbol=bot.symbol, side=order.side,
            amount=result.amount, price=result.price, cost=result.cost, fee=result.fee,
            fee_currency=result.fee_currency, fee_quote=fee_quote, realized_profit=realized,
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


def execute(ctx, bot: Bot, action: str, quote_amount: Decimal | None = None) -> Fill | None:
    """Carry out a decision (buy, sell, or only resolve a pending order) for one bot."""
    rules = ctx.gateway.market_rules(bot.exchange, bot.symbol)
    order = pending_order(bot)
    resuming = order is not None
    if order is None:
        position = Position.get_or_none((Position.bot == bot) & (Position.status == "open"))
        price = current_price(ctx, bot)
        if action == "buy":
            amount = buy_amount(rules, quote_amount or bot.capital, price)
        elif action == "sell" and position is not None:
            amount = rules.floor_amount(position.amount)
            check_minimums(rules, amount, price)
        else:
            return None  # nothing to do: the position changed since the decision
        order = record_order(bot, action, amount)
    try:
        if bot.mode == "paper":
            result = simulate_fill(bot, order, rules, current_price(ctx, bot))
        else:
            result = send_live(ctx, bot, order, resuming)
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
