"""Engine benchmark: the DESIGN's "Numbers to reach", measured from outside in one run.

    .venv/bin/python bench/engine_benchmark.py            # full sizes, about 5 minutes
    .venv/bin/python bench/engine_benchmark.py --quick    # small sizes, a quick check
    .venv/bin/python bench/engine_benchmark.py --only lag,paper,live,memory,naive

Every scenario gets a fresh PostgreSQL database, its own Redis db (flushed), its own fake
Binance (a real HTTP server in this process) and its own real `worker` processes started from
the Procfile, and takes them all down again, even on error. Scenarios:

- lag: N running, idle paper bots over M markets, W workers; ticks led on the tick period
  after one warm-up tick; p50/p99 of the per-market start lag evaluate_market records
  (started - scheduled_at), and the market-ticks skipped because the market was still busy.
- paper: N paper bots all buy on one tick (the price drops 1 % below the SMA); seconds from the
  tick's scheduled time until N fills are booked and N fill messages are in the outbox.
- live: N live bots (own user, encrypted key, fake account each), the fake answering every
  request after 50 ms; seconds from the tick until 99 % of the orders reached the fake (its
  request log) and until all fills are booked.
- memory: RSS of the workers after a few ticks with A active bots, then after a few more ticks
  with A + E (E stopped bots started); (RSS growth of all workers) / E.
- naive: the live dip through one Python loop, bot after bot (decrypt key, build its ccxt
  client, fetch its ticker, place its market order), against the same fake and latency.
"""
from __future__ import annotations

import argparse
import math
import shlex
import sys
import time
import traceback
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Stage, percentile  # noqa: E402

LAG_LIST = "botfleet:metrics:tick_lag"
LATENCY = 0.05
REDIS_DBS = {"lag": 7, "paper": 9, "live": 10, "memory": 5, "naive": 6}  # 11-15: test runs
FULL = {"lag": (10_000, 100_000), "paper": 10_000, "live": 1_000, "memory": (1_000, 10_000), "naive": 1_000,
        "ticks": 5}
QUICK = {"lag": (2_000,), "paper": 1_000, "live": 200, "memory": (200, 2_000), "naive": 200, "ticks": 3}


def say(text: str) -> None:
    print(text, flush=True)


# ---------------------------------------------------------------------- scenarios


def tick_lag(bots: int, args, sizes: dict) -> dict:
    with Stage(f"lag{bots}", REDIS_DBS["lag"] + (1 if bots > 20_000 else 0), args.markets) as stage:
        started = time.time()
        stage.seed_paper_bots(bots)
        say(f"  seeded {bots:,} paper bots on {args.markets} markets in {time.time() - started:.1f} s")
        stage.start_workers(args.workers)
        stage.run_ticks(1)  # warm-up: markets loaded, connections open
        stage.redis.delete(LAG_LIST, "botfleet:metrics:lagging_markets")
        stage.run_ticks(sizes["ticks"])
        lags = stage.tick_lags()
        skipped = int(stage.redis.get("botfleet:metrics:lagging_markets") or 0)
        say(f"  {len(lags)} lag samples, max {max(lags):.3f} s, {skipped} market-ticks skipped as busy")
        return {"p50": percentile(lags, 0.50), "p99": percentile(lags, 0.99), "max": max(lags),
                "samples": len(lags), "skipped": skipped}


def paper_dip(bots: int, args, sizes: dict) -> dict:
    with Stage("paper", REDIS_DBS["paper"], args.markets) as stage:
        stage.seed_paper_bots(bots)
        stage.start_workers(args.workers)
        stage.run_ticks(1)
        stage.dip()
        _, scheduled_at = stage.lead()
        fills_at, outbox_at, marks = watch_bookings(stage, bots, scheduled_at, timeout=args.timeout)
        say(f"  fills booked: first {marks[0]:.1f} s, half {marks[1]:.1f} s, all {fills_at:.1f} s; "
            f"outbox complete {outbox_at:.1f} s")
        return {"fills": fills_at, "outbox": outbox_at, "first": marks[0]}


def live_dip(bots: int, args, sizes: dict) -> dict:
    with Stage("live", REDIS_DBS["live"], args.markets) as stage:
        started = time.time()
        stage.seed_live_bots(bots)
        say(f"  seeded {bots:,} live bots (user, key, fake account each) in {time.time() - started:.1f} s")
        stage.fake.set_latency(LATENCY)
        stage.start_workers(args.workers)
        stage.run_ticks(1)
        stage.fake.reset_log()
        stage.dip()
        _, scheduled_at = stage.lead()
        fills_at, outbox_at, marks = watch_bookings(stage, bots, scheduled_at, timeout=args.timeout)
        placed = placed_times(stage, scheduled_at)
        say(f"  orders reached the fake: first {placed[0]:.2f} s, 50 % {percentile(placed, 0.5):.2f} s, "
            f"99 % {percentile(placed, 0.99):.2f} s, all {placed[-1]:.2f} s ({len(placed)} orders); "
            f"fills booked: first {marks[0]:.2f} s, all {fills_at:.2f} s; outbox {outbox_at:.2f} s")
        return {"placed99": percentile(placed, 0.99), "placed_all": placed[-1], "booked": fills_at,
                "outbox": outbox_at, "orders": len(placed)}


def worker_memory(args, sizes: dict) -> dict:
    active, extra = sizes["memory"]
    with Stage("memory", REDIS_DBS["memory"], args.markets) as stage:
        from models import Bot

        stage.seed_paper_bots(active)
        stage.seed_paper_bots(extra, status="stopped", start=active)
        stage.start_workers(args.workers)
        stage.run_ticks(sizes["ticks"] + 1)
        before = stage.worker_rss_kb()
        Bot.update(status="running").where(Bot.status == "stopped").execute()
        stage.run_ticks(sizes["ticks"] + 1)
        after = stage.worker_rss_kb()
        say(f"  worker RSS with {active:,} active bots: {before} KB; with {active + extra:,}: {after} KB")
        return {"per_bot": (sum(after) - sum(before)) / extra,
                "per_worker": [(b - a) / extra for a, b in zip(before, after)], "after": after}


def naive_loop(bots: int, args, sizes: dict) -> dict:
    """The old design's shape: one loop, one bot after another, each its own client and calls."""
    with Stage("naive", REDIS_DBS["naive"], args.markets) as stage:
        import json
        import os

        from exchanges.gateway import Credentials, Gateway
        from models import ApiKey, Bot
        from vault import Vault

        stage.seed_live_bots(bots)
        stage.fake.set_latency(LATENCY)
        gateway = Gateway(json.loads(stage.env["EXCHANGE_OVERRIDES"]))
        gateway.public("binance")  # markets loaded once, before the clock starts (generous to the loop)
        vault = Vault((stage.fernet_key,))
        stage.fake.reset_log()
        stage.dip()
        scheduled_at = time.time()
        for bot in Bot.select(Bot, ApiKey).join(ApiKey).order_by(Bot.id):
            credentials = Credentials(vault.decrypt(bot.api_key.api_key_token), vault.decrypt(bot.api_key.secret_token))
            client = gateway.private("binance", credentials)
            price = Decimal(str(client.fetch_ticker(bot.symbol)["last"]))
            amount = (bot.capital / price).quantize(Decimal("0.0001"), ROUND_DOWN)
            client.create_order(bot.symbol, "market", "buy", str(amount), None,
                                {"newClientOrderId": f"naive{bot.id}x{os.getpid()}"})
        done = time.time() - scheduled_at
        placed = placed_times(stage, scheduled_at)
        say(f"  orders reached the fake: 99 % {percentile(placed, 0.99):.2f} s, all {placed[-1]:.2f} s "
            f"({len(placed)} orders); loop done {done:.2f} s")
        return {"placed99": percentile(placed, 0.99), "placed_all": placed[-1]}


# ---------------------------------------------------------------------- measuring helpers


def watch_bookings(stage: Stage, expected: int, scheduled_at: float, timeout: float):
    """Seconds after the tick until `expected` fills and fill messages are booked; and when the
    first and the half of the fills were booked."""
    from models import db

    fills_at = outbox_at = first = half = None
    deadline = time.time() + timeout
    while time.time() < deadline:
        fills, messages = db.execute_sql(
            "SELECT (SELECT count(*) FROM fill), (SELECT count(*) FROM outbox WHERE kind = 'fill')").fetchone()
        now = time.time() - scheduled_at
        first = first if first is not None or fills == 0 else now
        half = half if half is not None or fills < expected / 2 else now
        fills_at = fills_at if fills_at is not None or fills < expected else now
        outbox_at = outbox_at if outbox_at is not None or messages < expected else now
        if fills_at is not None and outbox_at is not None:
            return fills_at, outbox_at, (first, half)
        stage.assert_workers_alive()
        time.sleep(0.1)
    raise TimeoutError(f"only {fills} fills and {messages} fill messages of {expected} after {timeout:.0f} s")


def placed_times(stage: Stage, scheduled_at: float) -> list[float]:
    """Seconds after the tick at which each order request reached the fake, sorted."""
    return sorted(entry["time"] - scheduled_at for entry in stage.fake.requests()
                  if entry["method"] == "POST" and entry["path"] == "/api/v3/order")


# ---------------------------------------------------------------------- the table


def fmt(value, unit="s", places=2):
    return "error" if value is None else f"{value:,.{places}f} {unit}".strip()


def verdict(value, target) -> str:
    if value is None:
        return "error"
    return "met" if value <= target else "MISSED"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="lag,paper,live,memory,naive",
                        help="comma-separated scenarios: lag, paper, live, memory, naive")
    parser.add_argument("--quick", action="store_true", help="small sizes (2,000 / 1,000 / 200 bots)")
    parser.add_argument("--markets", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for a dip to be booked")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(chosen) - set(REDIS_DBS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    say("$ " + shlex.join([sys.executable] + sys.argv))
    say(f"markets={args.markets} workers={args.workers} tick=5 s; fake exchange latency {LATENCY * 1000:.0f} ms "
        "for live and naive")
    rows, results = [], {}

    def run(name: str, label: str, function, *function_args):
        say(f"\n== {label}")
        started = time.time()
        try:
            results[name] = function(*function_args)
        except Exception:
            traceback.print_exc()
            results[name] = None
        say(f"  ({time.time() - started:.0f} s)")
        return results[name]

    if "lag" in chosen:
        for bots in sizes["lag"]:
            r = run(f"lag{bots}", f"tick lag, {bots:,} idle paper bots", tick_lag, bots, args, sizes)
            note = "" if r is None else f"{r['samples']} samples, {r['skipped']} market-ticks skipped"
            rows.append((f"tick lag p50, {bots:,} bots", fmt(r and r["p50"], places=3), "", "", note))
            rows.append((f"tick lag p99, {bots:,} bots", fmt(r and r["p99"], places=3), "<= 1 s",
                         verdict(r and (r["p99"] if not r["skipped"] else math.inf), 1.0), ""))
    if "paper" in chosen:
        bots = sizes["paper"]
        r = run("paper", f"paper dip, {bots:,} bots", paper_dip, bots, args, sizes)
        rows.append((f"paper dip {bots:,}: fills booked", fmt(r and r["fills"], places=1), "<= 10 s",
                     verdict(r and r["fills"], 10.0), ""))
        rows.append((f"paper dip {bots:,}: fill messages in outbox", fmt(r and r["outbox"], places=1), "<= 10 s",
                     verdict(r and r["outbox"], 10.0), ""))
    if "live" in chosen:
        bots = sizes["live"]
        r = run("live", f"live dip, {bots:,} bots, {LATENCY * 1000:.0f} ms latency", live_dip, bots, args, sizes)
        rows.append((f"live dip {bots:,}: 99 % of orders placed", fmt(r and r["placed99"]), "<= 3 s",
                     verdict(r and r["placed99"], 3.0), "" if r is None else f"{r['orders']} orders"))
        rows.append((f"live dip {bots:,}: all fills booked", fmt(r and r["booked"]), "", "",
                     "" if r is None else f"outbox {r['outbox']:.2f} s"))
    if "memory" in chosen:
        active, extra = sizes["memory"]
        r = run("memory", f"worker memory, {active:,} then {active + extra:,} active bots", worker_memory, args, sizes)
        rows.append((f"worker memory per extra active bot ({active:,} -> {active + extra:,})",
                     fmt(r and r["per_bot"], "KB", 1), "<= 10 KB", verdict(r and r["per_bot"], 10.0),
                     "" if r is None else "all workers' RSS growth / extra bots; per worker "
                     + ", ".join(f"{v:.1f}" for v in r["per_worker"])))
    if "naive" in chosen:
        bots = sizes["naive"]
        r = run("naive", f"naive loop, {bots:,} live bots, {LATENCY * 1000:.0f} ms latency", naive_loop, bots, args,
                sizes)
        rows.append((f"naive loop {bots:,}: 99 % of orders placed", fmt(r and r["placed99"]), "", "",
                     "" if r is None else f"all {r['placed_all']:.2f} s"))
        engine = results.get("live")
        if r and engine and sizes["naive"] == sizes["live"]:
            rows.append(("naive / engine (99 % placed)", f"{r['placed99'] / engine['placed99']:.1f}x", "", "", ""))

    say("\n| what | measured | target | verdict | notes |\n| --- | --- | --- | --- | --- |")
    for row in rows:
        say("| " + " | ".join(row) + " |")
    return 0 if all(v is not None for v in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
