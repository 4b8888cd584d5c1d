"""The exchange gateway: the only module that imports ccxt.

It builds clients (with EXCHANGE_OVERRIDES deep-merged into their config), turns ccxt's
floats into Decimals at the market's precision, and maps ccxt's error classes onto the
four decisions the rest of the service makes: retry, tell the owner, ask for a new key,
or say the input is wrong. No ccxt exception text reaches a user: it can quote URLs.
"""
from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

import ccxt

# Exchanges whose order and lookup-by-clientOrderId paths the test suite exercises.
SUPPORTED_EXCHANGES = ("binance",)
MARKETS_TTL_SECONDS = 3600


class GatewayError(Exception):
    """Base of the gateway's decisions; `str()` is safe to show the owner."""


class Retryable(GatewayError):
    """Network trouble, rate limits, maintenance: try again later, with backoff."""


class OrderRefused(GatewayError):
    """Insufficient funds or an invalid order: tell the owner, do not retry."""


class KeyRejected(GatewayError):
    """Authentication or permission failure: pause the bot and ask for a new key."""


class BadRequest(GatewayError):
    """The user's input is wrong (unknown exchange or symbol)."""


@dataclass(frozen=True)
class MarketRules:
    symbol: str
    base: str
    quote: str
    amount_step: Decimal
    price_step: Decimal
    min_amount: Decimal
    min_cost: Decimal
    taker_fee: Decimal

    def floor_amount(self, amount: Decimal) -> Decimal:
        return (amount / self.amount_step).to_integral_value(ROUND_DOWN) * self.amount_step

    def round_price(self, price: Decimal) -> Decimal:
        return (price / self.price_step).to_integral_value() * self.price_step


@dataclass(frozen=True)
class Credentials:
    api_key: str
    secret: str
    passphrase: str | None = None
    testnet: bool = False

    def __repr__(self) -> str:  # keep secrets out of tracebacks and debug output
        return f"Credentials(<hidden>, testnet={self.testnet})"


@dataclass(frozen=True)
class OrderResult:
    exchange_order_id: str
    status: str  # filled | open | canceled | rejected
    amount: Decimal  # filled amount, base currency
    price: Decimal  # average fill price
    cost: Decimal  # quote value
    fee: Decimal
    fee_currency: str


def to_decimal(value) -> Decimal:
    return Decimal(0) if value is None else Decimal(str(value))


def deep_merge(base: dict, override: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def check_exchange(exchange_id: str) -> str:
    exchange_id = exchange_id.strip().lower()
    if exchange_id not in SUPPORTED_EXCHANGES:
        raise BadRequest(
            f"Unknown exchange '{exchange_id}'. Supported: {', '.join(SUPPORTED_EXCHANGES)}."
        )
    return exchange_id


def translate_errors(function):
    """Run a ccxt call, raising our decision classes instead of ccxt's."""

    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except GatewayError:
            raise
        except ccxt.OrderNotFound:
            raise
        except (ccxt.AuthenticationError, ccxt.PermissionDenied, ccxt.AccountSuspended):
            raise KeyRejected("The exchange rejected the API key (invalid, expired or without trading permission).") from None
        except ccxt.InsufficientFunds:
            raise OrderRefused("Insufficient funds on the exchange for this order.") from None
        except ccxt.BadSymbol:
            raise BadRequest("The exchange does not list this symbol.") from None
        except (ccxt.InvalidOrder, ccxt.BadRequest):
            # Binance's "Filter failure: NOTIONAL" (-1013) arrives as BadRequest, not InvalidOrder.
            raise OrderRefused("The exchange refused the order as invalid (size, price or market limits).") from None
        except (ccxt.NetworkError, ccxt.ExchangeNotAvailable):
            raise Retryable("The exchange is unreachable or rate limiting; will retry.") from None
        except ccxt.BaseError:
            # ExchangeError, and OperationFailed beside it (Binance -1000/-1001/-1006, "execution
            # status unknown"): the outcome is unknown, so look up, never resend blindly.
            raise Retryable("The exchange returned an error; will retry.") from None

    wrapper.__name__ = function.__name__
    wrapper.__doc__ = function.__doc__
    return wrapper


class Gateway:
    """Builds ccxt clients for one process and caches public clients and markets."""

    def __init__(self, overrides: dict | None = None, timeout_ms: int = 10000):
        self.overrides = overrides or {}
        self.timeout_ms = timeout_ms
        self._public: dict[str, tuple[float, ccxt.Exchange]] = {}
        self._lock = threading.Lock()

    def client(self, exchange_id: str, credentials: Credentials | None = None) -> ccxt.Exchange:
        exchange_id = check_exchange(exchange_id)
        config = {"enableRateLimit": True, "timeout": self.timeout_ms}
        if credentials is not None:
            config.update(apiKey=credentials.api_key, secret=credentials.secret)
            if credentials.passphrase:
                config["password"] = credentials.passphrase
        override = self.overrides.get(exchange_id, {})
        client = getattr(ccxt, exchange_id)(deep_merge(config, override))
        if credentials is not None and credentials.testnet:
            client.set_sandbox_mode(True)
            # Sandbox mode swaps in the testnet URLs; overridden URLs still win (tests, proxies).
            if isinstance(override.get("urls", {}).get("api"), dict):
                client.urls["api"] = deep_merge(client.urls["api"], override["urls"]["api"])
        return client

    @translate_errors
    def public(self, exchange_id: str) -> ccxt.Exchange:
        """A shared client with markets loaded, refreshed every MARKETS_TTL_SECONDS."""
        with self._lock:
            cached = self._public.get(exchange_id)
            if cached and time.monotonic() - cached[0] < MARKETS_TTL_SECONDS:
                return cached[1]
            client = self.client(exchange_id)
            client.load_markets()
            self._public[exchange_id] = (time.monotonic(), client)
            return client

    def private(self, exchange_id: str, credentials: Credentials) -> ccxt.Exchange:
        """A client signing with the owner's key, reusing the public client's markets."""
        client = self.client(exchange_id, credentials)
        public = self.public(exchange_id)
        client.set_markets(public.markets, public.currencies)
        return client

    @translate_errors
    def market_rules(self, exchange_id: str, symbol: str) -> MarketRules:
        client = self.public(exchange_id)
        market = client.markets.get(symbol.upper())
        if market is None or not market.get("spot") or market.get("active") is False:
            raise BadRequest(f"{exchange_id} has no active spot market {symbol.upper()}.")
        limits, precision = market.get("limits", {}), market.get("precision", {})
        return MarketRules(
            symbol=market["symbol"],
            base=market["base"],
            quote=market["quote"],
            amount_step=to_decimal(precision.get("amount") or "0.00000001"),
            price_step=to_decimal(precision.get("price") or "0.00000001"),
            min_amount=to_decimal((limits.get("amount") or {}).get("min")),
            min_cost=to_decimal((limits.get("cost") or {}).get("min")),
            taker_fee=to_decimal(market.get("taker") or "0.001"),
        )

    @translate_errors
    def candles(self, exchange_id: str, symbol: str, timeframe: str, limit: int) -> list[list[Decimal]]:
        """OHLCV rows, oldest first; the last row is the candle still forming."""
        rows = self.public(exchange_id).fetch_ohlcv(symbol, timeframe, limit=limit)
        return [[to_decimal(v) for v in row] for row in rows]

    @translate_errors
    def check_key(self, exchange_id: str, credentials: Credentials) -> dict:
        """Proves the key works; returns {"can_withdraw": bool | None, "assets": int}."""
        client = self.private(exchange_id, credentials)
        balance = client.fetch_balance()
        can_withdraw = None
        if exchange_id == "binance" and not credentials.testnet:  # the spot testnet has no /sapi
            restrictions = client.sapi_get_account_apirestrictions()
            can_withdraw = bool(restrictions.get("enableWithdrawals"))
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
    def place_market_order(self, client, symbol: str, side: str, amount: Decimal, client_order_id: str) -> OrderResult:
        order = client.create_order(symbol, "market", side, str(amount), None, {"clientOrderId": client_order_id})
        return self._order_result(client, symbol, order)

    @translate_errors
    def find_order(self, client, symbol: str, client_order_id: str) -> OrderResult | None:
        """The order sent with this clientOrderId, or None if the exchange never received it."""
        try:
            order = client.fetch_order(None, symbol, {"clientOrderId": client_order_id})
        except ccxt.OrderNotFound:
            return None
        if order.get("filled") and not (order.get("fees") or order.get("fee")) and client.has.get("fetchOrderTrades"):
            # An order looked up (not placed) carries no fees on Binance: they live on its trades.
            order["fees"] = [t["fee"] for t in client.fetch_order_trades(order["id"], symbol) if t.get("fee")]
        return self._order_result(client, symbol, order)

    @staticmethod
    def _order_result(client, symbol: str, order: dict) -> OrderResult:
        market = client.markets[symbol]
        fee_total, fee_currency = Decimal(0), market["quote"]
        for fee in order.get("fees") or ([order["fee"]] if order.get("fee") else []):
            if fee and fee.get("cost") is not None:
                fee_total += to_decimal(fee["cost"])
                fee_currency = fee.get("currency") or fee_currency
        filled = to_decimal(order.get("filled"))
        cost = to_decimal(order.get("cost"))
        average = to_decimal(order.get("average")) or (cost / filled if filled else Decimal(0))
        return OrderResult(
            exchange_order_id=str(order.get("id")),
            status={"closed": "filled"}.get(order.get("status"), order.get("status") or "open"),
            amount=filled,
            price=average,
            cost=cost,
            fee=fee_total,
            fee_currency=fee_currency,
        )
