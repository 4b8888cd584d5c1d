"""OKX spot (v5 API): how its orders are sent, looked up, read and charged.

- client order id: `clOrdId`, up to 32 letters and digits;
- a key has a passphrase besides its secret;
- the answer to a new order carries only its ids (`sCode` "0"), so the order is looked up right
  after it is placed;
- lookup: /api/v5/trade/order by instId and clOrdId; 51603 "Order does not exist" when absent;
- an order reports its cumulative filled size and fees but only an average price, so its
  figures are summed from its fills (/api/v5/trade/fills-history), exactly; a fill not listed
  yet keeps the order open for another look;
- fees: charged in the asset received, reported as negative amounts (a charge) per fill;
- withdrawal permission: /api/v5/account/config, "withdraw" in `perm`;
- testnet: OKX's demo trading, the same host with the header `x-simulated-trading: 1`
  (ccxt's sandbox mode); a live key is refused there and a demo key on live (50101).
Figures are read from OKX's own decimal strings, never through ccxt's floats.
"""
from __future__ import annotations

import re

import ccxt

from exchanges.markets import OrderRequest, OrderState, to_decimal

STATUSES = {"live": "open", "partially_filled": "open", "filled": "filled", "canceled": "canceled",
            "mmp_canceled": "canceled"}


class OkxAdapter:
    id = "okx"
    # Spot only, in one public call; one order per request on /trade/order (ccxt's default is
    # the batch endpoint with a list of one).
    base_config = {"options": {"defaultType": "spot", "fetchMarkets": {"types": ["spot"]},
                               "createOrder": "privatePostTradeOrder"},
                   "has": {"fetchCurrencies": False}}
    client_order_id_rule = re.compile(r"[A-Za-z0-9]{1,32}")
    needs_passphrase = True
    answer_has_fills = False

    def use_testnet(self, client) -> None:
        client.set_sandbox_mode(True)

    def order_params(self, request: OrderRequest) -> dict:
        # tgtCcy base_ccy: a spot market buy's size is in the base currency, as for every order here.
        return {"clOrdId": request.client_order_id, "tgtCcy": "base_ccy"}

    def lookup(self, client, request: OrderRequest) -> dict | None:
        try:
            return client.fetch_order(None, request.symbol, {"clOrdId": request.client_order_id})
        except ccxt.OrderNotFound:
            return None

    def in_history(self, client, request: OrderRequest, since_ms: int) -> dict | None:
        return self.lookup(client, request)  # order details cover the order history

    def cancel(self, client, request: OrderRequest) -> None:
        try:
            client.cancel_order(None, request.symbol, {"clOrdId": request.client_order_id})
        except ccxt.OrderNotFound:
            pass  # already final (51400-51402): the lookup that follows says how it ended

    def state(self, client, order: dict) -> OrderState:
        info = order.get("info") or {}
        status = STATUSES.get(info.get("state"), "open")
        reported = to_decimal(info.get("accFillSz"))
        filled = cost = to_decimal(0)
        fees: dict = {}
        if reported:
            for trade in client.fetch_my_trades(order["symbol"], params={"ordId": order["id"]}):
                fill = trade.get("info") or {}
                size = to_decimal(fill.get("fillSz"))
                filled += size
                cost += size * to_decimal(fill.get("fillPx"))
                fee = -to_decimal(fill.get("fee"))  # OKX reports a charge as a negative amount
                if fee:
                    code = client.safe_currency_code(fill.get("feeCcy"))
                    fees[code] = fees.get(code, to_decimal(0)) + fee
            if filled != reported:
                status = "open"  # a fill not listed yet: the next look books it
        return OrderState(exchange_order_id=str(info.get("ordId") or order.get("id")), status=status,
                          filled=filled, cost=cost, fees=fees)

    def can_withdraw(self, client, credentials) -> bool | None:
        config = (client.private_get_account_config().get("data") or [{}])[0]
        return "withdraw" in str(config.get("perm", "")).split(",")


ADAPTER = OkxAdapter()
