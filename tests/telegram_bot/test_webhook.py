"""With WEBHOOK_URL set, the bot process registers a webhook and serves updates on $PORT."""
from __future__ import annotations

import json
import socket
import time
import urllib.request

from tests.harness import Service
from tests.test_end_to_end import service_env

WAIT = 30


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def post_update(url: str, secret: str, update: dict) -> int:
    request = urllib.request.Request(
        url, data=json.dumps(update).encode(), method="POST",
        headers={"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secret},
    )
    deadline = time.time() + WAIT
    while True:
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status
        except OSError:  # the server may still be starting
            if time.time() > deadline:
                raise
            time.sleep(0.2)


def test_webhook_mode_registers_its_url_and_answers_posted_updates(tmp_path, sqlite_url, redis_url, fernet_keys,
                                                                   fake_telegram, fake_binance):
    port = free_port()
    env = service_env(sqlite_url, redis_url, fernet_keys, fake_telegram, fake_binance)
    env.update(WEBHOOK_URL=f"http://127.0.0.1:{port}/hook", PORT=str(port))
    service = Service(env, tmp_path).start(names=("bot",))
    try:
        deadline = time.time() + WAIT
        while not fake_telegram.calls("setWebhook") and time.time() < deadline:
            time.sleep(0.1)
        [registration] = fake_telegram.calls("setWebhook")
        url, secret = registration["params"]["url"], registration["params"]["secret_token"]
        assert url.startswith(f"http://127.0.0.1:{port}/hook/")
        assert env["TELEGRAM_TOKEN"] not in url and env["TELEGRAM_TOKEN"] not in secret

        message = fake_telegram.send_user_message(6001, "/start")  # opens the chat on the fake
        local_url = url.replace("/hook", "", 1)  # what a proxy in front of $PORT would forward to
        assert post_update(local_url, secret, {"update_id": 1, "message": message}) == 200

        fake_telegram.wait_for_bot_message(6001, "registered", timeout=WAIT)
    finally:
        service.stop()


def webhook_bot(env: dict, folder, fake_telegram) -> tuple[Service, str, str]:
    """A `bot` process in webhook mode on a port of its own: (service, local url, secret)."""
    port = free_port()
    folder.mkdir()
    registered = len(fake_telegram.calls("setWebhook"))
    service = Service({**env, "WEBHOOK_URL": f"http://127.0.0.1:{port}/hook", "PORT": str(port)}, folder).start(
        names=("bot",))
    deadline = time.time() + WAIT
    while len(fake_telegram.calls("setWebhook")) == registered and time.time() < deadline:
        time.sleep(0.1)
    registration = fake_telegram.calls("setWebhook")[-1]["params"]
    return service, registration["url"].replace("/hook", "", 1), registration["secret_token"]


def test_one_newbot_conversation_answered_by_two_webhook_processes_in_turn_creates_the_bot_once(
        tmp_path, postgres_url, redis_url, fernet_keys, fake_telegram, fake_binance):
    """Heroku routes each request to any web dyno: every answer of the conversation goes to the
    other `bot` process than the one before, and each finds the step the last one left."""
    env = service_env(postgres_url, redis_url, fernet_keys, fake_telegram, fake_binance)
    first, first_url, secret = webhook_bot(env, tmp_path / "first", fake_telegram)
    second, second_url, _ = webhook_bot(env, tmp_path / "second", fake_telegram)
    chat, update_ids, turns = 6101, iter(range(1, 100)), iter([first_url, second_url] * 20)

    def post(kind: str, obj: dict, expect: str, after: int) -> dict:
        assert post_update(next(turns), secret, {"update_id": next(update_ids), kind: obj}) == 200
        return fake_telegram.wait_for_bot_message(chat, expect, timeout=WAIT, after=after)

    def say(text: str, expect: str) -> dict:
        before = len(fake_telegram.bot_messages(chat))
        return post("message", fake_telegram.send_user_message(chat, text), expect, before)

    def press(message: dict, data: str, expect: str) -> dict:
        query = fake_telegram.press_button(chat, message["message_id"], data)
        return post("callback_query", query, expect, 0)

    try:
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
    finally:
        first.stop()
        second.stop()
