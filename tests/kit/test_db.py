"""Database sessions: timestamps are UTC whatever the database does."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from tabellion.db import create_engine
from tabellion.kit.time import as_utc, isoformat_z
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


async def test_timestamps_read_back_in_utc(runtime: Runtime) -> None:
    async with runtime.engine.connect() as conn:
        stamp = await conn.scalar(text("SELECT CURRENT_TIMESTAMP"))
    if isinstance(stamp, datetime) and stamp.tzinfo is not None:
        assert stamp.tzinfo is UTC  # PostgreSQL: sessions run in UTC, no conversion per value


@pytest.mark.postgres_only
async def test_postgres_sessions_keep_given_options_and_run_in_utc() -> None:
    assert TEST_DATABASE_URL is not None
    sep = "&" if "?" in TEST_DATABASE_URL else "?"
    engine = create_engine(f"{TEST_DATABASE_URL}{sep}options=-c%20statement_timeout%3D4321")
    try:
        async with engine.connect() as conn:
            assert await conn.scalar(text("SHOW TimeZone")) == "UTC"
            assert await conn.scalar(text("SHOW statement_timeout")) == "4321ms"
    finally:
        await engine.dispose()
