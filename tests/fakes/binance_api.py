"""Fake Binance spot REST API for end-to-end tests.

Owns a real HTTP server on 127.0.0.1 (stdlib ThreadingHTTPServer in a daemon thread) that speaks
enough of the Binance spot protocol for the real, unmodified ``ccxt.binance`` client: public market
data, HMAC-SHA256 signed account and order endpoints, Binance-shaped error bodies, and injectable
faults. All exchange state (accounts, balances, orders, trades, prices, candles, request log) lives
in the FakeBinance object behind one lock. The test process reads and steers it through Python
methods; other processes (RQ workers) only reach it over HTTP, through ccxt.

Deliberate simplifications, so tests stay predictable:
- MARKET orders fill completely at the current price (``set_price``), with a 0.1% commission taken
  from the asset received, like Binance's default taker fee.
- LIMIT orders are validated, lock their funds and then stay NEW until cancelled (never matched).
- ``timestamp``/``recvWindow`` are required but not checked against the clock.
- Candles of every interval are built from the same closes (``set_history``).
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import secrets
import sys
import threading
import time
import traceback
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

# symbol -> PRICE_FILTER tickSize, LOT_SIZE stepSize/minQty, NOTIONAL minNotional, starting price.
# Filter values match binance.com's real spot markets.
DEFAULT_MARKETS = {
    "BTC/USDT": {"tickSize": "0.01", "stepSize": "0.00001", "minQty": "0.00001", "minNotional": "5", "price": "60000"},
    "ETH/USDT": {"tickSize": "0.01", "stepSize": "0.0001", "minQty": "0.0001", "minNotional": "5", "price": "3000"},
    "SOL/USDT": {"tickSize": "0.01", "stepSize": "0.001", "minQty": "0.001", "minNotional": "5", "price": "150"},
    "BNB/USDT": {"tickSize": "0.01", "stepSize": "0.001", "minQty": "0.001", "minNotional": "5", "price": "600"},
}

INTERVAL_MS = {
    "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
    "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000, "6h": 21_600_000,
    "8h": 28_800_000, "12h": 43_200_000, "1d": 86_400_000,
}

# What exchangeInfo advertises (ccxt checks order types client-side); only MARKET and LIMIT are
# implemented here, the rest are answered with Binance's "Invalid orderType." error.
ORDER_TYPES = ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"]
FEE_RATE = Decimal("0.001")
EIGHT_DP = Decimal("0.00000001")
ZERO = Decimal(0)
OPEN_STATUSES = ("NEW", "PARTIALLY_FILLED")


class BinanceError(Exception):
    """An error answered the way Binance does: an HTTP status and a {"code", "msg"} body."""

    def __init__(self, status: int, code: int, msg: str):
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


def _missing(name: str) -> BinanceError:
    return BinanceError(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


INVALID_SYMBOL = (400, -1121, "Invalid symbol.")
BAD_KEY = (401, -2015, "Invalid API-key, IP, or permissions for action.")


def _fmt(value: Decimal) -> str:
    """Binance renders every decimal as a string with 8 decimal places."""
    return f"{value:.8f}"


def _now_ms() -> int:
    return int(time.time() * 1000)


def _dec(value) -> Decimal:
    return Decimal(str(value))


def _decimal_param(params: dict, name: str) -> Decimal | None:
    raw = params.get(name)
    if raw in (None, ""):
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or value < 0:
        raise BinanceError(400, -1100, f"Illegal characters found in parameter '{name}'; "
                                       "legal range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'.")
    return value


def _int_param(params: dict, name: str, default: int | None = None) -> int | None:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise BinanceError(400, -1100, f"Illegal characters found in parameter '{name}'; "
                                       "legal range is '^[0-9]{1,20}$'.") from None


def _without_signature(raw: str) -> str:
    # Binance signs "totalParams" = query string + body, each exactly as sent minus the signature.
    return "&".join(part for part in raw.split("&") if part and not part.startswith("signature="))


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # Clients that time out and hang up are expected (delay faults); anything else is a bug.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    fake: "FakeBinance"  # set on a per-server subclass in FakeBinance.start()
    server_version = "FakeBinance/1.0"

    def do_GET(self):
        self.fake._serve(self)

    do_POST = do_DELETE = do_PUT = do_GET

    def log_message(self, format, *args):
        pass  # keep test output quiet


class FakeBinance:
    def __init__(self, markets: dict = DEFAULT_MARKETS):
        self._lock = threading.RLock()
        self._markets: dict[str, dict] = {}  # by Binance id, e.g. "BTCUSDT"
        self._ids: dict[str, str] = {}  # ccxt symbol -> Binance id
        for symbol, spec in markets.items():
            base, quote = symbol.split("/")
            self._ids[symbol] = base + quote
            self._markets[base + quote] = {
                "id": base + quote, "base": base, "quote": quote,
                "tick": _dec(spec["tickSize"]), "step": _dec(spec["stepSize"]),
                "min_qty": _dec(spec["minQty"]), "max_qty": Decimal("9000"),
                "min_notional": _dec(spec["minNotional"]),
                "price": _dec(spec.get("price", "100")), "history": [],
            }
        self._accounts: dict[str, dict] = {}
        self._orders: list[dict] = []
        self._trades: list[dict] = []
        self._log: list[dict] = []
        self._faults: list[dict] = []
        self._next_id = 1  # shared by orders, trades and account uids; only uniqueness matters
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""
        self._routes = {
            ("GET", "/api/v3/ping"): (self._ping, False),
            ("GET", "/api/v3/time"): (self._time, False),
            ("GET", "/api/v3/exchangeInfo"): (self._exchange_info, False),
            ("GET", "/api/v3/ticker/24hr"): (self._ticker_24hr, False),
            ("GET", "/api/v3/ticker"): (self._ticker_24hr, False),  # rolling-window variant
            ("GET", "/api/v3/ticker/price"): (self._ticker_price, False),
            ("GET", "/api/v3/ticker/bookTicker"): (self._book_ticker, False),
            ("GET", "/api/v3/avgPrice"): (self._avg_price, False),
            ("GET", "/api/v3/klines"): (self._klines, False),
            ("GET", "/api/v3/uiKlines"): (self._klines, False),
            ("GET", "/api/v3/depth"): (self._depth, False),
            ("GET", "/api/v3/account"): (self._account, True),
            ("POST", "/api/v3/order"): (self._new_order, True),
            ("GET", "/api/v3/order"): (self._get_order, True),
            ("DELETE", "/api/v3/order"): (self._cancel_order, True),
            ("GET", "/api/v3/openOrders"): (self._open_orders, True),
            ("GET", "/api/v3/myTrades"): (self._my_trades, True),
            ("GET", "/sapi/v1/account/apiRestrictions"): (self._api_restrictions, True),
        }

    # ----------------------------------------------------------------- lifecycle & test control

    def start(self) -> "FakeBinance":
        handler = type("BoundHandler", (_Handler,), {"fake": self})
        self._server = _Server(("127.0.0.1", 0), handler)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-binance", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = self._thread = None

    def __enter__(self) -> "FakeBinance":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def ccxt_overrides(self) -> dict:
        base = self.base_url
        return {
            "urls": {"api": {"public": f"{base}/api/v3", "private": f"{base}/api/v3",
                             "v1": f"{base}/api/v1", "sapi": f"{base}/sapi/v1"}},
            "options": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False, "fetchMargins": False},
        }

    def add_account(self, api_key: str, secret: str, balances: dict, can_withdraw: bool = False,
                    can_trade: bool = True) -> None:
        with self._lock:
            self._accounts[api_key] = {
                "api_key": api_key, "secret": secret, "can_trade": can_trade, "can_withdraw": can_withdraw,
                "uid": self._new_id(), "created": _now_ms(),
                "wallets": {asset: {"free": _dec(v), "locked": ZERO} for asset, v in balances.items()},
            }

    def set_price(self, symbol: str, price) -> None:
        with self._lock:
            self._market_by_symbol(symbol)["price"] = _dec(price)

    def set_history(self, symbol: str, closes: list) -> None:
        """Closes of past closed candles, oldest first; the open candle closes at the current price."""
        with self._lock:
            self._market_by_symbol(symbol)["history"] = [_dec(c) for c in closes]

    def orders(self, api_key: str | None = None) -> list[dict]:
        with self._lock:
            return [copy.deepcopy(o) for o in self._orders if api_key is None or o["api_key"] == api_key]

    def requests(self) -> list[dict]:
        with self._lock:
            return copy.deepcopy(self._log)

    def reset_log(self) -> None:
        with self._lock:
            self._log.clear()

    def balances(self, api_key: str) -> dict[str, Decimal]:
        """Free (spendable) amount per asset; see locked() for funds held by open orders."""
        with self._lock:
            return {asset: w["free"] for asset, w in self._accounts[api_key]["wallets"].items()}

    def locked(self, api_key: str) -> dict[str, Decimal]:
        with self._lock:
            return {asset: w["locked"] for asset, w in self._accounts[api_key]["wallets"].items()}

    def inject_fault(self, path_prefix: str, status: int, count: int = 1, body: dict | str | None = None,
                     delay: float = 0, retry_after: int = 1) -> None:
        """The next `count` requests under `path_prefix` wait `delay` seconds, then get `status` with
        `body` (a Binance-like default when None) or, when status is 0, are handled normally."""
        with self._lock:
            self._faults.append({"prefix": path_prefix, "status": status, "remaining": count,
                                 "body": body, "delay": delay, "retry_after": retry_after})

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    # ----------------------------------------------------------------- HTTP plumbing

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        url = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw_body = handler.rfile.read(length).decode() if length else ""
        api_key = handler.headers.get("X-MBX-APIKEY")
        entry = {"method": handler.command, "path": url.path, "query": dict(parse_qsl(url.query)),
                 "api_key": api_key, "time": time.time(), "status": None}
        with self._lock:
            self._log.append(entry)
            fault = self._take_fault(url.path)
        if fault and fault["delay"]:
            time.sleep(fault["delay"])  # outside the lock: other requests keep flowing
        headers: dict[str, str] = {}
        if fault and fault["status"]:
            status, body, headers = self._fault_response(fault)
        else:
            status, body = self._dispatch(handler.command, url.path, url.query, raw_body, api_key)
        with self._lock:
            entry["status"] = status
        self._write(handler, status, body, headers)

    def _dispatch(self, method: str, path: str, raw_query: str, raw_body: str, api_key: str | None):
        route = self._routes.get((method, path))
        if route is None:
            # Not JSON on purpose: ccxt then reports the HTTP status (404 -> ExchangeNotAvailable)
            # with this text, which names the endpoint the fake is missing.
            return 404, f"fake binance has no route for {method} {path}"
        endpoint, signed = route
        params = dict(parse_qsl(raw_query, keep_blank_values=True))
        params.update(parse_qsl(raw_body, keep_blank_values=True))
        try:
            with self._lock:
                account = self._authenticate(api_key, raw_query, raw_body, params) if signed else None
                return 200, endpoint(params, account)
        except BinanceError as e:
            return e.status, {"code": e.code, "msg": e.msg}
        except Exception:
            return 500, "fake binance crashed:\n" + traceback.format_exc()

    def _authenticate(self, api_key, raw_query, raw_body, params) -> dict:
        if not api_key:
            raise BinanceError(401, -2014, "API-key format invalid.")
        account = self._accounts.get(api_key)
        if account is None:
            raise BinanceError(*BAD_KEY)
        for name in ("timestamp", "signature"):
            if not params.get(name):
                raise _missing(name)
        payload = _without_signature(raw_query) + _without_signature(raw_body)
        expected = hmac.new(account["secret"].encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, params["signature"].lower()):
            raise BinanceError(400, -1022, "Signature for this request is not valid.")
        return account

    def _take_fault(self, path: str) -> dict | None:
        for fault in self._faults:
            if path.startswith(fault["prefix"]):
                fault["remaining"] -= 1
                if fault["remaining"] <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    @staticmethod
    def _fault_response(fault: dict) -> tuple[int, dict | str, dict]:
        status, headers = fault["status"], {}
        if status in (418, 429):
            headers["Retry-After"] = str(fault["retry_after"])
            if status == 429:
                default = {"code": -1003, "msg": "Too many requests; current limit of IP(127.0.0.1) is 6000 "
                                                 "requests per minute. Please use the websocket for live "
                                                 "updates to avoid polling the API."}
            else:
                until = _now_ms() + fault["retry_after"] * 1000
                default = {"code": -1003, "msg": f"Way too much request weight used; IP banned until {until}. "
                                                 "Please use the websocket for live updates to avoid bans."}
        elif status >= 500:
            # Binance's gateways answer 5xx with an HTML page, not a {"code", "msg"} body.
            default = f"<html><body><h1>{status} Server Error</h1></body></html>"
        else:
            default = {"code": -1000, "msg": "An unknown error occurred while processing the request."}
        return status, (default if fault["body"] is None else fault["body"]), headers

    @staticmethod
    def _write(handler, status: int, body, headers: dict) -> None:
        if isinstance(body, str):
            data, content_type = body.encode(), "text/html;charset=UTF-8"
        else:
            data, content_type = json.dumps(body, separators=(",", ":")).encode(), "application/json;charset=UTF-8"
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(data)
        except ConnectionError:
            pass  # the client already gave up (e.g. it timed out during a delay fault)

    # ----------------------------------------------------------------- helpers (called under the lock)

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _market_by_symbol(self, symbol: str) -> dict:
        if symbol not in self._ids:
            raise KeyError(f"fake binance has no market {symbol!r}; known: {sorted(self._ids)}")
        return self._markets[self._ids[symbol]]

    def _market(self, params: dict) -> dict:
        market_id = params.get("symbol")
        if not market_id:
            raise _missing("symbol")
        if market_id not in self._markets:
            raise BinanceError(*INVALID_SYMBOL)
        return self._markets[market_id]

    def _selected_markets(self, params: dict) -> tuple[list[dict], bool]:
        """Markets named by `symbol` or `symbols` (a JSON list), else all; and whether one was asked for."""
        if params.get("symbol"):
            return [self._market(params)], True
        if params.get("symbols"):
            try:
                ids = json.loads(params["symbols"])
            except ValueError:
                raise BinanceError(400, -1100, "Illegal characters found in parameter 'symbols'.") from None
            return [self._market({"symbol": i}) for i in ids], False
        return list(self._markets.values()), False

    def _wallet(self, account: dict, asset: str) -> dict:
        return account["wallets"].setdefault(asset, {"free": ZERO, "locked": ZERO})

    # ----------------------------------------------------------------- public endpoints

    def _ping(self, params, _):
        return {}

    def _time(self, params, _):
        return {"serverTime": _now_ms()}

    def _exchange_info(self, params, _):
        markets = self._selected_markets(params)[0]
        return {"timezone": "UTC", "serverTime": _now_ms(), "exchangeFilters": [],
                "rateLimits": [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
                               {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100}],
                "symbols": [self._symbol_info(m) for m in markets]}

    @staticmethod
    def _symbol_info(m: dict) -> dict:
        return {
            "symbol": m["id"], "status": "TRADING", "baseAsset": m["base"], "baseAssetPrecision": 8,
            "quoteAsset": m["quote"], "quotePrecision": 8, "quoteAssetPrecision": 8,
            "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8, "orderTypes": ORDER_TYPES,
            "icebergAllowed": True, "ocoAllowed": True, "otoAllowed": True, "quoteOrderQtyMarketAllowed": True,
            "allowTrailingStop": True, "cancelReplaceAllowed": True, "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False, "permissions": ["SPOT"], "permissionSets": [["SPOT"]],
            "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": _fmt(m["tick"]), "maxPrice": "1000000.00000000",
                 "tickSize": _fmt(m["tick"])},
                {"filterType": "LOT_SIZE", "minQty": _fmt(m["min_qty"]), "maxQty": _fmt(m["max_qty"]),
                 "stepSize": _fmt(m["step"])},
                {"filterType": "MARKET_LOT_SIZE", "minQty": "0.00000000", "maxQty": _fmt(m["max_qty"]),
                 "stepSize": "0.00000000"},
                # ccxt reads limits.cost.min from NOTIONAL.minNotional (or legacy MIN_NOTIONAL)
                {"filterType": "NOTIONAL", "minNotional": _fmt(m["min_notional"]), "applyMinToMarket": True,
                 "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5},
            ],
        }

    def _ticker(self, m: dict) -> dict:
        price, history = m["price"], m["history"]
        open_price = history[0] if history else price
        now = _now_ms()
        return {
            "symbol": m["id"], "priceChange": _fmt(price - open_price),
            "priceChangePercent": f"{(price - open_price) / open_price * 100:.3f}" if open_price else "0.000",
            "weightedAvgPrice": _fmt(price), "prevClosePrice": _fmt(history[-1] if history else price),
            "lastPrice": _fmt(price), "lastQty": "0.10000000",
            "bidPrice": _fmt(price - m["tick"]), "bidQty": "1.00000000",
            "askPrice": _fmt(price + m["tick"]), "askQty": "1.00000000",
            "openPrice": _fmt(open_price), "highPrice": _fmt(max(history + [price])),
            "lowPrice": _fmt(min(history + [price])), "volume": "1000.00000000",
            "quoteVolume": _fmt(price * 1000), "openTime": now - 86_400_000, "closeTime": now,
            "firstId": 1, "lastId": 1000, "count": 1000,
        }

    def _ticker_24hr(self, params, _):
        markets, single = self._selected_markets(params)
        tickers = [self._ticker(m) for m in markets]
        return tickers[0] if single else tickers

    def _ticker_price(self, params, _):
        markets, single = self._selected_markets(params)
        prices = [{"symbol": m["id"], "price": _fmt(m["price"])} for m in markets]
        return prices[0] if single else prices

    def _book_ticker(self, params, _):
        markets, single = self._selected_markets(params)
        books = [{"symbol": m["id"], "bidPrice": _fmt(m["price"] - m["tick"]), "bidQty": "1.00000000",
                  "askPrice": _fmt(m["price"] + m["tick"]), "askQty": "1.00000000"} for m in markets]
        return books[0] if single else books

    def _avg_price(self, params, _):
        return {"mins": 5, "price": _fmt(self._market(params)["price"]), "closeTime": _now_ms()}

    def _depth(self, params, _):
        m = self._market(params)
        levels = min(_int_param(params, "limit", 100), 5)
        return {"lastUpdateId": self._new_id(),
                "bids": [[_fmt(m["price"] - m["tick"] * i), "1.00000000"] for i in range(1, levels + 1)],
                "asks": [[_fmt(m["price"] + m["tick"] * i), "1.00000000"] for i in range(1, levels + 1)]}

    def _klines(self, params, _):
        m = self._market(params)
        if not params.get("interval"):
            raise _missing("interval")
        step = INTERVAL_MS.get(params["interval"])
        if step is None:
            raise BinanceError(400, -1120, "Invalid interval.")
        limit = max(1, min(_int_param(params, "limit", 500), 1000))
        current_open = _now_ms() // step * step  # candles align to the interval, like Binance (UTC)
        closes = m["history"] + [m["price"]]
        candles, prev = [], closes[0]
        for i, close in enumerate(closes):
            open_time = current_open - (len(closes) - 1 - i) * step
            high, low = max(prev, close), min(prev, close)
            candles.append([open_time, _fmt(prev), _fmt(high), _fmt(low), _fmt(close), "10.00000000",
                            open_time + step - 1, _fmt(close * 10), 100, "5.00000000", _fmt(close * 5), "0"])
            prev = close
        start, end = _int_param(params, "startTime"), _int_param(params, "endTime")
        candles = [c for c in candles if (start is None or c[0] >= start) and (end is None or c[0] <= end)]
        return candles[:limit] if start is not None else candles[-limit:]

    # ----------------------------------------------------------------- signed endpoints

    def _account(self, params, account):
        assets = sorted(set(account["wallets"]) | {a for m in self._markets.values() for a in (m["base"], m["quote"])})
        balances = []
        for asset in assets:
            w = account["wallets"].get(asset, {"free": ZERO, "locked": ZERO})
            if params.get("omitZeroBalances") == "true" and not (w["free"] or w["locked"]):
                continue
            balances.append({"asset": asset, "free": _fmt(w["free"]), "locked": _fmt(w["locked"])})
        return {
            "makerCommission": 10, "takerCommission": 10, "buyerCommission": 0, "sellerCommission": 0,
            "commissionRates": {"maker": "0.00100000", "taker": "0.00100000", "buyer": "0.00000000",
                                "seller": "0.00000000"},
            "canTrade": account["can_trade"], "canWithdraw": account["can_withdraw"], "canDeposit": True,
            "brokered": False, "requireSelfTradePrevention": False, "preventSor": False,
            "updateTime": _now_ms(), "accountType": "SPOT", "balances": balances, "permissions": ["SPOT"],
            "uid": account["uid"],
        }

    def _api_restrictions(self, params, account):
        return {"ipRestrict": False, "createTime": account["created"], "enableReading": True,
                "enableWithdrawals": account["can_withdraw"], "enableInternalTransfer": False,
                "enableMargin": False, "enableFutures": False, "permitsUniversalTransfer": False,
                "enableVanillaOptions": False, "enableFixApiTrade": False, "enableFixReadOnly": False,
                "enableSpotAndMarginTrading": account["can_trade"], "enablePortfolioMarginTrading": False}

    def _new_order(self, params, account):
        if not account["can_trade"]:
            raise BinanceError(*BAD_KEY)  # what Binance answers for a key without trading permission
        m = self._market(params)
        side, order_type = params.get("side"), params.get("type")
        if not side:
            raise _missing("side")
        if side not in ("BUY", "SELL"):
            raise BinanceError(400, -1117, "Invalid side.")
        if not order_type:
            raise _missing("type")
        if order_type not in ("MARKET", "LIMIT"):
            raise BinanceError(400, -1116, "Invalid orderType.")
        client_id = params.get("newClientOrderId") or secrets.token_urlsafe(16)
        # Binance: "unique among open orders" -- a filled order's id may be reused.
        if any(o["api_key"] == account["api_key"] and o["clientOrderId"] == client_id
               and o["status"] in OPEN_STATUSES for o in self._orders):
            raise BinanceError(400, -2010, "Duplicate order sent.")
        qty, quote_qty = _decimal_param(params, "quantity"), _decimal_param(params, "quoteOrderQty")
        limit_price = ZERO
        if order_type == "MARKET":
            if qty is None and quote_qty is None:
                raise BinanceError(400, -1102, "Param 'quantity' or 'quoteOrderQty' must be sent, "
                                               "but both were empty/null!")
            if qty is None:
                # spend at most quoteOrderQty: the base amount is rounded down to the lot step
                qty = (quote_qty / m["price"]).quantize(m["step"], rounding=ROUND_DOWN)
            exec_price = m["price"]
        else:
            for name in ("timeInForce", "quantity", "price"):
                if not params.get(name):
                    raise _missing(name)
            limit_price = _decimal_param(params, "price")
            if limit_price <= 0 or limit_price % m["tick"]:
                raise BinanceError(400, -1013, "Filter failure: PRICE_FILTER")
            exec_price = limit_price
        if qty < m["min_qty"] or qty > m["max_qty"] or (qty - m["min_qty"]) % m["step"]:
            raise BinanceError(400, -1013, "Filter failure: LOT_SIZE")
        if qty * exec_price < m["min_notional"]:
            raise BinanceError(400, -1013, "Filter failure: NOTIONAL")
        pay_asset, pay_amount = (m["quote"], qty * exec_price) if side == "BUY" else (m["base"], qty)
        pay_wallet = self._wallet(account, pay_asset)
        if pay_wallet["free"] < pay_amount:
            raise BinanceError(400, -2010, "Account has insufficient balance for requested action.")
        now = _now_ms()
        order = {
            "api_key": account["api_key"], "symbol": m["id"], "side": side, "type": order_type,
            "quantity": qty, "quoteOrderQty": quote_qty, "clientOrderId": client_id, "orderId": self._new_id(),
            "price": limit_price, "executedQty": ZERO, "cummulativeQuoteQty": ZERO, "status": "NEW",
            "timeInForce": params.get("timeInForce", "GTC"), "time": now, "updateTime": now, "fills": [],
        }
        if order_type == "MARKET":
            self._fill(order, m, account)
        else:
            pay_wallet["free"] -= pay_amount
            pay_wallet["locked"] += pay_amount
        self._orders.append(order)
        return self._order_response(order, params.get("newOrderRespType", "FULL"))

    def _fill(self, order: dict, m: dict, account: dict) -> None:
        price, qty = m["price"], order["quantity"]
        cost = qty * price
        base, quote = self._wallet(account, m["base"]), self._wallet(account, m["quote"])
        # the commission comes out of what the account receives, as on Binance without BNB discount
        if order["side"] == "BUY":
            commission, commission_asset = (qty * FEE_RATE).quantize(EIGHT_DP, ROUND_HALF_UP), m["base"]
            quote["free"] -= cost
            base["free"] += qty - commission
        else:
            commission, commission_asset = (cost * FEE_RATE).quantize(EIGHT_DP, ROUND_HALF_UP), m["quote"]
            base["free"] -= qty
            quote["free"] += cost - commission
        trade_id = self._new_id()
        order.update(executedQty=qty, cummulativeQuoteQty=cost, status="FILLED", updateTime=_now_ms())
        order["fills"] = [{"price": price, "qty": qty, "commission": commission,
                           "commissionAsset": commission_asset, "tradeId": trade_id}]
        self._trades.append({
            "api_key": account["api_key"], "symbol": m["id"], "id": trade_id, "orderId": order["orderId"],
            "orderListId": -1, "price": price, "qty": qty, "quoteQty": cost, "commission": commission,
            "commissionAsset": commission_asset, "time": order["updateTime"],
            "isBuyer": order["side"] == "BUY", "isMaker": False, "isBestMatch": True,
        })

    def _find_order(self, params: dict, account: dict) -> dict:
        m = self._market(params)
        order_id, client_id = _int_param(params, "orderId"), params.get("origClientOrderId")
        if order_id is None and not client_id:
            raise BinanceError(400, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, "
                                           "but both were empty/null!")
        for order in reversed(self._orders):  # newest first: a reused clientOrderId finds the latest
            if order["api_key"] == account["api_key"] and order["symbol"] == m["id"] and (
                    order["orderId"] == order_id if order_id is not None else order["clientOrderId"] == client_id):
                return order
        raise BinanceError(400, -2013, "Order does not exist.")

    @staticmethod
    def _order_view(order: dict) -> dict:
        """An order as GET /api/v3/order and openOrders show it."""
        return {
            "symbol": order["symbol"], "orderId": order["orderId"], "orderListId": -1,
            "clientOrderId": order["clientOrderId"], "price": _fmt(order["price"]),
            "origQty": _fmt(order["quantity"]), "executedQty": _fmt(order["executedQty"]),
            "cummulativeQuoteQty": _fmt(order["cummulativeQuoteQty"]), "status": order["status"],
            "timeInForce": order["timeInForce"], "type": order["type"], "side": order["side"],
            "stopPrice": "0.00000000", "icebergQty": "0.00000000", "time": order["time"],
            "updateTime": order["updateTime"], "isWorking": True, "workingTime": order["time"],
            "origQuoteOrderQty": _fmt(order["quoteOrderQty"] or ZERO), "selfTradePreventionMode": "EXPIRE_MAKER",
        }

    def _order_response(self, order: dict, resp_type: str) -> dict:
        """The POST /api/v3/order answer in the requested newOrderRespType (ACK, RESULT or FULL)."""
        ack = {"symbol": order["symbol"], "orderId": order["orderId"], "orderListId": -1,
               "clientOrderId": order["clientOrderId"], "transactTime": order["time"]}
        if resp_type == "ACK":
            return ack
        view = self._order_view(order)
        for key in ("stopPrice", "icebergQty", "time", "updateTime", "isWorking"):
            del view[key]
        result = {**view, **ack}
        if resp_type == "FULL":
            result["fills"] = [{"price": _fmt(f["price"]), "qty": _fmt(f["qty"]), "commission": _fmt(f["commission"]),
                                "commissionAsset": f["commissionAsset"], "tradeId": f["tradeId"]}
                               for f in order["fills"]]
        return result

    def _get_order(self, params, account):
        return self._order_view(self._find_order(params, account))

    def _cancel_order(self, params, account):
        if not account["can_trade"]:
            raise BinanceError(*BAD_KEY)
        try:
            order = self._find_order(params, account)
        except BinanceError as e:
            if e.code != -2013:
                raise
            order = None
        if order is None or order["status"] not in OPEN_STATUSES:
            raise BinanceError(400, -2011, "Unknown order sent.")
        m = self._markets[order["symbol"]]
        remaining = order["quantity"] - order["executedQty"]
        asset, amount = (m["quote"], remaining * order["price"]) if order["side"] == "BUY" else (m["base"], remaining)
        wallet = self._wallet(account, asset)
        wallet["locked"] -= amount
        wallet["free"] += amount
        order.update(status="CANCELED", updateTime=_now_ms())
        view = self._order_view(order)
        return {"symbol": view["symbol"], "origClientOrderId": order["clientOrderId"], "orderId": order["orderId"],
                "orderListId": -1, "clientOrderId": params.get("newClientOrderId") or secrets.token_urlsafe(16),
                "transactTime": order["updateTime"],
                **{k: view[k] for k in ("price", "origQty", "executedQty", "cummulativeQuoteQty", "status",
                                        "timeInForce", "type", "side", "selfTradePreventionMode")}}

    def _open_orders(self, params, account):
        symbol = self._market(params)["id"] if params.get("symbol") else None
        return [self._order_view(o) for o in self._orders
                if o["api_key"] == account["api_key"] and o["status"] in OPEN_STATUSES
                and (symbol is None or o["symbol"] == symbol)]

    def _my_trades(self, params, account):
        m = self._market(params)
        order_id, from_id = _int_param(params, "orderId"), _int_param(params, "fromId")
        start, end = _int_param(params, "startTime"), _int_param(params, "endTime")
        limit = max(1, min(_int_param(params, "limit", 500), 1000))
        trades = [t for t in self._trades
                  if t["api_key"] == account["api_key"] and t["symbol"] == m["id"]
                  and (order_id is None or t["orderId"] == order_id) and (from_id is None or t["id"] >= from_id)
                  and (start is None or t["time"] >= start) and (end is None or t["time"] <= end)]
        trades = trades[:limit] if from_id is not None or start is not None else trades[-limit:]
        return [{**{k: v for k, v in t.items() if k != "api_key"},
                 **{k: _fmt(t[k]) for k in ("price", "qty", "quoteQty", "commission")}} for t in trades]
