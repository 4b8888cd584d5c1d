"""Fake Binance spot REST API for end-to-end tests.

Owns a real HTTP server on 127.0.0.1 (stdlib ThreadingHTTPServer in a daemon thread) that speaks
enough of the Binance spot protocol for the real, unmodified ``ccxt.binance`` client: public market
data, HMAC-SHA256 signed account and order endpoints, Binance-shaped error bodies, and injectable
faults. All exchange state (accounts, balances, orders, trades, prices, books, candles, request log)
lives in the FakeBinance object behind one lock. The test process reads and steers it through Python
methods; other processes (RQ workers) only reach it over HTTP, through ccxt.

What is simulated, as Binance does it:
- Order books. Without ``set_book`` a symbol's book is synthetic: ``book_levels`` levels of
  ``book_qty`` each, one tick apart around the current price (``set_price``), and it follows the
  price. ``set_book`` installs an explicit book, kept (and consumed by market orders) until
  ``set_book`` is called again or cleared with ``set_book(symbol, None)``.
- MARKET orders. With an explicit book they walk it from the best level (one fill and one trade per
  level, quantities removed from the book); if the book side runs out the order ends ``EXPIRED``
  with its partial ``executedQty``. Without an explicit book they fill completely at the current
  price (the synthetic book is display-only).
- LIMIT orders lock their funds (quote at the limit price for a BUY, base for a SELL). A limit order
  that is already crossed when placed (BUY limit >= price, SELL limit <= price; with an explicit
  book: against the levels within the limit) fills at once as a taker at the market's price; the
  rest rests (GTC) or expires (IOC; FOK fills completely or not at all). A resting order fills as a
  maker at its own limit price when ``set_price`` crosses it (optionally only ``liquidity`` of it),
  or when the test calls ``fill_order``. ``cancel_externally`` cancels one as the web UI would.
- Fees: 0.1% for takers and makers alike, taken from the asset received. An account added with
  ``pay_fees_in_bnb=True`` that holds enough free BNB pays 0.075% (the 25% BNB discount) in BNB,
  valued at the fake's BNB/USDT price and rounded half-up to 8 decimals, like Binance's "use BNB
  to pay for fees".
- clientOrderId reuse: a ``newClientOrderId`` is refused (-2010 "Duplicate order sent.") only while
  an order with that id is open; once it is filled, canceled or expired the id is accepted again.
- Order history: GET /api/v3/allOrders (orderId, startTime, endTime, limit; -1127 for a window over
  24 h); GET /api/v3/order by ``origClientOrderId`` finds the newest order with that id.
- Faults: ``inject_fault`` (an HTTP error, or with status 0 a slow answer the client gives up on
  while the order still executes, or an answer held back after the order executed), and ``inject_late_execution`` (Binance's -1007 "execution status
  unknown": the order is invisible, -2013 to lookups, until it executes ``execute_after`` seconds
  later at that moment's price, honouring the duplicate rule at that moment).
- ``set_latency``: every request waits before being handled, without holding the lock, so
  concurrent requests overlap. The server accepts bursts of connections (listen backlog 1024).

Deliberate simplifications, so tests stay predictable:
- Resting limit orders of the accounts are not part of the book and never trade with each other or
  with market orders; they fill only through set_price / fill_order. set_book does not fill them.
- The last price moves only with ``set_price``, never because of the fake's own fills.
- A market order's balance check uses the cost of the whole walk up front (nothing is filled if it
  is too much); its NOTIONAL check uses the current price.
- A market order with ``quoteOrderQty`` reports the quantity it actually bought/sold as ``origQty``.
- ``timestamp``/``recvWindow`` are required but not checked against the clock.
- Candles of every interval are built from the same closes (``set_history``).
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import random
import secrets
import select
import socket
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
TIME_IN_FORCE = ("GTC", "IOC", "FOK")
TAKER_FEE_RATE = Decimal("0.001")
MAKER_FEE_RATE = Decimal("0.001")  # Binance's regular tier charges makers the same 0.1%
FEE_RATE = TAKER_FEE_RATE
BNB_FEE_FACTOR = Decimal("0.75")  # paying in BNB: 25% off, 0.1% -> 0.075%
EIGHT_DP = Decimal("0.00000001")
ZERO = Decimal(0)
OPEN_STATUSES = ("NEW", "PARTIALLY_FILLED")
DAY_MS = 86_400_000
MAX_DEPTH = 5000

TIMEOUT_MSG = "Timeout waiting for response from backend server. Send status unknown; execution status unknown."


class BinanceError(Exception):
    """An error answered the way Binance does: an HTTP status and a {"code", "msg"} body."""

    def __init__(self, status: int, code: int, msg: str):
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


def _missing(name: str) -> BinanceError:
    return BinanceError(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


INVALID_SYMBOL = (400, -1121, "Invalid symbol.")
BAD_KEY = (401, -2015, "Invalid API-key, IP, or permissions for action.")
NO_SUCH_ORDER = (400, -2013, "Order does not exist.")
INSUFFICIENT_BALANCE = (400, -2010, "Account has insufficient balance for requested action.")


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


def _crossed(order: dict, price: Decimal) -> bool:
    """Whether a limit order would trade at `price`."""
    return order["price"] >= price if order["side"] == "BUY" else order["price"] <= price


def _remaining(order: dict) -> Decimal:
    return order["quantity"] - order["executedQty"]


def _levels(pairs) -> list[list[Decimal]]:
    return [[_dec(price), _dec(qty)] for price, qty in pairs if _dec(qty) > 0]


def _walk(levels: list, step: Decimal, qty: Decimal | None = None, quote: Decimal | None = None,
          limit: Decimal | None = None, buy: bool = True) -> tuple[list[tuple[Decimal, Decimal]], bool]:
    """Plan to take `qty` (or to trade for a `quote` budget) from book levels, best first, within `limit`.

    Returns [(price, qty), ...] without touching the book, and whether the side ran out of levels
    before the order was satisfied.
    """
    plan, taken, spent = [], ZERO, ZERO
    for price, available in levels:
        if limit is not None and (price > limit if buy else price < limit):
            return plan, False
        want = qty - taken if qty is not None else ((quote - spent) / price).quantize(step, ROUND_DOWN)
        take = min(available, want)
        if take <= 0:
            return plan, False
        plan.append((price, take))
        taken, spent = taken + take, spent + take * price
        if take < available:
            return plan, False  # satisfied inside this level
    if qty is not None:
        return plan, taken < qty
    # a quote budget is unsatisfied if it could still buy a lot step at the last price
    return plan, not plan or quote - spent >= plan[-1][0] * step


def _consume(levels: list, plan: list) -> None:
    """Remove planned quantities from the front of a book side (plan came from _walk on it)."""
    for _, qty in plan:
        levels[0][1] -= qty
        if levels[0][1] <= 0:
            levels.pop(0)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # listen backlog: bursts of bots connecting at once are queued, not refused

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
    def __init__(self, markets: dict = DEFAULT_MARKETS, book_levels: int = 5, book_qty="1"):
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
                "book": None,  # {"bids": [[price, qty], ...], "asks": [...]} once set_book is called
                "book_levels": book_levels, "book_qty": _dec(book_qty),
            }
        self._accounts: dict[str, dict] = {}
        self._orders: list[dict] = []
        self._trades: list[dict] = []
        self._log: list[dict] = []
        self._faults: list[dict] = []
        self._late_faults: list[dict] = []
        self._shares: list[dict] = []  # fail_share: a random share of requests fails
        self._late: list[dict] = []  # requests accepted under a late-execution fault
        self._timers: list[threading.Timer] = []
        self._latency = 0.0
        self._stopping = threading.Event()
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
            ("GET", "/api/v3/allOrders"): (self._all_orders, True),
            ("GET", "/api/v3/myTrades"): (self._my_trades, True),
            ("GET", "/sapi/v1/account/apiRestrictions"): (self._api_restrictions, True),
        }

    # ----------------------------------------------------------------- lifecycle & test control

    def start(self) -> "FakeBinance":
        handler = type("BoundHandler", (_Handler,), {"fake": self})
        self._stopping.clear()
        self._server = _Server(("127.0.0.1", 0), handler)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-binance", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # releases answers held by late-execution faults
        with self._lock:
            for timer in self._timers:
                timer.cancel()  # a stopped exchange executes nothing late
            self._timers.clear()
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
                    can_trade: bool = True, pay_fees_in_bnb: bool = False) -> None:
        with self._lock:
            self._accounts[api_key] = {
                "api_key": api_key, "secret": secret, "can_trade": can_trade, "can_withdraw": can_withdraw,
                "pay_fees_in_bnb": pay_fees_in_bnb, "uid": self._new_id(), "created": _now_ms(),
                "wallets": {asset: {"free": _dec(v), "locked": ZERO} for asset, v in balances.items()},
            }

    def set_price(self, symbol: str, price, liquidity=None) -> None:
        """Move the last price; resting limit orders it crosses fill at their limit price as makers.

        With `liquidity`, at most that base quantity is filled in total, best-priced then oldest first.
        """
        with self._lock:
            m = self._market_by_symbol(symbol)
            m["price"] = _dec(price)
            self._match_resting(m, None if liquidity is None else _dec(liquidity))

    def set_history(self, symbol: str, closes: list) -> None:
        """Closes of past closed candles, oldest first; the open candle closes at the current price."""
        with self._lock:
            self._market_by_symbol(symbol)["history"] = [_dec(c) for c in closes]

    def set_book(self, symbol: str, bids=(), asks=()) -> None:
        """Install an explicit book of (price, qty) levels, or go back to the synthetic one with None."""
        with self._lock:
            m = self._market_by_symbol(symbol)
            if bids is None:
                m["book"] = None
                return
            m["book"] = {"bids": sorted(_levels(bids), key=lambda level: -level[0]),
                         "asks": sorted(_levels(asks or ()), key=lambda level: level[0])}

    def set_filters(self, symbol: str, tickSize=None, stepSize=None, minQty=None, minNotional=None) -> None:
        """Change a market's trading rules (what exchangeInfo serves and orders are checked against)."""
        with self._lock:
            m = self._market_by_symbol(symbol)
            for key, value in (("tick", tickSize), ("step", stepSize), ("min_qty", minQty), ("min_notional", minNotional)):
                if value is not None:
                    m[key] = _dec(value)

    def set_book_depth(self, symbol: str, levels: int | None = None, qty=None) -> None:
        """Shape of the synthetic book: how many levels per side and the quantity of each."""
        with self._lock:
            m = self._market_by_symbol(symbol)
            if levels is not None:
                m["book_levels"] = levels
            if qty is not None:
                m["book_qty"] = _dec(qty)

    def book(self, symbol: str) -> dict:
        """The book as /api/v3/depth serves it: {"bids": [(price, qty), ...], "asks": [...]}, best first."""
        with self._lock:
            bids, asks = self._book_sides(self._market_by_symbol(symbol))
            return {"bids": [tuple(level) for level in bids], "asks": [tuple(level) for level in asks]}

    def fill_order(self, api_key: str, client_order_id: str, qty=None) -> None:
        """Fill `qty` (default: all that remains) of the newest open order with this clientOrderId,
        at its limit price, as a maker; one trade per call."""
        with self._lock:
            order = self._open_order_or_raise(api_key, client_order_id)
            qty = _remaining(order) if qty is None else _dec(qty)
            if not ZERO < qty <= _remaining(order):
                raise ValueError(f"cannot fill {qty} of {client_order_id!r}: {_remaining(order)} remains")
            m = self._markets[order["symbol"]]
            self._trade(order, m, self._accounts[api_key], order["price"], qty, maker=True)

    def cancel_externally(self, api_key: str, client_order_id: str) -> None:
        """Cancel the newest open order with this clientOrderId, as the user would in the web UI."""
        with self._lock:
            self._cancel(self._open_order_or_raise(api_key, client_order_id))

    def orders(self, api_key: str | None = None) -> list[dict]:
        with self._lock:
            return [copy.deepcopy(o) for o in self._orders if api_key is None or o["api_key"] == api_key]

    def trades(self, api_key: str | None = None) -> list[dict]:
        with self._lock:
            return [copy.deepcopy(t) for t in self._trades if api_key is None or t["api_key"] == api_key]

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

    def set_latency(self, seconds: float) -> None:
        """Every request (public and private) waits this long before it is handled, lock not held."""
        self._latency = float(seconds)

    def inject_fault(self, path_prefix: str, status: int, count: int = 1, body: dict | str | None = None,
                     delay: float = 0, retry_after: int = 1, hold: float = 0) -> None:
        """The next `count` requests under `path_prefix` wait `delay` seconds, then get `status` with
        `body` (a Binance-like default when None) or, when status is 0, are handled normally.

        hold (status 0): the request is handled at once (an order is on the book and filled), but
        its answer is held back `hold` seconds, or until the client hangs up or stop(): the moment
        between "the exchange did it" and "the sender knows", where a sender can die."""
        with self._lock:
            self._faults.append({"prefix": path_prefix, "status": status, "remaining": count,
                                 "body": body, "delay": delay, "retry_after": retry_after, "hold": hold})

    def fail_share(self, share: float, statuses=(500, 502, 503, 429, 418, "timeout"), path_prefix: str = "/api/",
                   methods=("GET", "POST", "DELETE"), timeout_delay: float = 1.5, seed: int = 7) -> None:
        """From now on a `share` of the requests of `methods` under `path_prefix` fail, each with a
        status drawn from `statuses`; "timeout" holds the request `timeout_delay` seconds, then
        executes it (the client has given up by then, so it does not know the outcome). Rules add
        up (the first that matches decides); share=0 removes them all."""
        with self._lock:
            if not share:
                self._shares.clear()
                return
            self._shares.append({"share": share, "statuses": tuple(statuses), "prefix": path_prefix,
                                 "methods": tuple(methods), "delay": timeout_delay, "random": random.Random(seed)})

    def inject_late_execution(self, path_prefix: str = "/api/v3/order", execute_after: float = 45.0,
                              count: int = 1, answer: str = "timeout", status: int = 408) -> None:
        """The next `count` authenticated POSTs under `path_prefix` are accepted but executed only
        `execute_after` seconds later; until then the order does not exist (-2013).

        answer="error": reply at once with `status` and {"code": -1007, "msg": TIMEOUT_MSG}.
        answer="timeout": hold the reply until the client hangs up (or execute_after passes, then
        send that same -1007 error).
        """
        if answer not in ("timeout", "error"):
            raise ValueError("answer must be 'timeout' or 'error'")
        with self._lock:
            self._late_faults.append({"prefix": path_prefix, "execute_after": execute_after,
                                      "remaining": count, "answer": answer, "status": status})

    def late_executions(self) -> list[dict]:
        """Requests accepted under inject_late_execution: api_key, clientOrderId, params, accepted and
        due (epoch seconds), answer and status (how it was answered), outcome ("pending", "executed" or
        "rejected"), orderId (once executed) and error ({"code", "msg"} once rejected)."""
        with self._lock:
            return copy.deepcopy(self._late)

    def clear_faults(self) -> None:
        """Forget injected faults not yet triggered (already accepted late orders still execute)."""
        with self._lock:
            self._faults.clear()
            self._late_faults.clear()
            self._shares.clear()

    # ----------------------------------------------------------------- HTTP plumbing

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        url = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw_body = handler.rfile.read(length).decode() if length else ""
        api_key = handler.headers.get("X-MBX-APIKEY")
        if self._latency:
            time.sleep(self._latency)  # outside the lock: concurrent requests overlap
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        params.update(parse_qsl(raw_body, keep_blank_values=True))
        params.pop("signature", None)
        # `time` is when the request reached the exchange (after any simulated latency)
        entry = {"method": handler.command, "path": url.path, "query": dict(parse_qsl(url.query)),
                 "params": params, "api_key": api_key, "time": time.time(), "status": None}
        with self._lock:
            self._log.append(entry)
            fault = self._take_fault(url.path, handler.command)
        if fault and fault["delay"]:
            time.sleep(fault["delay"])  # outside the lock: other requests keep flowing
        headers: dict[str, str] = {}
        if fault and fault["status"]:
            status, body, headers = self._fault_response(fault)
        elif late := self._accept_late(handler.command, url.path, url.query, raw_body, api_key):
            status, body = self._late_answer(handler, late)
        else:
            status, body = self._dispatch(handler.command, url.path, url.query, raw_body, api_key)
            if fault and fault.get("hold"):
                self._hold_until_client_leaves(handler.connection, time.time() + fault["hold"])
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

    def _take_fault(self, path: str, method: str = "GET") -> dict | None:
        for fault in self._faults:
            if path.startswith(fault["prefix"]):
                fault["remaining"] -= 1
                if fault["remaining"] <= 0:
                    self._faults.remove(fault)
                return fault
        share = next((r for r in self._shares if path.startswith(r["prefix"]) and method in r["methods"]), None)
        if share and share["random"].random() < share["share"]:
            status = share["random"].choice(share["statuses"])
            if status == "timeout":
                return {"status": 0, "delay": share["delay"], "body": None, "retry_after": 1}
            return {"status": status, "delay": 0, "body": None, "retry_after": 1}
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

    # ----------------------------------------------------------------- late execution (-1007)

    def _accept_late(self, method: str, path: str, raw_query: str, raw_body: str, api_key: str | None):
        """If a late-execution fault applies to this request, accept it for later and return the
        pending record; None means "handle normally" (also for requests failing authentication)."""
        route = self._routes.get((method, path))
        if method != "POST" or not self._late_faults or route is None or not route[1]:
            return None
        params = dict(parse_qsl(raw_query, keep_blank_values=True))
        params.update(parse_qsl(raw_body, keep_blank_values=True))
        with self._lock:
            fault = next((f for f in self._late_faults if path.startswith(f["prefix"])), None)
            if fault is None:
                return None
            try:
                self._authenticate(api_key, raw_query, raw_body, params)
            except BinanceError:
                return None  # the gateway refuses it before it reaches the matching engine
            fault["remaining"] -= 1
            if fault["remaining"] <= 0:
                self._late_faults.remove(fault)
            params = {k: v for k, v in params.items() if k != "signature"}
            params.setdefault("newClientOrderId", secrets.token_urlsafe(16))
            now = time.time()
            pending = {"api_key": api_key, "clientOrderId": params["newClientOrderId"], "params": params,
                       "accepted": now, "due": now + fault["execute_after"], "outcome": "pending",
                       "orderId": None, "error": None, "answer": fault["answer"], "status": fault["status"]}
            self._late.append(pending)
            timer = threading.Timer(fault["execute_after"], self._execute_late, args=(pending,))
            timer.daemon = True
            self._timers = [t for t in self._timers if t.is_alive()] + [timer]
            timer.start()
            return pending

    def _execute_late(self, pending: dict) -> None:
        """The matching engine finally gets the order: exactly a normal placement, at this moment."""
        with self._lock:
            if self._stopping.is_set():
                return
            account = self._accounts.get(pending["api_key"])
            try:
                response = self._new_order(dict(pending["params"]), account)
            except BinanceError as e:
                pending.update(outcome="rejected", error={"code": e.code, "msg": e.msg})
            else:
                pending.update(outcome="executed", orderId=response["orderId"])

    def _late_answer(self, handler: BaseHTTPRequestHandler, pending: dict) -> tuple[int, dict]:
        if pending["answer"] == "timeout":
            self._hold_until_client_leaves(handler.connection, pending["due"])
        return pending["status"], {"code": -1007, "msg": TIMEOUT_MSG}

    def _hold_until_client_leaves(self, sock: socket.socket, deadline: float) -> None:
        """Keep the answer back until the client closes the connection, the deadline or stop()."""
        while time.time() < deadline and not self._stopping.is_set():
            readable, _, _ = select.select([sock], [], [], 0.05)
            if not readable:
                continue
            try:
                if not sock.recv(1, socket.MSG_PEEK):
                    return  # EOF: the client gave up
            except OSError:
                return
            time.sleep(0.05)  # unexpected bytes from the client; keep waiting without spinning

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

    def _book_sides(self, m: dict) -> tuple[list, list]:
        """(bids, asks), best first: the explicit book, or the synthetic one around the price."""
        if m["book"] is not None:
            return m["book"]["bids"], m["book"]["asks"]
        price, tick, qty = m["price"], m["tick"], m["book_qty"]
        steps = range(1, m["book_levels"] + 1)
        bids = [[price - tick * i, qty] for i in steps if price - tick * i > 0]
        asks = [[price + tick * i, qty] for i in steps]
        return bids, asks

    def _top_of_book(self, m: dict) -> dict:
        bids, asks = self._book_sides(m)
        bid, ask = (bids[0] if bids else (ZERO, ZERO)), (asks[0] if asks else (ZERO, ZERO))
        return {"bidPrice": _fmt(bid[0]), "bidQty": _fmt(bid[1]), "askPrice": _fmt(ask[0]), "askQty": _fmt(ask[1])}

    def _open_order(self, api_key: str, client_id: str) -> dict | None:
        return next((o for o in reversed(self._orders) if o["api_key"] == api_key
                     and o["clientOrderId"] == client_id and o["status"] in OPEN_STATUSES), None)

    def _open_order_or_raise(self, api_key: str, client_id: str) -> dict:
        order = self._open_order(api_key, client_id)
        if order is None:
            raise KeyError(f"no open order {client_id!r} for {api_key!r}")
        return order

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
            "lastPrice": _fmt(price), "lastQty": "0.10000000", **self._top_of_book(m),
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
        books = [{"symbol": m["id"], **self._top_of_book(m)} for m in markets]
        return books[0] if single else books

    def _avg_price(self, params, _):
        return {"mins": 5, "price": _fmt(self._market(params)["price"]), "closeTime": _now_ms()}

    def _depth(self, params, _):
        m = self._market(params)
        limit = max(1, min(_int_param(params, "limit", 100), MAX_DEPTH))  # Binance: default 100, max 5000
        bids, asks = self._book_sides(m)
        return {"lastUpdateId": self._new_id(),
                "bids": [[_fmt(p), _fmt(q)] for p, q in bids[:limit]],
                "asks": [[_fmt(p), _fmt(q)] for p, q in asks[:limit]]}

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
            "commissionRates": {"maker": _fmt(MAKER_FEE_RATE), "taker": _fmt(TAKER_FEE_RATE),
                                "buyer": "0.00000000", "seller": "0.00000000"},
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

    # ----------------------------------------------------------------- placing orders

    def _new_order(self, params, account):
        if not account["can_trade"]:
            raise BinanceError(*BAD_KEY)  # what Binance answers for a key without trading permission
        m = self._market(params)
        side, order_type, tif = self._order_kind(params)
        client_id = params.get("newClientOrderId") or secrets.token_urlsafe(16)
        # Binance: "unique among open orders" -- a filled order's id may be reused.
        if self._open_order(account["api_key"], client_id) is not None:
            raise BinanceError(400, -2010, "Duplicate order sent.")
        qty, quote_qty = _decimal_param(params, "quantity"), _decimal_param(params, "quoteOrderQty")
        now = _now_ms()
        order = {
            "api_key": account["api_key"], "symbol": m["id"], "side": side, "type": order_type,
            "quantity": qty, "quoteOrderQty": quote_qty, "clientOrderId": client_id, "orderId": None,
            "price": ZERO, "executedQty": ZERO, "cummulativeQuoteQty": ZERO, "status": "NEW",
            "timeInForce": tif, "time": now, "updateTime": now, "fills": [],
        }
        if order_type == "MARKET":
            self._place_market(order, m, account)
        else:
            self._place_limit(order, m, account, params)
        self._orders.append(order)
        return self._order_response(order, params.get("newOrderRespType", "FULL"))

    @staticmethod
    def _order_kind(params: dict) -> tuple[str, str, str]:
        side, order_type = params.get("side"), params.get("type")
        if not side:
            raise _missing("side")
        if side not in ("BUY", "SELL"):
            raise BinanceError(400, -1117, "Invalid side.")
        if not order_type:
            raise _missing("type")
        if order_type not in ("MARKET", "LIMIT"):
            raise BinanceError(400, -1116, "Invalid orderType.")
        tif = params.get("timeInForce") or "GTC"
        if order_type == "LIMIT" and tif not in TIME_IN_FORCE:
            raise BinanceError(400, -1115, "Invalid timeInForce.")
        return side, order_type, tif

    @staticmethod
    def _check_filters(m: dict, qty: Decimal, price: Decimal) -> None:
        if qty < m["min_qty"] or qty > m["max_qty"] or (qty - m["min_qty"]) % m["step"]:
            raise BinanceError(400, -1013, "Filter failure: LOT_SIZE")
        if qty * price < m["min_notional"]:
            raise BinanceError(400, -1013, "Filter failure: NOTIONAL")

    def _place_market(self, order: dict, m: dict, account: dict) -> None:
        qty, quote_qty, buy = order["quantity"], order["quoteOrderQty"], order["side"] == "BUY"
        if qty is None and quote_qty is None:
            raise BinanceError(400, -1102, "Param 'quantity' or 'quoteOrderQty' must be sent, "
                                           "but both were empty/null!")
        # a quoteOrderQty order is validated as the base amount it buys at the current price
        estimate = qty if qty is not None else (quote_qty / m["price"]).quantize(m["step"], rounding=ROUND_DOWN)
        self._check_filters(m, estimate, m["price"])
        if m["book"] is None:
            plan, short = [(m["price"], estimate)], False
        else:
            levels = m["book"]["asks" if buy else "bids"]
            plan, short = _walk(levels, m["step"], qty=qty, quote=None if qty is not None else quote_qty, buy=buy)
        needed = sum(p * q for p, q in plan) if buy else (qty if qty is not None else sum(q for _, q in plan))
        if self._wallet(account, m["quote"] if buy else m["base"])["free"] < needed:
            raise BinanceError(*INSUFFICIENT_BALANCE)
        if qty is None:
            order["quantity"] = sum((q for _, q in plan), ZERO)
        order["orderId"] = self._new_id()
        self._take_liquidity(order, m, account, plan)
        if short:
            order.update(status="EXPIRED", updateTime=_now_ms())  # the book ran out: the rest expires

    def _place_limit(self, order: dict, m: dict, account: dict, params: dict) -> None:
        for name in ("timeInForce", "quantity", "price"):
            if not params.get(name):
                raise _missing(name)
        limit = _decimal_param(params, "price")
        if limit <= 0 or limit % m["tick"]:
            raise BinanceError(400, -1013, "Filter failure: PRICE_FILTER")
        order["price"] = limit
        self._check_filters(m, order["quantity"], limit)
        self._lock_funds(order, m, account)
        order["orderId"] = self._new_id()
        plan = self._taker_plan(order, m)
        if order["timeInForce"] == "FOK" and sum(q for _, q in plan) < order["quantity"]:
            plan = []  # fill-or-kill: all or nothing
        self._take_liquidity(order, m, account, plan)
        if order["timeInForce"] != "GTC" and order["status"] in OPEN_STATUSES:
            self._release(order, m, account)
            order.update(status="EXPIRED", updateTime=_now_ms())

    def _lock_funds(self, order: dict, m: dict, account: dict) -> None:
        buy = order["side"] == "BUY"
        wallet = self._wallet(account, m["quote"] if buy else m["base"])
        amount = order["quantity"] * order["price"] if buy else order["quantity"]
        if wallet["free"] < amount:
            raise BinanceError(*INSUFFICIENT_BALANCE)
        wallet["free"] -= amount
        wallet["locked"] += amount

    def _release(self, order: dict, m: dict, account: dict) -> None:
        """Give back what an open limit order still holds."""
        remaining = _remaining(order)
        buy = order["side"] == "BUY"
        wallet = self._wallet(account, m["quote"] if buy else m["base"])
        amount = remaining * order["price"] if buy else remaining
        wallet["locked"] -= amount
        wallet["free"] += amount

    def _taker_plan(self, order: dict, m: dict) -> list[tuple[Decimal, Decimal]]:
        """What a new limit order takes at once: book levels within its limit, or everything at the
        current price if it is crossed and there is no explicit book."""
        buy = order["side"] == "BUY"
        if m["book"] is not None:
            levels = m["book"]["asks" if buy else "bids"]
            return _walk(levels, m["step"], qty=order["quantity"], limit=order["price"], buy=buy)[0]
        return [(m["price"], order["quantity"])] if _crossed(order, m["price"]) else []

    def _take_liquidity(self, order: dict, m: dict, account: dict, plan: list) -> None:
        if m["book"] is not None and plan:
            _consume(m["book"]["asks" if order["side"] == "BUY" else "bids"], plan)
        for price, qty in plan:
            self._trade(order, m, account, price, qty, maker=False)

    # ----------------------------------------------------------------- fills

    def _match_resting(self, m: dict, liquidity: Decimal | None) -> None:
        """Fill the resting limit orders the current price crosses, best price then oldest first."""
        crossed = [o for o in self._orders if o["symbol"] == m["id"] and o["type"] == "LIMIT"
                   and o["status"] in OPEN_STATUSES and _crossed(o, m["price"])]
        crossed.sort(key=lambda o: (-o["price"] if o["side"] == "BUY" else o["price"], o["orderId"]))
        for order in crossed:
            qty = _remaining(order) if liquidity is None else min(_remaining(order), liquidity)
            if qty <= 0:
                break
            self._trade(order, m, self._accounts[order["api_key"]], order["price"], qty, maker=True)
            if liquidity is not None:
                liquidity -= qty

    def _trade(self, order: dict, m: dict, account: dict, price: Decimal, qty: Decimal, maker: bool) -> None:
        """One fill of `qty` at `price`: move the funds, charge the fee, record the trade."""
        cost = qty * price
        buy = order["side"] == "BUY"
        base, quote = self._wallet(account, m["base"]), self._wallet(account, m["quote"])
        if buy:
            if order["type"] == "LIMIT":  # paid from the funds locked at the limit price
                quote["locked"] -= qty * order["price"]
                quote["free"] += qty * order["price"] - cost
            else:
                quote["free"] -= cost
            base["free"] += qty
        else:
            base["locked" if order["type"] == "LIMIT" else "free"] -= qty
            quote["free"] += cost
        # decided after the fill's own movements, so selling one's last BNB cannot pay its fee in BNB
        commission, commission_asset = self._commission(account, m, buy, qty, cost, maker)
        self._wallet(account, commission_asset)["free"] -= commission
        trade_id, now = self._new_id(), _now_ms()
        executed = order["executedQty"] + qty
        order.update(executedQty=executed, cummulativeQuoteQty=order["cummulativeQuoteQty"] + cost,
                     status="FILLED" if executed >= order["quantity"] else "PARTIALLY_FILLED", updateTime=now)
        order["fills"].append({"price": price, "qty": qty, "commission": commission,
                               "commissionAsset": commission_asset, "tradeId": trade_id})
        self._trades.append({
            "api_key": account["api_key"], "symbol": m["id"], "id": trade_id, "orderId": order["orderId"],
            "orderListId": -1, "price": price, "qty": qty, "quoteQty": cost, "commission": commission,
            "commissionAsset": commission_asset, "time": now,
            "isBuyer": buy, "isMaker": maker, "isBestMatch": True,
        })

    def _commission(self, account: dict, m: dict, buy: bool, qty: Decimal, cost: Decimal,
                    maker: bool) -> tuple[Decimal, str]:
        """Fee of one fill: in BNB at the discounted rate when the account opted in and has that much
        free BNB, otherwise out of the asset received."""
        rate = MAKER_FEE_RATE if maker else TAKER_FEE_RATE
        if account.get("pay_fees_in_bnb"):
            value = self._value_in_bnb(m["quote"], cost)
            if value is not None:
                fee = (value * rate * BNB_FEE_FACTOR).quantize(EIGHT_DP, ROUND_HALF_UP)
                if self._wallet(account, "BNB")["free"] >= fee:
                    return fee, "BNB"
        if buy:
            return (qty * rate).quantize(EIGHT_DP, ROUND_HALF_UP), m["base"]
        return (cost * rate).quantize(EIGHT_DP, ROUND_HALF_UP), m["quote"]

    def _value_in_bnb(self, asset: str, amount: Decimal) -> Decimal | None:
        if asset == "BNB":
            return amount
        bnb = self._markets.get("BNBUSDT")
        if bnb is None or bnb["price"] <= 0:
            return None
        if asset == "USDT":
            return amount / bnb["price"]
        via = self._markets.get(asset + "USDT")
        return None if via is None else amount * via["price"] / bnb["price"]

    def _cancel(self, order: dict) -> None:
        m, account = self._markets[order["symbol"]], self._accounts[order["api_key"]]
        self._release(order, m, account)
        order.update(status="CANCELED", updateTime=_now_ms())

    # ----------------------------------------------------------------- reading and cancelling orders

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
        raise BinanceError(*NO_SUCH_ORDER)

    @staticmethod
    def _order_view(order: dict) -> dict:
        """An order as GET /api/v3/order, openOrders and allOrders show it."""
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
        if resp_type == "FULL":  # the fills made while placing it; later fills are only in myTrades
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
        self._cancel(order)
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

    def _all_orders(self, params, account):
        """Binance: orderId -> orders from that id up; startTime/endTime -> that window (at most 24 h)
        from its start; neither -> the most recent. Oldest first, `limit` default 500, max 1000."""
        m = self._market(params)
        order_id = _int_param(params, "orderId")
        start, end = _int_param(params, "startTime"), _int_param(params, "endTime")
        if start is not None and end is not None and end - start > DAY_MS:
            raise BinanceError(400, -1127, "More than 24 hours between startTime and endTime.")
        limit = max(1, min(_int_param(params, "limit", 500), 1000))
        orders = [o for o in self._orders
                  if o["api_key"] == account["api_key"] and o["symbol"] == m["id"]
                  and (order_id is None or o["orderId"] >= order_id)
                  and (start is None or o["time"] >= start) and (end is None or o["time"] <= end)]
        orders.sort(key=lambda o: o["orderId"])
        orders = orders[:limit] if order_id is not None or start is not None else orders[-limit:]
        return [self._order_view(o) for o in orders]

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
