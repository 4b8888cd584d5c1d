"""What every fake spot exchange shares: the HTTP server, accounts and wallets, the matching of
orders, and injectable faults. Each exchange's protocol (URLs, signing, answers, error bodies,
what its statuses are called) lives in its own module (bybit_api.py, okx_api.py) on top.

Owns a real HTTP server on 127.0.0.1 (stdlib ThreadingHTTPServer in a daemon thread); all state
sits behind one lock. Tests steer it through Python methods; other processes reach it over HTTP,
through the real ccxt client.

Matching, as a spot exchange does it (simplified, and stated):
- a market order fills completely at the current price (``set_price``), as a taker;
- a limit order that is crossed when placed fills at the current price as a taker; otherwise it
  rests with its funds locked, and fills at its own price, as a maker, when ``set_price``
  crosses it or the test calls ``fill_order`` (partly, if asked); ``cancel_externally`` cancels
  it as the web UI would;
- fees are taken from the asset received, at the exchange's rates, rounded half-up to 8 places;
- order books are synthetic (``book_levels`` levels of ``book_qty`` one tick apart around the
  price) and display-only; candles of every interval are built from ``set_history`` closes.
Faults: ``inject_fault(prefix, status, delay=...)``: with status 0 the request is handled after
the delay (an answer the client gave up on, while the order still executes); otherwise, after
the delay, it is answered with that status and the exchange's error body, and nothing is done.
"""
from __future__ import annotations

import copy
import itertools
import json
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

ZERO = Decimal(0)
EIGHT_DP = Decimal("0.00000001")
INTERVAL_MS = {"1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000, "1h": 3_600_000,
               "2h": 7_200_000, "4h": 14_400_000, "6h": 21_600_000, "12h": 43_200_000, "1d": 86_400_000}

# symbol -> price step, amount step, minimum amount, minimum order value, starting price
DEFAULT_MARKETS = {
    "BTC/USDT": {"tick": "0.01", "step": "0.000001", "min_qty": "0.000048", "min_cost": "5", "price": "60000"},
    "ETH/USDT": {"tick": "0.01", "step": "0.00001", "min_qty": "0.0001", "min_cost": "5", "price": "3000"},
    "SOL/USDT": {"tick": "0.01", "step": "0.001", "min_qty": "0.001", "min_cost": "5", "price": "150"},
}


def dec(value) -> Decimal:
    return Decimal(str(value))


def text(value: Decimal | None) -> str:
    """A decimal as exchanges print it: positional, no trailing zeros."""
    if value is None:
        return ""
    rendered = format(value.normalize(), "f")
    return rendered.rstrip("0").rstrip(".") if "." in rendered else rendered


def now_ms() -> int:
    return int(time.time() * 1000)


class Refused(Exception):
    """A request the exchange refuses; `kind` names why, the protocol module words it."""

    def __init__(self, kind: str, detail: str = ""):
        super().__init__(kind)
        self.kind, self.detail = kind, detail


class Reply(Exception):
    """A finished HTTP answer (status and body) raised from deep inside a handler."""

    def __init__(self, status: int, body):
        super().__init__(status)
        self.status, self.body = status, body


@dataclass
class Request:
    method: str
    path: str
    raw_query: str
    raw_body: str
    headers: dict
    network: str = "live"
    params: dict = field(default_factory=dict)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):  # clients that gave up are expected
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    fake: "FakeSpotExchange"

    def do_GET(self):
        self.fake._serve(self)

    do_POST = do_DELETE = do_PUT = do_GET

    def log_message(self, format, *args):
        pass


class FakeSpotExchange:
    name = "spot"
    taker_fee = Decimal("0.001")
    maker_fee = Decimal("0.001")
    recent_orders = 500  # how many of an account's latest orders the "realtime" lookup sees

    def __init__(self, markets: dict = DEFAULT_MARKETS, book_levels: int = 5, book_qty="1"):
        self._lock = threading.RLock()
        self._markets = {}
        for symbol, spec in markets.items():
            base, quote = symbol.split("/")
            self._markets[symbol] = {
                "symbol": symbol, "base": base, "quote": quote, "tick": dec(spec["tick"]), "step": dec(spec["step"]),
                "min_qty": dec(spec["min_qty"]), "min_cost": dec(spec["min_cost"]), "price": dec(spec["price"]),
                "history": [], "book_levels": book_levels, "book_qty": dec(book_qty),
            }
        self._accounts: dict[str, dict] = {}
        self._orders: list[dict] = []
        self._trades: list[dict] = []
        self._log: list[dict] = []
        self._faults: list[dict] = []
        self._ids = itertools.count(1_000_000_001)
        self._server = self._thread = None
        self.base_url = ""

    # ----------------------------------------------------------------- lifecycle and test control

    def start(self):
        self._server = _Server(("127.0.0.1", 0), type("BoundHandler", (_Handler,), {"fake": self}))
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"fake-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def add_account(self, api_key: str, secret: str, balances: dict, can_withdraw: bool = False,
                    can_trade: bool = True, testnet: bool = False, passphrase: str | None = None,
                    **traits) -> None:
        """An account on the live network, or on the exchange's testnet (demo) with testnet=True."""
        with self._lock:
            self._accounts[api_key] = {
                "api_key": api_key, "secret": secret, "passphrase": passphrase, "can_trade": can_trade,
                "can_withdraw": can_withdraw, "network": "testnet" if testnet else "live", "uid": next(self._ids),
                "wallets": {asset: {"free": dec(v), "locked": ZERO} for asset, v in balances.items()}, **traits,
            }

    def set_price(self, symbol: str, price) -> None:
        """Move the last price; resting limit orders it crosses fill at their own price (makers)."""
        with self._lock:
            market = self._market(symbol)
            market["price"] = dec(price)
            crossed = [o for o in self._orders if o["symbol"] == symbol and o["status"] == "open"
                       and o["type"] == "limit" and self._crossed(o, market["price"])]
            for order in crossed:
                self._fill(order, order["price"], order["qty"] - order["filled"], maker=True)

    def set_history(self, symbol: str, closes: list) -> None:
        """Closes of past closed candles, oldest first; the open candle closes at the current price."""
        with self._lock:
            self._market(symbol)["history"] = [dec(c) for c in closes]

    def fill_order(self, api_key: str, client_id: str, qty=None) -> None:
        """Fill `qty` (default: all that remains) of an open order at its limit price, as a maker."""
        with self._lock:
            order = self._open_by_client_id(api_key, client_id)
            self._fill(order, order["price"], order["qty"] - order["filled"] if qty is None else dec(qty), maker=True)

    def cancel_externally(self, api_key: str, client_id: str) -> None:
        with self._lock:
            self._cancel(self._open_by_client_id(api_key, client_id))

    def orders(self, api_key: str | None = None) -> list[dict]:
        with self._lock:
            return [copy.deepcopy(o) for o in self._orders if api_key is None or o["api_key"] == api_key]

    def trades(self, api_key: str | None = None) -> list[dict]:
        with self._lock:
            return [copy.deepcopy(t) for t in self._trades if api_key is None or t["api_key"] == api_key]

    def balances(self, api_key: str) -> dict[str, Decimal]:
        """Free amount per asset (see locked())."""
        with self._lock:
            return {asset: w["free"] for asset, w in self._accounts[api_key]["wallets"].items()}

    def locked(self, api_key: str) -> dict[str, Decimal]:
        with self._lock:
            return {asset: w["locked"] for asset, w in self._accounts[api_key]["wallets"].items()}

    def requests(self) -> list[dict]:
        with self._lock:
            return copy.deepcopy(self._log)

    def inject_fault(self, path_prefix: str, status: int, count: int = 1, body=None, delay: float = 0) -> None:
        """The next `count` requests under `path_prefix` wait `delay` s, then get `status` with `body`
        (the exchange's own error body when None) or, when status is 0, are handled normally."""
        with self._lock:
            self._faults.append({"prefix": path_prefix, "status": status, "remaining": count, "body": body,
                                 "delay": delay})

    # ----------------------------------------------------------------- protocol hooks (subclasses)

    routes: dict = {}  # (method, path) -> (method name, signed)

    def network_of(self, request: Request) -> Request:
        """Which network the request is for (and its path without any network prefix)."""
        return request

    def authenticate(self, request: Request) -> dict:
        raise NotImplementedError

    def params_of(self, request: Request) -> dict:
        params = dict(parse_qsl(request.raw_query, keep_blank_values=True))
        if request.raw_body:
            params.update(json.loads(request.raw_body))
        return params

    def refusal(self, error: Refused, request: Request) -> tuple[int, object]:
        raise NotImplementedError

    def fault_body(self, status: int):
        return f"<html><body><h1>{status}</h1></body></html>"

    def success(self, result) -> tuple[int, object]:
        return 200, result

    # ----------------------------------------------------------------- HTTP plumbing

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        url = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        request = Request(handler.command, url.path, url.query, handler.rfile.read(length).decode() if length else "",
                          {k.lower(): v for k, v in handler.headers.items()})
        request = self.network_of(request)
        entry = {"method": request.method, "path": request.path, "network": request.network, "query": request.raw_query,
                 "body": request.raw_body, "api_key": None, "time": time.time(), "status": None}
        with self._lock:
            self._log.append(entry)
            fault = next((f for f in self._faults if request.path.startswith(f["prefix"])), None)
            if fault:
                fault["remaining"] -= 1
                if fault["remaining"] <= 0:
                    self._faults.remove(fault)
        if fault and fault["delay"]:
            time.sleep(fault["delay"])  # outside the lock: other requests keep flowing
        if fault and fault["status"]:
            status, body = fault["status"], fault["body"] if fault["body"] is not None else self.fault_body(fault["status"])
        else:
            status, body = self._dispatch(request, entry)
        with self._lock:
            entry["status"] = status
        self._write(handler, status, body)

    def _dispatch(self, request: Request, entry: dict):
        route = self.routes.get((request.method, request.path))
        if route is None:
            return 404, f"fake {self.name} has no route for {request.method} {request.path}"
        name, signed = route
        try:
            with self._lock:
                request.params = self.params_of(request)
                account = self.authenticate(request) if signed else None
                entry["api_key"] = account and account["api_key"]
                return self.success(getattr(self, name)(request, account))
        except Reply as reply:
            return reply.status, reply.body
        except Refused as error:
            return self.refusal(error, request)
        except Exception:
            return 500, f"fake {self.name} crashed:\n" + traceback.format_exc()

    @staticmethod
    def _write(handler, status: int, body) -> None:
        if isinstance(body, str):
            data, content_type = body.encode(), "text/html;charset=UTF-8"
        else:
            data, content_type = json.dumps(body, separators=(",", ":")).encode(), "application/json"
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except ConnectionError:
            pass  # the client already gave up

    # ----------------------------------------------------------------- the matching engine (under the lock)

    def _market(self, symbol: str) -> dict:
        if symbol not in self._markets:
            raise Refused("symbol", symbol)
        return self._markets[symbol]

    def place(self, account: dict, symbol: str, side: str, type_: str, qty: Decimal | None, price: Decimal | None,
              client_id: str, quote_qty: Decimal | None = None) -> dict:
        """A new order for the account (side buy|sell, type market|limit); raises Refused."""
        market = self._market(symbol)
        if not account["can_trade"]:
            raise Refused("permission")
        if quote_qty is not None:  # a market buy for an amount of quote
            qty = (quote_qty / market["price"]).quantize(market["step"], ROUND_DOWN)
        if qty is None or qty <= 0 or qty % market["step"]:
            raise Refused("qty_precision")
        if type_ == "limit" and (price is None or price <= 0 or price % market["tick"]):
            raise Refused("price_precision")
        if qty < market["min_qty"]:
            raise Refused("min_qty")
        at = price if type_ == "limit" else market["price"]
        if qty * at < market["min_cost"]:
            raise Refused("min_cost")
        order = {"id": str(next(self._ids)), "api_key": account["api_key"], "symbol": symbol, "client_id": client_id,
                 "side": side, "type": type_, "price": price, "qty": qty, "quote_qty": quote_qty, "filled": ZERO,
                 "cost": ZERO, "fees": {}, "status": "open", "created": now_ms(), "updated": now_ms(), "rests": False}
        held_asset, held = (market["quote"], qty * at) if side == "buy" else (market["base"], qty)
        wallet = self._wallet(account, held_asset)
        if wallet["free"] < held:
            raise Refused("insufficient", held_asset)
        self._orders.append(order)
        if type_ == "market" or self._crossed(order, market["price"]):
            self._fill(order, market["price"], qty, maker=False)
        else:
            wallet["free"] -= held
            wallet["locked"] += held
            order["rests"] = True
        return order

    @staticmethod
    def _crossed(order: dict, price: Decimal) -> bool:
        return order["price"] >= price if order["side"] == "buy" else order["price"] <= price

    def _fill(self, order: dict, price: Decimal, qty: Decimal, maker: bool) -> None:
        """One trade: move the funds, take the fee from the asset received, record it."""
        market, account = self._markets[order["symbol"]], self._accounts[order["api_key"]]
        if not ZERO < qty <= order["qty"] - order["filled"]:
            raise ValueError(f"cannot fill {qty} of order {order['client_id']}")
        resting = order["rests"]  # its funds are locked
        base, quote = self._wallet(account, market["base"]), self._wallet(account, market["quote"])
        cost = qty * price
        rate = self.maker_fee if maker else self.taker_fee
        if order["side"] == "buy":
            if resting:  # paid from the quote locked at the limit price
                quote["locked"] -= qty * order["price"]
                quote["free"] += qty * order["price"] - cost
            else:
                quote["free"] -= cost
            fee, fee_asset = (qty * rate).quantize(EIGHT_DP, ROUND_HALF_UP), market["base"]
            base["free"] += qty - fee
        else:
            base["locked" if resting else "free"] -= qty
            fee, fee_asset = (cost * rate).quantize(EIGHT_DP, ROUND_HALF_UP), market["quote"]
            quote["free"] += cost - fee
        order["filled"] += qty
        order["cost"] += cost
        order["fees"][fee_asset] = order["fees"].get(fee_asset, ZERO) + fee
        order["updated"] = now_ms()
        if order["filled"] >= order["qty"]:
            order["status"] = "filled"
        self._trades.append({"id": str(next(self._ids)), "api_key": account["api_key"], "order_id": order["id"],
                             "client_id": order["client_id"], "symbol": order["symbol"], "side": order["side"],
                             "price": price, "qty": qty, "fee": fee, "fee_asset": fee_asset, "maker": maker,
                             "time": now_ms()})

    def _cancel(self, order: dict) -> None:
        market, account = self._markets[order["symbol"]], self._accounts[order["api_key"]]
        remaining = order["qty"] - order["filled"]
        asset, held = (market["quote"], remaining * order["price"]) if order["side"] == "buy" else (market["base"], remaining)
        wallet = self._wallet(account, asset)
        wallet["locked"] -= held
        wallet["free"] += held
        order["status"], order["updated"] = "canceled", now_ms()

    def find(self, account: dict, symbol: str | None, order_id: str | None = None, client_id: str | None = None,
             recent_only: bool = False) -> dict | None:
        mine = [o for o in self._orders if o["api_key"] == account["api_key"]]
        if recent_only:
            mine = mine[max(0, len(mine) - self.recent_orders):]
        for order in reversed(mine):
            if (symbol is None or order["symbol"] == symbol) and (
                    order["id"] == order_id if order_id else order["client_id"] == client_id):
                return order
        return None

    def _open_by_client_id(self, api_key: str, client_id: str) -> dict:
        order = next((o for o in reversed(self._orders) if o["api_key"] == api_key and o["client_id"] == client_id
                      and o["status"] == "open"), None)
        if order is None:
            raise KeyError(f"no open order {client_id!r} for {api_key!r}")
        return order

    def _wallet(self, account: dict, asset: str) -> dict:
        return account["wallets"].setdefault(asset, {"free": ZERO, "locked": ZERO})

    def candles(self, symbol: str, interval_ms: int, limit: int) -> list[tuple]:
        """(open time, open, high, low, close), oldest first; the last one is still forming."""
        market = self._market(symbol)
        current_open = now_ms() // interval_ms * interval_ms
        closes = market["history"] + [market["price"]]
        rows, previous = [], closes[0]
        for i, close in enumerate(closes):
            rows.append((current_open - (len(closes) - 1 - i) * interval_ms, previous, max(previous, close),
                         min(previous, close), close))
            previous = close
        return rows[-limit:]

    def book(self, symbol: str, depth: int) -> tuple[list, list]:
        market = self._market(symbol)
        price, tick, qty = market["price"], market["tick"], market["book_qty"]
        levels = range(1, min(depth, market["book_levels"]) + 1)
        return ([(price - tick * i, qty) for i in levels if price - tick * i > 0],
                [(price + tick * i, qty) for i in levels])
