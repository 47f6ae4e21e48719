"""Engines and sessions.

SQLite runs in WAL mode with a busy timeout, and every write transaction starts with
``BEGIN IMMEDIATE`` so that two writers queue on the lock instead of failing when one
upgrades a read lock. Read-only requests (``GET``/``HEAD``) use separate read connections
with ``PRAGMA query_only`` and no transaction: in WAL mode each statement reads a snapshot
without taking (or waiting for) the write lock. On PostgreSQL they run on a pool of their
own, read-only and in autocommit (see ``create_read_engine``). The request's session is
committed in exactly one place (:class:`SessionRoute`); the worker commits once per job.
"""

from __future__ import annotations

import json
import time
from collections import namedtuple
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from psycopg import sql
from psycopg.types.json import Json, Jsonb
from sqlalchemy import (
    Column,
    ColumnDefault,
    Executable,
    Row,
    Select,
    Table,
    bindparam,
    event,
    insert,
    update,
)
from sqlalchemy.engine import URL, Dialect, Engine, make_url
from sqlalchemy.engine.result import SimpleResultMetaData
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool
from sqlalchemy.util.concurrency import greenlet_spawn

from tabellion.kit.aiosqlite_driver import OneTripDbapi
from tabellion.kit.fairpool import FairAsyncQueuePool

SQLITE_BUSY_TIMEOUT_MS = 30_000
# Read connections per process on SQLite: readers do not block each other in WAL mode, but
# each connection is a thread of aiosqlite's that needs the GIL to hand its rows back. Two
# measured faster than four on a 2-core machine at 100 requests in flight (docs/performance.md,
# "5 December, evening"): GET of a delivery 845 -> 1,000 req/s, its p99 243 -> 122 ms, fewer
# hand-offs and context switches per request; a statement holds its connection for one
# trip, so two are rarely both busy for long.
SQLITE_READ_CONNECTIONS = 2


def sqlite_file(url: str | URL) -> Path | None:
    """The database file of an SQLite URL; None for another database or one in memory."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def create_engine(
    url: str, *, pool_size: int = 10, echo: bool = False, read_only: bool = False
) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if (path := sqlite_file(parsed)) is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            url,
            echo=echo,
            module=OneTripDbapi.create(),
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            # One connection: SQLite runs one write transaction at a time anyway (and ours all
            # write), so this process's transactions queue on the pool, without spinning in
            # SQLite's busy handler, which sleeps up to 100 ms per try.
            pool_size=1,
            max_overflow=0,
            pool_timeout=SQLITE_BUSY_TIMEOUT_MS / 1000,
            pool_reset_on_return=None,  # see _on_reset
        )
        _configure_sqlite(engine)
        return engine
    kwargs: dict[str, Any] = {"echo": echo}
    if parsed.get_backend_name() == "postgresql":
        # Sessions in UTC: timestamps come back with ``datetime.UTC`` itself (no conversion per
        # value when read), and server-side date arithmetic is in UTC as ours is.
        given = parsed.query.get("options")
        given = given if isinstance(given, str) else " ".join(given or ())
        options = f"{given} -c TimeZone=UTC"
        if read_only:
            # Read connections stay in autocommit (no BEGIN, no COMMIT: at READ COMMITTED each
            # statement reads its own snapshot anyway) and refuse to write, as SQLite's do.
            options += " -c default_transaction_read_only=on"
            kwargs["isolation_level"] = "AUTOCOMMIT"
        kwargs["connect_args"] = {"options": options.strip()}
    if pool_size:
        kwargs.update(pool_size=pool_size, max_overflow=pool_size)
        if read_only:
            kwargs["poolclass"] = FairAsyncQueuePool  # see create_read_engine
    else:
        kwargs["poolclass"] = NullPool
    engine = create_async_engine(url, **kwargs)
    if pool_size:  # without a pool each checkout is a new connection: nothing to ping
        _ping_idle_connections(engine)
    return engine


# A pooled connection that sat unused this long is pinged before it is handed out.
PING_AFTER_IDLE_SECONDS = 1.0
_IDLE_SINCE = "tabellion.idle_since"


def _ping_idle_connections(engine: AsyncEngine) -> None:
    """Hand out a pooled connection that sat idle only once it answers a ping; replace it
    otherwise (a server restarted, a proxy that dropped it), without the caller seeing it.

    SQLAlchemy's ``pool_pre_ping`` pings at every checkout: a round trip before every
    request's first statement, ~180 µs of a ``GET`` delivery's 1.08 ms of CPU on PostgreSQL
    (docs/performance.md). A connection given back less than ``PING_AFTER_IDLE_SECONDS`` ago
    was working then; after a restart (which takes longer than that) every older connection is
    pinged and replaced, as before. A connection in use when the server went away fails its
    statement either way, and SQLAlchemy then renews the whole pool.
    """
    pool = engine.sync_engine.pool
    dialect = engine.sync_engine.dialect

    @event.listens_for(pool, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get(_IDLE_SINCE)
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return  # new, or given back a moment ago
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            if dialect.is_disconnect(error, dbapi_connection, None):
                # The pool closes this one and checks out another (a new one if need be).
                raise DisconnectionError(str(error)) from error
            raise


def create_read_engine(url: str, write_engine: AsyncEngine, *, pool_size: int = 10) -> AsyncEngine:
    """The engine read-only requests use: on SQLite a pool of read connections; on PostgreSQL
    a pool of read-only connections in autocommit, half the write pool's size; else the same
    engine.

    PostgreSQL's MVCC already lets readers run beside writers. At its READ COMMITTED level
    each statement reads its own snapshot, in a transaction or not, so a read without one sees
    the same and saves two round trips (``BEGIN``, ``COMMIT``). Its connections are set to
    autocommit once, when opened: on the write pool, switched at each checkout and back at
    each return, a ``GET`` delivery cost ~110 µs more CPU (docs/performance.md, "5 December,
    late"). Pools open connections on demand: up to 30 a process in all (docs/operations.md).
    SQLite reads get the same: no ``BEGIN``, each statement in its own snapshot (WAL mode),
    which saves the ``COMMIT``'s trip to aiosqlite's thread (a ``GET`` delivery's CPU 0.84 →
    0.69 ms, in-process) and holds no snapshot between statements that would keep the WAL
    from being checkpointed. An in-memory SQLite database exists on its one connection only.

    Both read pools serve waiting requests first come, first served (``kit.fairpool`` says
    why). The write pools keep SQLAlchemy's: their waiters are the worker's and the webhook
    ledger's group commits, whose figures did not show the change neutral.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        return create_engine(url, pool_size=pool_size and max(1, pool_size // 2), read_only=True)
    if sqlite_file(parsed) is None:
        return write_engine
    engine = create_async_engine(
        url,
        module=OneTripDbapi.create(),
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        pool_size=SQLITE_READ_CONNECTIONS,
        max_overflow=0,
        poolclass=FairAsyncQueuePool,
        pool_timeout=SQLITE_BUSY_TIMEOUT_MS / 1000,
        pool_reset_on_return=None,  # see _on_reset
    )
    _configure_sqlite(engine, read_only=True)
    return engine


def _configure_sqlite(engine: AsyncEngine, *, read_only: bool = False) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" hook below own transaction boundaries.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        if read_only:
            # A write slipped into a read-only request fails loudly instead of upgrading the
            # snapshot to a write lock (which fails at once with SQLITE_BUSY under contention).
            cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    if not read_only:  # a read runs each statement in its own snapshot: create_read_engine

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(connection: Any) -> None:
            # Sent with the transaction's first statement, on its trip to aiosqlite's thread.
            connection.connection.dbapi_connection.begin("BEGIN IMMEDIATE")

    @event.listens_for(engine.sync_engine.pool, "reset")
    def _on_reset(dbapi_connection: Any, _record: Any, state: Any) -> None:
        # The pool's rollback-on-return: the driver skips it, without a trip to aiosqlite's
        # thread, when no transaction is open (after a commit, or when none began).
        if state.asyncio_safe:
            dbapi_connection.rollback()


# Session.info key: the process's Settings, for hooks that run inside a commit.
SETTINGS_INFO = "tabellion.settings"
# Session.info keys: set on read sessions; the bookkeeping updates they defer (see ``touch``).
READ_ONLY_INFO = "tabellion.read_only"
AFTER_READ_INFO = "tabellion.after_read"


def touch(session: AsyncSession, instance: Any, **values: Any) -> None:
    """Set bookkeeping columns (a key's last use) on ``instance``, even in a read session.

    A read session cannot write; the update is queued and :class:`SessionRoute` runs it in
    a short write transaction after the read one.
    """
    if not session.info.get(READ_ONLY_INFO):
        for name, value in values.items():
            setattr(instance, name, value)
        return
    model = type(instance)
    statement = update(model).where(model.id == instance.id).values(**values)
    session.info.setdefault(AFTER_READ_INFO, []).append(statement)


def named_rows(rows: Sequence[Row[Any]]) -> list[Any]:
    """``rows`` as named tuples of the same fields, for code that reads many of them by name.

    A SQLAlchemy ``Row`` finds a column by name in ``__getattr__``, which Python calls only
    after the ordinary lookup has failed through the row's classes and raised an
    ``AttributeError``: ~0.3 µs an attribute on a quiet machine, against ~35 ns for a named
    tuple's field (docs/performance.md, "6 December, night"); making the tuple costs about
    one such attribute. Typed ``Any``: the fields are the statement's.
    """
    if not rows:
        return []
    make = _named_tuple(tuple(rows[0]._fields))._make
    return [make(row) for row in rows]


@cache
def _named_tuple(fields: tuple[str, ...]) -> Any:
    return namedtuple("Fields", fields)


async def select_rows(
    session: AsyncSession, statement: Executable, values: Mapping[str, Any] | None = None
) -> Sequence[Row[Any]]:
    """Run a Core select of plain columns on the session's connection, in its transaction.

    ``session.execute`` would take it through the ORM's execution layer (ORM compile state,
    result set-up, loading), which costs more than the statement itself on a hot read and
    adds nothing to rows that are not instances. Checking out the connection and running the
    statement share one hop into SQLAlchemy's synchronous core (each hop is a greenlet of its
    own). The connection stays the session's until it ends: a read of several statements
    queues for a pooled connection once.
    """
    return await session.run_sync(_select_in_session, statement, values)


class Prepared:
    """A select of plain columns, compiled once per database for ``select_once``.

    Run through SQLAlchemy's ``Connection``, one statement of a ``GET`` costs its cache key
    (a walk of the whole statement), an execution context and a result object around the
    driver's cursor: ~100 µs of a ``GET`` delivery's CPU on SQLite, against ~40 for the
    cursor's own trip (docs/performance.md, "6 December"). Prepared, its SQL, the order of its
    parameters and each column's conversion are worked out once, from the same compiler and
    the same column types; a run hands the driver the SQL and turns its tuples into
    SQLAlchemy ``Row`` objects with those conversions. Only named scalar parameters
    (``bindparam("id")``): an ``IN`` list's SQL depends on its length. It reads two of
    SQLAlchemy's internals, the compiled statement's result columns and the rows' metadata
    (``_result_columns``, ``SimpleResultMetaData``); ``tests/kit/test_db_reads.py`` checks
    its rows against a session's, so an upgrade that changes them fails there.
    """

    __slots__ = ("_forms", "statement")

    def __init__(self, statement: Select[*tuple[Any, ...]]) -> None:
        self.statement = statement
        self._forms: dict[Dialect, _PreparedForm] = {}

    def form(self, dialect: Dialect) -> _PreparedForm:
        form = self._forms.get(dialect)
        if form is None:
            form = self._forms[dialect] = _PreparedForm(self.statement, dialect)
        return form


class _PreparedForm:
    """A ``Prepared`` statement as one dialect runs it."""

    __slots__ = ("fixed", "given", "metadata", "order", "processors", "sql", "to_driver")

    def __init__(self, statement: Select[*tuple[Any, ...]], dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        binds = list(compiled.binds.values())
        if compiled.escaped_bind_names or any(b.expanding or b.literal_execute for b in binds):
            raise ValueError("Prepared takes named scalar parameters only")
        self.sql = compiled.string
        # By a parameter's name in the SQL: the values the statement carries
        # (func.pg_sleep(30)), converted once; the name the caller gives the others, and the
        # conversion each of those needs.
        self.fixed: dict[str, Any] = {}
        self.given: dict[str, str] = {}
        self.to_driver: dict[str, Callable[[Any], Any]] = {}
        for bind in binds:
            name = compiled.bind_names[bind]
            convert = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if not bind.required:
                value = bind.effective_value
                self.fixed[name] = convert(value) if convert else value
                continue
            self.given[name] = bind.key
            if convert is not None:
                self.to_driver[name] = convert
        # The order a positional style sends them in.
        self.order = list(compiled.positiontup or ()) if compiled.positional else None
        columns = compiled._result_columns  # (key, name, objects, type), as Core's result reads
        self.metadata = SimpleResultMetaData([column[0] for column in columns])
        self.processors = [
            column[3].dialect_impl(dialect).result_processor(dialect, None) for column in columns
        ]

    def parameters(self, values: Mapping[str, Any]) -> Any:
        """The driver's parameters (a tuple or a dict, as its style wants) for ``values``."""
        parameters = dict(self.fixed)
        for name, key in self.given.items():
            parameters[name] = values[key]
        for name, convert in self.to_driver.items():
            parameters[name] = convert(parameters[name])
        if self.order is not None:
            return tuple(parameters[name] for name in self.order)
        return parameters

    def rows(self, fetched: Sequence[Any]) -> Sequence[Row[Any]]:
        metadata, processors = self.metadata, self.processors
        key_to_index = metadata._key_to_index
        return [Row(metadata, processors, key_to_index, data) for data in fetched]


async def select_once(
    session: AsyncSession, prepared: Prepared, values: Mapping[str, Any] | None = None
) -> Sequence[Row[Any]]:
    """``select_rows`` for a read whose one statement this is (a ``GET`` of one resource).

    A read session that holds no connection yet does not take one: the statement runs on a
    connection checked out of the pool for it alone and given back at once, straight on the
    driver's cursor (:class:`Prepared`), and the session ends as it began, without a
    transaction: no connection to give back, no commit (see :class:`SessionRoute`). A ``GET``
    delivery 0.37x -> 0.41x its floor on SQLite, 0.37x -> 0.45x on PostgreSQL with the
    connection borrowed (docs/performance.md, "5 December, late"), and more prepared ("6
    December"). Not for a read of several statements: each would queue for a pooled
    connection again, behind every request that arrived meanwhile (a list page's p99 1.6x ->
    5.5x its floor on SQLite at 100 connections). A session that writes, or holds a
    connection already, reads on it.
    """
    bind = session.sync_session.get_bind()
    borrow = isinstance(bind, Engine) and session.info.get(READ_ONLY_INFO)
    if borrow and not session.in_transaction():
        form = prepared.form(bind.dialect)
        parameters = form.parameters(values or {})
        fetched = await greenlet_spawn(_fetch_on_pool, bind, form.sql, parameters)
        return form.rows(fetched)
    return await select_rows(session, prepared.statement, values)


def _fetch_on_pool(engine: Engine, statement: str, parameters: Any) -> Sequence[Any]:
    """A pooled connection's cursor runs the statement; the connection goes back at once.

    Failures come out as through SQLAlchemy's ``Connection``: a driver's error as SQLAlchemy's
    (``errors.database_unavailable`` turns a lost database into a 503), a lost connection
    invalidated rather than pooled again, and one interrupted mid-statement (a cancelled
    request) too, its state being unknown.
    """
    dialect = engine.dialect
    connection = None
    try:
        connection = engine.raw_connection()
        cursor = connection.cursor()
        try:
            cursor.execute(statement, parameters)
            return cursor.fetchall()
        finally:
            cursor.close()
    except dialect.loaded_dbapi.Error as error:
        driver = connection.dbapi_connection if connection is not None else None
        lost = dialect.is_disconnect(error, driver, None)
        if lost and connection is not None:
            connection.invalidate(error)
        raise DBAPIError.instance(
            statement,
            parameters,
            error,
            dialect.loaded_dbapi.Error,
            dialect=dialect,
            connection_invalidated=lost,
        ) from error
    except BaseException:
        if connection is not None:
            connection.invalidate()
        raise
    finally:
        if connection is not None:
            connection.close()


def _select_in_session(
    session: Session, statement: Executable, values: Mapping[str, Any] | None
) -> Sequence[Row[Any]]:
    return session.connection().execute(statement, values).all()


def create_sessionmaker(
    engine: AsyncEngine, *, info: dict[str, Any] | None = None
) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False, info=info)


async def bulk_insert(
    db: AsyncSession | AsyncConnection, table: Table, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Insert many rows in the transaction of ``db`` (a session, or a connection), with the
    columns' Python-side defaults.

    On PostgreSQL one ``COPY … FROM STDIN`` stream: a 10,000-recipient dispatch writes 40,000
    rows, and executemany would send (and psycopg adapt) one statement per row. On SQLite the
    driver's own executemany. Values go through the columns' types as in any statement, column
    by column rather than row by row as Core's executemany does; a value shared by many rows
    (a dispatch's instant, its evidence details) is converted once.
    """
    if not rows:
        return
    connection = db if isinstance(db, AsyncConnection) else await db.connection()
    dialect = connection.dialect
    if dialect.name not in ("postgresql", "sqlite"):
        await connection.execute(insert(table), list(rows))
        return
    given = {name for row in rows for name in row}
    columns = [c for c in table.columns if c.name in given or _python_default(c) is not None]
    # Built column by column (a comprehension per column, not a call per value).
    values = [_column_values(c, dialect, rows) for c in columns]
    if dialect.name == "sqlite":
        quote = dialect.identifier_preparer.quote
        names = ", ".join(quote(c.name) for c in columns)
        marks = ", ".join("?" for _ in columns)
        # The names are the table's own, quoted; every value is a parameter.
        statement = f"INSERT INTO {quote(table.name)} ({names}) VALUES ({marks})"  # noqa: S608
        await connection.exec_driver_sql(statement, list(zip(*values, strict=True)))
        return
    copy_statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(sql.Identifier(c.name) for c in columns)
    )
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    async with driver.cursor() as cursor, cursor.copy(copy_statement) as copy:
        for row in zip(*values, strict=True):
            await copy.write_row(row)


async def bulk_update(
    session: AsyncSession, table: Table, rows: Sequence[Mapping[str, Any]], *, key: str = "id"
) -> None:
    """Update many rows, each found by its ``key`` column and given its own values; every row
    names the same columns. Columns with a Python-side ``onupdate`` that the rows do not name
    get it, once for all of them.

    On SQLite the driver's own executemany, the values converted column by column as
    ``bulk_insert`` converts them; elsewhere Core's executemany (psycopg pipelines it).
    """
    if not rows:
        return
    names = [name for name in rows[0] if name != key]
    stamped = {
        c.name: c.onupdate.arg(None) if c.onupdate.is_callable else c.onupdate.arg
        for c in table.columns
        if isinstance(c.onupdate, ColumnDefault) and c.name not in rows[0]
    }
    connection = await session.connection()
    dialect = connection.dialect
    if dialect.name != "sqlite":
        statement = update(table).where(table.c[key] == bindparam("b_key"))
        params = [
            {**stamped, **{n: v for n, v in row.items() if n != key}, "b_key": row[key]}
            for row in rows
        ]
        await session.execute(statement, params)
        return
    quote = dialect.identifier_preparer.quote
    columns = [table.c[name] for name in [*names, *stamped, key]]
    given = [{**stamped, **row} for row in rows] if stamped else rows
    values = [_column_values(c, dialect, given) for c in columns]
    assignments = ", ".join(f"{quote(c.name)} = ?" for c in columns[:-1])
    # The names are the table's own, quoted; every value is a parameter.
    statement_text = f"UPDATE {quote(table.name)} SET {assignments} WHERE {quote(key)} = ?"  # noqa: S608
    await connection.exec_driver_sql(statement_text, list(zip(*values, strict=True)))


def _column_values(
    column: Column[Any], dialect: Any, rows: Sequence[Mapping[str, Any]]
) -> list[Any]:
    """One column's values for the driver: through the column's type, a value shared by many
    rows (a dispatch's instant, its evidence details) converted once, by identity (the rows
    keep it alive meanwhile), and equal times once (a batch's deadlines and reminders); for
    ``COPY``, JSON as its text, which the server parses as it would the driver's own."""
    name = column.name
    raw = [row[name] if name in row else _python_default_value(column) for row in rows]
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    if process is None:
        return raw
    seen: dict[Any, Any] = {}

    def convert(value: Any, key: Any) -> Any:
        converted = process(value)
        if isinstance(converted, Json | Jsonb):
            converted = (converted.dumps or json.dumps)(converted.obj)
        seen[key] = converted
        return converted

    keys = [value if type(value) is datetime else id(value) for value in raw]
    return [
        None if value is None else seen[key] if key in seen else convert(value, key)
        for value, key in zip(raw, keys, strict=True)
    ]


def _python_default(column: Column[Any]) -> ColumnDefault | None:
    """The column's Python-side default (a value or a callable), if it has one."""
    default = column.default
    if isinstance(default, ColumnDefault) and (default.is_scalar or default.is_callable):
        return default
    return None


def _python_default_value(column: Column[Any]) -> Any:
    default = _python_default(column)
    if default is None:
        return None
    return default.arg(None) if default.is_callable else default.arg


async def lock_row(session: AsyncSession, instance: Any) -> None:
    """Re-read ``instance``'s row under ``SELECT ... FOR UPDATE``, for a state transition.

    A row read without a lock may be changed by a concurrent transaction before ours writes:
    both would see the old state, pass its checks and record their own outcome. Locked, the
    second waits for the first to commit, then sees (and refuses) the state it left. On SQLite
    the clause is not rendered: ``BEGIN IMMEDIATE`` already runs one writer at a time.
    Changes not yet flushed are written first: a refresh would silently discard them.
    """
    await session.flush()
    await session.refresh(instance, with_for_update=True)


@asynccontextmanager
async def closing_session(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """``async with session``, without a task of its own when there is nothing to wait for.

    ``AsyncSession``'s own exit closes the session in a task shielded from cancellation: a
    task and two turns of the event loop on every request (40-50 µs of a ``GET``'s CPU,
    docs/performance.md). A session whose transaction has ended, as every request's has once
    it committed or rolled back, holds no connection: closing it is bookkeeping without I/O,
    done here at once. One that never began a transaction and holds no object (a ``GET``
    answered by ``select_once``) has not even that to do: it is left to the collector
    (``Session.close`` would empty an empty identity map and look up its detach events, ~3 %
    of such a ``GET``'s instructions). One still in a transaction (its rollback failed)
    closes as before.
    """
    try:
        yield session
    finally:
        sync = session.sync_session
        if sync.in_transaction():
            async with session:
                pass
        elif sync.identity_map or sync.new or sync.deleted:
            sync.close()


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A unit of work outside a request (worker jobs, CLI): commit on success, else roll back."""
    async with closing_session(sessions()) as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


# ---- the request's unit of work ----------------------------------------------------------------

from collections.abc import Coroutine  # noqa: E402
from typing import Annotated, TypeVar  # noqa: E402

from fastapi import Depends, Request  # noqa: E402
from fastapi.routing import APIRoute  # noqa: E402
from sqlalchemy.exc import IntegrityError  # noqa: E402
from starlette.responses import Response  # noqa: E402

from tabellion.kit.lean_route import plan_route  # noqa: E402

F = TypeVar("F", bound=Callable[..., Any])


# Endpoint attribute set by ``writes_on_read``.
_WRITES_ON_READ = "__tabellion_writes_on_read__"
READ_METHODS = frozenset({"GET", "HEAD"})


def writes_on_read(endpoint: F) -> F:
    """Mark a GET endpoint that writes (records an event), so it gets a write session."""
    setattr(endpoint, _WRITES_ON_READ, True)
    return endpoint


class SessionRoute(APIRoute):
    """Opens one session per request and commits it once, before the response is sent.

    A handler that raises, or answers with an error status, leaves nothing behind. Jobs
    enqueued in the transaction wake the in-process worker after the commit. ``GET`` and
    ``HEAD`` routes get a read session (no write lock on SQLite) unless marked
    ``writes_on_read``.
    """

    # HTML pages record what they show (sessions, receipts), so they write even on GET.
    pages_write = False
    # Whether its dependencies are solved by a plan (``kit.lean_route``), not FastAPI's solver.
    lean = False

    @property
    def read_only(self) -> bool:
        methods = self.methods or set()
        return (
            not self.pages_write
            and not getattr(self.endpoint, _WRITES_ON_READ, False)
            and bool(methods)
            and methods <= READ_METHODS
        )

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        general = super().get_route_handler()
        lean = plan_route(self, general)
        self.lean = lean is not None
        original = lean or general
        read_only = self.read_only

        async def handler(request: Request) -> Response:
            from tabellion.errors import IdempotencyKeyInUse
            from tabellion.jobs.queue import ENQUEUED
            from tabellion.kit import idempotency

            runtime = request.app.state.runtime
            sessions = runtime.read_sessions if read_only else runtime.sessions
            async with closing_session(sessions()) as session:
                request.state.session = session
                try:
                    response = await original(request)
                    if response.status_code >= 400:
                        await session.rollback()
                        return response
                    idempotency.record(request, session, response)
                    # A read that holds a connection commits too, though it has no
                    # transaction to end on the server: closing its session without a commit
                    # cost less CPU but gave PostgreSQL reads a p99 of 1.1-1.6 s at 100
                    # connections, against 0.3 s (docs/performance.md). One that never took a
                    # connection (``select_once``) has nothing to commit.
                    try:
                        if not read_only or session.in_transaction():
                            await session.commit()
                    except IntegrityError as exc:
                        await session.rollback()
                        if getattr(request.state, "idempotency", None) is not None:
                            raise IdempotencyKeyInUse(
                                "Another request with this Idempotency-Key finished first; "
                                "repeat the request to get its response."
                            ) from exc
                        raise
                except BaseException:
                    await session.rollback()
                    raise
                finally:
                    request.state.session = None
            if session.info.pop(ENQUEUED, False):
                runtime.jobs_wakeup.set()
            deferred = session.info.pop(AFTER_READ_INFO, None)
            if deferred:
                async with transaction(runtime.sessions) as writer:
                    for statement in deferred:
                        await writer.execute(statement)
            return response

        return handler


async def request_session(request: Request) -> AsyncSession:
    """The request's session (``DbSession``); a dependency may call it to need one less."""
    # async: FastAPI runs a plain ``def`` dependency in a worker thread, a hop per request.
    session: AsyncSession | None = getattr(request.state, "session", None)
    if session is None:
        raise RuntimeError("route is not a SessionRoute")
    return session


DbSession = Annotated[AsyncSession, Depends(request_session)]


async def end_read_phase(session: AsyncSession) -> None:
    """Commit what authentication recorded and close the transaction before a long body stream.

    SQLite transactions hold the write lock and PostgreSQL ones pin a connection; neither
    should stay open while a client uploads for minutes. The route's final commit then covers
    the domain change alone.
    """
    await session.commit()
