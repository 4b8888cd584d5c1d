"""Backtest compute time: `python bench/backtest_benchmark.py [--days 30]`.

A 30-day backtest on 1-minute candles (43,200 candles) of each strategy, on a seeded random
walk around 60,000 with BTC/USDT's rules. Candle fetching is not timed (it is cached history);
what is timed is the replay through the strategy module, the paper fill rules and accounting.
Target (DESIGN): within 5 s.
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from exchanges import MarketRules  # noqa: E402
from workers import backtest, strategies  # noqa: E402
from workers.sizing import BUY_BUDGET_MARGIN  # noqa: E402

RULES = MarketRules("BTC/USDT", "BTC", "USDT", amount_step=Decimal("0.00001"), price_step=Decimal("0.01"),
                    min_amount=Decimal("0.00001"), min_cost=Decimal("5"), taker_fee=Decimal("0.001"))
CASES = [("dip", {"dip": "0.3", "tsl": "1"}), ("dca", {"so": "5", "dev": "0.5", "tp": "1"}),
         ("grid", {"grids": "20"})]


def random_walk(count: int, seed: int = 8) -> list[list[Decimal]]:
    rng = random.Random(seed)
    price, rows = 60000.0, []
    for i in range(count):
        close = price * (1 + rng.gauss(0, 0.0008))
        high, low = max(price, close) * (1 + abs(rng.gauss(0, 0.0003))), min(price, close) * (1 - abs(rng.gauss(0, 0.0003)))
        rows.append([i * 60_000] + [Decimal(f"{v:.2f}") for v in (price, high, low, close)] + [Decimal(1)])
        price = close
    return rows


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    candles = random_walk(args.days * 1440)
    capital = Decimal("1000")
    print(f"{len(candles)} candles of 1m ({args.days} days)")
    for name, raw in CASES:
        module = strategies.get(name)
        params, state = strategies.validate(name, raw), {}
        if hasattr(module, "plan"):
            plan = module.plan(params, capital, candles[0][4], RULES, 1 + RULES.taker_fee + BUY_BUDGET_MARGIN)
            params, state = plan["params"], plan["state"]
        started = time.perf_counter()
        result = backtest.simulate(module, params, capital, RULES, candles, state)
        seconds = time.perf_counter() - started
        print(f"{name:5} {seconds:6.2f} s  fills {len(result.fills):5}  return {result.return_pct:+.2f}%  "
              f"max drawdown {result.max_drawdown:.2f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
