"""Fake Bybit v5 REST API (spot, unified trading account) for tests, on the shared fake engine.

Speaks what the real, unmodified ``ccxt.bybit`` client sends and reads:
- envelopes {"retCode", "retMsg", "result", "retExtInfo", "time"}; business errors with HTTP 200
  and Bybit's codes (10003 unknown key, 10004 bad signature, 10006 too many visits, 110072
  duplicate orderLinkId, 170131 insufficient balance, 170136/170140 below the minimums,
  170137/170134 too many decimals, 170213 no such order), and HTTP 403 for an IP rate limit;
- signatures: HMAC-SHA256 hex of timestamp + api key + recv window + (query string | JSON body),
  in X-BAPI-SIGN, checked with each account's own secret;
- two networks: live at the base URL, the testnet under /testnet (see ccxt_overrides); a key
  exists on one network only, and is "invalid" (10003) on the other;
- a new order is answered with its ids only; /v5/order/realtime with an orderLinkId finds the
  order in any state among the account's latest ``recent_orders`` (an empty list when absent),
  /v5/order/history has the finished ones;
- a spot market order's qty is in the quote coin unless marketUnit=baseCoin;
- fees come out of the asset received (0.1 %), reported per coin in cumFeeDetail and as cumExecFee;
- coins with a zero balance are absent from the wallet balance.
"""
from __future__ import annotations

import hashlib
import hmac
import re

from tests.fakes.spot_exchange import (INTERVAL_MS, FakeSpotExchange, Refused, Reply, Request, dec, now_ms, text)

LINK_ID = re.compile(r"[A-Za-z0-9_-]{1,36}")
INTERVALS = {"1": "1m", "3": "3m", "5": "5m", "15": "15m", "30": "30m", "60": "1h", "120": "2h", "240": "4h",
             "360": "6h", "720": "12h", "D": "1d"}
REFUSALS = {
    "symbol": (10001, "params error: symbol invalid"),
    "permission": (10005, "Permission denied, please check your API key permissions."),
    "qty_precision": (170137, "Order quantity has too many decimals."),
    "price_precision": (170134, "Order price has too many decimals."),
    "min_qty": (170136, "Order quantity below the lower limit"),
    "min_cost": (170140, "Order value exceeded lower limit"),
    "insufficient": (170131, "Insufficient balance."),
    "duplicate": (110072, "OrderLinkedID is duplicate"),
    "no_order": (170213, "Order does not exist."),
    "bad_key": (10003, "API key is invalid."),
    "bad_sign": (10004, "error sign! origin_string[{}]"),
    "rate_limit": (10006, "Too many visits!"),
    "params": (10001, "params error: {}"),
}


def envelope(code: int, message: str, result=None) -> dict:
    return {"retCode": code, "retMsg": message, "result": {} if result is None else result, "retExtInfo": {},
            "time": now_ms()}


class FakeBybit(FakeSpotExchange):
    name = "bybit"
    taker_fee = maker_fee = dec("0.001")  # regular spot tier
    routes = {
        ("GET", "/v5/market/time"): ("market_time", False),
        ("GET", "/v5/market/instruments-info"): ("instruments", False),
        ("GET", "/v5/market/kline"): ("kline", False),
        ("GET", "/v5/market/orderbook"): ("orderbook", False),
        ("GET", "/v5/user/query-api"): ("query_api", True),
        ("GET", "/v5/account/wallet-balance"): ("wallet_balance", True),
        ("POST", "/v5/order/create"): ("create_order", True),
        ("GET", "/v5/order/realtime"): ("realtime_orders", True),
        ("GET", "/v5/order/history"): ("order_history", True),
        ("POST", "/v5/order/cancel"): ("cancel_order", True),
    }

    def ccxt_overrides(self) -> dict:
        """EXCHANGE_OVERRIDES["bybit"]: live at the base URL, the testnet under /testnet."""
        live = {name: self.base_url for name in ("spot", "futures", "v2", "public", "private")}
        test = {name: f"{self.base_url}/testnet" for name in live}
        return {"urls": {"api": live, "test": test}}

    # ----------------------------------------------------------------- protocol

    def network_of(self, request: Request) -> Request:
        if request.path.startswith("/testnet/"):
            request.path, request.network = request.path[len("/testnet"):], "testnet"
        return request

    def success(self, result):
        return 200, envelope(0, "OK", result)

    def refusal(self, error: Refused, request: Request):
        code, message = REFUSALS[error.kind]
        return 200, envelope(code, message.format(error.detail))

    def fault_body(self, status: int):
        if status == 403:
            return "<html><body>access too frequent</body></html>"  # Bybit's IP rate limit
        if status == 200:
            return envelope(*REFUSALS["rate_limit"])  # the per-key rate limit
        return f"<html><body><h1>{status} Bad Gateway</h1></body></html>"

    def authenticate(self, request: Request) -> dict:
        headers = request.headers
        account = self._accounts.get(headers.get("x-bapi-api-key", ""))
        if account is None or account["network"] != request.network:
            raise Refused("bad_key")
        signed = request.raw_body if request.method == "POST" else request.raw_query
        payload = headers.get("x-bapi-timestamp", "") + account["api_key"] + headers.get("x-bapi-recv-window", "") + signed
        expected = hmac.new(account["secret"].encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, headers.get("x-bapi-sign", "")):
            raise Refused("bad_sign", payload)
        return account

    def _spot(self, params: dict) -> str | None:
        if params.get("category") != "spot":
            raise Refused("params", "category")  # this fake has spot only
        symbol = params.get("symbol")
        if not symbol:
            return None
        by_id = {m["base"] + m["quote"]: s for s, m in self._markets.items()}
        if symbol not in by_id:
            raise Refused("symbol")
        return by_id[symbol]

    # ----------------------------------------------------------------- public

    def market_time(self, request, _):
        return {"timeSecond": str(now_ms() // 1000), "timeNano": str(now_ms() * 1_000_000)}

    def instruments(self, request, _):
        self._spot(request.params)
        return {"category": "spot", "list": [{
            "symbol": m["base"] + m["quote"], "baseCoin": m["base"], "quoteCoin": m["quote"], "innovation": "0",
            "status": "Trading", "marginTrading": "utaOnly",
            "lotSizeFilter": {"basePrecision": text(m["step"]), "quotePrecision": "0.00000001",
                              "minOrderQty": text(m["min_qty"]), "maxOrderQty": "9000",
                              "minOrderAmt": text(m["min_cost"]), "maxOrderAmt": "2000000"},
            "priceFilter": {"tickSize": text(m["tick"])},
        } for m in self._markets.values()]}

    def kline(self, request, _):
        symbol = self._spot(request.params)
        interval = INTERVALS.get(request.params.get("interval", ""))
        if symbol is None or interval is None:
            raise Refused("params", "symbol or interval")
        limit = min(int(request.params.get("limit", 200)), 1000)
        rows = self.candles(symbol, INTERVAL_MS[interval], limit)
        return {"symbol": request.params["symbol"], "category": "spot", "list": [
            [str(t), text(o), text(h), text(low), text(c), "10", text(c * 10)] for t, o, h, low, c in reversed(rows)]}

    def orderbook(self, request, _):
        symbol = self._spot(request.params)
        bids, asks = self.book(symbol, int(request.params.get("limit", 1)))
        return {"s": request.params["symbol"], "b": [[text(p), text(q)] for p, q in bids],
                "a": [[text(p), text(q)] for p, q in asks], "ts": now_ms(), "u": 1, "seq": 1, "cts": now_ms()}

    # ----------------------------------------------------------------- account

    def query_api(self, request, account):
        wallet = ["AccountTransfer", "SubMemberTransfer"] + (["Withdraw"] if account["can_withdraw"] else [])
        return {"id": str(account["uid"]), "note": "botfleet", "apiKey": account["api_key"], "readOnly": 0,
                "secret": "", "permissions": {"ContractTrade": [], "Spot": ["SpotTrade"] if account["can_trade"] else [],
                                              "Wallet": wallet, "Options": [], "Derivatives": [], "Exchange": [],
                                              "NFT": [], "CopyTrading": [], "BlockTrade": [], "Affiliate": [],
                                              "Earn": []},
                "ips": ["*"], "type": 1, "deadlineDay": 90, "expiredAt": "", "createdAt": "2026-01-01T00:00:00Z",
                "unified": 0, "uta": account.get("uta", 1), "userID": account["uid"], "inviterID": 0,
                "vipLevel": "No VIP", "mktMakerLevel": "0", "affiliateID": 0, "rsaPublicKey": "", "isMaster": True}

    def wallet_balance(self, request, account):
        if request.params.get("accountType") != "UNIFIED":
            raise Refused("params", "accountType only support UNIFIED")
        coins = [{"coin": asset, "walletBalance": text(w["free"] + w["locked"]), "locked": text(w["locked"]),
                  "equity": text(w["free"] + w["locked"]), "availableToWithdraw": "", "totalOrderIM": "0",
                  "totalPositionIM": "0", "borrowAmount": "0", "accruedInterest": "0", "usdValue": "0"}
                 for asset, w in sorted(account["wallets"].items()) if w["free"] or w["locked"]]
        return {"list": [{"accountType": "UNIFIED", "totalEquity": "0", "coin": coins}]}

    # ----------------------------------------------------------------- orders

    def create_order(self, request, account):
        p = request.params
        symbol = self._spot(p)
        link_id = p.get("orderLinkId") or f"auto{next(self._ids)}"
        if not LINK_ID.fullmatch(link_id):
            raise Refused("params", "orderLinkId")
        if any(o["api_key"] == account["api_key"] and o["client_id"] == link_id for o in self._orders):
            raise Refused("duplicate")
        side = {"Buy": "buy", "Sell": "sell"}.get(p.get("side"))
        kind = {"Market": "market", "Limit": "limit"}.get(p.get("orderType"))
        if symbol is None or side is None or kind is None or not p.get("qty"):
            raise Refused("params", "symbol, side, orderType and qty are required")
        qty = dec(p["qty"])
        in_quote = kind == "market" and p.get("marketUnit", "quoteCoin" if side == "buy" else "baseCoin") == "quoteCoin"
        price = dec(p["price"]) if kind == "limit" and p.get("price") else None
        order = self.place(account, symbol, side, kind, None if in_quote else qty, price, link_id,
                           quote_qty=qty if in_quote else None)
        order["market_unit"] = "quoteCoin" if in_quote else "baseCoin"
        return {"orderId": order["id"], "orderLinkId": order["client_id"]}

    def realtime_orders(self, request, account):
        p = request.params
        symbol = self._spot(p)
        if p.get("orderLinkId") or p.get("orderId"):  # any state, among the recent orders
            order = self.find(account, symbol, p.get("orderId"), p.get("orderLinkId"), recent_only=True)
            found = [order] if order else []
        else:
            found = [o for o in self._orders if o["api_key"] == account["api_key"] and o["status"] == "open"
                     and (symbol is None or o["symbol"] == symbol)]
        return {"category": "spot", "nextPageCursor": "", "list": [self._view(o) for o in found]}

    def order_history(self, request, account):
        p = request.params
        symbol = self._spot(p)
        start, end = int(p.get("startTime") or 0), int(p.get("endTime") or now_ms() + 1)
        found = [o for o in self._orders if o["api_key"] == account["api_key"] and o["status"] != "open"
                 and (symbol is None or o["symbol"] == symbol) and start <= o["created"] <= end
                 and (not p.get("orderLinkId") or o["client_id"] == p["orderLinkId"])
                 and (not p.get("orderId") or o["id"] == p["orderId"])]
        return {"category": "spot", "nextPageCursor": "", "list": [self._view(o) for o in reversed(found)]}

    def cancel_order(self, request, account):
        p = request.params
        order = self.find(account, self._spot(p), p.get("orderId"), p.get("orderLinkId"))
        if order is None or order["status"] != "open":
            raise Refused("no_order")
        self._cancel(order)
        return {"orderId": order["id"], "orderLinkId": order["client_id"]}

    @staticmethod
    def _status(order: dict) -> str:
        if order["status"] == "open":
            return "PartiallyFilled" if order["filled"] else "New"
        if order["status"] == "canceled":
            return "PartiallyFilledCanceled" if order["filled"] else "Cancelled"
        return {"filled": "Filled", "rejected": "Rejected"}[order["status"]]

    def _view(self, order: dict) -> dict:
        market = self._markets[order["symbol"]]
        fee = sum(order["fees"].values(), dec(0))
        return {
            "orderId": order["id"], "orderLinkId": order["client_id"], "blockTradeId": "",
            "symbol": market["base"] + market["quote"], "price": text(order["price"]) if order["price"] else "0",
            "qty": text(order["quote_qty"] if order["quote_qty"] is not None else order["qty"]),
            "side": order["side"].capitalize(), "isLeverage": "0", "positionIdx": 0,
            "orderStatus": self._status(order), "cancelType": "UNKNOWN", "rejectReason": "EC_NoError",
            "avgPrice": text(order["cost"] / order["filled"]) if order["filled"] else "",
            "leavesQty": text(order["qty"] - order["filled"]) if order["status"] == "open" else "0",
            "leavesValue": "0", "cumExecQty": text(order["filled"]), "cumExecValue": text(order["cost"]),
            "cumExecFee": text(fee), "cumFeeDetail": {asset: text(a) for asset, a in order["fees"].items()},
            "timeInForce": "IOC" if order["type"] == "market" else "GTC",
            "orderType": order["type"].capitalize(), "stopOrderType": "", "orderIv": "", "marketUnit":
                order.get("market_unit", "") if order["type"] == "market" else "",
            "triggerPrice": "0.00", "takeProfit": "0.00", "stopLoss": "0.00", "tpTriggerBy": "", "slTriggerBy": "",
            "triggerDirection": 0, "triggerBy": "", "lastPriceOnCreated": "", "reduceOnly": False,
            "closeOnTrigger": False, "smpType": "None", "smpGroup": 0, "smpOrderId": "", "placeType": "",
            "createdTime": str(order["created"]), "updatedTime": str(order["updated"]),
        }
