"""A running service (release, bot, a worker) per test module, against the fakes, a real Redis
and a SQLite database; each test plays its own chats, so tests do not share state."""
from __future__ import annotations

import pytest
import redis
from cryptography.fernet import Fernet

from tests.conftest import TELEGRAM_TOKEN, TEST_REDIS_URL
from tests.fakes.binance_api import FakeBinance
from tests.fakes.telegram_api import FakeTelegram
from tests.harness import Service
from tests.telegram_bot.chat import Chat
from tests.test_end_to_end import service_env


@pytest.fixture(scope="module")
def fakes():
    telegram, binance = FakeTelegram(token=TELEGRAM_TOKEN).start(), FakeBinance().start()
    yield telegram, binance
    telegram.stop()
    binance.stop()


@pytest.fixture(scope="module")
def service_extra_env():
    """Extra environment for the module's service (override in a module)."""
    return {}


@pytest.fixture(scope="module")
def service_names():
    """The Procfile processes the module's service runs (override in a module)."""
    return ("bot", "worker")


@pytest.fixture(scope="module")
def service(fakes, tmp_path_factory, service_extra_env, service_names):
    telegram, binance = fakes
    redis.Redis.from_url(TEST_REDIS_URL).flushdb()
    folder = tmp_path_factory.mktemp("service")
    env = service_env(f"sqlite:///{folder / 'botfleet.db'}", TEST_REDIS_URL, Fernet.generate_key().decode(), telegram, binance)
    running = Service({**env, **service_extra_env}, folder, workers=1).start(names=service_names)
    yield running
    running.stop()


@pytest.fixture
def chat(service, fakes):
    return Chat(*fakes)


@pytest.fixture
def user(chat):
    return chat.registered()
