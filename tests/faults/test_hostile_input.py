"""Hostile and malformed chat input against the real `bot` process: a property-based fuzz.

Hypothesis writes every command with random arguments (text, huge text, unicode, HTML markup,
negative, zero, NaN and enormous numbers, the victim's ids), plain text, forged callback data,
commands from a chat that never registered, and commands and chatter in a group. After each input a sentinel command proves the
bot still answers; every reply is checked. Properties: no input makes a handler fail (the
generic "something went wrong"), no reply shows another user's data, and in the end the other
user's rows and chat are untouched. FAULT_SUITE=long tries 10,000 inputs.
"""
from __future__ import annotations

import itertools
import json
import os
from decimal import Decimal

import pytest
from cryptography.fernet import Fernet
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import models
from models import ApiKey, Bot, Order, Position, User
from telegram_bot import formatting
from tests.conftest import TELEGRAM_TOKEN
from tests.faults.scene import LONG, record
from tests.harness import Service
from vault import Vault
from workers import strategies

pytestmark = pytest.mark.faults
INPUTS = int(os.environ.get("FUZZ_INPUTS", 10_000 if LONG else 150))
VICTIM, ATTACKER, STRANGER = 9001, 9002, 9003
GROUP = -100900  # stands for "a group"; each input gets a fresh one (a bot may write 20 messages a minute to one)
VICTIM_BOT_NAME, VICTIM_KEY_TAIL = "victimbotQx9", "V1ct"
SENTINEL = "/zzsentinel"
GENERIC_FAILURE = "Sorry, something went wrong"
COMMANDS = [name for name, _, _ in formatting.COMMANDS] + ["admin", "cancel", "settings", "chart", "backtest"]


def victim_rows() -> str:
    """Everything of the victim's, to compare before and after."""
    victim = User.get(User.chat_id == VICTIM)
    rows = [victim.__data__]
    for model in (ApiKey, Bot, Position, Order):
        rows += [row.__data__ for row in model.select().where(model.user == victim).order_by(model.id)]
    return json.dumps(rows, default=str, sort_keys=True)


@pytest.fixture(scope="module")
def chat_service(tmp_path_factory, fake_binance_module, fake_telegram_module):
    from tests.conftest import TEST_POSTGRES_URL, TEST_REDIS_URL, _postgres_admin
    from urllib.parse import urlparse
    import uuid

    name = f"botfleet_fuzz_{uuid.uuid4().hex[:10]}"
    admin = _postgres_admin()
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    database_url = urlparse(TEST_POSTGRES_URL)._replace(path=f"/{name}").geturl()
    fernet = Fernet.generate_key().decode()
    service = Service({
        "TELEGRAM_TOKEN": TELEGRAM_TOKEN, "TELEGRAM_API_URL": f"{fake_telegram_module.base_url}/bot",
        "DATABASE_URL": database_url, "REDIS_URL": TEST_REDIS_URL, "FERNET_KEYS": fernet,
        "EXCHANGE_OVERRIDES": json.dumps({"binance": fake_binance_module.ccxt_overrides()}),
    }, tmp_path_factory.mktemp("fuzz"))
    released = service.release()
    assert released.returncode == 0, released.stderr
    models.connect(database_url)
    vault = Vault((fernet,))
    params = {k: str(v) for k, v in strategies.validate("dip", {}).items()}
    ids = {}
    for chat, bot_name, tail in ((VICTIM, VICTIM_BOT_NAME, VICTIM_KEY_TAIL), (ATTACKER, "mine", "Mine")):
        user = User.create(chat_id=chat, name=f"user {chat}")
        key = ApiKey.create(user=user, exchange="binance", api_key_token=vault.encrypt("k" * 20 + tail),
                            secret_token=vault.encrypt("s" * 40), key_tail=tail)
        bot = Bot.create(user=user, api_key=key, name=bot_name, exchange="binance", symbol="ETH/USDT", mode="live",
                         capital=Decimal(100), strategy="dip", params=params, timeframe=params["timeframe"])
        ids[chat] = (bot.id, key.id)
        fake_telegram_module.send_user_message(chat, "/start")  # opens the chat
    service.start(names=("bot",))
    for chat in (VICTIM, ATTACKER):  # both answered before the victim's messages are counted
        fake_telegram_module.wait_for_bot_message(chat, timeout=30)
    yield {"service": service, "ids": ids, "victim_rows": victim_rows()}
    service.stop()
    models.db.close()
    admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture(scope="module")
def fake_binance_module():
    from tests.fakes.binance_api import FakeBinance

    fake = FakeBinance().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def fake_telegram_module():
    from tests.fakes.telegram_api import FakeTelegram

    fake = FakeTelegram(token=TELEGRAM_TOKEN).start()
    yield fake
    fake.stop()


def words(victim_ids):
    numbers = st.one_of(
        st.integers(min_value=-(10**30), max_value=10**30).map(str),
        st.sampled_from(["0", "-1", "NaN", "nan", "inf", "-inf", "1e400", "1e-400", "0x10", "9" * 40, "½", "١٢"]),
        st.decimals(allow_nan=True, allow_infinity=True).map(str),
    )
    markup = st.sampled_from(["<b>", "</i>", "<a href='x'>", "&amp;", "&", "<", ">", "\"", "'", "`", "*_~", "\\"])
    foreign = st.sampled_from([str(i) for i in victim_ids] + [f"paper:{i}" for i in victim_ids])
    symbols = st.sampled_from(["BTC/USDT", "btc/usdt", "ETH/USDT", "NOPE/USDT", "BTC", "/", "paper:binance",
                               "paper:nope", "dip", "grid", "dca", "dip=0.6", "tp=-1", "sl=nan", "period=0",
                               "dip=1e400", "timeframe=7x", "testnet"])
    return st.one_of(numbers, markup, foreign, symbols, st.text(min_size=1, max_size=30).filter(lambda t: t.strip()))


def hostile_inputs(victim_ids):
    command = st.builds(
        lambda name, args, chat: (chat, "text", f"/{name} " + " ".join(args)),
        st.sampled_from(COMMANDS), st.lists(words(victim_ids), max_size=8),
        st.sampled_from([ATTACKER, ATTACKER, ATTACKER, STRANGER]),
    )
    plain = st.builds(lambda text: (ATTACKER, "text", text), st.text(min_size=1, max_size=200).filter(str.strip))
    huge = st.builds(lambda char, n: (ATTACKER, "text", f"/newbot {char * n}"),
                     st.sampled_from(["9", "<", "é", "🚀", " a"]), st.integers(1000, 4000))
    callback = st.builds(
        lambda action, answer, ident: (ATTACKER, "callback", f"{action}:{answer}:{ident}"),
        st.sampled_from(["deletebot", "deletebot", "x", ""]), st.sampled_from(["yes", "no", "", "maybe"]),
        st.one_of(st.sampled_from([str(i) for i in victim_ids]), words(victim_ids)),
    )
    group = st.builds(  # the attacker in a group with the bot: commands or chatter
        lambda name, args: (GROUP, "group", f"/{name} " + " ".join(args)),
        st.sampled_from(COMMANDS), st.lists(words(victim_ids), max_size=4),
    ) | st.builds(lambda text: (GROUP, "group", text), st.text(min_size=1, max_size=100).filter(
        lambda text: text.strip() and not text.startswith("/")))
    return st.one_of(command, command, plain, huge, callback, group)


def test_hostile_input_gets_a_clear_answer_and_touches_no_one_else(chat_service, fake_telegram_module):
    telegram, service = fake_telegram_module, chat_service["service"]
    victim_bot, victim_key = chat_service["ids"][VICTIM]
    victim_messages = len(telegram.bot_messages(VICTIM))
    tried = []
    groups = itertools.count(GROUP, -1)

    @settings(max_examples=INPUTS, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(hostile_inputs([victim_bot, victim_key]))
    def one_input(item):
        chat, kind, payload = item
        if kind == "group":
            chat = next(groups)
        before = telegram.bot_message_count(chat)
        if kind == "group":  # a command gets one "private chats only", chatter nothing
            telegram.send_user_message(chat, payload[:4096], chat_type="group", from_id=ATTACKER)
            telegram.send_user_message(chat, SENTINEL, chat_type="group", from_id=ATTACKER)
            telegram.wait_for_bot_message(chat, timeout=90, after=before + payload.startswith("/"))
        else:
            if kind == "callback":
                anchor = telegram.bot_messages(chat, after=before - 1)[-1]["message_id"]
                telegram.forge_callback(chat, anchor, payload[:64])
            else:
                telegram.send_user_message(chat, payload[:4096])
            telegram.send_user_message(chat, SENTINEL)
            telegram.wait_for_bot_message(chat, SENTINEL, timeout=30, after=before)
        tried.append(item)
        for message in telegram.bot_messages(chat, after=before):
            text = message["text"]
            assert GENERIC_FAILURE not in text, (item, text)
            assert VICTIM_BOT_NAME not in text and f"...{VICTIM_KEY_TAIL}" not in text, (item, text)

    one_input()

    service.assert_alive()
    assert victim_rows() == chat_service["victim_rows"]
    assert not User.select().where(User.chat_id < 0).exists()  # a group registers nothing
    assert len(telegram.bot_messages(VICTIM)) == victim_messages
    failures = service.logs().count("handler failed")
    record({"kind": "input", "inputs": len(tried), "handler_failures": failures})
    assert failures == 0
    assert len(tried) >= INPUTS * 0.9
