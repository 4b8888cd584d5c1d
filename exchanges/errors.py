"""The gateway's decisions about a failed exchange call, and the mapping from ccxt's errors.

Nothing outside exchanges/ sees a ccxt exception: every error becomes one of four decisions
(retry later, tell the owner, ask for a new key, the input is wrong). Their text is safe to
show the owner: no ccxt message reaches a user, since those can quote URLs and parameters.
"""
from __future__ import annotations

import functools

import ccxt


class GatewayError(Exception):
    """Base of the gateway's decisions; `str()` is safe to show the owner."""


class Retryable(GatewayError):
    """Network trouble, rate limits, maintenance, an unknown outcome: try again later, with backoff."""


class TurnedAway(Retryable):
    """A rate limit or a ban (HTTP 429/418): the exchange refused the request before doing
    anything, so an order it carried was not placed and may be decided again at once."""


class OrderRefused(GatewayError):
    """Insufficient funds or an invalid order: tell the owner, do not retry."""


class KeyRejected(GatewayError):
    """Authentication or permission failure: pause the bot and ask for a new key."""


class BadRequest(GatewayError):
    """The user's input is wrong (unknown exchange or symbol)."""


class OrderNotFound(GatewayError):
    """The exchange does not know this order (yet)."""


def translate(error: Exception) -> GatewayError:
    """The decision for one ccxt exception."""
    if isinstance(error, GatewayError):
        return error
    if isinstance(error, ccxt.OrderNotFound):
        return OrderNotFound("The exchange does not know this order.")
    if isinstance(error, (ccxt.AuthenticationError, ccxt.PermissionDenied, ccxt.AccountSuspended)):
        return KeyRejected("The exchange rejected the API key (invalid, expired or without trading permission).")
    if isinstance(error, ccxt.InsufficientFunds):
        return OrderRefused("Insufficient funds on the exchange for this order.")
    if isinstance(error, ccxt.BadSymbol):
        return BadRequest("The exchange does not list this symbol.")
    if isinstance(error, (ccxt.InvalidOrder, ccxt.BadRequest)):
        # Binance's "Filter failure: NOTIONAL" (-1013) arrives as BadRequest, not InvalidOrder.
        return OrderRefused("The exchange refused the order as invalid (size, price or market limits).")
    if isinstance(error, (ccxt.RateLimitExceeded, ccxt.DDoSProtection)):
        # Binance: "a 429 is used when breaking a request rate limit", 418 once banned for it;
        # Bybit's and OKX's limits likewise refuse before executing (unlike a 5xx or a timeout).
        return TurnedAway("The exchange is rate limiting; will retry.")
    if isinstance(error, (ccxt.NetworkError, ccxt.ExchangeNotAvailable)):
        return Retryable("The exchange is unreachable or rate limiting; will retry.")
    # ExchangeError and OperationFailed (Binance -1000/-1006/-1007, "execution status unknown"):
    # the outcome is unknown, so the order is looked up, never resent blindly.
    return Retryable("The exchange returned an error; will retry.")


def translate_errors(function):
    """Run a ccxt call, raising our decisions instead of ccxt's exceptions."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except GatewayError:
            raise
        except ccxt.BaseError as error:
            raise translate(error) from None

    return wrapper
