"""Schema migrations, applied in order by the `release` process; running them again is a no-op.

Each migration is (number, description, function(database, migrator)). Add new ones at the
end with playhouse.migrate operations; never edit one that has shipped.
"""
from __future__ import annotations

from decimal import Decimal
import sys

from peewee import CharField, DateTimeField, IntegerField, Model, PostgresqlDatabase
from playhouse.migrate import PostgresqlMigrator, SqliteMigrator, migrate

import models
import settings as settings_module
from logconfig import configure_logging
from logcontext import get_logger

log = get_logger(__name__)


class SchemaMigration(Model):
    number = IntegerField(primary_key=True)
    description = CharField()
    applied_at = DateTimeField(default=models.utcnow)

    class Meta:
        database = models.db
        table_name = "schema_migration"


def _create_initial_tables(database, migrator):
    database.create_tables(models.ALL_MODELS, safe=True)


def _add_missing_columns(database, migrator, model, names):
    """Add the model's fields that the table lacks (a database made by migration 1 from newer
    models already has them)."""
    present = {column.name for column in database.get_columns(model._meta.table_name)}
    fields = [model._meta.fields[name] for name in names]
    operations = [
        migrator.add_column(model._meta.table_name, field.column_name, field)
        for field in fields if field.column_name not in present
    ]
    if operations:
        migrate(*operations)


def _add_missing_index(database, migrator, model, columns, unique):
    name = "_".join([model._meta.table_name, *columns])
    if name not in {index.name for index in database.get_indexes(model._meta.table_name)}:
        migrate(migrator.add_index(model._meta.table_name, columns, unique))


def _order_lifecycle(database, migrator):
    """Orders get a real lifecycle, fills a unique key, bots a fence, paper an exchange of its own."""
    _add_missing_columns(database, migrator, models.Bot, ["fence", "version"])
    _add_missing_columns(database, migrator, models.Order, [
        "type", "price", "tick", "filled", "cost", "fees", "next_check_at", "checks", "notified",
    ])
    _add_missing_columns(database, migrator, models.Fill, ["fees", "fill_key"])
    _add_missing_columns(database, migrator, models.PaperBalance, ["locked"])
    database.create_tables([models.PaperOrder], safe=True)
    _add_missing_index(database, migrator, models.Order, ["bot_id", "status"], False)
    _add_missing_index(database, migrator, models.Order, ["status"], False)
    _add_missing_index(database, migrator, models.Fill, ["order_id", "fill_key"], True)
    # "pending" meant "may have been sent": from now on that is "sent", looked up before anything else.
    models.Order.update(status="sent").where(models.Order.status == "pending").execute()
    filled = models.Order.select().where(models.Order.status == "filled")
    for order in filled:
        amount = sum((f.amount for f in order.fills), Decimal(0))
        cost = sum((f.cost for f in order.fills), Decimal(0))
        models.Order.update(filled=amount, cost=cost).where(models.Order.id == order.id).execute()


def _chat_preferences(database, migrator):
    """Users get a language and notification settings; bots a "Sell now" request."""
    _add_missing_columns(database, migrator, models.User, [
        "language", "notify_fills", "notify_errors", "notify_summary", "summary_hour", "summary_sent_on",
    ])
    _add_missing_columns(database, migrator, models.Bot, ["exit_requested_at"])


def _strategy_orders(database, migrator):
    """Strategies with several orders: a bot's strategy state, an order's role and grid pair, a
    position's base price."""
    _add_missing_columns(database, migrator, models.Bot, ["state"])
    _add_missing_columns(database, migrator, models.Order, ["role", "pair_price"])
    _add_missing_columns(database, migrator, models.Position, ["base_price"])


def _outbox_leases(database, migrator):
    """Outbox rows are claimed by one notifier at a time (a lease), so two `bot` processes never
    send one message twice."""
    _add_missing_columns(database, migrator, models.Outbox, ["lease_owner", "lease_until"])


def _grid_lots(database, migrator):
    """Positions keep a grid's buys apart until their sells take them back (each pair's own cost)."""
    _add_missing_columns(database, migrator, models.Position, ["lots"])


MIGRATIONS = [
    (1, "initial tables", _create_initial_tables),
    (2, "order lifecycle, fill keys, fences, paper exchange", _order_lifecycle),
    (4, "chat languages, notification settings, sell-now requests", _chat_preferences),
    (5, "outbox leases", _outbox_leases),
    (6, "strategy state, order roles, grid pairs, DCA base price", _strategy_orders),
    (7, "grid lots", _grid_lots),
]


def _migrator_for(database):
    if isinstance(database, PostgresqlDatabase):
        return PostgresqlMigrator(database)
    return SqliteMigrator(database)


def _lock_against_concurrent_release(database):
    """Two releases at once must not both apply a migration."""
    if isinstance(database, PostgresqlDatabase):
        database.execute_sql("SELECT pg_advisory_xact_lock(4242001)")


def apply_migrations(database) -> list[int]:
    """Apply every migration not yet recorded; returns the numbers applied now."""
    database.create_tables([SchemaMigration], safe=True)
    applied_now = []
    migrator = _migrator_for(database)
    for number, description, function in MIGRATIONS:
        with database.atomic():
            _lock_against_concurrent_release(database)
            if SchemaMigration.get_or_none(SchemaMigration.number == number):
                continue
            function(database, migrator)
            SchemaMigration.create(number=number, description=description)
            applied_now.append(number)
            log.info("migration applied", migration=number, description=description)
    return applied_now


def main() -> int:
    try:
        config = settings_module.load()
    except settings_module.SettingsError as exc:
        print(f"release: {exc}", file=sys.stderr)
        return 2
    configure_logging("release", config.secrets)
    database = models.connect(config.database_url)
    applied = apply_migrations(database)
    log.info("release done", applied=len(applied), schema=MIGRATIONS[-1][0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
