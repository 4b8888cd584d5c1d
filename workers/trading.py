"""The trading job: act for a batch of bots of one market, as the one actor of each.

One job per market and tick chunk (never one per bot): it claims its bots, settles their
orders in flight, records, marks sent and sends the orders of fresh decisions (all accounts'
calls at once), and books what the exchanges report. Payloads carry ids, never secrets; keys
are decrypted here and live only as long as this job.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from peewee import JOIN

import exchanges
from exchanges import BadRequest, GatewayError, KeyRejected, OrderRefused, OrderState, TurnedAway, run_all
from exchanges.live import LiveAccount
from exchanges.paper import PaperAccount
from logcontext import bind, get_logger, log_context
from models import ORDER_IN_FLIGHT, ApiKey, Bot, Order, Position, User, database_now
from vault import VaultError
from workers import booking, failures, market_data, orders, sizing
from workers.context import context

log = get_logger(__name__)

STALE_TICKS = 2  # a decision older than this places nothing
CURRENT_TICK_KEY = "botfleet:tick:current"
UNCONFIRMED_NOTICE_CHECKS = 6  # about a minute of failed lookups before the owner hears of it
KEY_REJECTED = "The exchange rejected this bot's API key. Add a new key with /addkey, then create the bot again with it."
KEY_UNREADABLE = "Its API key cannot be decrypted any more. Add the key again with /addkey."


def key_credentials(vault, key: ApiKey) -> exchanges.Credentials:
    """Decrypt a stored key; called only inside a job, and the result never leaves it."""
    return exchanges.Credentials(
        api_key=vault.decrypt(key.api_key_token), secret=vault.decrypt(key.secret_token),
        passphrase=vault.decrypt(key.passphrase_token) if key.passphrase_token else None, testnet=key.testnet,
    )


def account_for(ctx, bot: Bot, market: market_data.MarketView):
    if bot.mode == "paper":
        return PaperAccount(bot.user_id, bot.exchange, market)
    if bot.api_key is None:
        raise OrderRefused("This bot has no API key any more. Create a new bot with a current key.")
    return LiveAccount(ctx.gateway, bot.exchange, key_credentials(ctx.vault, bot.api_key))


def is_fresh(ctx, tick: int) -> bool:
    current = ctx.redis.get(CURRENT_TICK_KEY)
    return current is None or tick >= int(current) - STALE_TICKS


def act(exchange: str, testnet: bool, tick: int, items: list) -> dict:
    """items: [bot_id, action, quote amount or None, state version, (limit price), (plan)], action
    buy | sell | settle | orders; with a limit price the order rests at that price instead of
    taking the book. "orders" carries a strategy's plan (evaluation.plan_of): orders to cancel,
    then orders to place, and the memory and notice that go with them, all or nothing.
    The bots may trade on several markets of the venue: each trades on its own."""
    ctx = context()
    bind(exchange=exchange, testnet=bool(testnet) or None, tick=tick)
    token, claimed = ctx.claims.claim([item[0] for item in items])
    try:
        mine = set(claimed)
        return Batch(ctx, token, exchange, bool(testnet), tick).run([i for i in items if i[0] in mine]) | {
            "busy": len(items) - len(claimed)}
    finally:
        ctx.claims.release(token)


class Batch:
    def __init__(self, ctx, token: int, exchange: str, testnet: bool, tick: int):
        self.ctx, self.token, self.tick = ctx, token, tick
        self.exchange, self.testnet = exchange, testnet
        self.market = market_data.MarketView(ctx, exchange, testnet, tick)
        self.bots: dict[int, Bot] = {}
        self.accounts: dict = {}
        self.placed = self.booked = self.canceled = 0

    def run(self, items: list) -> dict:
        if not items:
            return {"placed": 0, "booked": 0}
        query = (Bot.select(Bot, User, ApiKey).join(User).switch(Bot).join(ApiKey, JOIN.LEFT_OUTER)
                 .where(Bot.id.in_([i[0] for i in items])))
        self.bots = {bot.id: bot for bot in query}
        self._open_accounts()
        self.settle()
        if is_fresh(self.ctx, self.tick):
            acting = [i for i in items if i[0] in self.accounts and i[1] in ("buy", "sell", "orders")]
            cleared = self.cancel([i for i in acting if i[1] == "orders"])
            self.place([i for i in acting if i[1] != "orders" or i[0] in cleared])
        return {"placed": self.placed, "booked": self.booked, "canceled": self.canceled}

    def _open_accounts(self) -> None:
        for bot in self.bots.values():
            with log_context(user=bot.user_id, bot=bot.id):
                try:
                    self.accounts[bot.id] = account_for(self.ctx, bot, self.market)
                except VaultError:
                    failures.pause_bot(bot, KEY_UNREADABLE)
                except GatewayError as error:
                    failures.register_failure(bot, str(error))

    # ------------------------------------------------------------------ orders in flight

    def settle(self) -> None:
        now = database_now()
        pending = orders.in_flight(list(self.accounts))
        orders.expire_recorded(self.token, [o for o in pending if o.status == "recorded"], now)
        due = [o for o in pending if o.status != "recorded"
               and (o.next_check_at is None or o.next_check_at <= now)]
        reports, searches = [], []
        for order, answer in zip(due, self._call("lookup", due)):
            if isinstance(answer, OrderState):
                reports.append((order, answer))
            elif answer is None:
                step = orders.give_up_or_wait(order, now)
                if step == "search":
                    searches.append(order)
                elif step == "stop":
                    orders.stop_watching(order, now)
                else:
                    orders.check_later(order, now)
            else:
                self.lookup_failed(order, answer, now)
        if searches:
            since = min(o.sent_at or o.created_at for o in searches) - dt.timedelta(minutes=1)
            since_ms = int(since.replace(tzinfo=dt.timezone.utc).timestamp() * 1000)
            for order, answer in zip(searches, self._call("in_history", searches, since_ms)):
                if isinstance(answer, OrderState):
                    reports.append((order, answer))
                elif answer is None:
                    orders.mark_absent(order, now)
                else:
                    self.lookup_failed(order, answer, now)
        self.book(reports, now)

    def lookup_failed(self, order: Order, error: GatewayError, now: dt.datetime) -> None:
        """Keep looking, with growing pauses; tell the owner once per kind of trouble."""
        bot = self.bots[order.bot_id]
        if isinstance(error, KeyRejected):
            if order.notified != "key":
                failures.pause_bot(bot, KEY_REJECTED)
            orders.check_later(order, now, notified="key")
        elif order.checks + 1 >= UNCONFIRMED_NOTICE_CHECKS and order.notified != "unconfirmed":
            log.warning("order not confirmed by the exchange yet; still looking", **orders.order_fields(order),
                        checks=order.checks + 1, error=str(error))
            failures.notify_bot_error(bot, f"Its {order.side} order {order.client_order_id} cannot be confirmed "
                                           f"with the exchange yet ({error}). It is never sent twice; "
                                           "botfleet keeps checking.", False, bot.failures)
            orders.check_later(order, now, notified="unconfirmed")
        else:
            orders.check_later(order, now)

    def book(self, reports: list[tuple[Order, OrderState]], now: dt.datetime, canceled_here: bool = False) -> None:
        """Book the exchanges' answers, all in one transaction. An order the exchange ended without
        a fill counts against its bot, unless this job canceled it (`canceled_here`): a strategy
        taking its own resting orders back (a DCA deal's exit, a stopped grid) is no failure."""
        fills = booking.book_reports([
            booking.Report(self.bots[o.bot_id], o, state, self.market.rules(o.symbol), self._other_fees_quote(o, state))
            for o, state in reports], now)
        self.booked += sum(fill is not None for fill in fills)
        if canceled_here:
            return
        for (order, state), fill in zip(reports, fills):
            if fill is None and state.final and state.filled == 0 and order.status in ("sent", "open"):
                failures.register_failure(self.bots[order.bot_id],
                                          f"The exchange ended its {order.side} order without a fill ({state.status}).")

    def _other_fees_quote(self, order: Order, state: OrderState) -> Decimal:
        """The new fees paid in a third asset (BNB), valued in the quote now."""
        total = Decimal(0)
        rules = self.market.rules(order.symbol)
        for currency, amount in state.fees.items():
            if currency in (rules.base, rules.quote):
                continue
            change = amount - Decimal((order.fees or {}).get(currency, "0"))
            if change:
                price = market_data.conversion_price(self.ctx, self.exchange, currency, rules.quote, self.testnet)
                if price is None:
                    log.warning("no price to value a fee", **orders.order_fields(order), fee_currency=currency,
                                quote=rules.quote)
                else:
                    total += change * price
        return total

    # ------------------------------------------------------------------ new orders

    def cancel(self, items: list) -> set[int]:
        """Cancel the resting orders the plans name; the bots whose plans may go on (every order
        they named is now final, and their state is the one they decided on)."""
        plans = {i[0]: i for i in items}
        current = {b.id: b.version for b in Bot.select(Bot.id, Bot.version).where(Bot.id.in_(list(plans)))}
        plans = {bot_id: i for bot_id, i in plans.items() if current.get(bot_id) == i[3]}
        wanted = {bot_id: set(i[5].get("cancel", ())) for bot_id, i in plans.items()}
        targets = [o for o in orders.in_flight([b for b, roles in wanted.items() if roles])
                   if o.status == "open" and o.role in wanted[o.bot_id]]
        cleared = set(plans)
        now = database_now()
        reports = []
        for order, answer in zip(targets, self._call("cancel", targets)):
            if isinstance(answer, OrderState):
                reports.append((order, answer))
                if answer.final:
                    self.canceled += 1
                    continue
            elif isinstance(answer, KeyRejected):
                failures.pause_bot(self.bots[order.bot_id], KEY_REJECTED)
            elif isinstance(answer, GatewayError):
                log.info("cancel failed", **orders.order_fields(order), error=str(answer))
            cleared.discard(order.bot_id)  # still resting: the next tick asks again
        self.book(reports, now, canceled_here=True)
        return cleared

    def place(self, items: list) -> None:
        busy = {o.bot_id for o in orders.in_flight(list(self.accounts))
                if o.status in ("recorded", "sent") or (o.status == "open" and o.type == "market")}
        intents, memos = [], {}
        for bot_id, action, quote, version, *rest in items:
            bot = self.bots[bot_id]
            if bot_id in busy:
                continue
            with log_context(user=bot.user_id, bot=bot_id):
                wanted = self.wanted(bot, action, quote, version, rest, memos)
            if wanted is None:
                continue
            intents += [{"bot": bot, "version": version, "index": index, **intent}
                        for index, intent in enumerate(wanted)]
        recorded = orders.record(self.token, intents, self.tick, memos)
        sent = orders.mark_sent(self.token, recorded, database_now())
        answers = self._call("place", sent)
        now = database_now()
        reports = []
        for order, answer in zip(sent, answers):
            self.placed += 1
            bot = self.bots[order.bot_id]
            if isinstance(answer, OrderState):
                reports.append((order, answer))
            elif isinstance(answer, KeyRejected):
                orders.reject(order, str(answer), now)  # a refused signature placed nothing
                failures.pause_bot(bot, KEY_REJECTED)
            elif isinstance(answer, (OrderRefused, BadRequest)):
                orders.reject(order, str(answer), now)
                failures.register_failure(bot, str(answer))
            elif isinstance(answer, TurnedAway):  # nothing was done: proven absent sooner than an unknown outcome
                orders.note_turned_away(order, now)
                log.warning("order turned away by a rate limit; looked up, then decided again",
                            **orders.order_fields(order), error=str(answer))
            else:  # Retryable: the outcome is unknown; it stays "sent" and is looked up, never resent.
                log.warning("order outcome unknown; looked up later", **orders.order_fields(order), error=str(answer))
        self.book(reports, now)

    def wanted(self, bot: Bot, action: str, quote: str | None, version: int, rest: list,
               memos: dict) -> list[dict] | None:
        """The orders one bot's decision asks for, sized now (a plan's memory goes to `memos`);
        None when it places nothing this tick (refused orders count as a failure)."""
        try:
            if action == "orders":
                plan = rest[1]
                wanted = self.plan_intents(bot, plan["place"])
                if wanted is None:
                    return None  # all or nothing: the next tick decides again
                memos[bot.id] = {"bot": bot, "version": version, "state": plan.get("state"),
                                 "notice": plan.get("notice")}
                return wanted
            limit = Decimal(rest[0]) if rest and rest[0] else None
            intent = self.intent(bot, action, quote, limit)
            return [] if intent is None else [intent]
        except OrderRefused as error:
            failures.register_failure(bot, str(error))
            return None

    def plan_intents(self, bot: Bot, wants: list) -> list[dict] | None:
        """The orders of a strategy's plan, sized now; None when any of them cannot be."""
        intents, free = [], None
        rules = self.market.rules(bot.symbol)
        for side, role, price, quote, amount, pair_price in wants:
            if side == "sell" and amount is not None and free is None:
                free = self.unreserved_base(bot)
            intent = self.intent(bot, side, quote, None if price is None else Decimal(price),
                                 None if amount is None else Decimal(amount), free)
            if intent is None:
                return None
            if side == "sell" and free is not None:
                free -= intent["amount"]
            # At the tick, as the order's price is: a sell's pair is its buy's price exactly.
            pair_price = None if pair_price is None else rules.round_price(Decimal(pair_price))
            intents.append({**intent, "role": role, "pair_price": pair_price})
        return intents

    def unreserved_base(self, bot: Bot) -> Decimal:
        """The bot's position not yet promised to its resting sells."""
        position = Position.get_or_none((Position.bot == bot.id) & (Position.status == "open"))
        held = Decimal(0) if position is None else position.amount
        return held - sum((o.amount - o.filled for o in orders.in_flight([bot.id])
                           if o.side == "sell" and o.status in ORDER_IN_FLIGHT), Decimal(0))

    def intent(self, bot: Bot, action: str, quote: str | None, limit: Decimal | None,
               amount: Decimal | None = None, free: Decimal | None = None) -> dict | None:
        """The order a decision asks for, sized now; None when the bot's state no longer allows it.
        A base `amount` is traded as given (a sell at most `free`); otherwise a buy spends its
        quote (or the capital) and a sell sells the position."""
        price, rules = self.market.price(bot.symbol), self.market.rules(bot.symbol)
        if price is None:
            return None  # no recent price: the next tick decides again
        order_type, at = ("market", price) if limit is None else ("limit", rules.round_price(limit))
        placed_at = None if limit is None else at
        if action == "buy":
            if bot.status != "running":
                return None  # stopped since the decision: no new entries
            if amount is not None:
                amount = rules.floor_amount(amount)
                sizing.check_minimums(rules, amount, at)
                return {"side": "buy", "type": order_type, "price": placed_at, "amount": amount}
            budget = Decimal(quote) if quote else bot.capital
            return {"side": "buy", "type": order_type, "price": placed_at,
                    "amount": sizing.buy_amount(rules, budget, at)}
        if amount is not None:
            return {"side": "sell", "type": order_type, "price": placed_at,
                    "amount": sizing.sell_amount(rules, min(amount, free), at)}
        position = Position.get_or_none((Position.bot == bot.id) & (Position.status == "open"))
        if position is None:
            return None
        return {"side": "sell", "type": order_type, "price": placed_at,
                "amount": sizing.sell_amount(rules, position.amount, at)}

    def _call(self, method: str, batch: list[Order], *args) -> list:
        return run_all(method, [(self.accounts[o.bot_id], orders.request_of(o)) for o in batch], *args)
