"""Enqueueing: jobs live in the caller's transaction."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tabellion.db import transaction
from tabellion.jobs.queue import ENQUEUED, enqueue, enqueue_many
from tabellion.jobs.registry import TaskContext, task
from tabellion.kit.time import utcnow
from tabellion.models.job import Job
from tabellion.runtime import Runtime


@task("test.queue.noop", max_attempts=4)
async def noop(ctx: TaskContext, payload: dict[str, Any]) -> None:
    return None


async def all_jobs(runtime: Runtime) -> list[Job]:
    async with runtime.sessions() as session:
        return list((await session.scalars(select(Job).order_by(Job.id))).all())


async def test_enqueue_writes_a_queued_job_with_the_task_defaults(runtime: Runtime) -> None:
    before = utcnow()
    async with transaction(runtime.sessions) as session:
        enqueue(session, "test.queue.noop", {"delivery_id": "dlv_1"})
        assert session.info[ENQUEUED] is True

    [job] = await all_jobs(runtime)
    assert job.kind == "test.queue.noop"
    assert job.payload == {"delivery_id": "dlv_1"}
    assert (job.status, job.attempts, job.max_attempts) == ("queued", 0, 4)
    assert before <= job.run_at <= utcnow()
    assert (job.locked_by, job.locked_until, job.last_error, job.finished_at) == (
        None,
        None,
        None,
        None,
    )


async def test_enqueue_takes_a_run_time_and_attempts(runtime: Runtime) -> None:
    later = utcnow() + timedelta(days=2)
    async with transaction(runtime.sessions) as session:
        enqueue(session, "test.queue.noop", {}, run_at=later, max_attempts=1)

    [job] = await all_jobs(runtime)
    assert (job.run_at, job.max_attempts) == (later, 1)


async def test_enqueue_refuses_an_unknown_kind(runtime: Runtime) -> None:
    async with runtime.sessions() as session:
        with pytest.raises(LookupError, match=r"test\.queue\.unknown"):
            enqueue(session, "test.queue.unknown", {})


async def test_a_rolled_back_transaction_leaves_no_job(runtime: Runtime) -> None:
    async def failing_change() -> None:
        async with transaction(runtime.sessions) as session:
            enqueue(session, "test.queue.noop", {"n": 1})
            await enqueue_many(session, "test.queue.noop", [{"n": 2}, {"n": 3}])
            await session.flush()
            raise RuntimeError("change failed")

    with pytest.raises(RuntimeError, match="change failed"):
        await failing_change()

    assert await all_jobs(runtime) == []


async def test_enqueue_many_inserts_one_job_per_payload(runtime: Runtime) -> None:
    async with transaction(runtime.sessions) as session:
        await enqueue_many(session, "test.queue.noop", [{"n": n} for n in range(5)])
        assert session.info[ENQUEUED] is True

    jobs = await all_jobs(runtime)
    assert [job.payload for job in jobs] == [{"n": n} for n in range(5)]
    assert {(job.status, job.attempts, job.max_attempts) for job in jobs} == {("queued", 0, 4)}


async def test_enqueue_many_with_nothing_does_nothing(runtime: Runtime) -> None:
    async with transaction(runtime.sessions) as session:
        await enqueue_many(session, "test.queue.noop", [])
        assert ENQUEUED not in session.info

    assert await all_jobs(runtime) == []
