"""``tabellion status``: the one-screen summary and its ``--json`` form, against a real database
that a letter went through (API, worker, time-stamping authority)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import insert
from typer.testing import CliRunner

from tabellion.app import create_app
from tabellion.cli import status as cli_status
from tabellion.cli.main import app
from tabellion.config import Settings
from tabellion.db import transaction
from tabellion.jobs.worker import Worker
from tabellion.kit.time import utcnow
from tabellion.message.service.message import NOTICE_TASK
from tabellion.models.job import Job
from tabellion.runtime import Runtime
from tests.conftest import make_settings
from tests.fixtures.factories import bearer, create_org_with_key, message_body
from tests.fixtures.tsa import TimestampAuthority, settings_with, tsa  # noqa: F401

runner = CliRunner()
CONTENT = b"The contract, signed.\n" * 100


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_status.console, "width", 200)


async def send_a_letter(settings: Settings) -> None:
    """A registered letter with one attachment, sent and sealed; a dead job; a later one."""
    runtime = Runtime.build(settings, pool_size=2)
    try:
        _, secret = await create_org_with_key(runtime)
        auth = bearer(secret)
        transport = httpx.ASGITransport(app=create_app(runtime=runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://t.test") as client:
            draft = (await client.post("/v1/messages", json=message_body(), headers=auth)).json()
            attached = await client.post(
                f"/v1/messages/{draft['id']}/attachments?filename=contract.txt",
                content=CONTENT,
                headers={**auth, "Content-Type": "text/plain"},
            )
            assert attached.status_code == 201, attached.text
            sent = await client.post(f"/v1/messages/{draft['id']}/dispatch", headers=auth)
            assert sent.status_code == 202, sent.text
        await Worker(runtime, concurrency=4).run_until_idle()
        now = utcnow()
        rows: list[dict[str, Any]] = [
            {
                "kind": "webhook.deliver",
                "status": "dead",
                "attempts": 3,
                "max_attempts": 3,
                "last_error": "ConnectError: refused\nsecond line",
                "finished_at": now,
            },
            {"kind": NOTICE_TASK, "status": "queued", "attempts": 0, "max_attempts": 3},
        ]
        async with transaction(runtime.sessions) as session:
            for row in rows:
                times = {"run_at": now, "created_at": now, "updated_at": now}
                await session.execute(insert(Job).values(payload={}, **times, **row))
    finally:
        await runtime.close()


def env_of(settings: Settings) -> dict[str, str]:
    env = {
        "TABELLION_DATA_DIR": str(settings.data_dir),
        "TABELLION_DATABASE_URL": settings.resolved_database_url,
        "TABELLION_ENV": "development",
        "TABELLION_SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
    }
    if settings.tsa_url:
        env["TABELLION_TSA_URL"] = settings.tsa_url
    return env


def test_status_sums_up_queues_dead_jobs_timestamps_and_storage(
    data_dir: Path,
    database_url: str,
    tsa: TimestampAuthority,  # noqa: F811
) -> None:
    settings = settings_with(tsa, data_dir, database_url)
    asyncio.run(send_a_letter(settings))

    result = runner.invoke(app, ["status", "--json"], env=env_of(settings))
    assert result.exit_code == 0, result.output
    facts = json.loads(result.output)
    queues = {q["kind"]: q for q in facts["queues"]}
    assert queues[NOTICE_TASK]["queued"] == 1 and queues[NOTICE_TASK]["due"] == 1
    assert queues["webhook.deliver"]["dead"] == 1
    assert facts["dead_jobs"] == 1
    [dead] = facts["recent_dead"]
    assert (dead["kind"], dead["attempts"], dead["error"]) == (
        "webhook.deliver",
        3,
        "ConnectError: refused",
    )
    stamping = facts["timestamping"]
    assert stamping["configured"] is True and stamping["authorities"] == [tsa.url]
    assert stamping["last_success"] is not None and stamping["last_success"].endswith("Z")
    assert stamping["awaiting"] == 0
    storage = facts["storage"]
    assert (storage["attachments"], storage["attachment_bytes"]) == (1, len(CONTENT))
    assert storage["unsealed_proofs"] == 0
    disk = facts["disk"]
    assert disk["data_dir"] == str(data_dir.resolve())
    assert disk["data_dir_bytes"] >= len(CONTENT)
    assert 0 < disk["free_bytes"] <= disk["total_bytes"]

    screen = runner.invoke(app, ["status"], env=env_of(settings))
    assert screen.exit_code == 0, screen.output
    text = screen.output
    assert "Job queues" in text and NOTICE_TASK in text
    assert "Dead jobs (1; newest first)" in text and "ConnectError: refused" in text
    assert f"{tsa.url}; last token {stamping['last_success']}" in text
    assert "1 attachment blob(s), 2.1 KiB" in text
    assert "jobs list --status dead" in text


def test_status_says_when_no_authority_is_configured(data_dir: Path, database_url: str) -> None:
    settings = make_settings(data_dir, database_url)
    result = runner.invoke(app, ["status"], env=env_of(settings))
    assert result.exit_code == 0, result.output
    assert "not configured" in result.output
    assert "all queues empty" in result.output
    facts = json.loads(runner.invoke(app, ["status", "--json"], env=env_of(settings)).output)
    assert facts["timestamping"] == {
        "configured": False,
        "authorities": [],
        "last_success": None,
        "awaiting": 0,
    }
    assert facts["dead_jobs"] == 0 and facts["storage"]["attachments"] == 0


def test_status_hides_credentials_in_urls() -> None:
    assert cli_status._redacted("postgresql+psycopg://u:pw@db:5432/t") == (
        "postgresql+psycopg://***@db:5432/t"
    )
    assert cli_status._redacted("s3://bucket?region=x") == "s3://bucket?region=x"
