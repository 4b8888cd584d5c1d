"""Bybit spot (v5 API, unified trading account): how its orders are sent, looked up, read and charged.

- client order id: `orderLinkId`, up to 36 characters of letters, digits, `_` and `-`;
- the answer to a new order carries only the order's ids (no status, fill or fee), so the order
  is looked up right after it is placed;
- lookup: /v5/order/realtime with the orderLinkId returns the order in any state among the
  account's recent ones (Bybit ignores "open only" when given an id); an empty list means not
  found; older orders are in /v5/order/history. (ccxt's fetch_order_with_client_order_id sends
  `clientOrderId` and can answer with another open order; fetch_order(None) sends the text
  `orderId=None`: neither is used.)
- an order reports its cumulative executed quantity, value and fees (per coin in
  `cumFeeDetail`), so no trade list is needed;
- fees: spot takes them from the asset received (a buy of 0.001 BTC credits 0.000999 BTC);
- withdrawal permission: /v5/user/query-api, "Withdraw" in permissions.Wallet. Only unified
  trading accounts are accepted: market orders are sized in the base coin (`marketUnit`), which
  a classic account would read as quote;
- testnet: Bybit's testnet (api-testnet), ccxt's sandbox mode.
Figures are read from Bybit's own decimal strings, never through ccxt's floats.
"""
from __future__ import annotations

import re

import ccxt

from exchanges.errors import BadRequest
from exchanges.markets import OrderRequest, OrderState, to_decimal

STATUSES = {
    "New": "open", "PartiallyFilled": "open", "Untriggered": "open", "Triggered": "open", "Active": "open",
    "Created": "open", "Filled": "filled", "Cancelled": "canceled", "PartiallyFilledCanceled": "canceled",
    "Deactivated": "canceled", "Rejected": "rejected",
}
CLASSIC_ACCOUNT = ("This Bybit key belongs to a classic account; botfleet trades on Bybit through a Unified "
                   "Trading Account. Upgrade the account on Bybit, then add the key again.")


class BybitAdapter:
    id = "bybit"
    # Spot only, in one public call: Bybit ignores options.fetchCurrencies, and only
    # has.fetchCurrencies stops load_markets from a signed currency call. The account is a
    # unified one (checked when the key is added), which spares every new client the two
    # account-type calls ccxt otherwise makes before its first private call.
    base_config = {"options": {"defaultType": "spot", "fetchMarkets": {"types": ["spot"]},
                               "enableUnifiedAccount": True, "enableUnifiedMargin": False},
                   "has": {"fetchCurrencies": False}}
    client_order_id_rule = re.compile(r"[A-Za-z0-9_-]{1,36}")
    needs_passphrase = False
    answer_has_fills = False

    def use_testnet(self, client) -> None:
        client.set_sandbox_mode(True)

    def order_params(self, request: OrderRequest) -> dict:
        params = {"orderLinkId": request.client_order_id}
        if request.type == "market":
            params["marketUnit"] = "baseCoin"  # a spot market buy's qty is otherwise quote
        return params

    def lookup(self, client, request: OrderRequest) -> dict | None:
        params = {"orderLinkId": request.client_order_id}
        found = _own(client.fetch_open_orders(request.symbol, params=params), request)
        if found is None:  # beyond the recent orders /v5/order/realtime keeps
            found = _own(client.fetch_canceled_and_closed_orders(request.symbol, params=params), request)
        return found

    def in_history(self, client, request: OrderRequest, since_ms: int) -> dict | None:
        return self.lookup(client, request)  # the lookup already reads the order history

    def cancel(self, client, request: OrderRequest) -> None:
        try:
            client.cancel_order(None, request.symbol, {"orderLinkId": request.client_order_id})
        except ccxt.OrderNotFound:
            pass  # already final (170213 "Order does not exist."): the lookup that follows says how it ended

    def state(self, client, order: dict) -> OrderState:
        info = order.get("info") or {}
        fees: dict = {}
        detail = info.get("cumFeeDetail")
        if isinstance(detail, dict) and detail:
            for coin, amount in detail.items():
                if to_decimal(amount):
                    code = client.safe_currency_code(coin)
                    fees[code] = fees.get(code, to_decimal(0)) + to_decimal(amount)
        elif to_decimal(info.get("cumExecFee")):
            market = client.market(order["symbol"])
            received = market["base"] if info.get("side") == "Buy" else market["quote"]
            fees[received] = to_decimal(info.get("cumExecFee"))
        return OrderState(
            exchange_order_id=str(info.get("orderId") or order.get("id")),
            status=STATUSES.get(info.get("orderStatus"), "open"),
            filled=to_decimal(info.get("cumExecQty")), cost=to_decimal(info.get("cumExecValue")), fees=fees,
        )

    def can_withdraw(self, client, credentials) -> bool | None:
        key = client.private_get_v5_user_query_api().get("result") or {}
        if str(key.get("uta")) != "1":
            raise BadRequest(CLASSIC_ACCOUNT)
        return "Withdraw" in ((key.get("permissions") or {}).get("Wallet") or [])


def _own(orders: list, request: OrderRequest) -> dict | None:
    """The order with this client order id, if the answer holds it."""
    return next((o for o in orders if o.get("clientOrderId") == request.client_order_id), None)


ADAPTER = BybitAdapter()
