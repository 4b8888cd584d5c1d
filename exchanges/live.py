"""A real exchange account, for the length of one job: place, look up, cancel orders."""
from __future__ import annotations

import ccxt

from exchanges.calls import concurrently
from exchanges.errors import OrderRefused, translate_errors
from exchanges.gateway import Credentials, Gateway
from exchanges.markets import OrderRequest, OrderState


class LiveAccount:
    @staticmethod
    def run_many(method: str, calls: list, *args) -> list:
        """Each call waits on the network: many accounts' calls go out at once."""
        return concurrently(method, calls, *args)

    def __init__(self, gateway: Gateway, exchange_id: str, credentials: Credentials):
        self.adapter = gateway.adapter(exchange_id)
        self._gateway, self._exchange_id, self._credentials = gateway, exchange_id, credentials
        self._client = None

    @property
    def client(self):
        if self._client is None:
            self._client = self._gateway.private(self._exchange_id, self._credentials)
        return self._client

    @translate_errors
    def place(self, request: OrderRequest) -> OrderState:
        if not self.adapter.client_order_id_rule.fullmatch(request.client_order_id):
            raise OrderRefused(f"The order id {request.client_order_id} does not fit {self.adapter.id}'s rules.")
        price = None if request.price is None else str(request.price)
        order = self.client.create_order(request.symbol, request.type, request.side, str(request.amount), price,
                                         self.adapter.order_params(request))
        if not self.adapter.answer_has_fills:
            # The answer holds only the order's ids: read its fills now. If that look fails, the
            # order is still known to be placed (open), and a later lookup settles it.
            try:
                order = self.adapter.lookup(self.client, request) or order
            except ccxt.BaseError:
                pass
        return self.adapter.state(self.client, order)

    @translate_errors
    def lookup(self, request: OrderRequest) -> OrderState | None:
        """The order sent with this client order id, or None if the exchange does not know it."""
        order = self.adapter.lookup(self.client, request)
        return None if order is None else self.adapter.state(self.client, order)

    @translate_errors
    def in_history(self, request: OrderRequest, since_ms: int) -> OrderState | None:
        """The order as the exchange's order history shows it since `since_ms`, or None."""
        order = self.adapter.in_history(self.client, request, since_ms)
        return None if order is None else self.adapter.state(self.client, order)

    @translate_errors
    def cancel(self, request: OrderRequest) -> OrderState | None:
        """Cancel a resting order; its state afterwards (it may have filled meanwhile)."""
        self.adapter.cancel(self.client, request)
        return self.lookup(request)
