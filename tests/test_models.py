"""models against real SQLite and PostgreSQL: migrations, exact money, owner-scoped reads."""
from __future__ import annotations

from decimal import Decimal as D

import pytest

import migrations
import models
from models import Bot, NotFound, User, get_owned, owned


def make_bot(user: User, capital=D("100"), name="dipper") -> Bot:
    return Bot.create(user=user, name=name, exchange="binance", symbol="BTC/USDT", mode="paper",
                      capital=capital, strategy="dip", params={"dip": "0.6"})


def test_migrations_apply_once_then_nothing(database_url):
    database = models.connect(database_url)
    try:
        assert migrations.apply_migrations(database) == [number for number, *_ in migrations.MIGRATIONS]
        assert migrations.apply_migrations(database) == []
        assert set(database.get_tables()) >= {"user", "bot", "position", "fill", "schema_migration"}
    finally:
        database.close()


def test_a_position_written_by_a_release_without_lots_gets_no_lots(database_url):
    """Migration 7 leaves a database default: the previous release's workers, still running
    during a deploy, insert positions without the column."""
    database = models.connect(database_url)
    try:
        migrations.apply_migrations(database)
        database.execute_sql('ALTER TABLE "position" DROP COLUMN "lots"')  # as before migration 7
        database.execute_sql('DELETE FROM "schema_migration" WHERE "number" = 7')
        assert migrations.apply_migrations(database) == [7]
        user = User.create(chat_id=1)
        bot = make_bot(user)
        database.execute_sql(
            'INSERT INTO "position" ("user_id", "bot_id", "symbol", "status", "amount", "entry_price", "entry_cost", '
            '"peak_price", "fees", "proceeds", "realized_profit", "opened_at") '
            "VALUES (%s, %s, 'BTC/USDT', 'open', '1', '2', '2', '2', '0', '0', '0', '2026-11-22 00:00:00')".replace(
                "%s", database.param), (user.id, bot.id))
        assert models.Position.get(models.Position.bot == bot).lots == []
    finally:
        database.close()


@pytest.mark.parametrize("amount", [D("0.000000012345678901"), D("123456789.123456789"), D("0")])
def test_money_field_round_trips_exact_decimals(database, amount):
    bot = make_bot(User.create(chat_id=1), capital=amount)
    stored = Bot.get_by_id(bot.id).capital
    assert isinstance(stored, D)
    assert stored == amount


def test_money_field_keeps_null(database):
    user = User.create(chat_id=1)
    position = models.Position.create(user=user, bot=make_bot(user), symbol="BTC/USDT", amount=D("1"),
                                      entry_price=D("2"), entry_cost=D("2"), peak_price=D("2"))
    assert models.Position.get_by_id(position.id).exit_price is None


def test_json_text_field_round_trips(database):
    bot = make_bot(User.create(chat_id=1))
    assert Bot.get_by_id(bot.id).params == {"dip": "0.6"}


def test_get_owned_returns_the_owners_row(database):
    owner = User.create(chat_id=1)
    bot = make_bot(owner)
    assert get_owned(Bot, owner, bot.id).id == bot.id
    assert get_owned(Bot, owner, str(bot.id)).id == bot.id


def test_get_owned_raises_not_found_for_another_users_id(database):
    bot = make_bot(User.create(chat_id=1))
    intruder = User.create(chat_id=2)
    with pytest.raises(NotFound) as raised:
        get_owned(Bot, intruder, bot.id)
    assert raised.value.args == ("Bot", bot.id)


@pytest.mark.parametrize("row_id", [12345, "12345", "abc", "1.5", None, ""])
def test_get_owned_raises_not_found_for_a_missing_or_non_numeric_id(database, row_id):
    owner = User.create(chat_id=1)
    make_bot(owner)
    with pytest.raises(NotFound) as raised:
        get_owned(Bot, owner, row_id)
    assert raised.value.args == ("Bot", row_id)


def test_get_owned_raises_not_found_for_a_huge_id(database):
    owner = User.create(chat_id=1)
    with pytest.raises(NotFound):
        get_owned(Bot, owner, "99999999999999999999")


def test_owned_lists_only_the_users_rows(database):
    alice, bob = User.create(chat_id=1), User.create(chat_id=2)
    mine = {make_bot(alice, name="a1").id, make_bot(alice, name="a2").id}
    make_bot(bob, name="b1")
    assert {bot.id for bot in owned(Bot, alice)} == mine
    assert [bot.name for bot in owned(Bot, bob)] == ["b1"]
