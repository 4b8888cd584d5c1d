"""Starts one RQ worker on the botfleet queues (run as many as you like, anywhere).

A SimpleWorker runs jobs in-process: no fork per job, so the database connection, the
Redis pool and the loaded markets are reused, about three times the throughput of a
forking worker. A job's own exceptions are caught by RQ and never stop the worker.
"""
from __future__ import annotations

import sys

from rq import SimpleWorker

import settings as settings_module
from logconfig import configure_logging
from workers.context import QUEUES, context


def main() -> int:
    try:
        ctx = context()
    except settings_module.SettingsError as error:
        print(f"worker: {error}", file=sys.stderr)
        return 2
    configure_logging("worker", ctx.settings.secrets)
    worker = SimpleWorker(list(QUEUES), connection=ctx.redis)
    worker.work(with_scheduler=True, logging_level="WARNING")
    return 0


if __name__ == "__main__":
    sys.exit(main())
