"""The fault suite's scene: the whole service, doubled, against servers it may break, and a ledger
that counts what a fault lost or doubled.

Two `bot` processes, two schedulers and three workers run on a PostgreSQL cluster and a Redis
server of the scene's own (so restarting them disturbs no other test), a fake Telegram Bot API
and a fake Binance. Every user has their own exchange account and one live dip bot on BTC/USDT,
so one act job acts for all of them. The price swings between a dip (every bot buys) and a
rise (every bot sells): a cycle.

The ledger compares three books that must agree: the exchange's (the fake's orders and
wallets), ours (orders, fills, positions) and the chats' (fill messages shown).
"""
from __future__ import annotations

import json
import os
import re
import signal
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import redis
from cryptography.fernet import Fernet
from rq import Worker

import models
from models import ApiKey, Bot, Fill, Order, Outbox, Position, User
from tests.conftest import TELEGRAM_TOKEN
from tests.fakes.binance_api import FakeBinance
from tests.fakes.telegram_api import FakeTelegram
from tests.harness import Service
from tests.servers import OwnPostgres, OwnRedis
from vault import Vault
from workers import strategies

LONG = os.environ.get("FAULT_SUITE", "quick") == "long"
SYMBOL = "BTC/USDT"
CALM, DIP, RISE = "60000", "59500", "61000"
FIRST_CHAT = 8101
SETTLE_SECONDS = 600  # an order whose request may have left is proven absent after 120 s, looked up every 5 min at most
COUNTS = ("orders_lost", "orders_doubled", "fills_lost", "fills_doubled", "positions_off",
          "messages_lost", "messages_doubled")
FILL_LINE = re.compile(r"(BUY|SELL)(?: \(paper\))? · bot (\d+) ")


def trials(quick: int, long: int) -> int:
    return long if LONG else quick


class FaultScene:
    def __init__(self, log_dir: Path, bots: int = 6, workers: int = 3):
        self.log_dir = log_dir
        self.postgres = OwnPostgres().start()
        self.redis_server = OwnRedis().start()
        self.redis = redis.Redis.from_url(self.redis_server.url)
        self.binance = FakeBinance().start()
        self.telegram = FakeTelegram(token=TELEGRAM_TOKEN).start()
        fernet = Fernet.generate_key().decode()
        overrides = self.binance.ccxt_overrides()
        overrides["timeout"] = 1000  # a held request is a timeout after 1 s
        self.service = Service({
            "TELEGRAM_TOKEN": TELEGRAM_TOKEN, "TELEGRAM_API_URL": f"{self.telegram.base_url}/bot",
            "DATABASE_URL": self.postgres.url, "REDIS_URL": self.redis_server.url, "FERNET_KEYS": fernet,
            "TICK_SECONDS": "1", "EXCHANGE_OVERRIDES": json.dumps({"binance": overrides}),
        }, log_dir, workers=workers, copies={"bot": 2, "scheduler": 2})
        self.binance.set_history(SYMBOL, [CALM] * 40)
        self.binance.set_price(SYMBOL, CALM)
        released = self.service.release()
        assert released.returncode == 0, released.stdout + released.stderr
        models.connect(self.postgres.url)
        self.accounts: dict[int, str] = {}  # bot id -> the exchange account's api key
        vault = Vault((fernet,))
        params = {k: str(v) for k, v in strategies.validate("dip", {"dip": 0.6, "tp": 1.5, "sl": 3}).items()}
        for n in range(bots):
            chat = FIRST_CHAT + n
            api_key, secret = f"key{chat}" + os.urandom(8).hex(), os.urandom(24).hex()
            self.binance.add_account(api_key, secret, {"USDT": "10000"})
            user = User.create(chat_id=chat, name=f"user {chat}")
            key = ApiKey.create(user=user, exchange="binance", api_key_token=vault.encrypt(api_key),
                                secret_token=vault.encrypt(secret), key_tail=api_key[-4:])
            bot = Bot.create(user=user, api_key=key, name=f"dip{n}", exchange="binance", symbol=SYMBOL, mode="live",
                             capital=Decimal(100), strategy="dip", params=params, timeframe=params["timeframe"],
                             status="running")
            self.accounts[bot.id] = api_key
            self.telegram.send_user_message(chat, "/start")  # Telegram delivers only to chats that wrote first
        self.service.start()
        self.holding = False

    # ------------------------------------------------------------------ driving the market

    def swing(self) -> str:
        """Move the price so every bot acts: a dip when they are flat, a rise when they hold."""
        self.holding = not self.holding
        self.binance.set_price(SYMBOL, DIP if self.holding else RISE)
        return "buy" if self.holding else "sell"

    def reached(self) -> bool:
        """Every bot in the state the last swing asks for, with nothing in flight."""
        in_flight = Order.select().where(
            Order.status.in_(("recorded", "sent")) | ((Order.status == "open") & (Order.type == "market"))).count()
        holding = Position.select().where(Position.status == "open").count()
        return in_flight == 0 and holding == (len(self.accounts) if self.holding else 0)

    def wait_until_reached(self, since: float, timeout: float = SETTLE_SECONDS) -> float:
        """Seconds from `since` until every bot traded as the swing asks (the recovery time)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if self.reached():
                    return time.time() - since
            except models.OperationalError:
                pass  # our own database restarting
            time.sleep(0.1)
        raise AssertionError(f"bots did not trade again within {timeout}s\n{self.books()}\n{self.tail_logs()}")

    def books(self) -> str:
        """Our side of the story, for a failure message."""
        bots = [(b.id, b.status, b.status_reason[:80], b.failures) for b in Bot.select()]
        orders = [(o.bot_id, o.side, o.status, o.checks, o.error[:60]) for o in Order.select().order_by(Order.id.desc()).limit(15)]
        return f"bots: {bots}\nlatest orders: {orders}"

    def wait_for_messages(self, timeout: float = 120) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if not Outbox.select().where(Outbox.sent_at.is_null() & Outbox.failed_at.is_null()).count():
                return
            time.sleep(0.1)
        raise AssertionError(f"messages still undelivered after {timeout}s\n{self.tail_logs()}")

    # ------------------------------------------------------------------ processes

    def worker_acting(self, timeout: float = 20) -> str | None:
        """The label of a worker process running an act job right now (None: none seen in time)."""
        deadline = time.time() + timeout
        while True:
            try:
                for worker in Worker.all(connection=self.redis):
                    job = worker.get_current_job()
                    if job is not None and job.func_name.endswith(".act"):
                        label = self.service.label_of(worker.pid)
                        if label:
                            return label
            except (redis.RedisError, AttributeError, ValueError):
                pass
            if time.time() >= deadline:
                return None
            time.sleep(0.01)

    def kill(self, label: str, sig: int = signal.SIGKILL, wait: float = 60) -> int:
        child = self.service.children[label]
        self.service.signal(label, sig)
        return child.wait(timeout=wait)

    def respawn(self, label: str, timeout: float = 60) -> None:
        """Start the process again and wait until it is up (a SIGTERM during its imports would
        end it before it could handle one: nothing to test there)."""
        log_path = self.log_dir / f"{label}.log"
        marker = {"bot": "Application started", "scheduler": "scheduler started"}.get(label.rstrip("0123456789"))
        seen = log_path.read_text(errors="replace").count(marker) if marker else 0
        child = self.service.spawn(label)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if marker and log_path.read_text(errors="replace").count(marker) > seen:
                return
            if not marker and any(w.pid == child.pid for w in Worker.all(connection=self.redis)):
                return
            time.sleep(0.1)
        raise AssertionError(f"{label} did not start within {timeout}s\n{self.tail_logs()}")

    def tail_logs(self, lines: int = 40) -> str:
        parts = []
        for path in sorted(self.log_dir.glob("*.log")):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"===== {path.name}\n" + "\n".join(text))
        return "\n".join(parts)

    def stop(self) -> None:
        self.service.stop()
        for server in (self.telegram, self.binance, self.redis_server, self.postgres):
            try:
                server.stop()
            except Exception:
                pass

    # ------------------------------------------------------------------ the ledger

    def ledger(self) -> dict:
        """What was lost or doubled between the exchange, our books and the chats."""
        counts = dict.fromkeys(COUNTS, 0)
        ours = {o.client_order_id: o for o in Order.select()}
        booked = Counter()
        for fill in Fill.select(Fill.order, Fill.amount):
            booked[fill.order_id] += fill.amount
        counts["orders_lost"] += Order.select().where(Order.status.in_(("recorded", "sent"))).count()
        for bot_id, api_key in self.accounts.items():
            theirs = self.binance.orders(api_key)
            ids = [o["clientOrderId"] for o in theirs]
            counts["orders_doubled"] += len(ids) - len(set(ids))
            sides = [o["side"] for o in theirs if Decimal(o["executedQty"])]
            counts["orders_doubled"] += sum(1 for a, b in zip(sides, sides[1:]) if a == b)  # two entries in a row
            for order in theirs:
                row = ours.get(order["clientOrderId"])
                if row is None:
                    counts["orders_lost"] += 1
                    continue
                executed = Decimal(order["executedQty"])
                counts["fills_lost"] += booked[row.id] < executed
                counts["fills_doubled"] += booked[row.id] > executed
            held = self.binance.balances(api_key).get("BTC", Decimal(0)) + self.binance.locked(api_key).get("BTC", Decimal(0))
            position = Position.get_or_none((Position.bot == bot_id) & (Position.status == "open"))
            ours_held = (position.amount if position else Decimal(0)) + Bot.get_by_id(bot_id).dust_amount
            counts["positions_off"] += held != ours_held
        shown = Counter()
        for n in range(len(self.accounts)):
            for message in self.telegram.bot_messages(FIRST_CHAT + n):
                shown.update((int(bot), side.lower()) for side, bot in FILL_LINE.findall(message["text"]))
        filled = Counter((f.bot_id, f.side) for f in Fill.select(Fill.bot, Fill.side))
        for key in shown.keys() | filled.keys():
            counts["messages_lost"] += max(0, filled[key] - shown[key])
            counts["messages_doubled"] += max(0, shown[key] - filled[key])
        return counts

    def settle_and_count(self) -> dict:
        """Wait until nothing is in flight and every message is out, then count."""
        self.wait_until_reached(time.time())
        self.wait_for_messages()
        return self.ledger()


def ticks_doubled(redis_client) -> int:
    """Market evaluations enqueued twice for one tick, among the jobs RQ still remembers."""
    from rq import Queue
    from rq.job import Job

    from workers.context import MARKET_QUEUE

    queue = Queue(MARKET_QUEUE, connection=redis_client)
    ids = queue.finished_job_registry.get_job_ids() + queue.started_job_registry.get_job_ids() + queue.job_ids
    seen = Counter()
    for job in Job.fetch_many(ids, connection=redis_client):
        if job is not None:  # evaluate_markets(exchange, testnet, markets, tick, scheduled_at)
            exchange, testnet, markets, tick, *_ = job.args
            seen.update((exchange, testnet, tuple(market), tick) for market in markets)
    return sum(n - 1 for n in seen.values() if n > 1)


def record(row: dict) -> None:
    """Append a row of the figures table (FAULT_REPORT names the file; scripts/fault_report.py)."""
    path = os.environ.get("FAULT_REPORT")
    line = json.dumps(row)
    print(f"\nFAULT ROW {line}")
    if path:
        with open(path, "a") as report:
            report.write(line + "\n")

