"""SQLite's write-ahead log is checkpointed by a thread of its own, not by the commits."""

from __future__ import annotations

import asyncio
import gc
import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tabellion.db import create_engine
from tabellion.kit import checkpoints
from tabellion.kit.checkpoints import WalCheckpointer
from tabellion.runtime import Runtime
from tests.conftest import TEST_DATABASE_URL, make_settings

# SQLite checkpoints on its own once a commit leaves 1,000 pages (4 MB) in the log.
WRITTEN = 6 * 1024 * 1024
ROW = b"x" * 4000


async def _write(engine: AsyncEngine) -> int:
    """WRITTEN bytes in transactions of ~100 rows; returns the connection's
    ``wal_autocheckpoint``."""
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB)"))
    for _ in range(WRITTEN // (100 * len(ROW)) + 1):
        async with engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO blobs (data) VALUES (:data)"), [{"data": ROW}] * 100
            )
    async with engine.connect() as conn:
        return int((await conn.execute(text("PRAGMA wal_autocheckpoint"))).scalar_one())


def _wait_until(condition: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the checkpointer copied nothing"
        time.sleep(0.02)


def _wal(path: Path) -> Path:
    return path.with_name(path.name + "-wal")


async def test_commits_leave_the_log_to_the_checkpointer(tmp_path: Path) -> None:
    # SQLite's own way: a commit past 4 MB of log copies it back, and the log is reused.
    plain = tmp_path / "plain.db"
    engine = create_engine(f"sqlite+aiosqlite:///{plain}", pool_size=1)
    try:
        assert await _write(engine) == 1000
        assert _wal(plain).stat().st_size < 4.5 * 1024 * 1024
        assert plain.stat().st_size > 3.5 * 1024 * 1024
    finally:
        await engine.dispose()

    # Attached: no commit copies anything (the thread is not started yet); the log holds all.
    path = tmp_path / "checkpointed.db"
    checkpointer = WalCheckpointer(path, interval=0.05)
    engine = create_engine(f"sqlite+aiosqlite:///{path}", pool_size=1)
    checkpointer.attach(engine)
    try:
        assert await _write(engine) == 0
        assert _wal(path).stat().st_size > WRITTEN
        assert path.stat().st_size < 1024 * 1024

        # Started, the thread copies the log back into the database, while the engine's
        # connection stays open (closing the last one would checkpoint too).
        checkpointer.start()
        await asyncio.to_thread(_wait_until, lambda: path.stat().st_size > WRITTEN)
        checkpointer.close()
        with sqlite3.connect(path) as check:
            # Everything in the log is in the database already: nothing left to copy.
            busy, logged, copied = check.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            assert (busy, copied) == (0, logged)
            assert check.execute("SELECT count(*) FROM blobs").fetchone()[0] * len(ROW) > WRITTEN
    finally:
        await engine.dispose()
        checkpointer.close()


@pytest.mark.skipif(bool(TEST_DATABASE_URL), reason="SQLite's write-ahead log")
async def test_a_runtime_on_an_sqlite_file_checkpoints_until_closed(
    data_dir: Path, database_url: str
) -> None:
    runtime = Runtime.build(make_settings(data_dir, database_url))
    checkpointer = runtime.checkpointer
    assert checkpointer is not None
    assert checkpointer.path == data_dir / "tabellion.db"
    assert checkpointer._thread.is_alive()
    async with runtime.engine.connect() as conn:
        assert (await conn.execute(text("PRAGMA wal_autocheckpoint"))).scalar_one() == 0
    await runtime.close()
    assert not checkpointer._thread.is_alive()


def test_only_an_sqlite_file_gets_a_checkpointer(tmp_path: Path) -> None:
    found = checkpoints.for_database(f"sqlite+aiosqlite:///{tmp_path}/t.db")
    assert found is not None and found.path == tmp_path / "t.db"
    assert checkpoints.for_database("sqlite+aiosqlite:///:memory:") is None
    assert checkpoints.for_database("sqlite+aiosqlite://") is None
    assert checkpoints.for_database("postgresql+psycopg://u@localhost/db") is None


def test_a_checkpointer_dropped_without_closing_ends_its_thread(tmp_path: Path) -> None:
    sqlite3.connect(tmp_path / "t.db").execute("PRAGMA journal_mode=WAL").close()
    checkpointer = WalCheckpointer(tmp_path / "t.db", interval=0.01)
    checkpointer.start()
    thread = checkpointer._thread
    del checkpointer
    gc.collect()
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_a_failed_checkpoint_is_logged_and_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    checkpointer = WalCheckpointer(tmp_path / "t.db")
    connection = sqlite3.connect(tmp_path / "t.db")
    connection.close()
    with caplog.at_level(logging.WARNING, logger="tabellion.kit.checkpoints"):
        assert checkpointer.checkpoint(connection) is False
    assert "checkpoint of" in caplog.text and "failed" in caplog.text


async def test_a_database_made_after_the_checkpointer_starts_is_checkpointed(
    tmp_path: Path,
) -> None:
    path = tmp_path / "later.db"
    checkpointer = WalCheckpointer(path, interval=0.01)
    checkpointer.start()
    try:
        await asyncio.to_thread(time.sleep, 0.1)
        assert not path.exists()  # its turns made no file
        engine = create_engine(f"sqlite+aiosqlite:///{path}", pool_size=1)
        checkpointer.attach(engine)
        try:
            await _write(engine)
            await asyncio.to_thread(_wait_until, lambda: path.stat().st_size > WRITTEN)
        finally:
            await engine.dispose()
    finally:
        checkpointer.close()
