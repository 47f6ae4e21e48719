"""Sealing is requested in the transaction that writes evidence, and coalesced with a delay."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete, select, update

from tabellion.app import create_app
from tabellion.db import transaction
from tabellion.evidence.sealing.seal import SEAL_TASK, STEP_ASIDE, YIELD_AT_MOST
from tabellion.evidence.tasks import seal
from tabellion.jobs.registry import TaskContext
from tabellion.kit.time import utcnow
from tabellion.message.service.message import NOTICE_TASK
from tabellion.models.evidence import Evidence
from tabellion.models.job import Job
from tabellion.runtime import Runtime
from tests.conftest import make_settings
from tests.fixtures.factories import create_org_with_key
from tests.fixtures.query_plans import (
    assert_reads_through,
    queue_jobs_for_later,
    statements_run,
)
from tests.portal.helpers import dispatch


@pytest.fixture
async def delayed(data_dir: Path, database_url: str) -> AsyncIterator[Runtime]:
    rt = Runtime.build(make_settings(data_dir, database_url, seal_delay_seconds=30), pool_size=5)
    try:
        yield rt
    finally:
        await rt.close()


@pytest.fixture
async def delayed_client(delayed: Runtime) -> AsyncIterator[tuple[httpx.AsyncClient, dict]]:
    _, secret = await create_org_with_key(delayed)
    transport = httpx.ASGITransport(app=create_app(runtime=delayed))
    async with httpx.AsyncClient(transport=transport, base_url="http://tabellion.test") as c:
        yield c, {"Authorization": f"Bearer {secret}"}


async def seal_jobs(runtime: Runtime) -> list[Job]:
    async with runtime.sessions() as session:
        return list(await session.scalars(select(Job).where(Job.kind == SEAL_TASK)))


async def test_one_delayed_job_serves_every_transaction_until_it_runs(
    delayed: Runtime, delayed_client: tuple[httpx.AsyncClient, dict]
) -> None:
    client, auth = delayed_client
    before = utcnow()
    for _ in range(3):
        await dispatch(client, auth)
    jobs = await seal_jobs(delayed)
    assert len(jobs) == 1
    assert jobs[0].status == "queued"
    assert jobs[0].run_at >= before + timedelta(seconds=29)
    async with delayed.sessions() as session:
        assert len((await session.scalars(select(Evidence))).all()) == 3

    # Once a worker took it, the next transaction queues a job of its own.
    async with transaction(delayed.sessions) as session:
        await session.execute(update(Job).where(Job.kind == SEAL_TASK).values(status="running"))
    await dispatch(client, auth)
    assert sorted(job.status for job in await seal_jobs(delayed)) == ["queued", "running"]


async def test_the_queued_sealing_job_is_looked_up_through_its_own_index(
    delayed: Runtime, delayed_client: tuple[httpx.AsyncClient, dict]
) -> None:
    """Each transaction recording evidence looks for the queued sealing job. Other jobs stay
    queued for weeks (each notified delivery's deadline and reminders): the look-up reads
    the one row of a partial index, not every queued job, and so costs the same with
    millions of them. The statement names its values as constants: PostgreSQL's generic plan
    of a prepared statement (psycopg prepares one run five times) cannot use a partial index
    for bound values."""
    client, auth = delayed_client
    await queue_jobs_for_later(delayed.engine, 300)
    for expected in ("queued a job", "reused it"):
        with statements_run(delayed.engine) as statements:
            await dispatch(client, auth)
        [(sql, args)] = [(sql, a) for sql, a in statements if "'evidence.seal'" in sql]
        assert "status = 'queued'" in sql, (expected, sql)
        await assert_reads_through(delayed.engine, sql, args, "ix_jobs_queued_seal")
    assert [job.status for job in await seal_jobs(delayed)] == ["queued"]


async def test_a_rolled_back_transaction_requests_nothing(
    delayed: Runtime, delayed_client: tuple[httpx.AsyncClient, dict]
) -> None:
    client, auth = delayed_client
    body = {
        "subject": "s",
        "body_text": "b",
        "recipients": [{"email": "not an address", "first_name": "A", "last_name": "B"}],
    }
    response = await client.post("/v1/messages?dispatch=true", json=body, headers=auth)
    assert response.status_code == 422
    assert await seal_jobs(delayed) == []


async def test_without_delay_each_transaction_queues_a_due_job(
    runtime: Runtime, client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    at = utcnow()
    await dispatch(client, auth)
    await dispatch(client, auth)
    jobs = await seal_jobs(runtime)
    assert len(jobs) == 2
    assert all(job.run_at <= at + timedelta(seconds=5) for job in jobs)


async def unsealed(runtime: Runtime) -> int:
    async with runtime.sessions() as session:
        rows = await session.scalars(select(Evidence).where(Evidence.sealed_at.is_(None)))
        return len(rows.all())


async def run_seal_task(runtime: Runtime) -> None:
    await seal(TaskContext(runtime=runtime, job_id=0, attempt=1, max_attempts=20), {})


async def test_sealing_steps_aside_while_notices_are_due_but_not_for_long(
    delayed: Runtime, delayed_client: tuple[httpx.AsyncClient, dict]
) -> None:
    client, auth = delayed_client
    await dispatch(client, auth)  # a SENT proof to seal, and its notice due now
    async with transaction(delayed.sessions) as session:
        await session.execute(delete(Job).where(Job.kind == SEAL_TASK))

    started = utcnow()
    await run_seal_task(delayed)
    assert await unsealed(delayed) == 1  # the notice goes first
    [later] = await seal_jobs(delayed)  # ... and sealing comes back soon
    assert later.status == "queued"
    assert started + STEP_ASIDE <= later.run_at <= utcnow() + STEP_ASIDE
    await run_seal_task(delayed)
    assert len(await seal_jobs(delayed)) == 1  # one queued job is enough

    # Evidence waiting longer than YIELD_AT_MOST is sealed even while notices are due.
    async with transaction(delayed.sessions) as session:
        await session.execute(
            update(Evidence).values(occurred_at=utcnow() - YIELD_AT_MOST - timedelta(seconds=1))
        )
    await run_seal_task(delayed)
    assert await unsealed(delayed) == 0


async def test_sealing_runs_once_no_notice_is_due(
    delayed: Runtime, delayed_client: tuple[httpx.AsyncClient, dict]
) -> None:
    client, auth = delayed_client
    await dispatch(client, auth)
    async with transaction(delayed.sessions) as session:
        # The notice failed once and waits for its retry: not due.
        await session.execute(
            update(Job)
            .where(Job.kind == NOTICE_TASK)
            .values(run_at=utcnow() + timedelta(minutes=5))
        )
    await run_seal_task(delayed)
    assert await unsealed(delayed) == 0


async def test_without_delay_sealing_never_steps_aside(
    runtime: Runtime, client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    await dispatch(client, auth)  # its notice is due
    await run_seal_task(runtime)
    assert await unsealed(runtime) == 0
