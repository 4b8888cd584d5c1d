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
from exchanges.calls import guarded
from exchanges.errors import GatewayError, OrderRefused, Retryable
from exchanges.markets import MarketRules, OrderRequest, OrderState
from logcontext import get_logger, log_context
from models import PaperBalance, PaperOrder, bulk_update, insert_rows, write_transaction

log = get_logger(__name__)

STARTING_QUOTE = Decimal("10000")
FEE_PLACES = Decimal("0.00000001")
ZERO = Decimal(0)


class PaperAccount:
    def __init__(self, user_id: int, exchange_id: str, market_view):
        """market_view: .rules(symbol) -> MarketRules, .book(symbol) -> (bids, asks), .price(symbol)."""
        self.user_id, self.exchange_id, self.market = user_id, exchange_id, market_view

    # ------------------------------------------------------------------ the exchange interface

    @staticmethod
    def run_many(method: str, calls: list, *args) -> list:
        """Many accounts' calls as database work in bulk: a few statements, one transaction."""
        if method == "place":
            return _place_many(calls)
        if method in ("lookup", "in_history"):  # the simulated exchange never loses a request
            return _lookup_many(calls)
        with write_transaction():
            return [guarded(account, method, request, *args) for account, request in calls]

    def place(self, request: OrderRequest) -> OrderState:
        return _answer(_place_many([(self, request)])[0])

    def lookup(self, request: OrderRequest) -> OrderState | None:
        return _answer(_lookup_many([(self, request)])[0])

    def in_history(self, request: OrderRequest, since_ms: int) -> OrderState | None:
        return self.lookup(request)

    def cancel(self, request: OrderRequest) -> OrderState | None:
        order = self._find(request)
        if order is None or order.status != "open":
            return self.lookup(request)
        rules = self.market.rules(order.symbol)
        with write_transaction():
            wallets = _Wallets.lock([(self, rules)])
            order = PaperOrder.get_by_id(order.id)
            if order.status == "open":
                asset, held = _held(order, rules)
                wallets.of(self)[asset].locked -= held
                order.status = "canceled"
                order.save()
                wallets.write()
        return _state(order)

    # ------------------------------------------------------------------ simulation, in memory

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
        _check_funds(request.side, rules, wallets, filled, cost + fee)
        _settle(request.side, rules, wallets, filled, cost, fee)
        # A market order that exhausts the book ends "expired" with what it got, as on Binance.
        return PaperOrder(
            user=self.user_id, exchange=self.exchange_id, symbol=request.symbol,
            client_order_id=request.client_order_id, side=request.side, type="market", amount=request.amount,
            status="filled" if remaining <= 0 else "expired", filled=filled, cost=cost, fee=fee,
            fee_currency=rules.quote,
        )

    def _rest_limit(self, request: OrderRequest, rules: MarketRules, wallets) -> PaperOrder:
        order = PaperOrder(
            user=self.user_id, exchange=self.exchange_id, symbol=request.symbol,
            client_order_id=request.client_order_id, side=request.side, type="limit",
            price=request.price, amount=request.amount, fee_currency=rules.quote,
        )
        asset, held = _held(order, rules)
        wallet = wallets[asset]
        if wallet.amount - wallet.locked < held:
            raise OrderRefused(f"Insufficient paper {asset} for this order.")
        wallet.locked += held
        if self._crossed(order):
            _fill_resting(order, rules, wallets)
        return order

    def _crossed(self, order: PaperOrder) -> bool:
        price = self.market.price(order.symbol)
        if price is None:
            return False
        return price <= order.price if order.side == "buy" else price >= order.price

    def _find(self, request: OrderRequest) -> PaperOrder | None:
        return PaperOrder.get_or_none(
            (PaperOrder.user == self.user_id) & (PaperOrder.exchange == self.exchange_id)
            & (PaperOrder.client_order_id == request.client_order_id)
        )


# ---------------------------------------------------------------------- bulk work


def _place_many(calls: list) -> list:
    answers: list = [None] * len(calls)
    with write_transaction():
        known = _orders_of(calls)
        wallets = _Wallets.lock([(account, account.market.rules(r.symbol)) for account, r in calls])
        placed = []
        for index, (account, request) in enumerate(calls):
            key = (account.user_id, account.exchange_id, request.client_order_id)
            try:
                if key in known:
                    raise OrderRefused("Duplicate order sent.")
                rules = account.market.rules(request.symbol)
                mine = wallets.of(account)
                fill = account._fill_market if request.type == "market" else account._rest_limit
                order = fill(request, rules, mine)
            except GatewayError as error:
                answers[index] = error
                continue
            except Exception as error:  # a bug in one request must not lose the others' answers
                with log_context(**request.log_ids):
                    log.exception("paper order failed unexpectedly", client_order_id=request.client_order_id)
                answers[index] = Retryable(f"Unexpected error: {type(error).__name__}")
                continue
            known[key] = order
            placed.append((index, order))
        if placed:
            for (index, order), order_id in zip(placed, insert_rows(PaperOrder, [order for _, order in placed])):
                order.id = order_id
                answers[index] = _state(order)
        wallets.write()
    return answers


def _lookup_many(calls: list) -> list:
    """The orders by client order id; a resting order the price has crossed fills now."""
    known = _orders_of(calls)
    found = [known.get((a.user_id, a.exchange_id, r.client_order_id)) for a, r in calls]
    crossed = [(account, order) for (account, _), order in zip(calls, found)
               if order is not None and order.status == "open" and account._crossed(order)]
    if crossed:
        with write_transaction():
            wallets = _Wallets.lock([(account, account.market.rules(o.symbol)) for account, o in crossed])
            still_open = {o.id for o in PaperOrder.select(PaperOrder.id).where(
                PaperOrder.id.in_([o.id for _, o in crossed]) & (PaperOrder.status == "open"))}
            filled = []
            for account, order in crossed:
                if order.id in still_open:
                    _fill_resting(order, account.market.rules(order.symbol), wallets.of(account))
                    filled.append(order)
            bulk_update(PaperOrder, filled, [PaperOrder.status, PaperOrder.filled, PaperOrder.cost, PaperOrder.fee])
            wallets.write()
        fresh = {o.id: o for o in PaperOrder.select().where(PaperOrder.id.in_([o.id for _, o in crossed]))}
        found = [None if o is None else fresh.get(o.id, o) for o in found]
    return [None if order is None else _state(order) for order in found]


def _orders_of(calls: list) -> dict[tuple, PaperOrder]:
    """(user, exchange, client order id) -> the paper order, for the calls' requests."""
    users = {account.user_id for account, _ in calls}
    ids = {request.client_order_id for _, request in calls}
    query = PaperOrder.select().where(PaperOrder.user.in_(users) & PaperOrder.client_order_id.in_(ids))
    return {(o.user_id, o.exchange, o.client_order_id): o for o in query}


class _Wallets:
    """Wallet rows of many accounts, locked for the transaction and written back in one statement."""

    def __init__(self, rows: list[PaperBalance]):
        self.rows = rows
        self._before = [(row.amount, row.locked) for row in rows]
        self._by_account: dict[tuple, dict[str, PaperBalance]] = {}
        for row in rows:
            self._by_account.setdefault((row.user_id, row.exchange), {})[row.asset] = row

    @classmethod
    def lock(cls, accounts_and_rules: list) -> "_Wallets":
        """Lock the accounts' wallets for the markets, creating them at first use (10,000 of a
        quote, none of a base). Existing rows are locked in one order (user, exchange, asset), so
        two transactions never wait on each other in a circle."""
        wanted = {}
        for account, rules in accounts_and_rules:
            wanted.setdefault((account.user_id, account.exchange_id, rules.base), ZERO)
            wanted[(account.user_id, account.exchange_id, rules.quote)] = STARTING_QUOTE
        rows = _select_wallets(wanted)
        missing = set(wanted) - {(row.user_id, row.exchange, row.asset) for row in rows}
        if missing:
            insert_rows(PaperBalance, [
                {"user": user, "exchange": exchange, "asset": asset, "amount": wanted[(user, exchange, asset)],
                 "locked": ZERO} for user, exchange, asset in sorted(missing)], skip_existing=True)
            seen = {row.id for row in rows}
            rows += [row for row in _select_wallets(missing) if row.id not in seen]
        return cls(rows)

    def of(self, account) -> dict[str, PaperBalance]:
        return self._by_account.get((account.user_id, account.exchange_id), {})

    def write(self) -> None:
        changed = [row for row, before in zip(self.rows, self._before) if (row.amount, row.locked) != before]
        bulk_update(PaperBalance, changed, [PaperBalance.amount, PaperBalance.locked])


def _select_wallets(keys) -> list[PaperBalance]:
    """The wallet rows for these (user, exchange, asset) keys, locked (and possibly a few more
    of the same users: the query matches each column's values, not the exact triples)."""
    query = PaperBalance.select().where(
        PaperBalance.user.in_({k[0] for k in keys}) & PaperBalance.exchange.in_({k[1] for k in keys})
        & PaperBalance.asset.in_({k[2] for k in keys})
    ).order_by(PaperBalance.user, PaperBalance.exchange, PaperBalance.asset)
    if not isinstance(models.db.obj, models.SqliteDatabase):  # SQLite's IMMEDIATE already locks it all
        query = query.for_update()
    return list(query)


# ---------------------------------------------------------------------- arithmetic


def _fill_resting(order: PaperOrder, rules: MarketRules, wallets) -> None:
    asset, held = _held(order, rules)
    wallets[asset].locked -= held
    cost = order.amount * order.price
    fee = _fee(cost, rules.maker_fee)
    _settle(order.side, rules, wallets, order.amount, cost, fee)
    order.status, order.filled, order.cost, order.fee = "filled", order.amount, cost, fee


def _held(order: PaperOrder, rules: MarketRules) -> tuple[str, Decimal]:
    """What a resting order keeps locked: the quote it may spend (fee included), or the base it sells."""
    if order.side == "buy":
        cost = order.amount * order.price
        return rules.quote, cost + _fee(cost, rules.maker_fee)
    return rules.base, order.amount


def _check_funds(side: str, rules: MarketRules, wallets, amount: Decimal, spend: Decimal) -> None:
    if side == "buy":
        quote = wallets[rules.quote]
        if quote.amount - quote.locked < spend:
            raise OrderRefused(f"Insufficient paper funds: this buy needs {spend:.2f} {rules.quote}.")
    else:
        base = wallets[rules.base]
        if base.amount - base.locked < amount:
            raise OrderRefused(f"Insufficient paper {rules.base} for this sell.")


def _settle(side: str, rules: MarketRules, wallets, amount: Decimal, cost: Decimal, fee: Decimal) -> None:
    base, quote = wallets[rules.base], wallets[rules.quote]
    if side == "buy":
        quote.amount -= cost + fee
        base.amount += amount
    else:
        quote.amount += cost - fee
        base.amount -= amount


def _state(order: PaperOrder) -> OrderState:
    fees = {order.fee_currency: order.fee} if order.fee else {}
    return OrderState(f"paper-{order.id}", order.status, order.filled, order.cost, fees)


def _answer(answer):
    if isinstance(answer, GatewayError):
        raise answer
    return answer


def _fee(cost: Decimal, rate: Decimal) -> Decimal:
    return (cost * rate).quantize(FEE_PLACES, ROUND_HALF_UP)


def paper_balances(user_id: int) -> dict[str, dict[str, tuple[Decimal, Decimal]]]:
    """exchange -> asset -> (total, locked) of a user's simulated wallets."""
    result: dict[str, dict[str, tuple[Decimal, Decimal]]] = {}
    query = PaperBalance.select().where(PaperBalance.user == user_id).order_by(PaperBalance.exchange, PaperBalance.asset)
    for row in query:
        result.setdefault(row.exchange, {})[row.asset] = (row.amount, row.locked)
    return result
