"""With WEBHOOK_URL set, the bot process registers a webhook and serves, on $PORT, Telegram's
updates (behind their secret token) and `GET /healthz` for the platform."""
from __future__ import annotations

import json
import signal
import time
import urllib.error
import urllib.request

import psycopg2
import pytest
from telegram import Update

import models
from models import User
from tests.conftest import TELEGRAM_TOKEN
from tests.harness import Service
from tests.servers import OwnPostgres, OwnRedis, free_port
from tests.telegram_bot.test_notifier import fill
from tests.test_end_to_end import service_env

WAIT = 30
TICK = 1.0  # service_env's TICK_SECONDS
ANSWER_WITHIN = 3.5  # healthz's own limit is 2 s, plus a slow machine's margin


def request(url: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes]:
    """(status, body) of one request; an HTTP error status is an answer too."""
    try:
        asked = urllib.request.Request(url, data=body, headers=headers or {})
        with urllib.request.urlopen(asked, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def post_update(url: str, secret: str | None, update: dict) -> int:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    return request(url, json.dumps(update).encode(), headers)[0]


def healthz(port: int) -> tuple[int, dict, bytes]:
    status, body = request(f"http://127.0.0.1:{port}/healthz")
    return status, json.loads(body), body


def wait_for_health(port: int, status: int, timeout: float = WAIT) -> dict:
    """The first /healthz figures answered with `status`."""
    deadline = time.time() + timeout
    while True:
        try:
            answered, figures, _ = healthz(port)
            if answered == status:
                return figures
        except OSError:  # not listening yet
            figures = None
        assert time.time() < deadline, f"/healthz never answered {status}: {figures}"
        time.sleep(0.2)


class WebhookBot:
    """The `bot` process (and any other) in webhook mode on a free port, its registration read."""

    def __init__(self, env: dict, folder, fake_telegram, names=("bot",)):
        self.port = free_port()
        env = {**env, "WEBHOOK_URL": f"http://127.0.0.1:{self.port}/hook", "PORT": str(self.port)}
        registered = len(fake_telegram.calls("setWebhook"))  # another process may have registered before
        self.service = Service(env, folder).start(names=names)
        deadline = time.time() + WAIT
        while len(fake_telegram.calls("setWebhook")) == registered:
            assert time.time() < deadline, self.service.logs()
            time.sleep(0.1)
        registration = fake_telegram.calls("setWebhook")[-1]
        self.registration = registration["params"]
        self.secret = self.registration["secret_token"]
        self.local_url = self.registration["url"].replace("/hook", "", 1)  # what a proxy in front of $PORT reaches
        wait_for_health(self.port, 200)

    def sigterm(self, label: str = "bot", timeout: float = 20) -> int:
        self.service.signal(label, signal.SIGTERM)
        return self.service.children[label].wait(timeout=timeout)

    def log(self) -> str:
        return (self.service.log_dir / "bot.log").read_text(errors="replace")


@pytest.fixture
def own_redis():
    server = OwnRedis().start()
    yield server
    server.stop()


@pytest.fixture
def own_postgres():
    server = OwnPostgres().start()
    yield server
    server.stop()


# Ask for webhook_bot after a server of the test's own: it stops first, its servers after it.
@pytest.fixture
def webhook_bot(tmp_path, fake_telegram, fake_binance, fernet_keys):
    """Call with the database and Redis URLs (and the process names); stopped after the test."""
    started = []

    def start(database_url: str, redis_url: str, names=("bot",)) -> WebhookBot:
        env = service_env(database_url, redis_url, fernet_keys, fake_telegram, fake_binance)
        folder = tmp_path / f"webhook{len(started) + 1}"
        folder.mkdir()
        started.append(WebhookBot(env, folder, fake_telegram, names))
        return started[-1]

    yield start
    for bot in started:
        bot.service.stop()


def test_the_webhook_is_registered_as_run_webhook_registered_it(webhook_bot, sqlite_url, redis_url, fake_telegram):
    bot = webhook_bot(sqlite_url, redis_url)
    assert bot.registration["url"].startswith(f"http://127.0.0.1:{bot.port}/hook/")
    assert bot.registration["allowed_updates"] == list(Update.ALL_TYPES)
    assert bot.registration["max_connections"] == 40
    assert "drop_pending_updates" not in bot.registration
    assert TELEGRAM_TOKEN not in bot.registration["url"] and TELEGRAM_TOKEN not in bot.secret
    assert fake_telegram.calls("setMyCommands")  # post_init ran before


def test_updates_posted_with_the_secret_get_replies_and_the_outbox_is_delivered(
        webhook_bot, sqlite_url, redis_url, fake_telegram):
    bot = webhook_bot(sqlite_url, redis_url)
    message = fake_telegram.send_user_message(6001, "/start")  # opens the chat on the fake
    assert post_update(bot.local_url, bot.secret, {"update_id": 1, "message": message}) == 200
    fake_telegram.wait_for_bot_message(6001, "registered", timeout=WAIT)

    models.connect(sqlite_url)  # the notifier started by post_init delivers what jobs write
    fill(User.get(User.chat_id == 6001), 7)
    fake_telegram.wait_for_bot_message(6001, "BUY", timeout=WAIT)


def test_a_wrong_or_missing_secret_is_refused_and_gets_no_reply(webhook_bot, sqlite_url, redis_url, fake_telegram):
    bot = webhook_bot(sqlite_url, redis_url)
    message = fake_telegram.send_user_message(6002, "/start")
    assert post_update(bot.local_url, bot.secret[::-1], {"update_id": 1, "message": message}) == 403
    assert post_update(bot.local_url, None, {"update_id": 2, "message": message}) == 403
    assert post_update(bot.local_url, bot.secret, {"update_id": 3, "message": message}) == 200
    fake_telegram.wait_for_bot_message(6002, "registered", timeout=WAIT)
    time.sleep(1)
    # One chat's updates are handled in order: a refused one would have been answered first.
    assert len([m for m in fake_telegram.bot_messages(6002) if "registered" in m["text"]]) == 1


def test_a_body_that_is_no_update_is_refused(webhook_bot, sqlite_url, redis_url):
    bot = webhook_bot(sqlite_url, redis_url)
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": bot.secret}
    assert request(bot.local_url, b"{not json", headers)[0] == 400
    assert request(bot.local_url, b"[1, 2]", headers)[0] == 400
    assert healthz(bot.port)[0] == 200  # and the server goes on


def test_healthz_answers_200_with_the_figures_while_the_scheduler_ticks_without_bots(
        webhook_bot, sqlite_url, redis_url):
    bot = webhook_bot(sqlite_url, redis_url, names=("bot", "scheduler"))
    deadline = time.time() + WAIT
    while (figures := healthz(bot.port)[1])["last_tick_age"] is None:
        assert time.time() < deadline, figures
        time.sleep(0.2)
    status, figures, body = healthz(bot.port)
    assert status == 200 and figures["healthy"]
    assert figures["database"] == "ok" and figures["redis"] == "ok"
    assert 0 <= figures["last_tick_age"] < figures["tick_stale_after"] == 4 * TICK
    assert figures["workers"] == 0 and "no_worker" in figures["problems"]  # told, not failing
    assert set(figures["queues"]) == {"market", "reports", "trades"} and figures["unsent_messages"] == 0
    for secret in (TELEGRAM_TOKEN, bot.secret, "redis://", "sqlite:"):
        assert secret.encode() not in body


def test_healthz_answers_503_once_the_tick_is_four_periods_old(webhook_bot, sqlite_url, redis_url):
    bot = webhook_bot(sqlite_url, redis_url, names=("bot", "scheduler"))
    wait_for_health(bot.port, 200)
    assert bot.sigterm("scheduler") == 0
    figures = wait_for_health(bot.port, 503, timeout=4 * TICK + WAIT)
    assert figures["last_tick_age"] > 4 * TICK and "no_tick" in figures["problems"]
    assert figures["database"] == "ok" and figures["redis"] == "ok"


def test_healthz_answers_503_quickly_while_redis_is_down(own_redis, webhook_bot, sqlite_url):
    bot = webhook_bot(sqlite_url, own_redis.url)
    own_redis.pause()
    asked = time.time()
    status, figures, _ = healthz(bot.port)
    assert time.time() - asked < ANSWER_WITHIN
    assert status == 503 and figures["redis"] != "ok" and figures["database"] == "ok"
    assert figures["problems"][0] == "redis_unreachable" and "last_tick_age" not in figures
    own_redis.start()  # back, empty: healthy again
    assert wait_for_health(bot.port, 200)["redis"] == "ok"


def test_healthz_answers_503_within_its_limit_while_the_database_refuses_connections(
        own_postgres, webhook_bot, redis_url):
    bot = webhook_bot(own_postgres.url, redis_url)
    own_postgres.pause()  # connections refused: a statement retries for about 8 s
    asked = time.time()
    status, figures, _ = healthz(bot.port)
    assert time.time() - asked < ANSWER_WITHIN
    assert status == 503 and figures["database"] != "ok" and figures["redis"] == "ok"
    assert "database_unreachable" in figures["problems"] and "unsent_messages" not in figures
    asked = time.time()
    assert healthz(bot.port)[0] == 503 and time.time() - asked < ANSWER_WITHIN  # the same look, awaited again
    own_postgres.resume()
    assert wait_for_health(bot.port, 200)["database"] == "ok"


def test_healthz_answers_503_when_the_database_is_dropped(webhook_bot, postgres_url, redis_url):
    bot = webhook_bot(postgres_url, redis_url)
    admin = psycopg2.connect(postgres_url.replace("postgres://", "postgresql://", 1).rsplit("/", 1)[0] + "/postgres")
    admin.autocommit = True
    admin.cursor().execute(f'DROP DATABASE "{postgres_url.rsplit("/", 1)[1]}" WITH (FORCE)')
    admin.close()
    status, figures, _ = healthz(bot.port)
    assert status == 503 and figures["database"] == "error" and figures["redis"] == "ok"


def test_sigterm_stops_the_process_cleanly(webhook_bot, sqlite_url, redis_url, fake_telegram):
    bot = webhook_bot(sqlite_url, redis_url)
    message = fake_telegram.send_user_message(6003, "/start")
    assert post_update(bot.local_url, bot.secret, {"update_id": 1, "message": message}) == 200
    fake_telegram.wait_for_bot_message(6003, "registered", timeout=WAIT)
    asked = time.time()
    assert bot.sigterm() == 0
    assert time.time() - asked < 10
    log = bot.log()
    assert "Traceback" not in log
    assert log.index("stop signal: shutting down") < log.index("outbox delivery stopped")  # post_stop ran
    assert bot.secret not in log and TELEGRAM_TOKEN not in log
    with pytest.raises(OSError):
        healthz(bot.port)


def test_one_newbot_conversation_answered_by_two_webhook_processes_in_turn_creates_the_bot_once(
        webhook_bot, postgres_url, redis_url, fake_telegram):
    """Heroku routes each request to any web dyno: every answer of the conversation goes to the
    other `bot` process than the one before, and each finds the step the last one left."""
    first, second = webhook_bot(postgres_url, redis_url), webhook_bot(postgres_url, redis_url)
    chat, update_ids, turns = 6101, iter(range(1, 100)), iter([first, second] * 20)

    def post(kind: str, obj: dict, expect: str, after: int) -> dict:
        bot = next(turns)
        assert post_update(bot.local_url, bot.secret, {"update_id": next(update_ids), kind: obj}) == 200
        return fake_telegram.wait_for_bot_message(chat, expect, timeout=WAIT, after=after)

    def say(text: str, expect: str) -> dict:
        before = fake_telegram.bot_message_count(chat)
        return post("message", fake_telegram.send_user_message(chat, text), expect, before)

    def press(message: dict, data: str, expect: str) -> dict:
        query = fake_telegram.press_button(chat, message["message_id"], data)
        return post("callback_query", query, expect, 0)

    say("/start", "registered")
    question = say("/newbot", "step 1 of 6")
    question = press(question, "nb:ex:binance", "step 2 of 6")
    question = press(question, "nb:key:paper", "step 3 of 6")
    press(question, "nb:sym:BTC/USDT", "step 4 of 6")
    strategy = say("120", "step 5 of 6")
    press(strategy, "nb:st:dip", "step 6 of 6")
    settings = say("tp=2", "tp = 2")
    summary = press(settings, "nb:params:ok", "please check")
    assert "BTC/USDT, paper, capital 120 USDT" in summary["text"]
    press(summary, "nb:create:yes", "Created")
    listing = say("/bots", "Your bots")
    assert listing["text"].count("BTC/USDT") == 1
    assert "nothing to cancel" in say("/cancel", "nothing")["text"]  # the conversation ended everywhere
    answers = fake_telegram.callback_answers(chat)
    assert len(answers) == 6 and all(a["attempts"] == 1 and not (a["answer"] or {}).get("text") for a in answers)
