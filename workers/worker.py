"""Starts one RQ worker on the botfleet queues (run as many as you like, anywhere).

A SimpleWorker runs jobs in-process: no fork per job, so the database connection, the
Redis pool and the loaded markets are reused, about three times the throughput of a
forking worker. A job's own exceptions are caught by RQ and never stop the worker.

RQ's loop ends on an error of its own (Redis gone in the middle of finishing a job, for
example); unless a stop was asked for (SIGTERM: the current job finishes first), a new worker
takes its place once Redis answers again, so a Redis restart never needs a hand.

Each job runs in a log context of its own that names it (`job=`): the fields a job binds
(exchange, tick, user...) are on every line it writes, RQ's included, and end with it.
"""
from __future__ import annotations

import contextvars
import signal
import sys
import time

from redis.exceptions import RedisError
from rq import SimpleWorker

import settings as settings_module
from logconfig import configure_logging
from logcontext import bind, get_logger
from workers.context import QUEUES, context

log = get_logger(__name__)
RESTART_PAUSE_SECONDS = 1


class BotfleetWorker(SimpleWorker):
    """A SimpleWorker that remembers a stop was asked for (RQ forgets it when idle), so that
    main() ends instead of starting another."""

    stop_asked = False

    def request_stop(self, signum, frame):
        BotfleetWorker.stop_asked = True
        super().request_stop(signum, frame)

    def perform_job(self, job, queue) -> bool:
        return contextvars.copy_context().run(self._perform_job_named, job, queue)

    def _perform_job_named(self, job, queue) -> bool:
        bind(job=job.id)
        return super().perform_job(job, queue)


def log_job_failure(job, exc_type, exc_value, traceback) -> bool:
    """One line per failed job, with the ids the job bound (RQ's own line has the traceback)."""
    try:
        function = job.func_name
    except Exception:  # a payload that cannot be read: RQ says so on its own line
        function = None
    log.info("job failed", func=function, queue=job.origin, error=exc_type.__name__)
    return True  # RQ's other handlers go on (the failed job registry)


def main() -> int:
    try:
        ctx = context()
    except settings_module.SettingsError as error:
        print(f"worker: {error}", file=sys.stderr)
        return 2
    configure_logging("worker", ctx.settings.secrets)
    log.info("worker started", queues=",".join(QUEUES))
    while not BotfleetWorker.stop_asked:
        worker = BotfleetWorker(list(QUEUES), connection=ctx.redis, exception_handlers=[log_job_failure])
        try:
            worker.work(with_scheduler=True, logging_level="WARNING")
        except (RedisError, OSError):
            log.warning("the worker lost Redis", exc_info=True)
        if BotfleetWorker.stop_asked:  # SIGTERM or SIGINT, handled by RQ while work() runs
            break
        signal.signal(signal.SIGTERM, lambda *_: setattr(BotfleetWorker, "stop_asked", True))
        signal.signal(signal.SIGINT, lambda *_: setattr(BotfleetWorker, "stop_asked", True))
        log.warning("the worker stopped without being asked to (Redis away?); starting again")
        time.sleep(RESTART_PAUSE_SECONDS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
