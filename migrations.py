"""Schema migrations, applied in order by the `release` process; running them again is a no-op.

Each migration is (number, description, function(database, migrator)). Add new ones at the
end with playhouse.migrate operations; never edit one that has shipped.
"""
from __future__ import annotations

import logging
import sys

from peewee import CharField, DateTimeField, IntegerField, Model, PostgresqlDatabase
from playhouse.migrate import PostgresqlMigrator, SqliteMigrator

import models
import settings as settings_module

log = logging.getLogger(__name__)


class SchemaMigration(Model):
    number = IntegerField(primary_key=True)
    description = CharField()
    applied_at = DateTimeField(default=models.utcnow)

    class Meta:
        database = models.db
        table_name = "schema_migration"


def _create_initial_tables(database, migrator):
    database.create_tables(models.ALL_MODELS, safe=True)


MIGRATIONS = [
    (1, "initial tables", _create_initial_tables),
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
            log.info("applied migration %d: %s", number, description)
    return applied_now


def main() -> int:
    try:
        config = settings_module.load()
    except settings_module.SettingsError as exc:
        print(f"release: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s release %(message)s")
    database = models.connect(config.database_url)
    applied = apply_migrations(database)
    print(f"release: {len(applied)} migration(s) applied, schema at {MIGRATIONS[-1][0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
