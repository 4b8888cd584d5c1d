"""Tables, the one database object, and the owner-scoped query helper. No business logic.

Every row that belongs to a user carries `user`, and user-facing reads go through `owned()`
or `get_owned()`, so "another user's id" and "no such id" are the same answer: NotFound.
Money columns are MoneyField: exact decimals, never floats.
"""
from __future__ import annotations

import datetime as dt
import json
import time
from decimal import Context, Decimal
from pathlib import Path

from peewee import (
    BigIntegerField,
    BooleanField,
    CharField,
    DatabaseProxy,
    DateField,
    DateTimeField,
    Field,
    ForeignKeyField,
    IntegerField,
    InterfaceError,
    SQL,
    Model,
    OperationalError,
    PostgresqlDatabase,
    SqliteDatabase,
    TextField,
)
from playhouse.db_url import connect as connect_url
from playhouse.db_url import register_database
from playhouse.shortcuts import ReconnectMixin
from psycopg2.extras import execute_values

from logcontext import get_logger

log = get_logger(__name__)
db = DatabaseProxy()
MONEY_PLACES = Decimal(1).scaleb(-18)
MONEY_CONTEXT = Context(prec=38)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class NotFound(Exception):
    """The row does not exist or belongs to someone else (the two are never told apart)."""


class MoneyField(Field):
    """An exact decimal: NUMERIC on PostgreSQL, TEXT on SQLite (whose NUMERIC would round to a float)."""

    field_type = "MONEY"

    def db_value(self, value):
        if value is None:
            return None
        # The same 18 places on every database (NUMERIC(38,18) would round; TEXT would not).
        return str(Decimal(value).quantize(MONEY_PLACES, context=MONEY_CONTEXT))

    def python_value(self, value):
        if value is None:
            return None
        return canonical(value if isinstance(value, Decimal) else Decimal(str(value)))


def canonical(value: Decimal) -> Decimal:
    """The same Decimal from every database: no trailing zeros, no exponent (NUMERIC pads to its scale)."""
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


class JSONTextField(TextField):
    """A small JSON document kept as text, the same on every database."""

    def db_value(self, value):
        return None if value is None else json.dumps(value, sort_keys=True)

    def python_value(self, value):
        return None if value is None else json.loads(value)


class BaseModel(Model):
    class Meta:
        database = db


class User(BaseModel):
    chat_id = BigIntegerField(unique=True)
    name = CharField(default="")
    reachable = BooleanField(default=True)  # False once Telegram answers 403 (bot blocked)
    language = CharField(default="")  # the chat's language (telegram_bot/i18n.py); "" = not known yet
    # Per kind of message: "on", "silent" (no sound) or "off" (see NOTIFICATION_LEVELS).
    notify_fills = CharField(default="on")
    notify_errors = CharField(default="on")
    notify_summary = CharField(default="off")
    summary_hour = IntegerField(default=20)  # UTC hour of the daily summary
    summary_sent_on = DateField(null=True)  # the UTC day of the last summary: one a day, whoever sends it
    created_at = DateTimeField(default=utcnow)


class ApiKey(BaseModel):
    user = ForeignKeyField(User, backref="api_keys", on_delete="CASCADE")
    exchange = CharField()
    api_key_token = TextField()  # Fernet tokens; plaintext exists only inside a job or a check
    secret_token = TextField()
    passphrase_token = TextField(null=True)
    key_tail = CharField()  # last four characters, for the masked "...7LFx"
    testnet = BooleanField(default=False)
    created_at = DateTimeField(default=utcnow)


class Bot(BaseModel):
    user = ForeignKeyField(User, backref="bots", on_delete="CASCADE")
    api_key = ForeignKeyField(ApiKey, null=True, backref="bots", on_delete="SET NULL")
    name = CharField()
    exchange = CharField()
    symbol = CharField()
    mode = CharField()  # live | testnet | paper
    capital = MoneyField()
    strategy = CharField()
    params = JSONTextField(default=dict)
    timeframe = CharField(default="1m")  # copied out of params so the scheduler can group by it
    status = CharField(default="stopped", index=True)  # stopped | running | paused
    status_reason = TextField(default="")
    cycle = IntegerField(default=0)  # completed entry/exit cycles; part of clientOrderId
    failures = IntegerField(default=0)  # consecutive failed ticks
    # The newest claim token that wrote for this bot (workers/claims.py): a writer holding an
    # older token lost its claim and is refused, so a paused or slow worker changes nothing.
    fence = BigIntegerField(default=0)
    # Bumped by every order recorded and every fill booked: a decision made on an older
    # version acts on a state that has moved on, and is dropped.
    version = IntegerField(default=0)
    # What an exit left below the market's amount step, carried into the next position.
    dust_amount = MoneyField(default=Decimal(0))
    dust_cost = MoneyField(default=Decimal(0))
    # The owner pressed "Sell now": the position open at that moment exits at the market, like
    # any exit, on the next evaluation (workers/evaluation.py). Later positions ignore it.
    exit_requested_at = DateTimeField(null=True)
    # The strategy's own memory (a grid's order size, a DCA deal's safety orders placed), written
    # only together with the orders of the decision that changed it.
    state = JSONTextField(default=dict)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("exchange", "symbol", "timeframe", "status"), False),)


class Position(BaseModel):
    user = ForeignKeyField(User, on_delete="CASCADE")
    bot = ForeignKeyField(Bot, backref="positions", on_delete="CASCADE")
    symbol = CharField()
    status = CharField(default="open", index=True)  # open | closed
    amount = MoneyField()  # base currency held, net of fees
    entry_price = MoneyField()
    entry_cost = MoneyField()  # quote spent, fees included
    fees = MoneyField(default=Decimal(0))  # in quote currency, entry and exit
    peak_price = MoneyField()  # for trailing exits: the highest price since the last buy fill
    base_price = MoneyField(null=True)  # the price of its first fill: a DCA deal's base order
    exit_price = MoneyField(null=True)
    proceeds = MoneyField(default=Decimal(0))  # quote received by exits so far, net of fees
    realized_profit = MoneyField(default=Decimal(0))  # of the exits so far
    # A grid's buys still waiting for their sell, oldest first: [level price, quote paid with its
    # fees, base received net of its fees], as decimal text (workers/accounting.py).
    # A database default too: during a deploy, workers of the previous release insert positions
    # without this column until they restart.
    lots = JSONTextField(default=list, constraints=[SQL("DEFAULT '[]'")])
    opened_at = DateTimeField(default=utcnow)
    closed_at = DateTimeField(null=True)


NOTIFICATION_LEVELS = ("on", "silent", "off")

ORDER_IN_FLIGHT = ("recorded", "sent", "open")
ORDER_FINAL = ("filled", "canceled", "rejected", "expired")


class Order(BaseModel):
    """One order's life: recorded -> sent -> open -> filled | canceled | rejected | expired.

    `filled`, `cost` and `fees` are what has been booked so far (cumulative, as the exchange
    reports them); booking a new fill is a conditional update on `filled`, so it happens once.
    """

    user = ForeignKeyField(User, on_delete="CASCADE")
    bot = ForeignKeyField(Bot, backref="orders", on_delete="CASCADE")
    client_order_id = CharField(unique=True)
    exchange_order_id = CharField(null=True)
    symbol = CharField()
    side = CharField()  # buy | sell
    type = CharField(default="market")  # market | limit
    price = MoneyField(null=True)  # limit price
    amount = MoneyField()  # requested, in base currency
    role = CharField(default="")  # the strategy's name for it: "so2" (safety order), "g7" (grid level)
    # A grid order's pair: a sell's buy level (its realized profit is counted per completed pair);
    # on a buy, the level its sell will rest on (the buy opens a pair).
    pair_price = MoneyField(null=True)
    status = CharField(default="recorded", index=True)
    tick = BigIntegerField(default=0)  # the tick whose decision this order carries out
    filled = MoneyField(default=Decimal(0))
    cost = MoneyField(default=Decimal(0))
    fees = JSONTextField(default=dict)  # currency -> amount (decimal text), booked so far
    error = TextField(default="")
    sent_at = DateTimeField(null=True)  # database clock: when it may first have reached the exchange
    next_check_at = DateTimeField(null=True)  # database clock: when to look it up again
    checks = IntegerField(default=0)  # lookups that did not settle it
    notified = CharField(default="")  # the last trouble its owner was told about, told once
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("bot", "status"), False),)


class Fill(BaseModel):
    user = ForeignKeyField(User, on_delete="CASCADE")
    bot = ForeignKeyField(Bot, backref="fills", on_delete="CASCADE")
    order = ForeignKeyField(Order, backref="fills", on_delete="CASCADE")
    symbol = CharField()
    side = CharField()
    amount = MoneyField()
    price = MoneyField()
    cost = MoneyField()  # quote value of amount at price
    fee = MoneyField()  # the main fee (see fees for every currency)
    fee_currency = CharField()
    fees = JSONTextField(default=dict)  # currency -> amount (decimal text)
    fee_quote = MoneyField()  # every fee valued in quote currency at the fill
    realized_profit = MoneyField(null=True)  # exits only
    # The order's cumulative filled amount after this fill: with `order` it makes a fill
    # unique, so the same exchange fill can never be booked twice.
    fill_key = CharField(null=True)
    created_at = DateTimeField(default=utcnow, index=True)

    class Meta:
        indexes = ((("order", "fill_key"), True),)


class Outbox(BaseModel):
    user = ForeignKeyField(User, on_delete="CASCADE")
    chat_id = BigIntegerField()
    kind = CharField()  # fill | bot_error | balance | ...
    payload = JSONTextField()  # plain data; telegram_bot/formatting.py turns it into text
    created_at = DateTimeField(default=utcnow)
    sent_at = DateTimeField(null=True, index=True)
    failed_at = DateTimeField(null=True)  # given up: Telegram refused it for good
    attempts = IntegerField(default=0)
    # Which `bot` process delivers it, until when (database clock): two notifiers never send
    # one row, and a crashed one's rows are free again once its lease ends.
    lease_owner = CharField(null=True)
    lease_until = DateTimeField(null=True)


class PaperBalance(BaseModel):
    """The simulated exchange's wallet: `amount` is the total, `locked` is held by resting orders."""

    user = ForeignKeyField(User, on_delete="CASCADE")
    exchange = CharField()
    asset = CharField()
    amount = MoneyField()
    locked = MoneyField(default=Decimal(0))

    class Meta:
        indexes = ((("user", "exchange", "asset"), True),)


class PaperOrder(BaseModel):
    """An order as the simulated exchange keeps it (exchanges/paper.py): its own book of record,
    looked up by client order id exactly like a real exchange's."""

    user = ForeignKeyField(User, on_delete="CASCADE")
    exchange = CharField()
    symbol = CharField()
    client_order_id = CharField()
    side = CharField()
    type = CharField()
    price = MoneyField(null=True)
    amount = MoneyField()
    status = CharField(default="open")  # open | filled | canceled | rejected
    filled = MoneyField(default=Decimal(0))
    cost = MoneyField(default=Decimal(0))
    fee = MoneyField(default=Decimal(0))
    fee_currency = CharField(default="")
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("user", "exchange", "client_order_id"), True), (("exchange", "symbol", "status"), False))


class Invite(BaseModel):
    code = CharField(unique=True)
    created_by = BigIntegerField()
    used_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
    created_at = DateTimeField(default=utcnow)


class ReconnectingPostgresqlDatabase(ReconnectMixin, PostgresqlDatabase):
    """PostgreSQL that outlives a restart of its server: a statement that finds its connection
    dead, or the server refusing connections for a moment, reconnects and runs again, with
    growing pauses for up to about RECONNECT_PAUSES seconds. Only outside a transaction: a
    transaction cut short raises (its rows were rolled back, so nothing is half-written), and
    the next statement starts on a fresh connection."""

    RECONNECT_PAUSES = (0.1, 0.25, 0.5, 1, 2, 4)
    reconnect_errors = tuple(
        (error, fragment)
        for error in (OperationalError, InterfaceError)
        for fragment in (
            "server closed the connection", "terminating connection", "connection already closed",
            "connection refused", "could not connect", "could not receive data", "could not send data",
            "no connection to the server", "the database system is", "ssl connection has been closed",
            "connection not open", "cannot rollback, database connection not open",
        )
    )

    def _reconnect(self, func, *args, **kwargs):
        for pause in (*self.RECONNECT_PAUSES, None):
            try:
                return func(*args, **kwargs)
            except (OperationalError, InterfaceError) as error:
                if pause is None or self.in_transaction() or not self._is_connection_lost(error):
                    raise
                log.warning("database connection lost; reconnecting", error=str(error).splitlines()[0][:120],
                            retry_in=pause)
            time.sleep(pause)
            self._forget_connection()

    def _forget_connection(self) -> None:
        """Drop the dead connection; the next statement opens a new one."""
        connection = self._state.conn
        self._state.reset()
        if connection is not None:
            try:
                connection.close()
            except Exception:  # already dead: nothing to close
                pass

    def _is_connection_lost(self, error: Exception) -> bool:
        text = str(error).lower()
        return any(fragment in text for fragment in self._reconnect_errors.get(type(error), ()))


register_database(ReconnectingPostgresqlDatabase, "postgres", "postgresql")


ALL_MODELS = (User, ApiKey, Bot, Position, Order, Fill, Outbox, PaperBalance, PaperOrder, Invite)


def connect(database_url: str):
    """Bind the one database object to DATABASE_URL (sqlite:/// or postgres://)."""
    if database_url.startswith("sqlite"):
        path = database_url.split(":///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        database = connect_url(
            database_url,
            field_types={"MONEY": "TEXT"},
            # WAL and a busy timeout let the bot, scheduler and workers share one file.
            pragmas={"journal_mode": "wal", "busy_timeout": 10000, "foreign_keys": 1},
            returning_clause=True,  # SQLite >= 3.35: bulk writes learn their rows in one statement
        )
    else:
        # connect_timeout: a server that does not answer is retried, not waited on for minutes.
        database = connect_url(database_url, field_types={"MONEY": "NUMERIC(38,18)"}, connect_timeout=5)
    db.initialize(database)
    return database


def write_transaction():
    """A transaction for rows that must change together. On SQLite it takes the write lock up
    front (IMMEDIATE): a deferred one that reads, then writes, fails at once with "database is
    locked" when another process wrote in between, instead of waiting for busy_timeout."""
    if isinstance(db.obj, SqliteDatabase):
        return db.atomic(lock_type="IMMEDIATE")
    return db.atomic()


def _is_postgres() -> bool:
    return isinstance(db.obj, PostgresqlDatabase)


def _column_type(field) -> str:
    return db.obj.get_context_options()["field_types"].get(field.field_type, field.field_type)


def _row_data(row) -> dict:
    return row.__data__ if isinstance(row, Model) else row


def insert_rows(model, rows: list, skip_existing: bool = False) -> list[int]:
    """Insert many rows (model instances or dicts of field values) in one statement; their ids,
    in order (none with skip_existing, which leaves out rows a unique index already has).
    Written below peewee's query builder, which spends far longer building a thousand-row
    INSERT than the database spends running it."""
    if not rows:
        return []
    fields = [f for f in model._meta.sorted_fields if f is not model._meta.primary_key]
    values = []
    for row in rows:
        data = _row_data(row)
        values.append(tuple(f.db_value(data[f.name] if f.name in data else _default(f)) for f in fields))
    table = model._meta.table_name
    columns = ", ".join(f'"{f.column_name}"' for f in fields)
    cursor = db.obj.cursor()
    conflict = " ON CONFLICT DO NOTHING" if skip_existing else ""
    if _is_postgres():
        if skip_existing:
            execute_values(cursor, f'INSERT INTO "{table}" ({columns}) VALUES %s{conflict}', values,
                           page_size=len(values))
            return []
        sql = f'INSERT INTO "{table}" ({columns}) VALUES %s RETURNING "id"'
        return [row[0] for row in execute_values(cursor, sql, values, page_size=len(values), fetch=True)]
    sql = f'INSERT INTO "{table}" ({columns}) VALUES ({", ".join("?" * len(fields))}){conflict}'
    if skip_existing:
        cursor.executemany(sql, values)
        return []
    ids = []
    for value in values:  # SQLite runs in this process: a statement per row costs microseconds
        cursor.execute(sql, value)
        ids.append(cursor.lastrowid)
    return ids


def _default(field):
    return field.default() if callable(field.default) else field.default


def bulk_update(model, rows: list, fields: list) -> None:
    """Write `fields` of many rows (model instances with ids) in one statement, below peewee's
    query builder as insert_rows is. On PostgreSQL each value is cast to its column's type."""
    if not rows:
        return
    values = [(row.id, *(f.db_value(row.__data__.get(f.name)) for f in fields)) for row in rows]
    table = model._meta.table_name
    cursor = db.obj.cursor()
    if _is_postgres():
        names = ", ".join(f'"{f.column_name}"' for f in fields)
        changes = ", ".join(f'"{f.column_name}" = CAST(v."{f.column_name}" AS {_column_type(f)})' for f in fields)
        sql = f'UPDATE "{table}" AS t SET {changes} FROM (VALUES %s) AS v("id", {names}) WHERE t."id" = v."id"'
        execute_values(cursor, sql, values, page_size=len(values))
        return
    changes = ", ".join(f'"{f.column_name}" = ?' for f in fields)
    cursor.executemany(f'UPDATE "{table}" SET {changes} WHERE "id" = ?', [(*v[1:], v[0]) for v in values])


def database_now() -> dt.datetime:
    """The database's clock (naive UTC): the one clock every worker compares times with."""
    if isinstance(db.obj, SqliteDatabase):
        text = db.execute_sql("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')").fetchone()[0]
        return dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f")
    return db.execute_sql("SELECT (now() AT TIME ZONE 'utc')").fetchone()[0]


def owned(model, user: User):
    """Every row of `model` that belongs to `user`."""
    return model.select().where(model.user == user)


def get_owned(model, user: User, row_id) -> Model:
    """The user's row with this id, or NotFound (also for another user's id)."""
    try:
        number = int(row_id)
    except (TypeError, ValueError):
        raise NotFound(model.__name__, row_id) from None
    if not 0 < number < 2**63:  # beyond any id, and beyond what SQLite can even compare
        raise NotFound(model.__name__, row_id)
    row = owned(model, user).where(model.id == number).first()
    if row is None:
        raise NotFound(model.__name__, row_id)
    return row
