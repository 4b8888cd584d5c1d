"""The exchange gateway: builds ccxt clients and owns every public call.

Clients get EXCHANGE_OVERRIDES deep-merged into their config (merged again after the testnet
switch, so a test points both networks at one fake). Public clients, with markets loaded, are
shared per venue (exchange and network) and refreshed hourly; a private client is built per
use from the owner's key and shares its venue's loaded markets, so a key lives only as long
as the job that decrypted it.
"""
from __future__ import annotations

import copy
import threading
import time
from decimal import Decimal

import ccxt
import requests
import requests.adapters

from exchanges import binance
from exchanges.errors import BadRequest, KeyRejected, translate_errors
from exchanges.markets import MarketRules, to_decimal

ADAPTERS = {"binance": binance.ADAPTER}
SUPPORTED_EXCHANGES = tuple(ADAPTERS)
MARKETS_TTL_SECONDS = 3600
HTTP_POOL_SIZE = 64  # as many connections as calls a worker makes at once (exchanges.calls)
# What set_markets() computes from loaded markets; shared as-is instead of recomputed per client.
_MARKET_ATTRIBUTES = ("markets", "markets_by_id", "symbols", "ids", "currencies", "currencies_by_id",
                      "codes", "baseCurrencies", "quoteCurrencies")


class Credentials:
    """An owner's key in plaintext: only inside a job, never printed."""

    __slots__ = ("api_key", "secret", "passphrase", "testnet")

    def __init__(self, api_key: str, secret: str, passphrase: str | None = None, testnet: bool = False):
        self.api_key, self.secret, self.passphrase, self.testnet = api_key, secret, passphrase, testnet

    def __repr__(self) -> str:  # keep secrets out of tracebacks and debug output
        return f"Credentials(<hidden>, testnet={self.testnet})"


def _leave_shared_session_open(*args, **kwargs) -> None:
    """A private client's close(): the HTTP session is the gateway's, shared by every key."""


def check_exchange(exchange_id: str) -> str:
    exchange_id = exchange_id.strip().lower()
    if exchange_id not in ADAPTERS:
        raise BadRequest(f"Unknown exchange '{exchange_id}'. Supported: {', '.join(SUPPORTED_EXCHANGES)}.")
    return exchange_id


def deep_merge(base: dict, override: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


class Gateway:
    """One per process: builds clients, caches public clients and their markets per venue."""

    def __init__(self, overrides: dict | None = None, timeout_ms: int = 10000):
        self.overrides = overrides or {}
        self.timeout_ms = timeout_ms
        self._public: dict[tuple[str, bool], tuple[float, ccxt.Exchange]] = {}
        self._templates: dict[tuple[str, bool], tuple[ccxt.Exchange, ccxt.Exchange]] = {}
        self._lock = threading.Lock()
        # Private calls of every key reuse connections (no TCP or TLS handshake per order).
        self._session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=8, pool_maxsize=HTTP_POOL_SIZE)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)

    def adapter(self, exchange_id: str):
        return ADAPTERS[check_exchange(exchange_id)]

    def client(self, exchange_id: str, credentials: Credentials | None = None, testnet: bool = False) -> ccxt.Exchange:
        adapter = self.adapter(exchange_id)
        config = deep_merge({"enableRateLimit": True, "timeout": self.timeout_ms}, adapter.base_config)
        if credentials is not None:
            config.update(apiKey=credentials.api_key, secret=credentials.secret)
            if credentials.passphrase:
                config["password"] = credentials.passphrase
            testnet = credentials.testnet
        override = self.overrides.get(adapter.id, {})
        client = getattr(ccxt, adapter.id)(deep_merge(config, override))
        if testnet:
            client.set_sandbox_mode(True)
            # Sandbox mode swaps in the testnet URLs; overridden URLs still win (tests, proxies).
            if isinstance(override.get("urls", {}).get("api"), dict):
                client.urls["api"] = deep_merge(client.urls["api"], override["urls"]["api"])
        return client

    @translate_errors
    def public(self, exchange_id: str, testnet: bool = False) -> ccxt.Exchange:
        """The venue's shared client with spot markets loaded, refreshed every MARKETS_TTL_SECONDS."""
        venue = (check_exchange(exchange_id), bool(testnet))
        with self._lock:
            cached = self._public.get(venue)
            if cached and time.monotonic() - cached[0] < MARKETS_TTL_SECONDS:
                return cached[1]
            client = self.client(venue[0], testnet=venue[1])
            client.load_markets()
            self._public[venue] = (time.monotonic(), client)
            return client

    def private(self, exchange_id: str, credentials: Credentials) -> ccxt.Exchange:
        """A client signing with the owner's key, for one job: a copy of its venue's keyless
        template. Building a ccxt client costs milliseconds (it walks ~2,000 attributes), a copy
        microseconds; the copy shares the venue's loaded markets and pooled HTTP connections,
        and owns its key, its settings and its request state."""
        template = self._template(check_exchange(exchange_id), bool(credentials.testnet))
        client = copy.copy(template)
        client.options = dict(template.options)
        client.headers = dict(template.headers)
        client.apiKey, client.secret = credentials.api_key, credentials.secret
        if credentials.passphrase:
            client.password = credentials.passphrase
        client.close = _leave_shared_session_open  # also what ccxt's __del__ calls
        return client

    def _template(self, exchange_id: str, testnet: bool) -> ccxt.Exchange:
        public = self.public(exchange_id, testnet)
        with self._lock:
            cached = self._templates.get((exchange_id, testnet))
            if cached and cached[0] is public:
                return cached[1]
            template = self.client(exchange_id, testnet=testnet)
            for name in _MARKET_ATTRIBUTES:
                if hasattr(public, name):
                    setattr(template, name, getattr(public, name))
            template.session = self._session
            self._templates[(exchange_id, testnet)] = (public, template)
            return template

    @translate_errors
    def market_rules(self, exchange_id: str, symbol: str, testnet: bool = False) -> MarketRules:
        market = self.public(exchange_id, testnet).markets.get(symbol.upper())
        if market is None or not market.get("spot") or market.get("active") is False:
            raise BadRequest(f"{exchange_id} has no active spot market {symbol.upper()}.")
        return MarketRules.from_ccxt(market)

    @translate_errors
    def candles(self, exchange_id: str, symbol: str, timeframe: str, limit: int, testnet: bool = False) -> list[list[Decimal]]:
        """OHLCV rows, oldest first; the last row is the candle still forming."""
        rows = self.public(exchange_id, testnet).fetch_ohlcv(symbol, timeframe, limit=limit)
        return [[to_decimal(v) for v in row] for row in rows]

    @translate_errors
    def candles_since(self, exchange_id: str, symbol: str, timeframe: str, since_ms: int, limit: int,
                      testnet: bool = False) -> list[list[Decimal]]:
        """Up to `limit` OHLCV rows opening at or after `since_ms`, oldest first (history for backtests)."""
        rows = self.public(exchange_id, testnet).fetch_ohlcv(symbol, timeframe, since=since_ms, limit=limit)
        return [[to_decimal(v) for v in row] for row in rows]

    @translate_errors
    def order_book(self, exchange_id: str, symbol: str, depth: int = 20, testnet: bool = False):
        """(bids, asks) as [(price, amount)], best first."""
        book = self.public(exchange_id, testnet).fetch_order_book(symbol, depth)
        return ([(to_decimal(p), to_decimal(a)) for p, a, *_ in book["bids"]],
                [(to_decimal(p), to_decimal(a)) for p, a, *_ in book["asks"]])

    @translate_errors
    def check_key(self, exchange_id: str, credentials: Credentials) -> dict:
        """Proves the key works; returns {"can_withdraw": bool | None, "assets": int}."""
        client = self.private(exchange_id, credentials)
        balance = client.fetch_balance()
        can_withdraw = self.adapter(exchange_id).can_withdraw(client, credentials)
        assets = sum(1 for amount in (balance.get("total") or {}).values() if amount)
        return {"can_withdraw": can_withdraw, "assets": assets}

    @translate_errors
    def balances(self, exchange_id: str, credentials: Credentials) -> dict[str, tuple[Decimal, Decimal]]:
        """Non-zero balances: asset -> (free, used)."""
        balance = self.private(exchange_id, credentials).fetch_balance()
        result = {}
        for asset, total in (balance.get("total") or {}).items():
            if total:
                result[asset] = (to_decimal(balance["free"].get(asset)), to_decimal(balance["used"].get(asset)))
        return result


__all__ = ["Credentials", "Gateway", "KeyRejected", "SUPPORTED_EXCHANGES", "check_exchange", "deep_merge"]
