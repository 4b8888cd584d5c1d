"""Binance spot: how its orders are sent, looked up, read and charged.

- client order id: `newClientOrderId`, up to 36 characters of [.A-Z:/a-z0-9_-]; Binance refuses
  a duplicate only while the earlier order is open, so the engine never resends an id itself;
- lookup by `origClientOrderId` (-2013 "Order does not exist." when absent); the order history
  (allOrders) proves an order absent after a late execution could have landed;
- the FULL answer to a new order carries its fills and fees; a looked-up order does not, so
  fees come from the order's trades;
- fees are charged in the asset received, or in BNB when the account pays fees with BNB;
- withdrawal permission: /sapi/v1/account/apiRestrictions (the spot testnet has no /sapi).
Figures are read from Binance's own decimal strings, never through ccxt's floats.
"""
from __future__ import annotations

import re

import ccxt

from exchanges.markets import OrderRequest, OrderState, to_decimal

STATUSES = {
    "NEW": "open", "PARTIALLY_FILLED": "open", "PENDING_NEW": "open", "FILLED": "filled",
    "CANCELED": "canceled", "PENDING_CANCEL": "canceled", "REJECTED": "rejected",
    "EXPIRED": "expired", "EXPIRED_IN_MATCH": "expired",
}


class BinanceAdapter:
    id = "binance"
    # Spot only: otherwise load_markets also calls the futures and margin endpoints, and their
    # outage would stop spot trading.
    base_config = {"options": {"defaultType": "spot", "fetchMarkets": {"types": ["spot"]},
                               "fetchCurrencies": False, "fetchMargins": False}}
    client_order_id_rule = re.compile(r"[.A-Z:/a-z0-9_-]{1,36}")
    needs_passphrase = False
    answer_has_fills = True  # the FULL answer to a new order

    def use_testnet(self, client) -> None:
        client.set_sandbox_mode(True)  # the spot testnet (testnet.binance.vision)

    def order_params(self, request: OrderRequest) -> dict:
        return {"newClientOrderId": request.client_order_id}

    def lookup(self, client, request: OrderRequest) -> dict | None:
        try:
            return client.fetch_order(None, request.symbol, {"origClientOrderId": request.client_order_id})
        except ccxt.OrderNotFound:
            return None

    def in_history(self, client, request: OrderRequest, since_ms: int) -> dict | None:
        for order in client.fetch_orders(request.symbol, since=since_ms, limit=1000):
            if order.get("clientOrderId") == request.client_order_id:
                return order
        return None

    def cancel(self, client, request: OrderRequest) -> None:
        try:
            client.cancel_order(None, request.symbol, {"origClientOrderId": request.client_order_id})
        except ccxt.OrderNotFound:
            pass  # already final (-2011 "Unknown order sent."): the lookup that follows says how it ended

    def state(self, client, order: dict) -> OrderState:
        info = order.get("info") or {}
        filled = to_decimal(info.get("executedQty", order.get("filled")))
        cost = to_decimal(info.get("cummulativeQuoteQty", order.get("cost")))
        fees: dict = {}
        fills = info.get("fills")
        if filled and not fills:
            fills = [trade["info"] for trade in client.fetch_order_trades(order["id"], order["symbol"])]
        for fill in fills or ():
            asset = fill.get("commissionAsset")
            if asset:
                fees[asset] = fees.get(asset, to_decimal(0)) + to_decimal(fill.get("commission"))
        return OrderState(
            exchange_order_id=str(order["id"]),
            status=STATUSES.get(info.get("status"), "open"),
            filled=filled, cost=cost, fees=fees,
        )

    def can_withdraw(self, client, credentials) -> bool | None:
        if credentials.testnet:
            return None  # the spot testnet has no /sapi: nothing to check, and testnet funds are not real
        return bool(client.sapi_get_account_apirestrictions().get("enableWithdrawals"))


ADAPTER = BinanceAdapter()
