"""Database plumbing: UTC timestamps whatever the database does, bulk inserts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, inspect, select, text

from tabellion.db import bulk_insert, bulk_update, create_engine, transaction
from tabellion.kit.time import as_utc, isoformat_z
from tabellion.models.base import table_of
from tabellion.models.job import Job
from tabellion.organization.service import create_organization
from tabellion.runtime import Runtime
from tests.conftest import TEST_DATABASE_URL


def test_as_utc_attaches_converts_and_keeps() -> None:
    naive = datetime(2026, 3, 29, 1, 30)
    assert as_utc(naive) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    aware = datetime.fromisoformat("2026-03-29T03:30:00+02:00")
    assert as_utc(aware) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert as_utc(aware).tzinfo is UTC
    utc = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert as_utc(utc) is utc
    # Memoised formatting: equal instants in other zones still print as UTC.
    assert isoformat_z(utc) == isoformat_z(aware) == "2026-03-29T01:30:00Z"
    assert isoformat_z(naive) == "2026-03-29T01:30:00Z"


@pytest.mark.postgres_only
async def test_postgres_sessions_keep_given_options_and_run_in_utc() -> None:
    assert TEST_DATABASE_URL is not None
    sep = "&" if "?" in TEST_DATABASE_URL else "?"
    engine = create_engine(f"{TEST_DATABASE_URL}{sep}options=-c%20statement_timeout%3D4321")
    try:
        async with engine.connect() as conn:
            assert await conn.scalar(text("SHOW TimeZone")) == "UTC"
            assert await conn.scalar(text("SHOW statement_timeout")) == "4321ms"
            # Timestamps come back in UTC itself: nothing to convert per value.
            assert (await conn.scalar(text("SELECT now()"))).tzinfo is UTC
    finally:
        await engine.dispose()


async def test_bulk_insert_applies_defaults_and_types_in_the_transaction(runtime: Runtime) -> None:
    shared = {"delivery_id": "dlv_shared", "nested": {"é": [1, 2]}}
    rows = [
        {"kind": "bench.noop", "payload": shared if i % 2 else {"i": i}, "status": "queued"}
        for i in range(2_500)
    ]
    for row in rows:
        row |= {"attempts": 0, "max_attempts": 3, "run_at": datetime(2026, 1, 2, tzinfo=UTC)}
    async with runtime.sessions() as session:
        await bulk_insert(session, table_of(Job), rows)
        await session.rollback()  # nothing is left behind
    async with runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Job)) == 0

    async with transaction(runtime.sessions) as session:
        await bulk_insert(session, table_of(Job), rows)
        await bulk_insert(session, table_of(Job), [])
    async with runtime.sessions() as session:
        jobs = (await session.scalars(select(Job).order_by(Job.id))).all()
    assert len(jobs) == 2_500
    assert [j.payload for j in jobs[:3]] == [{"i": 0}, shared, {"i": 2}]
    assert all(j.run_at == datetime(2026, 1, 2, tzinfo=UTC) for j in jobs)
    # Python-side column defaults (created_at, updated_at) were filled in.
    assert all(j.created_at is not None and j.updated_at is not None for j in jobs)
    assert len({j.id for j in jobs}) == 2_500


async def test_bulk_update_gives_each_row_its_values_and_stamps_onupdate(
    runtime: Runtime,
) -> None:
    old = datetime(2026, 1, 2, tzinfo=UTC)
    rows = [
        {"kind": "bench.noop", "payload": {"i": i}, "status": "queued", "attempts": 0}
        for i in range(5)
    ]
    for row in rows:
        row |= {"max_attempts": 3, "run_at": old, "created_at": old, "updated_at": old}
    async with transaction(runtime.sessions) as session:
        await bulk_insert(session, table_of(Job), rows)
    async with runtime.sessions() as session:
        ids = list(await session.scalars(select(Job.id).order_by(Job.id)))
    later = datetime(2026, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    shared = {"same": "é"}
    changes = [
        {"id": job_id, "status": "done", "attempts": n, "run_at": later, "payload": shared}
        for n, job_id in enumerate(ids[:4])
    ]
    changes[1]["payload"] = {"own": [1, 2]}
    async with transaction(runtime.sessions) as session:
        await bulk_update(session, table_of(Job), changes)
        await bulk_update(session, table_of(Job), [])
    async with runtime.sessions() as session:
        jobs = (await session.scalars(select(Job).order_by(Job.id))).all()
    assert [(j.status, j.attempts) for j in jobs] == [
        ("done", 0),
        ("done", 1),
        ("done", 2),
        ("done", 3),
        ("queued", 0),
    ]
    assert [j.payload for j in jobs] == [shared, {"own": [1, 2]}, shared, shared, {"i": 4}]
    assert [j.run_at for j in jobs] == [later] * 4 + [old]
    # updated_at, which the changes do not name, is stamped by its onupdate; created_at kept.
    assert all(j.updated_at > old for j in jobs[:4]) and jobs[4].updated_at == old
    assert len({j.updated_at for j in jobs[:4]}) == 1
    assert all(j.created_at == old for j in jobs)


async def test_sqlite_connections_go_back_to_the_pool_without_an_open_transaction(
    tmp_path: Path,
) -> None:
    # The pool rolls back only a transaction still open (it skips the rollback after a commit):
    # one left open behind SQLAlchemy's back is rolled back all the same.
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'pool.db'}")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (a INTEGER)"))
            await conn.execute(text("INSERT INTO t VALUES (1)"))
            driver = (await conn.get_raw_connection()).driver_connection
            assert driver is not None and driver.in_transaction
        assert not driver.in_transaction

        async def insert_then_fail() -> None:
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO t VALUES (2)"))
                raise RuntimeError

        with pytest.raises(RuntimeError):
            await insert_then_fail()
        async with engine.connect():
            await driver.execute("BEGIN IMMEDIATE")
            await driver.execute("INSERT INTO t VALUES (3)")
        assert not driver.in_transaction
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT a FROM t"))).scalars().all() == [1]
    finally:
        await engine.dispose()


async def test_bulk_insert_keeps_each_rows_own_value_beside_shared_ones(runtime: Runtime) -> None:
    # On PostgreSQL values are converted once per object (a dispatch's one instant, its one
    # dict of details): rows with their own objects, equal or not, keep their own values.
    moment = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    shared = {"text": "déjà vu", "list": [1, None]}
    rows = [
        {
            "kind": "bench.noop",
            "payload": shared if i % 3 == 0 else {"i": i},
            "status": "queued",
            "attempts": 0,
            "max_attempts": 3,
            "run_at": moment if i % 2 else datetime(2026, 1, 1, 0, 0, i, tzinfo=UTC),
            "request_id": None,
        }
        for i in range(60)
    ]
    async with transaction(runtime.sessions) as session:
        await bulk_insert(session, table_of(Job), rows)
    async with runtime.sessions() as session:
        jobs = (await session.scalars(select(Job).order_by(Job.id))).all()
    assert [j.payload for j in jobs] == [r["payload"] for r in rows]
    assert [j.run_at for j in jobs] == [r["run_at"] for r in rows]
    assert all(j.request_id is None for j in jobs)


async def test_closing_session_returns_the_connection_whether_or_not_the_work_ended(
    runtime: Runtime,
) -> None:
    """A session that committed closes at once, without a task; one left in its transaction
    (its rollback never ran) closes through SQLAlchemy's shielded task, its connection back
    in the pool."""
    from tabellion.db import closing_session

    pool = runtime.engine.sync_engine.pool
    loop = asyncio.get_running_loop()
    previous = loop.get_task_factory()
    started: list[str] = []

    def counting(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        started.append(coro.__qualname__)
        return asyncio.Task(coro, loop=loop, **kwargs)

    async def abandon() -> None:
        async with closing_session(runtime.sessions()) as session:
            await session.execute(select(func.count()).select_from(Job))
            assert pool.checkedout() == 1
            raise RuntimeError("boom")

    loop.set_task_factory(counting)
    try:
        async with closing_session(runtime.sessions()) as session:
            await session.execute(select(func.count()).select_from(Job))
            await session.commit()
            assert pool.checkedout() == 0  # the commit gave it back
        assert started == []  # closed at once
        assert not session.sync_session.in_transaction()

        with pytest.raises(RuntimeError, match="boom"):
            await abandon()
        assert started == ["AsyncSession.close"]  # SQLAlchemy's own exit, shielded
        assert pool.checkedout() == 0
    finally:
        loop.set_task_factory(previous)


async def test_closing_session_closes_a_session_holding_objects_after_its_transaction(
    runtime: Runtime,
) -> None:
    """An untouched session (a ``GET`` read by ``select_once``) is left to the collector, but
    one whose transaction ended while it still holds objects (committed, not expired) is
    closed: they leave it."""
    from tabellion.db import closing_session

    async with closing_session(runtime.sessions()) as session:
        organization = await create_organization(session, name="Kept")
        await session.commit()
        assert not session.sync_session.in_transaction()
        assert organization in session
    assert organization not in session
    assert inspect(organization).session is None


@pytest.mark.postgres_only
async def test_a_connection_idle_for_a_while_is_pinged_and_replaced_when_dead(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A connection given back a moment ago is handed out as is (no round trip); one that sat
    idle is pinged first, and one whose server side went away is replaced unseen."""
    from tabellion import db

    assert TEST_DATABASE_URL is not None
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.2)
    engine = create_engine(TEST_DATABASE_URL, pool_size=1)
    pings: list[object] = []
    ping = engine.sync_engine.dialect.do_ping

    def counted_ping(dbapi_connection: Any) -> bool:
        pings.append(dbapi_connection)
        return ping(dbapi_connection)

    monkeypatch.setattr(engine.sync_engine.dialect, "do_ping", counted_ping)
    try:
        async with engine.connect() as conn:
            first = await conn.scalar(text("SELECT pg_backend_pid()"))
        async with engine.connect() as conn:  # at once: not pinged
            assert await conn.scalar(text("SELECT pg_backend_pid()")) == first
        assert pings == []

        await asyncio.sleep(0.3)
        async with engine.connect() as conn:  # idle a while, alive: pinged, kept
            assert await conn.scalar(text("SELECT pg_backend_pid()")) == first
        assert len(pings) == 1

        killer = create_engine(TEST_DATABASE_URL, pool_size=0)
        async with killer.connect() as conn:
            assert await conn.scalar(text(f"SELECT pg_terminate_backend({first})"))
        await killer.dispose()
        await asyncio.sleep(0.3)
        async with engine.connect() as conn:  # its server side gone: replaced, no error
            assert await conn.scalar(text("SELECT pg_backend_pid()")) != first
        assert len(pings) == 2
    finally:
        await engine.dispose()


async def test_named_rows_hold_the_rows_fields_and_values(runtime: Runtime) -> None:
    """``named_rows``: each row as a named tuple of its statement's fields, in order."""
    from sqlalchemy import literal, select

    from tabellion.db import named_rows

    async with runtime.sessions() as session:
        statement = select(literal(1).label("id"), literal("x").label("type"))
        rows = (await session.execute(statement.union_all(select(literal(2), literal("y"))))).all()
        named = named_rows(rows)
    assert [tuple(row) for row in named] == [tuple(row) for row in rows] == [(1, "x"), (2, "y")]
    assert named[1].id == 2 and named[1].type == "y" and named[0]._fields == ("id", "type")
    assert named_rows([]) == []
