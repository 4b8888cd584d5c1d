"""The whole path through real processes: three users, their own keys, fills only in their own chats.

The Procfile's release, bot, scheduler and two workers run as subprocesses against a fake
Telegram Bot API, a fake Binance and a fake Bybit (real HTTP servers), real Redis, and a real
database (SQLite and PostgreSQL). User 1 trades on a Binance testnet key, user 2 on a Bybit
testnet key, user 3 on a Binance live key.
"""
from __future__ import annotations

import json
import re
import secrets
import zlib
from decimal import Decimal

import pytest
import redis

import models
from tests.conftest import TELEGRAM_TOKEN
from tests.harness import Service
from tests.logfmt import parse_line
from telegram_bot.formatting import num, signed

WAIT = 40  # seconds; generous for a loaded CI machine, never a timing assertion

USERS = [
    # chat, symbol, capital, starting price, dip price, exit price
    (7001, "BTC/USDT", "100", "60000", "59500", "61000"),
    (7002, "ETH/USDT", "500", "3000", "2975", "3050"),
    (7003, "SOL/USDT", "1000", "150", "150", "150"),
]
# chat -> (exchange, testnet)
VENUES = {7001: ("binance", True), 7002: ("bybit", True), 7003: ("binance", False)}


def service_env(database_url, redis_url, fernet_keys, fake_telegram, fake_binance, tick="1", others=None):
    """The service's environment; `others` adds exchanges' overrides (exchange id -> ccxt config)."""
    return {
        "TELEGRAM_TOKEN": TELEGRAM_TOKEN,
        "TELEGRAM_API_URL": f"{fake_telegram.base_url}/bot",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "FERNET_KEYS": fernet_keys,
        "TICK_SECONDS": tick,
        "EXCHANGE_OVERRIDES": json.dumps({"binance": fake_binance.ccxt_overrides(), **(others or {})}),
    }


def say(fake_telegram, chat: int, text: str, expect: str) -> str:
    """Send a message as the user and return the bot's first reply containing `expect`."""
    before = len(fake_telegram.bot_messages(chat))
    fake_telegram.send_user_message(chat, text)
    return fake_telegram.wait_for_bot_message(chat, expect, timeout=WAIT, after=before)["text"]


def number_after(label: str, text: str) -> int:
    match = re.search(rf"{label}\s+(\d+)", text)
    assert match, f"no '{label} <n>' in {text!r}"
    return int(match.group(1))


def fills_in(fake_telegram, chat: int) -> list[str]:
    return [m["text"] for m in fake_telegram.bot_messages(chat) if "BUY" in m["text"] or "SELL" in m["text"]]


def everything_in_redis(url: str) -> bytes:
    """Every value in the test Redis database, with RQ's compressed job payloads inflated."""
    client = redis.Redis.from_url(url)
    chunks = []
    for key in client.scan_iter():
        kind = client.type(key)
        if kind == b"string":
            values = [client.get(key)]
        elif kind == b"hash":
            values = list(client.hgetall(key).values())
        elif kind == b"list":
            values = client.lrange(key, 0, -1)
        elif kind == b"set":
            values = list(client.smembers(key))
        elif kind == b"zset":
            values = client.zrange(key, 0, -1)
        else:
            values = []
        for value in values:
            chunks.append(value)
            try:
                chunks.append(zlib.decompress(value))
            except zlib.error:
                pass
    return b"\n".join(chunks)


def everything_in_database(url: str) -> str:
    database = models.connect(url)
    try:
        return "\n".join(
            repr(row.__data__) for model in models.ALL_MODELS for row in model.select()
        )
    finally:
        database.close()


@pytest.fixture
def scene(tmp_path, database_url, redis_url, fernet_keys, fake_telegram, fake_binance, fake_bybit):
    """Three users on a running service, each with their own key and a running dip bot."""
    fakes = {"binance": fake_binance, "bybit": fake_bybit}
    keys = []
    for chat, symbol, capital, start, _, _ in USERS:
        exchange, testnet = VENUES[chat]
        api_key, secret = f"key{chat}" + secrets.token_hex(16), secrets.token_hex(32)
        if exchange == "bybit":
            fake_bybit.add_account(api_key, secret, {"USDT": "10000"}, testnet=testnet)
        else:  # the fake Binance serves both of its networks as one
            fake_binance.add_account(api_key, secret, {"USDT": "10000"})
        fakes[exchange].set_history(symbol, [start] * 40)
        fakes[exchange].set_price(symbol, start)
        keys.append((api_key, secret))
    # A 2 s client timeout, so that a Bybit answer lost on the way is given up quickly.
    bybit = {**fake_bybit.ccxt_overrides(), "timeout": 2000}
    env = service_env(database_url, redis_url, fernet_keys, fake_telegram, fake_binance, others={"bybit": bybit})
    service = Service(env, tmp_path).start()
    bots = {}
    try:
        for (chat, symbol, capital, *_), (api_key, secret) in zip(USERS, keys):
            exchange, testnet = VENUES[chat]
            say(fake_telegram, chat, "/start", "registered")
            added = say(fake_telegram, chat, f"/addkey {exchange} {api_key} {secret}{' testnet' if testnet else ''}",
                        "added")
            key_id = number_after("Key", added)
            created = say(fake_telegram, chat, f"/newbot {key_id} {symbol} {capital} dip dip=0.6 tp=1.5 sl=3", "Created")
            bots[chat] = number_after("Bot", created)
            say(fake_telegram, chat, f"/startbot {bots[chat]}", "running")
        yield {"service": service, "bots": bots, "keys": keys, "database_url": database_url, "redis_url": redis_url}
    finally:
        service.stop()


def test_each_fill_reaches_only_its_owner_signed_with_its_owners_key(scene, fake_telegram, fake_binance, fake_bybit):
    service, bots, keys = scene["service"], scene["bots"], scene["keys"]
    (btc_chat, *_, btc_dip, btc_exit), (eth_chat, *_, eth_dip, eth_exit), (sol_chat, *_) = USERS

    # Bybit executes user 2's buy but its answer never arrives: it is found by its orderLinkId.
    fake_bybit.inject_fault("/v5/order/create", 0, delay=3)
    fake_binance.set_price("BTC/USDT", btc_dip)
    fake_bybit.set_price("ETH/USDT", eth_dip)
    buy_btc = fake_telegram.wait_for_bot_message(btc_chat, "BUY", timeout=WAIT)["text"]
    buy_eth = fake_telegram.wait_for_bot_message(eth_chat, "BUY", timeout=WAIT)["text"]
    for text, symbol in ((buy_btc, "BTC/USDT"), (buy_eth, "ETH/USDT")):
        assert symbol in text and "cost" in text and "fee" in text

    fake_binance.set_price("BTC/USDT", btc_exit)
    fake_bybit.set_price("ETH/USDT", eth_exit)
    sell_btc = fake_telegram.wait_for_bot_message(btc_chat, "SELL", timeout=WAIT)["text"]
    sell_eth = fake_telegram.wait_for_bot_message(eth_chat, "SELL", timeout=WAIT)["text"]
    assert "realized profit +" in sell_btc and "realized profit +" in sell_eth
    service.assert_alive()

    # Each order was signed with its owner's key, on its owner's exchange, network and market only.
    (btc_key, _), (eth_key, _), (sol_key, _) = keys
    assert [(o["symbol"], o["side"]) for o in fake_binance.orders(btc_key)] == [("BTCUSDT", "BUY"), ("BTCUSDT", "SELL")]
    assert [(o["symbol"], o["side"]) for o in fake_bybit.orders(eth_key)] == [("ETH/USDT", "buy"), ("ETH/USDT", "sell")]
    assert {r["network"] for r in fake_bybit.requests() if r["api_key"] == eth_key} == {"testnet"}
    assert len([r for r in fake_bybit.requests() if r["path"] == "/v5/order/create"]) == 2  # the lost buy went once
    assert fake_binance.orders(sol_key) == [] and fake_binance.orders(eth_key) == []

    # /profit of the Bybit user is Bybit's own money: ETH fee on the buy, USDT fee on the sell.
    eth_fills = fake_bybit.trades(eth_key)
    assert [(t["side"], t["fee_asset"]) for t in eth_fills] == [("buy", "ETH"), ("sell", "USDT")]
    report = say(fake_telegram, eth_chat, "/profit", "realized")
    assert f"fees paid: {num(eth_fills[0]['fee'])} ETH, {num(eth_fills[1]['fee'])} USDT" in report
    database = models.connect(scene["database_url"])
    try:
        bot = models.Bot.get_by_id(bots[eth_chat])
        [sell] = models.Fill.select().where((models.Fill.bot == bot) & (models.Fill.side == "sell"))
        assert bot.dust_amount == fake_bybit.balances(eth_key)["ETH"]
    finally:
        database.close()
    usdt_gained = fake_bybit.balances(eth_key)["USDT"] - Decimal("10000")
    assert abs(sell.realized_profit - (usdt_gained + bot.dust_cost)) < Decimal("1e-12")
    assert f"realized {signed(sell.realized_profit)}" in report

    # Each fill message reached only its owner's chat; SOL stayed above its average.
    assert all("BTC/USDT" in text for text in fills_in(fake_telegram, btc_chat))
    assert all("ETH/USDT" in text for text in fills_in(fake_telegram, eth_chat))
    assert fills_in(fake_telegram, sol_chat) == []

    # Another user's bot id is "not found", and nothing about it changes.
    assert "not found" in say(fake_telegram, eth_chat, f"/status {bots[btc_chat]}", "not found")
    assert "not found" in say(fake_telegram, eth_chat, f"/stopbot {bots[btc_chat]}", "not found")
    assert "running" in say(fake_telegram, btc_chat, "/bots", "Your bots")


def log_records(service: Service) -> dict[str, list[dict]]:
    """Every line of every process's log, read as a structured record (ValueError if one is not)."""
    return {path.stem: [parse_line(line) for line in path.read_text().splitlines()]
            for path in sorted(service.log_dir.glob("*.log"))}


def test_no_secret_reaches_the_database_logs_or_job_payloads_and_logs_are_structured(scene, fake_telegram,
                                                                                     fake_binance):
    btc_chat = USERS[0][0]
    fake_binance.set_price("BTC/USDT", USERS[0][4])
    fake_telegram.wait_for_bot_message(btc_chat, "BUY", timeout=WAIT)
    fake_telegram.send_user_message(btc_chat, "/balance 1")  # "Fetching…", edited into the balances
    fake_telegram.wait_for_bot_message(btc_chat, "Balance", timeout=WAIT)
    scene["service"].stop()

    secrets_used = [value for pair in scene["keys"] for value in pair] + [TELEGRAM_TOKEN]
    logs = scene["service"].logs()
    stored = everything_in_database(scene["database_url"])
    queued = everything_in_redis(scene["redis_url"])
    for secret in secrets_used:
        assert secret not in logs
        assert secret not in stored
        assert secret.encode() not in queued

    # Every line of every process is one structured record; the buy's fill names its owner, bot and order.
    records = log_records(scene["service"])
    assert set(records) >= {"bot", "scheduler", "worker1", "worker2"}
    assert all(records.values()), records
    database = models.connect(scene["database_url"])
    try:
        buy = models.Order.get((models.Order.bot == scene["bots"][btc_chat]) & (models.Order.side == "buy"))
    finally:
        database.close()
    fills = [r for name, lines in records.items() if name.startswith("worker") for r in lines
             if r["msg"] == "order filled" and r.get("order") == str(buy.id)]
    assert [(r["user"], r["bot"], r["side"], r["symbol"]) for r in fills] == [
        (str(buy.user_id), str(buy.bot_id), "buy", "BTC/USDT")]
    assert Decimal(fills[0]["amount"]) == buy.filled
    # A chat command's lines carry the chat and the handler serving it.
    [started] = [r for r in records["bot"] if r["msg"] == "bot started" and r["bot"] == str(buy.bot_id)]
    assert (started["user"], started["chat"], started["handler"]) == (str(buy.user_id), str(btc_chat), "startbot")
    # The pasted /addkey messages were deleted from the chats.
    for chat, *_ in USERS:
        pasted = [m for m in fake_telegram.transcript(chat) if (m["text"] or "").startswith("/addkey")]
        assert pasted and all(m["deleted"] for m in pasted)
