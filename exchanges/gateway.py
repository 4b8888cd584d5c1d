"""The exchange gateway: builds ccxt clients and owns every public call.

Clients get EXCHANGE_OVERRIDES deep-merged into their config (merged again after the testnet
switch, so a test points both networks at one fake; an override's `urls.test`, when given, is
what a testnet client uses instead of its `urls.api`). What differs between exchanges lives in
one adapter module each (binance.py, bybit.py, okx.py): adding an exchange is adding an adapter
here and its fake exchange in tests/fakes/. Public clients, with markets loaded, are
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

from exchanges import binance, bybit, okx
from exchanges.errors import BadRequest, KeyRejected, translate_errors
from exchanges.markets import MarketRules, to_decimal

ADAPTERS = {adapter.id: adapter for adapter in (binance.ADAPTER, bybit.ADAPTER, okx.ADAPTER)}
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


def needs_passphrase(exchange_id: str) -> bool:
    """Whether the exchange's API keys come with a passphrase (OKX's do)."""
    return ADAPTERS[check_exchange(exchange_id)].needs_passphrase


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
        self._session.trust_env = False  # as ccxt's own sessions: no proxy lookup in the environment per call
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
            adapter.use_testnet(client)
            # Sandbox mode swaps in the testnet URLs; overridden URLs still win (tests, proxies).
            urls = override.get("urls", {})
            testnet_urls = urls.get("test", urls.get("api"))
            if isinstance(testnet_urls, dict) and isinstance(client.urls.get("api"), dict):
                client.urls["api"] = deep_merge(client.urls["api"], testnet_urls)
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
    def order_book(self, exchange_id: str, symbol: str, depth: int = 20, testnet: bool = False):
        """(bids, asks) as [(price, amount)], best first."""
        book = self.public(exchange_id, testnet).fetch_order_book(symbol, depth)
        return ([(to_decimal(p), to_decimal(a)) for p, a, *_ in book["bids"]],
                [(to_decimal(p), to_decimal(a)) for p, a, *_ in book["asks"]])

    @translate_errors
    def check_key(self, exchange_id: str, credentials: Credentials) -> dict:
        """Proves the key works; returns {"can_withdraw": bool | None, "assets": int}."""
        client = self.private(exchange_id, credentials)
        # The key's permissions first: they also tell why a key cannot be used at all (a
        # Bybit classic account), which a balance call would only answer with an error code.
        can_withdraw = self.adapter(exchange_id).can_withdraw(client, credentials)
        balance = client.fetch_balance()
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

    @translate_errors
    def most_traded(self, exchange_id: str, limit: int = 8, testnet: bool = False) -> list[str]:
        """The venue's spot symbols with the largest 24 h quote volume, largest first (for the
        chat's symbol buttons); cached with the markets."""
        client = self.public(exchange_id, testnet)
        cached = getattr(client, "_botfleet_most_traded", None)
        if cached is None:
            volumes = {symbol: ticker.get("quoteVolume") or 0 for symbol, ticker in client.fetch_tickers().items()
                       if client.markets.get(symbol, {}).get("spot") and client.markets[symbol].get("active") is not False}
            cached = sorted(volumes, key=lambda symbol: (-volumes[symbol], symbol))
            client._botfleet_most_traded = cached
        return cached[:limit]


__all__ = ["Credentials", "Gateway", "KeyRejected", "SUPPORTED_EXCHANGES", "check_exchange", "deep_merge",
           "needs_passphrase"]
