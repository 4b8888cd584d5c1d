"""Exchanges behind one interface: the gateway (the only user of ccxt), one adapter per
exchange, live accounts, and the paper exchange.

An account (LiveAccount or PaperAccount) offers place, lookup, in_history and cancel, each
taking an OrderRequest and answering an OrderState. `run_all` carries out many accounts' calls
at once: network-bound ones concurrently, so an exchange's latency never bounds a worker, and
the paper exchange's in bulk, in one transaction.
"""
from __future__ import annotations

from exchanges.errors import (BadRequest, GatewayError, KeyRejected, OrderNotFound, OrderRefused, Retryable, TurnedAway,
                              translate_errors)
from exchanges.gateway import SUPPORTED_EXCHANGES, Credentials, Gateway, check_exchange
from exchanges.markets import MarketRules, OrderRequest, OrderState, to_decimal


def run_all(method: str, calls: list[tuple[object, OrderRequest]], *args) -> list:
    """account.method(request, *args) for every pair; each answer or its GatewayError, in order.
    Each kind of account carries out its share its own way (`run_many`): a live account's
    calls concurrently, the paper exchange's in one database transaction."""
    results: list = [None] * len(calls)
    by_kind: dict[type, list[int]] = {}
    for index, (account, _) in enumerate(calls):
        by_kind.setdefault(type(account), []).append(index)
    for kind, indexes in by_kind.items():
        for index, answer in zip(indexes, kind.run_many(method, [calls[i] for i in indexes], *args)):
            results[index] = answer
    return results


__all__ = [
    "BadRequest", "Credentials", "Gateway", "GatewayError", "KeyRejected", "MarketRules", "OrderNotFound",
    "OrderRefused", "OrderRequest", "OrderState", "Retryable", "SUPPORTED_EXCHANGES", "TurnedAway", "check_exchange",
    "run_all", "to_decimal", "translate_errors",
]
