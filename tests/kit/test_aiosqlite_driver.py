"""The SQLite driver: one trip to aiosqlite's thread per statement, the cursor's facts intact.

On files of their own, so on the PostgreSQL pass too."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from tabellion.db import create_engine, create_read_engine


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE)"))
    yield engine
    await engine.dispose()


def count_trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The functions each aiosqlite connection sends to its thread, by name, from now on."""
    trips: list[str] = []
    original = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Callable[..., Any], *args: Any) -> Any:
        trips.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return trips


async def test_a_read_statement_takes_one_trip_and_nothing_else_does(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reader = create_read_engine(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}", engine)
    try:
        async with reader.connect() as conn:  # connected before counting
            await conn.rollback()
        trips = count_trips(monkeypatch)
        async with reader.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 0
            assert (await conn.execute(text("SELECT name FROM t"))).all() == []
            await conn.commit()
        # No BEGIN and no COMMIT: a read runs each statement in its own snapshot, and neither
        # the commit nor the pool's rollback on return needs a trip.
        assert trips == ["_run", "_run"]
    finally:
        await reader.dispose()


async def test_each_read_statement_sees_what_was_committed_before_it(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """As PostgreSQL's reads (READ COMMITTED, in autocommit): a read holds no snapshot between
    its statements, so it never keeps the WAL from being checkpointed while it runs."""
    reader = create_read_engine(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}", engine)
    try:
        async with reader.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 0
            raw = await conn.get_raw_connection()
            assert not raw.driver_connection.in_transaction  # type: ignore[union-attr]
            async with engine.begin() as writer:
                await writer.execute(text("INSERT INTO t (name) VALUES ('a')"))
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 1
    finally:
        await reader.dispose()


async def test_a_transaction_that_runs_no_statement_takes_no_trip(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with engine.connect() as conn:  # connected before counting
        await conn.rollback()
    trips = count_trips(monkeypatch)
    async with engine.begin():
        pass
    async with engine.connect() as conn:
        await conn.begin()
        await conn.rollback()
    assert trips == []


async def test_begin_immediate_rides_with_the_first_statement_and_takes_the_write_lock(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    other = await aiosqlite.connect(tmp_path / "driver.db", timeout=0, isolation_level=None)
    try:
        async with engine.begin() as conn:
            await other.execute("BEGIN IMMEDIATE")  # free: nothing ran in ours yet
            await other.execute("ROLLBACK")
            await conn.execute(text("SELECT count(*) FROM t"))
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                await other.execute("BEGIN IMMEDIATE")
        await other.execute("BEGIN IMMEDIATE")  # ours committed: free again
        await other.execute("ROLLBACK")
    finally:
        await other.close()


async def test_rowcount_lastrowid_returning_and_executemany(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        inserted = await conn.execute(text("INSERT INTO t (name) VALUES ('a')"))
        assert inserted.lastrowid == 1
        assert inserted.rowcount == 1
        many = await conn.execute(
            text("INSERT INTO t (name) VALUES (:name)"), [{"name": "b"}, {"name": "c"}]
        )
        assert many.rowcount == 2
        returned = await conn.execute(
            text("UPDATE t SET name = upper(name) WHERE id > 1 RETURNING id, name")
        )
        assert sorted(returned.all()) == [(2, "B"), (3, "C")]
        changed = await conn.execute(text("UPDATE t SET name = name || '!' WHERE id <= 2"))
        assert changed.rowcount == 2
        result = await conn.execute(text("SELECT id, name FROM t ORDER BY id"))
        assert list(result.keys()) == ["id", "name"]
        assert result.fetchmany(2) == [(1, "a!"), (2, "B!")]
        assert result.fetchall() == [(3, "C")]


async def test_errors_are_sqlalchemys_and_the_transaction_rolls_back(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO t (name) VALUES ('a')"))
    async with engine.connect() as conn:
        await conn.execute(text("INSERT INTO t (name) VALUES ('b')"))
        with pytest.raises(IntegrityError):
            await conn.execute(text("INSERT INTO t (name) VALUES ('a')"))
        await conn.rollback()
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT name FROM t"))).scalars().all() == ["a"]
