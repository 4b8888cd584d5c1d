"""Every process outlives a PostgreSQL restart: statements reconnect by themselves, and a
transaction cut short leaves nothing half-written. Run against a server of the test's own."""
from __future__ import annotations

import threading
import time

import pytest
from peewee import InterfaceError, OperationalError

import migrations
import models
from models import User, write_transaction
from tests.servers import OwnPostgres


@pytest.fixture(scope="module")
def own_postgres():
    server = OwnPostgres().start()
    yield server
    server.stop()


@pytest.fixture
def database(own_postgres):
    connected = models.connect(own_postgres.url)
    migrations.apply_migrations(connected)
    User.delete().execute()
    yield connected
    connected.close()


def test_a_statement_after_a_server_restart_reconnects_by_itself(database, own_postgres):
    User.create(chat_id=1, name="before")
    own_postgres.restart()

    User.create(chat_id=2, name="after")

    assert sorted(u.name for u in User.select()) == ["after", "before"]


def test_a_statement_waits_out_a_server_that_refuses_connections_for_a_moment(database, own_postgres):
    User.create(chat_id=3, name="before")
    own_postgres.pause()
    threading.Timer(1.0, own_postgres.resume).start()
    started = time.monotonic()

    count = User.select().count()  # refused at first, then answered

    assert count == 1 and time.monotonic() - started >= 0.9


def test_a_transaction_cut_by_a_restart_writes_nothing_and_the_next_one_works(database, own_postgres):
    with pytest.raises((OperationalError, InterfaceError)):
        with write_transaction():
            User.create(chat_id=4, name="half")
            own_postgres.restart()
            User.create(chat_id=5, name="other half")

    with write_transaction():
        User.create(chat_id=6, name="whole")
    assert [u.name for u in User.select()] == ["whole"]


def test_a_server_gone_for_good_still_fails_after_the_retries(database, own_postgres):
    own_postgres.pause()
    try:
        with pytest.raises(OperationalError):
            User.select().count()
    finally:
        own_postgres.resume()
    assert User.select().count() == 0
