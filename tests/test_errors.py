"""A database that is down, read-only or locked: 503 ``unavailable`` with Retry-After, one
log line, never a bare 500 with a traceback."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from tabellion.app import create_app
from tabellion.config import Settings
from tabellion.runtime import Runtime
from tests.conftest import TEST_DATABASE_URL, make_settings
from tests.fixtures.factories import message_body


@asynccontextmanager
async def app_on(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    runtime = Runtime.build(settings, pool_size=2)
    try:
        transport = httpx.ASGITransport(app=create_app(runtime=runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://t.test") as client:
            yield client
    finally:
        await runtime.close()


def assert_unavailable(response: httpx.Response, retry_after: str) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == retry_after
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert (problem["code"], problem["type"]) == (
        "unavailable",
        "urn:tabellion:problem:unavailable",
    )
    assert problem["detail"] == "The service cannot reach its database right now; retry shortly."


def logged_once(caplog: pytest.LogCaptureFixture) -> str:
    lines = [r for r in caplog.records if r.name == "tabellion.errors"]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert lines[0].exc_info is None  # a line, not a traceback
    return lines[0].getMessage()


@pytest.mark.parametrize("where", ["postgresql", "sqlite"])
async def test_unreachable_database_is_503(
    data_dir: Path, auth: dict[str, str], caplog: pytest.LogCaptureFixture, where: str
) -> None:
    if where == "postgresql":
        url = "postgresql+psycopg://nobody@127.0.0.1:1/none"  # nothing listens on port 1
    else:
        url = f"sqlite+aiosqlite:///{data_dir}"  # a directory: cannot be opened
    async with app_on(make_settings(data_dir, url)) as client:
        with caplog.at_level(logging.WARNING):
            response = await client.get("/v1/messages", headers=auth)
    assert_unavailable(response, "30")
    assert logged_once(caplog).startswith("database unavailable on GET /v1/messages: ")


def with_options(url: str, options: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}options={options}"


@pytest.mark.postgres_only
async def test_read_only_database_is_503(
    data_dir: Path,
    database_url: str,
    auth: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    read_only = with_options(database_url, "-c%20default_transaction_read_only%3Don")
    async with app_on(make_settings(data_dir, read_only)) as client:
        with caplog.at_level(logging.WARNING):
            response = await client.post("/v1/messages", json=message_body(), headers=auth)
    assert_unavailable(response, "30")
    assert "ReadOnlySqlTransaction" in logged_once(caplog)


@pytest.mark.postgres_only
async def test_locked_table_past_the_lock_timeout_is_503(
    data_dir: Path,
    runtime: Runtime,
    auth: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert TEST_DATABASE_URL is not None
    impatient = with_options(TEST_DATABASE_URL, "-c%20lock_timeout%3D200")
    async with runtime.engine.connect() as holder, app_on(make_settings(data_dir, impatient)) as c:
        await holder.execute(text("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE"))
        with caplog.at_level(logging.WARNING):
            response = await c.post("/v1/messages", json=message_body(), headers=auth)
        await holder.rollback()
    assert_unavailable(response, "5")
    assert "LockNotAvailable" in logged_once(caplog)


async def test_openapi_documents_the_503(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    answer = spec["paths"]["/v1/messages"]["post"]["responses"]["503"]
    assert "`unavailable`" in answer["description"]
