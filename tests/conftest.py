"""Shared fixtures: real Redis, real databases (SQLite and PostgreSQL), and the edge fakes."""
from __future__ import annotations

import contextlib
import os
import uuid
from urllib.parse import urlparse

import psycopg2
import pytest
import redis
from cryptography.fernet import Fernet

from tests.fakes.binance_api import FakeBinance
from tests.fakes.bybit_api import FakeBybit
from tests.fakes.okx_api import FakeOKX
from tests.fakes.telegram_api import FakeTelegram
from logcontext import begin
from tests.logfmt import log_lines  # noqa: F401 (a fixture for every test)

TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
TEST_POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
TELEGRAM_TOKEN = "123456:TEST-TOKEN-botfleet-e2e"


@pytest.fixture(autouse=True)
def fresh_log_context():
    """Jobs called in this process bind their ids as the worker's fresh context would let them:
    each test starts without those of the last."""
    begin()


@pytest.fixture
def redis_url():
    client = redis.Redis.from_url(TEST_REDIS_URL)
    client.flushdb()
    yield TEST_REDIS_URL
    client.flushdb()


def _postgres_admin():
    connection = psycopg2.connect(TEST_POSTGRES_URL.replace("postgres://", "postgresql://", 1))
    connection.autocommit = True
    return connection


@contextlib.contextmanager
def fresh_postgres_database():
    """The URL of a new, empty PostgreSQL database, dropped on leaving (for any fixture scope)."""
    name = f"botfleet_test_{uuid.uuid4().hex[:10]}"
    admin = _postgres_admin()
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlparse(TEST_POSTGRES_URL)._replace(path=f"/{name}").geturl()
    finally:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def postgres_url():
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'botfleet.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request):
    """Each test that asks for it runs once on SQLite and once on PostgreSQL."""
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
def fernet_keys():
    return Fernet.generate_key().decode()


@pytest.fixture
def fake_binance():
    fake = FakeBinance().start()
    yield fake
    fake.stop()


@pytest.fixture
def fake_bybit():
    fake = FakeBybit().start()
    yield fake
    fake.stop()


@pytest.fixture
def fake_okx():
    fake = FakeOKX().start()
    yield fake
    fake.stop()


@pytest.fixture
def fake_telegram():
    fake = FakeTelegram(token=TELEGRAM_TOKEN).start()
    yield fake
    fake.stop()


@pytest.fixture
def database(database_url):
    """models bound to a fresh, migrated database (SQLite and PostgreSQL)."""
    import migrations
    import models

    connected = models.connect(database_url)
    migrations.apply_migrations(connected)
    yield connected
    connected.close()
