"""Housekeeping: purging finished jobs, retrying dead ones, the periodic chain."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import insert, select

from tabellion.config import Settings
from tabellion.db import transaction
from tabellion.jobs.maintenance import (
    PERIODIC,
    PURGE_FINISHED,
    PURGE_IDEMPOTENCY,
    ensure_periodic,
    purge_jobs,
    retry_jobs,
    schedule_next,
)
from tabellion.jobs.worker import Worker
from tabellion.kit.time import utcnow
from tabellion.models.idempotency import IdempotencyRecord
from tabellion.models.job import PERIODIC_KINDS, Job
from tabellion.runtime import Runtime
from tests.fixtures.query_plans import (
    assert_reads_through,
    queue_jobs_for_later,
    statements_run,
)


async def add_finished(runtime: Runtime, status: str, age: timedelta, kind: str = "x") -> int:
    finished = utcnow() - age
    async with transaction(runtime.sessions) as session:
        job = Job(
            kind=kind,
            payload={},
            status=status,
            attempts=1,
            max_attempts=1,
            run_at=finished,
            finished_at=finished,
            last_error="Boom: it broke" if status == "dead" else None,
        )
        session.add(job)
        await session.flush()
        return job.id


async def jobs_by_id(runtime: Runtime) -> dict[int, Job]:
    async with runtime.sessions() as session:
        return {job.id: job for job in await session.scalars(select(Job))}


async def test_purge_job_deletes_old_done_and_dead_jobs_and_schedules_itself(
    runtime: Runtime,
) -> None:
    old_done = await add_finished(runtime, "done", timedelta(days=8))
    recent_done = await add_finished(runtime, "done", timedelta(days=6))
    old_dead = await add_finished(runtime, "dead", timedelta(days=31))
    recent_dead = await add_finished(runtime, "dead", timedelta(days=10))
    await ensure_periodic(runtime)
    async with transaction(runtime.sessions) as session:
        purge = (await session.scalars(select(Job).where(Job.kind == PURGE_FINISHED))).one()
        purge.run_at = utcnow()

    assert await Worker(runtime, poll_interval=0.05).run_until_idle() == 1

    jobs = await jobs_by_id(runtime)
    assert old_done not in jobs
    assert old_dead not in jobs
    assert {recent_done, recent_dead} <= set(jobs)
    assert jobs[purge.id].status == "done"
    [following] = [j for j in jobs.values() if j.kind == PURGE_FINISHED and j.status == "queued"]
    assert following.run_at > utcnow() + PERIODIC[PURGE_FINISHED] - timedelta(minutes=1)


async def test_idempotency_purge_job_deletes_expired_records(runtime: Runtime) -> None:
    async with transaction(runtime.sessions) as session:
        await session.execute(
            insert(IdempotencyRecord),
            [
                {
                    "organization_id": "org_test",
                    "key": key,
                    "fingerprint": "0" * 64,
                    "status_code": 201,
                    "content_type": "application/json",
                    "body": b"{}",
                    "created_at": utcnow() - age,
                }
                for key, age in (("old", timedelta(hours=25)), ("new", timedelta(hours=1)))
            ],
        )
    await ensure_periodic(runtime)
    async with transaction(runtime.sessions) as session:
        purge = (await session.scalars(select(Job).where(Job.kind == PURGE_IDEMPOTENCY))).one()
        purge.run_at = utcnow()

    assert await Worker(runtime, poll_interval=0.05).run_until_idle() == 1

    async with runtime.sessions() as session:
        keys = (await session.scalars(select(IdempotencyRecord.key))).all()
        kinds = (await session.scalars(select(Job.kind).where(Job.status == "queued"))).all()
    assert keys == ["new"]
    assert sorted(kinds) == sorted(PERIODIC)


async def test_purge_refuses_unfinished_states(runtime: Runtime) -> None:
    async with runtime.sessions() as session:
        with pytest.raises(ValueError, match="queued"):
            await purge_jobs(session, status="queued", older_than=timedelta(0))


async def test_schedule_next_adds_nothing_when_a_run_is_pending(runtime: Runtime) -> None:
    async with transaction(runtime.sessions) as session:
        assert await schedule_next(session, PURGE_FINISHED) is True
    async with transaction(runtime.sessions) as session:
        # A re-run of a job whose successor already exists must not fork the chain.
        assert await schedule_next(session, PURGE_FINISHED, current=10_000) is False

    kinds = [job.kind for job in (await jobs_by_id(runtime)).values()]
    assert kinds == [PURGE_FINISHED]


def test_the_pending_periodic_jobs_index_names_every_periodic_kind() -> None:
    """The partial index that finds them lists the kinds: a new periodic kind needs it made
    again (a migration), or its look-ups read every pending job."""
    assert sorted(PERIODIC) == sorted(PERIODIC_KINDS)


async def test_periodic_jobs_are_looked_up_without_reading_other_pending_jobs(
    runtime: Runtime,
) -> None:
    """Each periodic run looks for a pending successor (``transparency.publish``: every
    minute), each worker start for every periodic kind. Deadline and reminder jobs stay
    queued for weeks, by the million on a busy install: both look-ups read a partial index
    of the periodic rows only."""
    await queue_jobs_for_later(runtime.engine, 300)
    with statements_run(runtime.engine) as statements:
        assert sorted(await ensure_periodic(runtime)) == sorted(PERIODIC)
        async with transaction(runtime.sessions) as session:
            assert await schedule_next(session, PURGE_FINISHED, current=10_000) is False
    looked_up = [(sql, a) for sql, a in statements if "status IN ('queued', 'running')" in sql]
    assert len(looked_up) == 2, statements
    for sql, args in looked_up:
        await assert_reads_through(runtime.engine, sql, args, "ix_jobs_pending_periodic")


@pytest.fixture
async def second_runtime(settings: Settings) -> AsyncIterator[Runtime]:
    other = Runtime.build(settings, pool_size=2)
    try:
        yield other
    finally:
        await other.close()


async def test_ensure_periodic_is_idempotent_across_workers(
    runtime: Runtime, second_runtime: Runtime
) -> None:
    results = await asyncio.gather(
        ensure_periodic(runtime), ensure_periodic(second_runtime), ensure_periodic(runtime)
    )

    assert sorted(kind for added in results for kind in added) == sorted(PERIODIC)
    assert await ensure_periodic(runtime) == []
    kinds = [job.kind for job in (await jobs_by_id(runtime)).values()]
    assert sorted(kinds) == sorted(PERIODIC)


async def test_retry_jobs_requeues_dead_ones_with_fresh_attempts(runtime: Runtime) -> None:
    dead = await add_finished(runtime, "dead", timedelta(days=1))
    other_dead = await add_finished(runtime, "dead", timedelta(days=1))
    done = await add_finished(runtime, "done", timedelta(days=1))

    async with transaction(runtime.sessions) as session:
        assert await retry_jobs(session, ids=[dead, done]) == 1

    jobs = await jobs_by_id(runtime)
    assert (jobs[dead].status, jobs[dead].attempts, jobs[dead].finished_at) == ("queued", 0, None)
    assert jobs[dead].run_at <= utcnow()
    assert jobs[dead].last_error == "Boom: it broke"
    assert jobs[other_dead].status == "dead"
    assert jobs[done].status == "done"

    async with transaction(runtime.sessions) as session:
        assert await retry_jobs(session, all_dead=True) == 1
    assert (await jobs_by_id(runtime))[other_dead].status == "queued"
