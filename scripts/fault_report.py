"""Runs the fault suite (tests/faults) and prints its table of figures.

    .venv/bin/python scripts/fault_report.py            # quick mode, as CI runs it
    .venv/bin/python scripts/fault_report.py --long     # long mode: 50 worker kills, a 15-minute Bot API outage, ...
    .venv/bin/python scripts/fault_report.py -k kill    # only some (any pytest arguments)

Each row: the fault, how many times it was applied, what it lost or doubled (orders, fills,
positions against the exchange's wallets, fill messages in the chats) and how long the bots
took to trade again (median and worst).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
COLUMNS = [
    ("fault", "fault"), ("trials", "trials"), ("orders_lost", "orders lost"), ("orders_doubled", "orders doubled"),
    ("fills_lost", "fills lost"), ("fills_doubled", "fills doubled"), ("positions_off", "positions off"),
    ("messages_lost", "messages lost"), ("messages_doubled", "messages doubled"),
    ("recovery_p50", "recovery p50 (s)"), ("recovery_max", "recovery max (s)"),
]


def table(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(title for _, title in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        lines.append("| " + " | ".join("–" if row.get(key) is None else str(row[key]) for key, _ in COLUMNS) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--long", action="store_true", help="the long mode (about an hour)")
    args, pytest_args = parser.parse_known_args()  # the rest goes to pytest as it is
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "rows.jsonl"
        env = {**os.environ, "FAULT_REPORT": str(report), "FAULT_SUITE": "long" if args.long else "quick"}
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/faults", *pytest_args],
            cwd=PROJECT_DIR, env=env,
        )
        rows = [json.loads(line) for line in report.read_text().splitlines()] if report.exists() else []
    faults = [row for row in rows if row.get("kind") != "input"]
    inputs = [row for row in rows if row.get("kind") == "input"]
    print()
    print(table(faults))
    for row in inputs:
        print(f"\nhostile chat input: {row['inputs']} inputs tried, {row['handler_failures']} handler failures, "
              "no other user's data shown or changed" if result.returncode == 0 else "")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
