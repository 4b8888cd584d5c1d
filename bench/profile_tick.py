"""Profile one tick's work in this process: `python bench/profile_tick.py --bots 2000 [--dip] [--live]`.

Seeds bots as the engine benchmark does, leads a warm-up tick, then (optionally after a dip)
one more tick, and runs its jobs in an in-process burst worker under cProfile. Prints the
hottest functions and how many SQL statements the tick's jobs sent.
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import time

from common import Stage  # noqa: E402  (puts the project on sys.path)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bots", type=int, default=2000)
    parser.add_argument("--markets", type=int, default=8)
    parser.add_argument("--dip", action="store_true")
    parser.add_argument("--live", action="store_true")
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--no-profile", action="store_true", help="time the tick's jobs only")
    args = parser.parse_args()
    with Stage("profile", 4, args.markets) as stage:
        (stage.seed_live_bots if args.live else stage.seed_paper_bots)(args.bots)
        os.environ.update(stage.env)
        from rq import SimpleWorker

        import models
        from workers.context import QUEUES, context

        ctx = context()
        worker = SimpleWorker(list(QUEUES), connection=ctx.redis)
        stage.lead()
        worker.work(burst=True, logging_level="WARNING")
        if args.dip:
            stage.dip()
        if args.latency:
            stage.fake.set_latency(args.latency)
        statements = [0]
        original = models.db.obj.execute_sql

        def counting(*a, **k):
            statements[0] += 1
            return original(*a, **k)

        models.db.obj.execute_sql = counting
        led = time.perf_counter()
        stage.lead()
        print(f"lead_tick: {time.perf_counter() - led:.3f} s")
        profile = cProfile.Profile()
        started = time.perf_counter()
        if not args.no_profile:
            profile.enable()
        worker.work(burst=True, logging_level="WARNING")
        profile.disable()
        elapsed = time.perf_counter() - started
        fills = models.Fill.select().count()
        print(f"tick jobs: {elapsed:.2f} s, {statements[0]} SQL statements, {fills} fills")
        if not args.no_profile:
            pstats.Stats(profile).sort_stats("cumulative").print_stats(args.top)
            pstats.Stats(profile).sort_stats("tottime").print_stats(20)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
