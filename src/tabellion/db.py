"""Engines and sessions.

SQLite runs in WAL mode with a busy timeout, and every transaction starts with
``BEGIN IMMEDIATE`` so that two writers queue on the lock instead of failing when one
upgrades a read lock. The request's session is committed in exactly one place
(:mod:`tabellion.api.route`); the worker commits once per job.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from psycopg import sql
from sqlalchemy import Column, ColumnDefault, Table, event, insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

SQLITE_BUSY_TIMEOUT_MS = 30_000


def create_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            from pathlib import Path

            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            url,
            echo=echo,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            # One connection: SQLite runs one write transaction at a time anyway (and ours all
            # write), so this process's transactions queue on the pool, without spinning in
            # SQLite's busy handler, which sleeps up to 100 ms per try.
            pool_size=1,
            max_overflow=0,
            pool_timeout=SQLITE_BUSY_TIMEOUT_MS / 1000,
        )
        _configure_sqlite(engine)
        return engine
    kwargs: dict[str, Any] = {"pool_pre_ping": True, "echo": echo}
    if parsed.get_backend_name() == "postgresql":
        # Sessions in UTC: timestamps come back with ``datetime.UTC`` itself (no conversion per
        # value when read), and server-side date arithmetic is in UTC as ours is.
        given = parsed.query.get("options")
        given = given if isinstance(given, str) else " ".join(given or ())
        kwargs["connect_args"] = {"options": f"{given} -c TimeZone=UTC".strip()}
    if pool_size:
        kwargs.update(pool_size=pool_size, max_overflow=pool_size)
    else:
        kwargs["poolclass"] = NullPool
    return create_async_engine(url, **kwargs)


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" hook below own transaction boundaries.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


# Session.info key: the process's Settings, for hooks that run inside a commit.
SETTINGS_INFO = "tabellion.settings"


def create_sessionmaker(
    engine: AsyncEngine, *, info: dict[str, Any] | None = None
) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False, info=info)


async def bulk_insert(
    session: AsyncSession, table: Table, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Insert many rows in the session's transaction, with the columns' Python-side defaults.

    On PostgreSQL one ``COPY … FROM STDIN`` stream: a 10,000-recipient dispatch writes 40,000
    rows, and executemany would send (and psycopg adapt) one statement per row. Elsewhere
    Core's executemany. Values go through the columns' types as in any statement; a dict or
    list shared by many rows (a dispatch's evidence details) is converted once.
    """
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        await session.execute(insert(table), list(rows))
        return
    connection = await session.connection()
    dialect = connection.dialect
    given = {name for row in rows for name in row}
    columns = [c for c in table.columns if c.name in given or _python_default(c) is not None]
    convert = [c.type.dialect_impl(dialect).bind_processor(dialect) for c in columns]
    converted: dict[int, Any] = {}

    def value(position: int, raw: Any) -> Any:
        process = convert[position]
        if process is None or raw is None:
            return raw
        if not isinstance(raw, dict | list):
            return process(raw)
        if id(raw) not in converted:
            converted[id(raw)] = process(raw)
        return converted[id(raw)]

    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(sql.Identifier(c.name) for c in columns)
    )
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    async with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            await copy.write_row(
                [
                    value(i, row[c.name] if c.name in row else _python_default_value(c))
                    for i, c in enumerate(columns)
                ]
            )


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
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A unit of work outside a request (worker jobs, CLI): commit on success, else roll back."""
    async with sessions() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


# ---- the request's unit of work ----------------------------------------------------------------

from collections.abc import Callable, Coroutine  # noqa: E402
from typing import Annotated  # noqa: E402

from fastapi import Depends, Request  # noqa: E402
from fastapi.routing import APIRoute  # noqa: E402
from sqlalchemy.exc import IntegrityError  # noqa: E402
from starlette.responses import Response  # noqa: E402


class SessionRoute(APIRoute):
    """Opens one session per request and commits it once, before the response is sent.

    A handler that raises, or answers with an error status, leaves nothing behind. Jobs
    enqueued in the transaction wake the in-process worker after the commit.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            from tabellion.errors import IdempotencyKeyInUse
            from tabellion.jobs.queue import ENQUEUED
            from tabellion.kit import idempotency

            runtime = request.app.state.runtime
            async with runtime.sessions() as session:
                request.state.session = session
                try:
                    response = await original(request)
                    if response.status_code >= 400:
                        await session.rollback()
                        return response
                    idempotency.record(request, session, response)
                    try:
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
                return response

        return handler


def _request_session(request: Request) -> AsyncSession:
    session: AsyncSession | None = getattr(request.state, "session", None)
    if session is None:
        raise RuntimeError("route is not a SessionRoute")
    return session


DbSession = Annotated[AsyncSession, Depends(_request_session)]


async def end_read_phase(session: AsyncSession) -> None:
    """Commit what authentication recorded and close the transaction before a long body stream.

    SQLite transactions hold the write lock and PostgreSQL ones pin a connection; neither
    should stay open while a client uploads for minutes. The route's final commit then covers
    the domain change alone.
    """
    await session.commit()
