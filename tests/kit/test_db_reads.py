"""Read-only requests use read sessions: they never wait for, nor take, the write lock."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from sqlalchemy import bindparam, column, event, func, select, table, text, update
from sqlalchemy.exc import DBAPIError, InternalError, OperationalError
from starlette.routing import BaseRoute

from tabellion.app import create_app
from tabellion.db import (
    DbSession,
    Prepared,
    SessionRoute,
    closing_session,
    select_once,
    select_rows,
    transaction,
)
from tabellion.errors import database_unavailable
from tabellion.kit.web import PageRoute
from tabellion.models.message import Message
from tabellion.models.organization import ApiKey
from tabellion.runtime import Runtime
from tests.fixtures.factories import message_body

# Well under SQLite's 30 s pool and busy timeouts: a GET that queued behind the write would fail.
SERVED_WITHIN_S = 5


async def create_message(client: httpx.AsyncClient, auth: dict[str, str]) -> str:
    response = await client.post("/v1/messages", json=message_body(), headers=auth)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_a_get_is_served_while_a_write_transaction_is_open(
    runtime: Runtime, client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    message_id = await create_message(client, auth)
    async with runtime.sessions() as writer:
        await writer.execute(
            update(Message).where(Message.id == message_id).values(subject="Changed")
        )
        # The write lock is held (SQLite) and the change not committed: the GET reads the
        # last committed state, at once.
        response = await asyncio.wait_for(
            client.get(f"/v1/messages/{message_id}", headers=auth), SERVED_WITHIN_S
        )
        assert response.status_code == 200, response.text
        assert response.json()["subject"] == "Notice of termination"
        listed = await asyncio.wait_for(client.get("/v1/messages", headers=auth), SERVED_WITHIN_S)
        assert [m["id"] for m in listed.json()["data"]] == [message_id]
        await writer.commit()
    response = await client.get(f"/v1/messages/{message_id}", headers=auth)
    assert response.json()["subject"] == "Changed"


async def test_a_read_records_the_keys_last_use_in_a_write_transaction_after(
    runtime: Runtime, client: httpx.AsyncClient, org_key: tuple[str, str], auth: dict[str, str]
) -> None:
    long_ago = datetime(2026, 1, 1, tzinfo=UTC)
    async with transaction(runtime.sessions) as session:
        await session.execute(
            update(ApiKey).where(ApiKey.organization_id == org_key[0]).values(last_used_at=long_ago)
        )
    before = datetime.now(UTC)
    response = await client.get("/v1/messages", headers=auth)
    assert response.status_code == 200, response.text
    async with runtime.sessions() as session:
        used = await session.scalar(
            select(ApiKey.last_used_at).where(ApiKey.organization_id == org_key[0])
        )
    assert used is not None and used >= before.replace(microsecond=0)


async def test_a_write_in_a_read_session_fails_loudly(runtime: Runtime) -> None:
    """SQLite's read connections are ``query_only``, PostgreSQL's read-only by default."""
    refused = "read-only transaction" if postgres(runtime) else "readonly"
    async with runtime.read_sessions() as session:
        with pytest.raises((OperationalError, InternalError), match=refused):
            await session.execute(text("DELETE FROM jobs"))


def postgres(runtime: Runtime) -> bool:
    return runtime.engine.dialect.name == "postgresql"


async def test_a_read_session_runs_without_a_transaction(runtime: Runtime) -> None:
    """At READ COMMITTED (PostgreSQL) each statement reads its own snapshot anyway, and SQLite
    reads are given the same: a read without a transaction sees the same, without the round
    trips of BEGIN and COMMIT (on SQLite, trips to aiosqlite's thread)."""
    async with runtime.read_sessions() as reader, runtime.sessions() as writer:
        await reader.execute(select(ApiKey.id).limit(1))
        await writer.execute(select(ApiKey.id).limit(1))
        read = (await (await reader.connection()).get_raw_connection()).driver_connection
        written = (await (await writer.connection()).get_raw_connection()).driver_connection
        if runtime.engine.dialect.name == "postgresql":
            assert read.autocommit is True  # type: ignore[union-attr]
            assert written.autocommit is False  # type: ignore[union-attr]
        else:
            assert read.in_transaction is False  # type: ignore[union-attr]
            assert written.in_transaction is True  # type: ignore[union-attr]


async def test_a_prepared_read_gives_the_rows_a_session_reads(
    runtime: Runtime, org_key: tuple[str, str]
) -> None:
    """Run on the driver's cursor, a prepared statement converts its parameters and its
    columns as SQLAlchemy does: aware datetimes in and out, JSON, NULLs, the same names and
    the same values as the session's rows, and a parameter used twice is sent twice."""
    since = datetime(2000, 1, 1, tzinfo=UTC)
    statement = select(
        ApiKey.id,
        ApiKey.organization_id.label("tenant"),
        ApiKey.scopes,
        ApiKey.created_at,
        ApiKey.last_used_at,
    ).where(
        ApiKey.created_at > bindparam("since", type_=ApiKey.created_at.type),
        ApiKey.organization_id == bindparam("tenant_id"),
        ApiKey.id != bindparam("tenant_id"),  # the same parameter again
    )
    values = {"since": since, "tenant_id": org_key[0]}
    async with closing_session(runtime.read_sessions()) as reader:
        prepared = await select_once(reader, Prepared(statement), values)
        assert not reader.in_transaction()  # it ran on a borrowed connection, prepared
        through_session = await select_rows(reader, statement, values)
    assert len(prepared) == 1
    assert prepared == through_session
    [row] = prepared
    assert row._fields == ("id", "tenant", "scopes", "created_at", "last_used_at")
    assert row.tenant == org_key[0]
    assert row.scopes == ["admin"]
    assert row.created_at.tzinfo is not None and row.created_at > since
    assert row.last_used_at is None
    assert row._mapping["tenant"] == org_key[0]
    later = {"since": datetime(2999, 1, 1, tzinfo=UTC), "tenant_id": org_key[0]}
    async with closing_session(runtime.read_sessions()) as reader:
        assert await select_once(reader, Prepared(statement), later) == []


def test_a_prepared_read_takes_scalar_parameters_only(runtime: Runtime) -> None:
    """An IN list's SQL depends on its length: not something to compile once."""
    statement = Prepared(select(ApiKey.id).where(ApiKey.id.in_(bindparam("ids", expanding=True))))
    with pytest.raises(ValueError, match="named scalar parameters only"):
        statement.form(runtime.engine.dialect)


async def test_a_prepared_reads_failure_is_sqlalchemys(runtime: Runtime) -> None:
    """Run on the driver's cursor, a failing statement still raises SQLAlchemy's error (the
    one ``errors.database_unavailable`` reads), and its connection goes back to the pool."""
    missing = Prepared(select(column("id")).select_from(table("no_such_table")))
    pool = runtime.read_engine.sync_engine.pool
    checked_out = pool.checkedout()
    async with closing_session(runtime.read_sessions()) as reader:
        with pytest.raises(DBAPIError) as raised:
            await select_once(reader, missing)
    assert "no_such_table" in str(raised.value.orig)
    assert not raised.value.connection_invalidated
    assert pool.checkedout() == checked_out


@pytest.mark.postgres_only
async def test_a_prepared_read_on_a_lost_connection_drops_it(
    runtime: Runtime, org_key: tuple[str, str]
) -> None:
    """A connection the server closed fails its statement as a lost connection (a 503), and
    is not pooled again: the next read gets a working one."""
    who = Prepared(select(func.pg_backend_pid().label("pid")))
    invalidated: list[BaseException | None] = []
    pool = runtime.read_engine.sync_engine.pool
    event.listen(pool, "invalidate", lambda _conn, _record, error: invalidated.append(error))
    async with closing_session(runtime.read_sessions()) as reader:
        [row] = await select_once(reader, who)
    async with runtime.engine.connect() as admin:
        await admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": row.pid})
    async with closing_session(runtime.read_sessions()) as reader:
        with pytest.raises(DBAPIError) as raised:
            await select_once(reader, who)
    assert raised.value.connection_invalidated
    # Dropped for the error it raised, not later for failing the pool's rollback at return.
    assert invalidated[:1] == [raised.value.orig]
    assert database_unavailable(raised.value) is not None
    async with closing_session(runtime.read_sessions()) as reader:
        [again] = await select_once(reader, who)
    assert again.pid != row.pid


@pytest.mark.postgres_only
async def test_a_prepared_read_cancelled_mid_statement_drops_its_connection(
    runtime: Runtime,
) -> None:
    """A request cancelled while its statement runs leaves a connection in an unknown state:
    it is closed, not handed to the next request. (psycopg cancels the statement on the
    server by itself; what is ours is that the connection's backend goes away.)"""
    pool = runtime.read_engine.sync_engine.pool
    checked_out = pool.checkedout()
    slow = Prepared(select(func.pg_sleep(30)))
    # This database's statement alone: another run's (the same test, beside) is not ours, nor
    # an idle session whose last statement was this very lookup.
    running = text(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        " AND state = 'active' AND query LIKE 'SELECT pg_sleep(%'"
    )
    alive = text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid")
    async with closing_session(runtime.read_sessions()) as reader:
        read = asyncio.create_task(select_once(reader, slow))
        async with runtime.engine.connect() as admin:
            # pg_stat_activity is a snapshot taken once per transaction: each look in its own.
            await admin.execution_options(isolation_level="AUTOCOMMIT")
            backend = None
            for _ in range(100):
                await asyncio.sleep(0.05)
                if backend := await admin.scalar(running):
                    break
            assert backend is not None, "the statement never started"
        read.cancel()
        with pytest.raises(asyncio.CancelledError):
            await read
    assert pool.checkedout() == checked_out
    async with runtime.engine.connect() as admin:
        await admin.execution_options(isolation_level="AUTOCOMMIT")
        # A connection pooled again would stay for good; a closed one's backend ends within
        # moments.
        for _ in range(200):
            if not await admin.scalar(alive, {"pid": backend}):
                break
            await asyncio.sleep(0.05)
        assert await admin.scalar(alive, {"pid": backend}) == 0  # not pooled for reuse


async def test_select_once_in_a_read_borrows_a_connection_for_the_statement_alone(
    runtime: Runtime, org_key: tuple[str, str]
) -> None:
    """A read that ran no query takes a connection for its one statement and gives it back at
    once: its session ends holding nothing, with no transaction to commit. One that holds a
    connection already runs the statement on it (a second per request could wait forever for
    a small pool), as ``select_rows`` always does, keeping it for the request's next
    statements. A write session reads its own uncommitted changes."""
    pool = runtime.read_engine.sync_engine.pool
    keys = Prepared(select(ApiKey.id, ApiKey.organization_id))
    async with closing_session(runtime.read_sessions()) as reader:
        checked_out = pool.checkedout()
        rows = await select_once(reader, keys)
        assert [row.organization_id for row in rows] == [org_key[0]]
        assert not reader.in_transaction()
        assert pool.checkedout() == checked_out
        await select_rows(reader, keys.statement)
        assert reader.in_transaction()
        assert pool.checkedout() == checked_out + 1
    async with closing_session(runtime.read_sessions()) as reader:
        await reader.execute(select(ApiKey.id).limit(1))  # the session takes a connection
        held = pool.checkedout()
        assert [row.id for row in await select_once(reader, keys)] == [
            (await reader.scalar(select(ApiKey.id)))
        ]
        assert pool.checkedout() == held
    async with closing_session(runtime.sessions()) as writer:
        await writer.execute(update(ApiKey).values(name="renamed"))
        renamed = await select_once(writer, Prepared(select(ApiKey.name)))
        assert [row.name for row in renamed] == ["renamed"]
        await writer.rollback()


def session_routes(routes: Iterable[BaseRoute]) -> Iterator[SessionRoute]:
    """The app's SessionRoutes, inside its included routers (paths without their prefix)."""
    for route in routes:
        if isinstance(route, SessionRoute):
            yield route
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from session_routes(included.routes)


def test_get_routes_that_write_keep_a_write_session(runtime: Runtime) -> None:
    app_routes = list(session_routes(create_app(runtime=runtime).routes))
    routes = {(r.path, method): r.read_only for r in app_routes for method in r.methods}
    assert routes[("/deliveries/{delivery_id}", "GET")] is True
    assert routes[("/messages/{message_id}", "GET")] is True
    assert routes[("/messages", "GET")] is True
    assert routes[("/messages", "POST")] is False
    # Numbers newly committed events before reading them.
    assert routes[("/events", "GET")] is False
    # HTML pages: a portal page records RECEIVED, the tracking pixel an opening.
    pages = [r for r in app_routes if isinstance(r, PageRoute)]
    assert len(pages) > 10 and not any(r.read_only for r in pages)


async def test_a_read_route_holding_changes_still_commits_them(
    runtime: Runtime, org_key: tuple[str, str]
) -> None:
    """A read session holding changes (a bug) is committed like any other, so they are
    refused loudly by the read connections (SQLite's ``query_only``, PostgreSQL's
    ``default_transaction_read_only``) rather than dropped without a word."""
    router = APIRouter(route_class=SessionRoute)

    @router.get("/rename")
    async def rename(session: DbSession) -> dict[str, str]:
        key = await session.scalar(select(ApiKey).where(ApiKey.organization_id == org_key[0]))
        assert key is not None
        key.name = "renamed in a read"
        return {"renamed": key.id}

    app = FastAPI()
    app.state.runtime = runtime
    app.include_router(router)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        refused = "read-only transaction" if postgres(runtime) else "readonly"
        with pytest.raises((OperationalError, InternalError), match=refused):
            await client.get("/rename")
    async with runtime.sessions() as session:
        name = await session.scalar(select(ApiKey.name).where(ApiKey.organization_id == org_key[0]))
    assert name != "renamed in a read"
