"""The paper exchange: a simulated account behind the same interface as a live one.

Like Hummingbot's paper-trade connector, it trades on a real venue's live market data and
simulates the account: market orders walk the venue's order book (one depth fetch per market
and tick, through the shared cache) and pay the taker fee; limit orders rest, their funds
locked, and fill at their price when the market trades through it. It keeps its own book of
record (PaperOrder, PaperBalance) in the database, so the engine looks a paper order up by
client order id exactly as it does on a real exchange, and never knows the difference.

Simplifications, stated: fees are charged in the quote currency; the book is not depleted
by other users' paper orders; a resting order fills completely once the last price reaches it.
A wallet starts with 10,000 of a market's quote currency (and none of its base) at first use.
"""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import models
from exchanges.errors import OrderRefused, Retryable
from exchanges.markets import MarketRules, OrderRequest, OrderState
from models import PaperBalance, PaperOrder, write_transaction

STARTING_QUOTE = Decimal("10000")
FEE_PLACES = Decimal("0.00000001")
ZERO = Decimal(0)


class PaperAccount:
    # Calls are database work in this thread: the engine runs them one after another.
    concurrent = False

    def __init__(self, user_id: int, exchange_id: str, market_view):
        """market_view: .rules(symbol) -> MarketRules, .book(symbol) -> (bids, asks), .price(symbol)."""
        self.user_id, self.exchange_id, self.market = user_id, exchange_id, market_view

    # ------------------------------------------------------------------ the exchange interface

    def place(self, request: OrderRequest) -> OrderState:
        rules = self.market.rules(request.symbol)
        with write_transaction():
            if self._find(request) is not None:
                raise OrderRefused("Duplicate order sent.")
            wallets = self._lock_wallets(rules)
            if request.type == "market":
                order = self._fill_market(request, rules, wallets)
            else:
                order = self._rest_limit(request, rules, wallets)
        return self._state(order)

    def lookup(self, request: OrderRequest) -> OrderState | None:
        order = self._find(request)
        if order is not None and order.status == "open" and self._crossed(order):
            rules = self.market.rules(order.symbol)
            with write_transaction():
                order = PaperOrder.get_by_id(order.id)
                if order.status == "open":
                    self._fill_resting(order, rules, self._lock_wallets(rules))
        return None if order is None else self._state(order)

    def in_history(self, request: OrderRequest, since_ms: int) -> OrderState | None:
        return self.lookup(request)  # the simulated exchange never loses a request

    def cancel(self, request: OrderRequest) -> OrderState | None:
        order = self._find(request)
        if order is None or order.status != "open":
            return self.lookup(request)
        rules = self.market.rules(order.symbol)
        with write_transaction():
            wallets = self._lock_wallets(rules)
            order = PaperOrder.get_by_id(order.id)
            if order.status == "open":
                asset, held = self._held(order, rules)
                wallets[asset].locked -= held
                wallets[asset].save()
                order.status = "canceled"
                order.save()
        return self._state(order)

    # ------------------------------------------------------------------ simulation

    def _fill_market(self, request: OrderRequest, rules: MarketRules, wallets) -> PaperOrder:
        bids, asks = self.market.book(request.symbol)
        levels = asks if request.side == "buy" else bids
        if not levels:
            raise Retryable("No order book for this market yet.")
        remaining, cost = request.amount, ZERO
        for price, available in levels:
            take = min(remaining, available)
            cost += take * price
            remaining -= take
            if remaining <= 0:
                break
        filled = request.amount - remaining
        fee = _fee(cost, rules.taker_fee)
        self._check_funds(request.side, rules, wallets, filled, cost + fee)
        self._settle(request.side, rules, wallets, filled, cost, fee)
        # A market order that exhausts the book ends "expired" with what it got, as on Binance.
        status = "filled" if remaining <= 0 else "expired"
        return PaperOrder.create(
            user=self.user_id, exchange=self.exchange_id, symbol=request.symbol,
            client_order_id=request.client_order_id, side=request.side, type="market", amount=request.amount,
            status=status, filled=filled, cost=cost, fee=fee, fee_currency=rules.quote,
        )

    def _rest_limit(self, request: OrderRequest, rules: MarketRules, wallets) -> PaperOrder:
        order = PaperOrder(
            user=self.user_id, exchange=self.exchange_id, symbol=request.symbol,
            client_order_id=request.client_order_id, side=request.side, type="limit",
            price=request.price, amount=request.amount, fee_currency=rules.quote,
        )
        asset, held = self._held(order, rules)
        wallet = wallets[asset]
        if wallet.amount - wallet.locked < held:
            raise OrderRefused(f"Insufficient paper {asset} for this order.")
        wallet.locked += held
        wallet.save()
        order.save()
        if self._crossed(order):
            self._fill_resting(order, rules, wallets)
        return order

    def _fill_resting(self, order: PaperOrder, rules: MarketRules, wallets) -> None:
        asset, held = self._held(order, rules)
        wallets[asset].locked -= held
        cost = order.amount * order.price
        fee = _fee(cost, rules.maker_fee)
        self._settle(order.side, rules, wallets, order.amount, cost, fee)
        order.status, order.filled, order.cost, order.fee = "filled", order.amount, cost, fee
        order.save()

    def _crossed(self, order: PaperOrder) -> bool:
        price = self.market.price(order.symbol)
        if price is None:
            return False
        return price <= order.price if order.side == "buy" else price >= order.price

    @staticmethod
    def _held(order: PaperOrder, rules: MarketRules) -> tuple[str, Decimal]:
        """What a resting order keeps locked: the quote it may spend (fee included), or the base it sells."""
        if order.side == "buy":
            cost = order.amount * order.price
            return rules.quote, cost + _fee(cost, rules.maker_fee)
        return rules.base, order.amount

    @staticmethod
    def _check_funds(side: str, rules: MarketRules, wallets, amount: Decimal, spend: Decimal) -> None:
        if side == "buy":
            quote = wallets[rules.quote]
            if quote.amount - quote.locked < spend:
                raise OrderRefused(f"Insufficient paper funds: this buy needs {spend:.2f} {rules.quote}.")
        else:
            base = wallets[rules.base]
            if base.amount - base.locked < amount:
                raise OrderRefused(f"Insufficient paper {rules.base} for this sell.")

    @staticmethod
    def _settle(side: str, rules: MarketRules, wallets, amount: Decimal, cost: Decimal, fee: Decimal) -> None:
        base, quote = wallets[rules.base], wallets[rules.quote]
        if side == "buy":
            quote.amount -= cost + fee
            base.amount += amount
        else:
            quote.amount += cost - fee
            base.amount -= amount
        base.save()
        quote.save()

    # ------------------------------------------------------------------ its book of record

    def _find(self, request: OrderRequest) -> PaperOrder | None:
        return PaperOrder.get_or_none(
            (PaperOrder.user == self.user_id) & (PaperOrder.exchange == self.exchange_id)
            & (PaperOrder.client_order_id == request.client_order_id)
        )

    def _lock_wallets(self, rules: MarketRules) -> dict[str, PaperBalance]:
        """The market's two wallet rows, created at first use and locked until the transaction
        ends (in asset order, so two transactions never wait on each other in a circle)."""
        start = {rules.quote: STARTING_QUOTE, rules.base: ZERO}
        PaperBalance.insert_many(
            [{"user": self.user_id, "exchange": self.exchange_id, "asset": asset, "amount": amount, "locked": ZERO}
             for asset, amount in start.items()]
        ).on_conflict_ignore().execute()
        query = PaperBalance.select().where(
            (PaperBalance.user == self.user_id) & (PaperBalance.exchange == self.exchange_id)
            & PaperBalance.asset.in_(list(start))
        ).order_by(PaperBalance.asset)
        if not isinstance(models.db.obj, models.SqliteDatabase):  # SQLite's IMMEDIATE already locks it all
            query = query.for_update()
        return {row.asset: row for row in query}

    @staticmethod
    def _state(order: PaperOrder) -> OrderState:
        fees = {order.fee_currency: order.fee} if order.fee else {}
        return OrderState(f"paper-{order.id}", order.status, order.filled, order.cost, fees)


def _fee(cost: Decimal, rate: Decimal) -> Decimal:
    return (cost * rate).quantize(FEE_PLACES, ROUND_HALF_UP)


def paper_balances(user_id: int) -> dict[str, dict[str, tuple[Decimal, Decimal]]]:
    """exchange -> asset -> (total, locked) of a user's simulated wallets."""
    result: dict[str, dict[str, tuple[Decimal, Decimal]]] = {}
    query = PaperBalance.select().where(PaperBalance.user == user_id).order_by(PaperBalance.exchange, PaperBalance.asset)
    for row in query:
        result.setdefault(row.exchange, {})[row.asset] = (row.amount, row.locked)
    return result
