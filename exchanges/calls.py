"""Carrying out many accounts' calls: each answer or its GatewayError, never an exception that
loses the other answers. Each call's log lines carry its order's ids (OrderRequest.log_ids)
and the caller's log context, on whichever thread it runs."""
from __future__ import annotations

import contextvars
from concurrent.futures import ThreadPoolExecutor

from exchanges.errors import GatewayError, Retryable
from exchanges.markets import OrderRequest
from logcontext import get_logger, log_context

log = get_logger(__name__)
MAX_THREADS = 64
_pool = ThreadPoolExecutor(max_workers=MAX_THREADS, thread_name_prefix="exchange")


def guarded(account, method: str, request: OrderRequest, *args):
    """account.method(request, *args), or the GatewayError it ended with."""
    with log_context(**request.log_ids):
        try:
            return getattr(account, method)(request, *args)
        except GatewayError as error:
            return error
        except Exception as error:  # a bug in one call must not lose the others' answers
            log.exception("exchange call failed unexpectedly", call=method, client_order_id=request.client_order_id)
            return Retryable(f"Unexpected error: {type(error).__name__}")


def concurrently(method: str, calls: list[tuple[object, OrderRequest]], *args) -> list:
    """Every call at once on the shared pool: network latency never bounds a worker."""
    futures = [_pool.submit(contextvars.copy_context().run, guarded, account, method, request, *args)
               for account, request in calls]
    return [future.result() for future in futures]
