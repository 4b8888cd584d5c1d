"""Exchanges behind one interface: the gateway (the only user of ccxt), one adapter per
exchange, live accounts, and the paper exchange.

An account (LiveAccount or PaperAccount) offers place, lookup, in_history and cancel, each
taking an OrderRequest and answering an OrderState. `run_all` carries out many accounts' calls
at once: network-bound ones concurrently, so an exchange's latency never bounds a worker, and
database-bound ones one after another in one transaction.
"""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from exchanges.errors import (BadRequest, GatewayError, KeyRejected, OrderNotFound, OrderRefused, Retryable,
                              translate_errors)
from exchanges.gateway import SUPPORTED_EXCHANGES, Credentials, Gateway, check_exchange
from exchanges.markets import MarketRules, OrderRequest, OrderState, to_decimal
from models import write_transaction

log = logging.getLogger(__name__)
MAX_THREADS = 64
_pool = ThreadPoolExecutor(max_workers=MAX_THREADS, thread_name_prefix="exchange")


def _call(account, method: str, request: OrderRequest, *args):
    try:
        return getattr(account, method)(request, *args)
    except GatewayError as error:
        return error
    except Exception as error:  # a bug in one call must not lose the others' answers
        log.exception("%s of order %s failed unexpectedly", method, request.client_order_id)
        return Retryable(f"Unexpected error: {type(error).__name__}")


def run_all(method: str, calls: list[tuple[object, OrderRequest]], *args) -> list:
    """account.method(request, *args) for every pair; each answer or its GatewayError, in order."""
    results: list = [None] * len(calls)
    concurrent = [(i, a, r) for i, (a, r) in enumerate(calls) if a.concurrent]
    futures = [(i, _pool.submit(_call, a, method, r, *args)) for i, a, r in concurrent]
    local = [(i, a, r) for i, (a, r) in enumerate(calls) if not a.concurrent]
    if local:
        with write_transaction():  # one commit for the lot; each call is its own savepoint
            for i, account, request in local:
                results[i] = _call(account, method, request, *args)
    for i, future in futures:
        results[i] = future.result()
    return results


__all__ = [
    "BadRequest", "Credentials", "Gateway", "GatewayError", "KeyRejected", "MarketRules", "OrderNotFound",
    "OrderRefused", "OrderRequest", "OrderState", "Retryable", "SUPPORTED_EXCHANGES", "check_exchange",
    "run_all", "to_decimal", "translate_errors",
]
