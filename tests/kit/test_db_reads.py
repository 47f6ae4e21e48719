"""Read-only requests use read sessions: they never wait for, nor take, the write lock."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from sqlalchemy import select, text, update
from sqlalchemy.exc import InternalError, OperationalError
from starlette.routing import BaseRoute

from tabellion.app import create_app
from tabellion.db import (
    DbSession,
    SessionRoute,
    closing_session,
    select_once,
    select_rows,
    transaction,
)
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


async def test_select_once_in_a_read_borrows_a_connection_for_the_statement_alone(
    runtime: Runtime, org_key: tuple[str, str]
) -> None:
    """A read that ran no query takes a connection for its one statement and gives it back at
    once: its session ends holding nothing, with no transaction to commit. One that holds a
    connection already runs the statement on it (a second per request could wait forever for
    a small pool), as ``select_rows`` always does, keeping it for the request's next
    statements. A write session reads its own uncommitted changes."""
    pool = runtime.read_engine.sync_engine.pool
    keys = select(ApiKey.id, ApiKey.organization_id)
    async with closing_session(runtime.read_sessions()) as reader:
        checked_out = pool.checkedout()
        rows = await select_once(reader, keys)
        assert [row.organization_id for row in rows] == [org_key[0]]
        assert not reader.in_transaction()
        assert pool.checkedout() == checked_out
        await select_rows(reader, keys)
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
        renamed = await select_once(writer, select(ApiKey.name))
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
