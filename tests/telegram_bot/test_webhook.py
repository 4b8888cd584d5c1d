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
