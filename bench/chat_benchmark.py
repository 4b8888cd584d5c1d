"""Chat benchmark: the real `bot` process (from the Procfile) against the fake Bot API.

    .venv/bin/python bench/chat_benchmark.py [--quick] [--only replies,fills,drain]

replies  200 chats send commands at 20 per second in all; reply latency p50/p99 (target p99 <= 50 ms)
fills    outbox rows written as a fill is booked, no backlog; row -> message p50/p99 (target p99 <= 1 s)
drain    the same command load while 5,000 fill messages (5,000 chats) wait in the outbox: reply
         p50/p99 (target p99 <= 1 s) and the drain rate, next to Telegram's ~30 messages/s

A reply's latency runs from the moment the fake queues the user's message to the moment the
bot's sendMessage reaches the fake. Each scenario gets a fresh PostgreSQL database and the
Redis db given by --redis-db (flushed).
"""
from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PROJECT_DIR, REDIS_BASE_URL, fresh_database, percentile  # noqa: E402

COMMANDS = ("/help", "/bots", "/keys", "/status", "/profit", "/daily", "/settings", "/trades", "/performance")
TOKEN = "123456:BENCH-TOKEN-botfleet"
COMMAND_CHATS = 200
COMMAND_RATE = 20.0
BACKLOG = 5000


class World:
    """Fake Bot API, database, Redis and a running `bot` process, with users seeded."""

    def __init__(self, redis_db: int, backlog_chats: int):
        from cryptography.fernet import Fernet

        import migrations
        import models
        import redis
        from tests.fakes.telegram_api import FakeTelegram

        self.fake = FakeTelegram(token=TOKEN).start()
        self.database_url, self._drop = fresh_database()
        self.redis_url = f"{REDIS_BASE_URL}/{redis_db}"
        redis.Redis.from_url(self.redis_url).flushdb()
        models.connect(self.database_url)
        migrations.apply_migrations(models.db.obj)
        self.command_chats = [30_000_000 + n for n in range(COMMAND_CHATS)]
        self.backlog_chats = [40_000_000 + n for n in range(backlog_chats)]
        self.users = self._seed()
        self.log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"chat-bench-bot-{os.getpid()}.log", "wb")
        env = {**os.environ, "TELEGRAM_TOKEN": TOKEN, "TELEGRAM_API_URL": f"{self.fake.base_url}/bot",
               "DATABASE_URL": self.database_url, "REDIS_URL": self.redis_url,
               "FERNET_KEYS": Fernet.generate_key().decode(), "PYTHONUNBUFFERED": "1"}
        from tests.harness import procfile

        self.bot = subprocess.Popen(procfile()["bot"], cwd=PROJECT_DIR, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.fake.send_user_message(self.command_chats[0], "/help")
        self.fake.wait_for_bot_message(self.command_chats[0], "botfleet", timeout=60)

    def _seed(self) -> dict[int, int]:
        from decimal import Decimal

        from models import Bot, User, db

        users = {}
        with db.atomic():
            for chat in self.command_chats + self.backlog_chats:
                self.fake.open_chat(chat)
                users[chat] = User.create(chat_id=chat, name=f"bench {chat}", language="en").id
            Bot.insert_many([{"user": users[chat], "name": f"dip-{n}", "exchange": "binance", "symbol": "BTC/USDT",
                              "mode": "paper", "capital": Decimal(100), "strategy": "dip", "params": {}}
                             for n, chat in enumerate(self.command_chats)]).execute()
        return users

    def close(self) -> None:
        import models

        self.bot.terminate()
        try:
            self.bot.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.bot.kill()
        models.db.close()
        self._drop()
        self.fake.stop()


def fill_row(world: World, chat: int, bot_id: int) -> dict:
    return {"user": world.users[chat], "chat_id": chat, "kind": "fill", "payload": {
        "bot_id": bot_id, "bot_name": f"dip-{bot_id}", "mode": "paper", "side": "buy", "symbol": "BTC/USDT",
        "base": "BTC", "quote": "USDT", "amount": "0.00167", "price": "59500", "cost": "99.36", "fee": "0.0993",
        "fee_currency": "USDT", "realized_profit": None}}


def command_load(world: World, seconds: float) -> list[tuple[int, float]]:
    """Send commands round-robin over the command chats at COMMAND_RATE; (chat, sent at) each."""
    sent = []
    start = time.time()
    for n in range(int(seconds * COMMAND_RATE)):
        time.sleep(max(0.0, start + n / COMMAND_RATE - time.time()))
        chat = world.command_chats[n % len(world.command_chats)]
        at = time.time()
        world.fake.send_user_message(chat, COMMANDS[n % len(COMMANDS)])
        sent.append((chat, at))
    return sent


def sends_by_chat(world: World) -> dict[int, list[float]]:
    by_chat: dict[int, list[float]] = {}
    for call in world.fake.calls("sendMessage"):
        if call["status"] == 200:
            by_chat.setdefault(int(call["params"]["chat_id"]), []).append(call["time"])
    return by_chat


def latencies(world: World, events: list[tuple[int, float]], wait: float = 10.0) -> list[float]:
    """For each (chat, at), the time to the chat's first message after `at` (each message used once)."""
    time.sleep(wait)
    by_chat = sends_by_chat(world)
    used: dict[int, int] = {}
    result = []
    for chat, at in sorted(events, key=lambda e: e[1]):
        times = by_chat.get(chat, [])
        index = used.get(chat, 0)
        while index < len(times) and times[index] < at:
            index += 1
        if index < len(times):
            result.append(times[index] - at)
            used[chat] = index + 1
    missing = len(events) - len(result)
    if missing:
        print(f"  {missing} of {len(events)} got no message", flush=True)
    return result


def describe(name: str, values: list[float]) -> str:
    if not values:
        return f"{name}: no samples"
    return (f"{name}: n={len(values)} p50 {percentile(values, 0.5) * 1000:.0f} ms, "
            f"p99 {percentile(values, 0.99) * 1000:.0f} ms, max {max(values) * 1000:.0f} ms")


def scenario_replies(world: World, seconds: float) -> dict:
    events = command_load(world, seconds)
    values = latencies(world, events, wait=3)
    print("  " + describe("reply", values), flush=True)
    for number, command in enumerate(COMMANDS):  # which commands make the tail (the load cycles through them)
        mine = [v for n, v in enumerate(values) if n % len(COMMANDS) == number]
        print(f"    {command}: p50 {percentile(mine, 0.5) * 1000:.0f} ms, p99 {percentile(mine, 0.99) * 1000:.0f} ms",
              flush=True)
    return {"reply_p50": percentile(values, 0.5), "reply_p99": percentile(values, 0.99)}


def scenario_fills(world: World, seconds: float) -> dict:
    from models import Outbox

    events = []
    chats = world.backlog_chats[:200]
    start = time.time()
    for n in range(int(seconds * 5)):
        time.sleep(max(0.0, start + n / 5 - time.time()))
        chat = random.choice(chats)
        Outbox.insert(fill_row(world, chat, n)).execute()  # autocommit: as the booking transaction commits
        events.append((chat, time.time()))
    values = latencies(world, events, wait=3)
    print("  " + describe("fill -> message", values), flush=True)
    return {"fill_p50": percentile(values, 0.5), "fill_p99": percentile(values, 0.99)}


def scenario_drain(world: World, seconds: float) -> dict:
    from models import Outbox, db

    backlog = set(world.backlog_chats)
    with db.atomic():
        rows = [fill_row(world, chat, n) for n, chat in enumerate(world.backlog_chats)]
        for start in range(0, len(rows), 1000):
            Outbox.insert_many(rows[start:start + 1000]).execute()
    began = time.time()
    events = command_load(world, seconds)
    ended = time.time()
    values = latencies(world, events, wait=3)
    drained = sum(1 for chat, times in sends_by_chat(world).items() if chat in backlog
                  for at in times if began <= at <= ended)
    rate = drained / (ended - began)
    print("  " + describe("reply while draining", values), flush=True)
    print(f"  drained {drained} of {len(backlog)} fill messages in {ended - began:.0f} s under the command load: "
          f"{rate:.1f} messages/s (replies took {COMMAND_RATE:.0f}/s of Telegram's ~30)", flush=True)
    quiet_start = time.time()
    time.sleep(seconds / 2)
    quiet = sum(1 for chat, times in sends_by_chat(world).items() if chat in backlog
                for at in times if quiet_start <= at)
    quiet_rate = quiet / (time.time() - quiet_start)
    print(f"  without commands the drain runs at {quiet_rate:.1f} messages/s", flush=True)
    return {"drain_reply_p50": percentile(values, 0.5), "drain_reply_p99": percentile(values, 0.99),
            "drain_rate": rate, "quiet_drain_rate": quiet_rate}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter windows (about 2 minutes in all)")
    parser.add_argument("--only", default="replies,fills,drain")
    parser.add_argument("--redis-db", type=int, default=int(os.environ.get("BENCH_REDIS_DB", "13")))
    args = parser.parse_args()
    seconds = 15 if args.quick else 45
    wanted = args.only.split(",")
    results = {}
    scenarios = [("replies", scenario_replies, 0), ("fills", scenario_fills, 200), ("drain", scenario_drain, BACKLOG)]
    for name, scenario, backlog_chats in scenarios:
        if name not in wanted:
            continue
        print(f"{name}: starting ({seconds:.0f} s of load)", flush=True)
        world = World(args.redis_db, max(backlog_chats, 200))
        try:
            results.update(scenario(world, seconds))
        finally:
            world.close()
    print("\nsummary: " + ", ".join(f"{k} {v * 1000:.0f} ms" if "rate" not in k else f"{k} {v:.1f}/s"
                                     for k, v in results.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
