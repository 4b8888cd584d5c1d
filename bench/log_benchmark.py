"""Cost of one structured log line: `python bench/log_benchmark.py [--lines 10000]`.

Writes an "order filled" line as the booking writes it (ids and a dozen fields, a job's context)
through the handler every process uses, into memory, and prints microseconds per line.
"""
from __future__ import annotations

import argparse
import io
import logging
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from logconfig import configure_logging  # noqa: E402
from logcontext import get_logger, log_context  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=10_000)
    args = parser.parse_args()
    configure_logging("worker", ("a" * 40, "b" * 44))  # two secrets to redact, as in a worker
    logging.getLogger().handlers[0].stream = io.StringIO()
    log = get_logger("workers.booking")
    started = time.perf_counter()
    with log_context(job="c74bafd1-822a-4ffd-a15d-6e295194e69f", exchange="binance", tick=1795307093):
        for n in range(args.lines):
            log.info("order filled", user=1, bot=n, order=n, symbol="BTC/USDT", side="buy", type="market",
                     amount=Decimal("0.00167000"), price=Decimal("59500"), client_order_id="bf1xmwr3hm8vv0b0",
                     cost=Decimal("99.365"), fee=Decimal("0.00000167"), fee_currency="BTC", status="filled")
    per_line = (time.perf_counter() - started) / args.lines * 1e6
    print(f"{args.lines} lines: {per_line:.1f} us per line")
    return 0


if __name__ == "__main__":
    sys.exit(main())
