"""The README's first command on a fresh copy: only TELEGRAM_TOKEN set, everything else embedded."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

from tests.conftest import TELEGRAM_TOKEN
from tests.harness import PROJECT_DIR

WAIT = 60


@pytest.fixture
def fresh_copy(tmp_path):
    target = tmp_path / "botfleet"
    shutil.copytree(PROJECT_DIR, target, ignore=shutil.ignore_patterns(".venv", ".git", "data", "__pycache__", ".env"))
    return target


def clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in (
        "TELEGRAM_TOKEN", "DATABASE_URL", "REDIS_URL", "FERNET_KEYS", "EXCHANGE_OVERRIDES", "TICK_SECONDS")}
    return {**env, **extra}


def test_without_a_token_it_explains_botfather_and_exits_non_zero(fresh_copy):
    result = subprocess.run([sys.executable, "scripts/local_service.py"], cwd=fresh_copy, env=clean_env(),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "@BotFather" in result.stderr and "TELEGRAM_TOKEN" in result.stderr


def test_with_only_a_token_the_whole_service_runs_on_embedded_defaults(fresh_copy, fake_telegram, fake_binance):
    fake_binance.set_history("BTC/USDT", ["60000"] * 40)
    fake_binance.set_price("BTC/USDT", "60000")
    env = clean_env(
        TELEGRAM_TOKEN=TELEGRAM_TOKEN,
        TELEGRAM_API_URL=f"{fake_telegram.base_url}/bot",
        EXCHANGE_OVERRIDES=json.dumps({"binance": fake_binance.ccxt_overrides()}),
        TICK_SECONDS="1",
    )
    log = open(fresh_copy / "run.log", "wb")
    runner = subprocess.Popen([sys.executable, "scripts/local_service.py"], cwd=fresh_copy, env=env,
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        fake_telegram.send_user_message(4242, "/start")
        fake_telegram.wait_for_bot_message(4242, "registered", timeout=WAIT)
        fake_telegram.send_user_message(4242, "/newbot paper:binance BTC/USDT 100")
        fake_telegram.wait_for_bot_message(4242, "Created", timeout=WAIT)
        fake_telegram.send_user_message(4242, "/startbot 1")
        fake_telegram.wait_for_bot_message(4242, "running", timeout=WAIT)
        fake_binance.set_price("BTC/USDT", "59000")
        fake_telegram.wait_for_bot_message(4242, "BUY (paper)", timeout=WAIT)
    finally:
        os.killpg(runner.pid, signal.SIGTERM)
        runner.wait(timeout=30)
        log.close()
    output = (fresh_copy / "run.log").read_text()
    assert "generated a new Fernet key" in output
    assert (fresh_copy / "data" / "botfleet.db").exists() and (fresh_copy / "data" / "fernet.key").exists()
    assert "embedded Redis" in output
    assert TELEGRAM_TOKEN not in output
