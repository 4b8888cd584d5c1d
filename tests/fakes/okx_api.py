"""Fake OKX v5 REST API (spot, cash trading) for tests, on the shared fake engine.

Speaks what the real, unmodified ``ccxt.okx`` client sends and reads:
- envelopes {"code", "msg", "data": [...]}; errors as OKX words them: an order refused with
  code "1" and the reason in data[0].sCode/sMsg (51008 insufficient balance, 51020 below the
  minimum size, 51121 not a multiple of the lot size, 51016 duplicated clOrdId), 51603 for an
  unknown order, 50111/50113/50105 for an unknown key, a bad signature or passphrase (HTTP 401),
  50101 for a key used in the wrong environment, 50011 "Too Many Requests" (HTTP 429);
- signatures: base64 HMAC-SHA256 of timestamp + method + request path (with its query) + body,
  in OK-ACCESS-SIGN, checked with each account's own secret, and the account's passphrase;
- demo trading: the header x-simulated-trading: 1; a key exists in one environment only;
- a new order (POST /api/v5/trade/order) is answered with its ids only; GET /api/v5/trade/order
  finds it by clOrdId; its cost is only in its fills (GET /api/v5/trade/fills-history);
- a spot market buy's sz is in the quote currency unless tgtCcy=base_ccy;
- fees come out of the asset received (taker 0.1 %, maker 0.08 %), reported negative;
- coins with a zero balance are absent from the balance.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re

from tests.fakes.spot_exchange import FakeSpotExchange, Refused, Reply, Request, dec, now_ms, text

CLIENT_ID = re.compile(r"[A-Za-z0-9]{1,32}")
BARS = {"1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000, "1H": 3_600_000,
        "2H": 7_200_000, "4H": 14_400_000, "6Hutc": 21_600_000, "12Hutc": 43_200_000, "1Dutc": 86_400_000}
# kind -> (HTTP status, code, message); order refusals are answered inside data[0] (sCode/sMsg).
ERRORS = {
    "symbol": (200, "51001", "Instrument ID does not exist."),
    "params": (200, "51000", "Parameter {} error"),
    "no_order": (200, "51603", "Order does not exist"),
    "bad_key": (401, "50111", "Invalid OK-ACCESS-KEY."),
    "bad_sign": (401, "50113", "Invalid Sign"),
    "bad_passphrase": (401, "50105", "OK-ACCESS-PASSPHRASE incorrect."),
    "environment": (401, "50101", "APIKey does not match current environment."),
}
ORDER_REFUSALS = {
    "insufficient": ("51008", "Order failed. Insufficient {} balance in account."),
    "min_qty": ("51020", "Your order should meet or exceed the minimum order amount."),
    "min_cost": ("51020", "Your order should meet or exceed the minimum order amount."),
    "qty_precision": ("51121", "Order quantity must be a multiple of the lot size."),
    "price_precision": ("51000", "Parameter px error"),
    "duplicate": ("51016", "Duplicated clOrdId"),
    "permission": ("50120", "API key doesn't have permission to trade."),
}


class FakeOKX(FakeSpotExchange):
    name = "okx"
    taker_fee, maker_fee = dec("0.001"), dec("0.0008")  # regular Lv1 spot
    routes = {
        ("GET", "/api/v5/public/time"): ("public_time", False),
        ("GET", "/api/v5/public/instruments"): ("instruments", False),
        ("GET", "/api/v5/market/candles"): ("market_candles", False),
        ("GET", "/api/v5/market/books"): ("market_books", False),
        ("GET", "/api/v5/account/balance"): ("account_balance", True),
        ("GET", "/api/v5/account/config"): ("account_config", True),
        ("POST", "/api/v5/trade/order"): ("place_order", True),
        ("GET", "/api/v5/trade/order"): ("order_details", True),
        ("GET", "/api/v5/trade/fills-history"): ("fills_history", True),
        ("POST", "/api/v5/trade/cancel-order"): ("cancel_order", True),
    }

    def ccxt_overrides(self) -> dict:
        """EXCHANGE_OVERRIDES["okx"]: one host for live and demo trading, as on OKX."""
        return {"urls": {"api": {"rest": self.base_url}, "test": {"rest": self.base_url}}}

    # ----------------------------------------------------------------- protocol

    def network_of(self, request: Request) -> Request:
        request.network = "testnet" if request.headers.get("x-simulated-trading") == "1" else "live"
        return request

    def success(self, result):
        return 200, {"code": "0", "msg": "", "data": result}

    def refusal(self, error: Refused, request: Request):
        if error.kind in ORDER_REFUSALS:
            code, message = ORDER_REFUSALS[error.kind]
            item = {"clOrdId": request.params.get("clOrdId", ""), "ordId": "", "tag": "", "ts": str(now_ms()),
                    "sCode": code, "sMsg": message.format(error.detail)}
            return 200, {"code": "1", "msg": "All operations failed", "data": [item], "inTime": "", "outTime": ""}
        status, code, message = ERRORS[error.kind]
        return status, {"code": code, "msg": message.format(error.detail), "data": []}

    def fault_body(self, status: int):
        if status == 429:
            return {"msg": "Too Many Requests", "code": "50011"}
        return f"<html><body><h1>{status} Bad Gateway</h1></body></html>"

    def authenticate(self, request: Request) -> dict:
        headers = request.headers
        account = self._accounts.get(headers.get("ok-access-key", ""))
        if account is None:
            raise Refused("bad_key")
        if account["network"] != request.network:
            raise Refused("environment")
        path = request.path + ("?" + request.raw_query if request.raw_query else "")
        payload = headers.get("ok-access-timestamp", "") + request.method + path + request.raw_body
        expected = base64.b64encode(hmac.new(account["secret"].encode(), payload.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(expected.decode(), headers.get("ok-access-sign", "")):
            raise Refused("bad_sign")
        if headers.get("ok-access-passphrase") != account["passphrase"]:
            raise Refused("bad_passphrase")
        return account

    def _symbol(self, inst_id: str | None, required: bool = True) -> str | None:
        if not inst_id:
            if required:
                raise Refused("params", "instId")
            return None
        symbol = inst_id.replace("-", "/")
        if symbol not in self._markets:
            raise Refused("symbol")
        return symbol

    # ----------------------------------------------------------------- public

    def public_time(self, request, _):
        return [{"ts": str(now_ms())}]

    def instruments(self, request, _):
        if request.params.get("instType") != "SPOT":
            raise Refused("params", "instType")  # this fake has spot only
        return [{"instType": "SPOT", "instId": f"{m['base']}-{m['quote']}", "uly": "", "instFamily": "",
                 "baseCcy": m["base"], "quoteCcy": m["quote"], "settleCcy": "", "ctVal": "", "ctMult": "",
                 "ctValCcy": "", "optType": "", "stk": "", "listTime": "1606468572000", "expTime": "", "lever": "",
                 "tickSz": text(m["tick"]), "lotSz": text(m["step"]), "minSz": text(m["min_qty"]), "ctType": "",
                 "alias": "", "state": "live", "maxLmtSz": "9999999999", "maxMktSz": "1000000",
                 "maxLmtAmt": "20000000", "maxMktAmt": "1000000", "ruleType": "normal"}
                for m in self._markets.values()]

    def market_candles(self, request, _):
        symbol = self._symbol(request.params.get("instId"))
        step = BARS.get(request.params.get("bar", "1m"))
        if step is None:
            raise Refused("params", "bar")
        rows = self.candles(symbol, step, min(int(request.params.get("limit", 100)), 300))
        last = len(rows) - 1
        return [[str(t), text(o), text(h), text(low), text(c), "10", text(c * 10), text(c * 10),
                 "0" if i == last else "1"] for i, (t, o, h, low, c) in reversed(list(enumerate(rows)))]

    def market_books(self, request, _):
        bids, asks = self.book(self._symbol(request.params.get("instId")), int(request.params.get("sz", 1)))
        return [{"asks": [[text(p), text(q), "0", "1"] for p, q in asks],
                 "bids": [[text(p), text(q), "0", "1"] for p, q in bids], "ts": str(now_ms())}]

    # ----------------------------------------------------------------- account

    def account_balance(self, request, account):
        details = [{"ccy": asset, "eq": text(w["free"] + w["locked"]), "cashBal": text(w["free"] + w["locked"]),
                    "availBal": text(w["free"]), "frozenBal": text(w["locked"]), "ordFrozen": text(w["locked"]),
                    "uTime": str(now_ms())}
                   for asset, w in sorted(account["wallets"].items()) if w["free"] or w["locked"]]
        return [{"uTime": str(now_ms()), "totalEq": "0", "details": details}]

    def account_config(self, request, account):
        perm = ["read_only"] + (["trade"] if account["can_trade"] else []) + (["withdraw"] if account["can_withdraw"] else [])
        return [{"uid": str(account["uid"]), "mainUid": str(account["uid"]), "acctLv": "1", "posMode": "net_mode",
                 "autoLoan": False, "greeksType": "PA", "level": "Lv1", "levelTmp": "", "ctIsoMode": "automatic",
                 "mgnIsoMode": "automatic", "label": "botfleet", "ip": "", "perm": ",".join(perm),
                 "kycLv": "2", "type": "0"}]

    # ----------------------------------------------------------------- orders

    def place_order(self, request, account):
        p = request.params
        if not isinstance(p, dict):
            raise Refused("params", "body")
        symbol = self._symbol(p.get("instId"))
        client_id = p.get("clOrdId", "")
        if client_id and not CLIENT_ID.fullmatch(client_id):
            raise Refused("params", "clOrdId")
        if client_id and any(o["api_key"] == account["api_key"] and o["client_id"] == client_id
                             and o["status"] == "open" for o in self._orders):
            raise Refused("duplicate")
        if p.get("tdMode") != "cash" or p.get("side") not in ("buy", "sell") or p.get("ordType") not in ("market", "limit"):
            raise Refused("params", "tdMode, side or ordType")
        size = dec(p["sz"])
        in_quote = p["ordType"] == "market" and p.get("tgtCcy", "quote_ccy" if p["side"] == "buy" else "base_ccy") == "quote_ccy"
        price = dec(p["px"]) if p["ordType"] == "limit" and p.get("px") else None
        order = self.place(account, symbol, p["side"], p["ordType"], None if in_quote else size, price, client_id,
                           quote_qty=size if in_quote else None)
        order["tgt_ccy"] = "quote_ccy" if in_quote else "base_ccy"
        return [{"clOrdId": client_id, "ordId": order["id"], "tag": "", "ts": str(now_ms()), "sCode": "0",
                 "sMsg": "Order placed"}]

    def order_details(self, request, account):
        p = request.params
        order = self.find(account, self._symbol(p.get("instId")), p.get("ordId"), p.get("clOrdId"))
        if order is None:
            raise Refused("no_order")
        return [self._view(order)]

    def fills_history(self, request, account):
        p = request.params
        if p.get("instType") != "SPOT":
            raise Refused("params", "instType")
        symbol = self._symbol(p.get("instId"), required=False)
        fills = [t for t in self._trades if t["api_key"] == account["api_key"]
                 and (symbol is None or t["symbol"] == symbol) and (not p.get("ordId") or t["order_id"] == p["ordId"])]
        return [{"instType": "SPOT", "instId": t["symbol"].replace("/", "-"), "tradeId": t["id"], "ordId": t["order_id"],
                 "clOrdId": t["client_id"], "billId": t["id"], "tag": "", "fillPx": text(t["price"]),
                 "fillSz": text(t["qty"]), "side": t["side"], "posSide": "net", "execType": "M" if t["maker"] else "T",
                 "feeCcy": t["fee_asset"], "fee": text(-t["fee"]), "ts": str(t["time"]), "fillTime": str(t["time"])}
                for t in reversed(fills)][:min(int(p.get("limit", 100)), 100)]

    def cancel_order(self, request, account):
        p = request.params
        order = self.find(account, self._symbol(p.get("instId")), p.get("ordId"), p.get("clOrdId"))
        if order is None or order["status"] != "open":
            item = {"clOrdId": p.get("clOrdId", ""), "ordId": p.get("ordId", ""), "ts": str(now_ms()),
                    "sCode": "51400" if order is None else "51402",
                    "sMsg": "Order cancellation failed as the order has been filled, canceled or does not exist."}
            raise Reply(200, {"code": "1", "msg": "", "data": [item]})
        self._cancel(order)
        return [{"clOrdId": order["client_id"], "ordId": order["id"], "ts": str(now_ms()), "sCode": "0", "sMsg": ""}]

    def _view(self, order: dict) -> dict:
        fee_asset = self._markets[order["symbol"]]["base" if order["side"] == "buy" else "quote"]
        last = next((t for t in reversed(self._trades) if t["order_id"] == order["id"]), None)
        state = {"filled": "filled", "canceled": "canceled"}.get(
            order["status"], "partially_filled" if order["filled"] else "live")
        return {
            "instType": "SPOT", "instId": order["symbol"].replace("/", "-"), "ordId": order["id"],
            "clOrdId": order["client_id"], "tag": "", "px": text(order["price"]) if order["price"] else "",
            "sz": text(order["quote_qty"] if order["quote_qty"] is not None else order["qty"]),
            "ordType": order["type"], "side": order["side"], "posSide": "net", "tdMode": "cash",
            "tgtCcy": order.get("tgt_ccy", "") if order["type"] == "market" else "",
            "accFillSz": text(order["filled"]), "fillPx": text(last["price"]) if last else "",
            "fillSz": text(last["qty"]) if last else "0", "tradeId": last["id"] if last else "",
            "fillTime": str(last["time"]) if last else "",
            # An average (rounded to the price tick here): the exact cost is the sum of the fills.
            "avgPx": text((order["cost"] / order["filled"]).quantize(self._markets[order["symbol"]]["tick"]))
            if order["filled"] else "",
            "state": state, "fee": text(-order["fees"].get(fee_asset, dec(0))), "feeCcy": fee_asset,
            "rebate": "0", "rebateCcy": self._markets[order["symbol"]]["quote"], "pnl": "0", "category": "normal",
            "lever": "", "source": "", "cancelSource": "", "cTime": str(order["created"]), "uTime": str(order["updated"]),
        }
