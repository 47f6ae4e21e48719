"""A string longer than its column fails on SQLite in the tests, as it does on PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from sqlalchemy.exc import DataError, StatementError

from tabellion.db import transaction
from tabellion.kit.time import utcnow
from tabellion.models import Job
from tabellion.runtime import Runtime
from tests.fixtures.column_lengths import ValueTooLong


async def test_a_value_one_character_too_long_is_refused(runtime: Runtime) -> None:
    async with transaction(runtime.sessions) as session:
        session.add(Job(kind="test.lengths", status="q" * 16, run_at=utcnow()))
    with pytest.raises((StatementError, DataError)) as raised:
        async with transaction(runtime.sessions) as session:
            await session.execute(update(Job).values(status="q" * 17))
    if runtime.engine.dialect.name == "sqlite":
        assert isinstance(raised.value.orig, ValueTooLong)
