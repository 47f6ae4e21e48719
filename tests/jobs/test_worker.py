"""The worker: claims, outcomes, retries, leases, heartbeats, shutdown, wake-ups."""

from __future__ import annotations

import asyncio
import gc
import random
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import structlog
from sqlalchemy import select, update

from tabellion.config import Settings
from tabellion.db import transaction
from tabellion.jobs.maintenance import PERIODIC
from tabellion.jobs.queue import enqueue, enqueue_many
from tabellion.jobs.registry import RetryLater, TaskContext, registered_kinds, task
from tabellion.jobs.worker import (
    BACKOFF_CAP_SECONDS,
    MAX_ERROR_CHARS,
    Worker,
    backoff_delay,
    describe_error,
    freeze_startup_heap,
)
from tabellion.kit import logs
from tabellion.kit.time import utcnow
from tabellion.models.job import Job
from tabellion.notification.compose import _templates
from tabellion.portal import i18n
from tabellion.runtime import Runtime
from tests.fixtures.query_plans import statements_run, tables_scanned

# ---- test tasks: module-level handlers reporting to the current test's probe ----------------


class Probe:
    """What the test tasks saw; a fresh one per test."""

    current: Probe

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []  # (job id, attempt)
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.recorded = asyncio.Event()
        self.lease_extended = False
        self.contexts: list[tuple[str | None, dict[str, Any]]] = []  # (request id, log fields)


@pytest.fixture(autouse=True)
def probe() -> Probe:
    Probe.current = Probe()
    return Probe.current


@task("test.context", max_attempts=1)
async def context(ctx: TaskContext, payload: dict[str, Any]) -> None:
    Probe.current.contexts.append(
        (logs.current_request_id(), structlog.contextvars.get_contextvars())
    )


@task("test.record", max_attempts=3)
async def record(ctx: TaskContext, payload: dict[str, Any]) -> None:
    if payload.get("pause"):
        await asyncio.sleep(payload["pause"])
    Probe.current.calls.append((ctx.job_id, ctx.attempt))
    Probe.current.recorded.set()


@task("test.fail", max_attempts=3)
async def fail(ctx: TaskContext, payload: dict[str, Any]) -> None:
    Probe.current.calls.append((ctx.job_id, ctx.attempt))
    raise ValueError("boom while talking to smtp://mailer:hunter2@smtp.test:587")


@task("test.retry_later", max_attempts=5)
async def retry_later(ctx: TaskContext, payload: dict[str, Any]) -> None:
    raise RetryLater("receiver busy", delay=payload["delay"])


@task("test.slow", max_attempts=3, timeout_seconds=0.05)
async def slow(ctx: TaskContext, payload: dict[str, Any]) -> None:
    await asyncio.sleep(5)


@task("test.block", max_attempts=3)
async def block(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """First attempt waits for the test's go, then fails; later attempts succeed at once."""
    if ctx.attempt == 1:
        Probe.current.started.set()
        await Probe.current.release.wait()
        if payload.get("fail_after_release"):
            raise ValueError("finished too late")
    Probe.current.calls.append((ctx.job_id, ctx.attempt))


@task("test.heartbeat", max_attempts=1)
async def watch_lease(ctx: TaskContext, payload: dict[str, Any]) -> None:
    first = await locked_until(ctx.runtime, ctx.job_id)
    for _ in range(50):
        await asyncio.sleep(0.02)
        if await locked_until(ctx.runtime, ctx.job_id) > first:
            Probe.current.lease_extended = True
            return


# ---- helpers ----------------------------------------------------------------------------------


async def add_job(
    runtime: Runtime,
    kind: str,
    payload: dict[str, Any] | None = None,
    **options: Any,
) -> int:
    async with transaction(runtime.sessions) as session:
        job = enqueue(session, kind, payload or {}, **options)
        await session.flush()
        return job.id


async def load(runtime: Runtime, job_id: int) -> Job:
    async with runtime.sessions() as session:
        job = await session.get(Job, job_id)
        assert job is not None
        return job


async def locked_until(runtime: Runtime, job_id: int) -> datetime:
    value = (await load(runtime, job_id)).locked_until
    assert value is not None
    return value


async def make_due(runtime: Runtime, job_id: int) -> None:
    async with transaction(runtime.sessions) as session:
        await session.execute(
            update(Job).where(Job.id == job_id).values(run_at=utcnow() - timedelta(seconds=1))
        )


async def expire_lease(runtime: Runtime, job_id: int) -> None:
    async with transaction(runtime.sessions) as session:
        await session.execute(
            update(Job).where(Job.id == job_id).values(locked_until=utcnow() - timedelta(seconds=1))
        )


def fast_worker(runtime: Runtime, **options: Any) -> Worker:
    options.setdefault("poll_interval", 0.05)
    return Worker(runtime, **options)


# ---- outcomes ---------------------------------------------------------------------------------


async def test_successful_job_is_done(runtime: Runtime, probe: Probe) -> None:
    job_id = await add_job(runtime, "test.record")

    assert await fast_worker(runtime).run_until_idle() == 1

    job = await load(runtime, job_id)
    assert job.status == "done"
    assert job.attempts == 1
    assert job.finished_at is not None
    assert job.locked_by is None
    assert job.locked_until is None
    assert job.last_error is None
    assert probe.calls == [(job_id, 1)]


async def test_a_jobs_log_fields_are_its_own(runtime: Runtime, probe: Probe) -> None:
    with logs.bound(request_id="req-a"):
        first = await add_job(runtime, "test.context")
    second = await add_job(runtime, "test.context")

    # One slot: the second job starts as the first one ends.
    assert await fast_worker(runtime, concurrency=1, prefetch=1).run_until_idle() == 2

    kind = "test.context"
    assert probe.contexts == [
        ("req-a", {"job_id": first, "job_kind": kind}),
        (None, {"job_id": second, "job_kind": kind}),
    ]
    assert logs.current_request_id() is None
    assert structlog.contextvars.get_contextvars() == {}


async def test_many_jobs_each_run_once(runtime: Runtime, probe: Probe) -> None:
    async with transaction(runtime.sessions) as session:
        await enqueue_many(session, "test.record", [{"n": n} for n in range(30)])

    assert await fast_worker(runtime, concurrency=4).run_until_idle() == 30

    async with runtime.sessions() as session:
        statuses = Counter((await session.scalars(select(Job.status))).all())
    assert statuses == {"done": 30}
    assert len(probe.calls) == 30
    assert len({job_id for job_id, _ in probe.calls}) == 30


async def test_claims_and_outcomes_find_their_jobs_through_an_index(runtime: Runtime) -> None:
    """No statement of the worker's reads the whole job table, which keeps finished jobs
    until they are purged. The settle's row value ``(id, attempts) IN (...)`` is no index
    lookup for SQLite (the transparency log's nodes were read so, the whole table each time),
    but its ``status = 'running'`` is: a guard, so that it stays so."""
    if runtime.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's query plans")
    async with transaction(runtime.sessions) as session:
        await enqueue_many(session, "test.record", [{"n": n} for n in range(30)])
        await enqueue_many(session, "test.fail", [{"n": n} for n in range(3)])
    with statements_run(runtime.engine) as statements:
        assert await fast_worker(runtime, concurrency=4).run_until_idle() == 33
    # The settle of done jobs, with its row value, is among the statements read.
    assert any("(jobs.id, jobs.attempts) IN" in sql for sql, _ in statements), statements
    url = runtime.settings.resolved_database_url
    for sql, args in statements:
        assert "jobs" not in tables_scanned(url, sql, args), sql


async def test_failure_is_retried_with_backoff_then_dead(runtime: Runtime, probe: Probe) -> None:
    job_id = await add_job(runtime, "test.fail")
    worker = fast_worker(runtime)

    before = utcnow()
    assert await worker.run_until_idle() == 1
    job = await load(runtime, job_id)
    assert job.status == "queued"
    assert job.attempts == 1
    assert job.locked_by is None
    assert job.finished_at is None
    # First retry after 5 s ± 20 %.
    assert before + timedelta(seconds=4) <= job.run_at <= utcnow() + timedelta(seconds=6)
    assert job.last_error is not None
    assert job.last_error.startswith("ValueError: boom while talking to smtp://***@smtp.test")
    assert "hunter2" not in job.last_error

    # Not due yet: a second pass leaves it alone.
    assert await worker.run_until_idle() == 0

    await make_due(runtime, job_id)
    before = utcnow()
    assert await worker.run_until_idle() == 1
    job = await load(runtime, job_id)
    assert (job.status, job.attempts) == ("queued", 2)
    assert before + timedelta(seconds=8) <= job.run_at <= utcnow() + timedelta(seconds=12)

    await make_due(runtime, job_id)
    assert await worker.run_until_idle() == 1
    job = await load(runtime, job_id)
    assert (job.status, job.attempts) == ("dead", 3)
    assert job.finished_at is not None
    assert job.last_error is not None
    assert job.last_error.startswith("ValueError: boom")
    assert probe.calls == [(job_id, 1), (job_id, 2), (job_id, 3)]


async def test_unknown_kind_is_dead_at_once(runtime: Runtime) -> None:
    job_id = await add_job(runtime, "test.nobody_handles_this", max_attempts=5)

    assert await fast_worker(runtime).run_until_idle() == 1

    job = await load(runtime, job_id)
    assert (job.status, job.attempts) == ("dead", 1)
    assert job.last_error == "no task registered for kind 'test.nobody_handles_this'"


async def test_retry_later_delay_is_honoured(runtime: Runtime) -> None:
    job_id = await add_job(runtime, "test.retry_later", {"delay": 120})

    before = utcnow()
    assert await fast_worker(runtime).run_until_idle() == 1
    after = utcnow()

    job = await load(runtime, job_id)
    assert (job.status, job.attempts) == ("queued", 1)
    assert before + timedelta(seconds=120) <= job.run_at <= after + timedelta(seconds=120)
    assert job.last_error == "RetryLater: receiver busy"


async def test_retry_later_on_the_last_attempt_is_dead(runtime: Runtime) -> None:
    job_id = await add_job(runtime, "test.retry_later", {"delay": 1}, max_attempts=1)

    assert await fast_worker(runtime).run_until_idle() == 1

    job = await load(runtime, job_id)
    assert (job.status, job.attempts, job.last_error) == ("dead", 1, "RetryLater: receiver busy")


async def test_handler_past_its_timeout_is_a_failure(runtime: Runtime) -> None:
    job_id = await add_job(runtime, "test.slow")

    assert await fast_worker(runtime).run_until_idle() == 1

    job = await load(runtime, job_id)
    assert (job.status, job.attempts) == ("queued", 1)
    assert job.last_error == "TimeoutError: no result after 0.05 s"


async def test_future_job_is_not_run_early(runtime: Runtime, probe: Probe) -> None:
    job_id = await add_job(runtime, "test.record", run_at=utcnow() + timedelta(hours=1))

    assert await fast_worker(runtime).run_until_idle() == 0

    job = await load(runtime, job_id)
    assert (job.status, job.attempts, job.locked_by) == ("queued", 0, None)
    assert probe.calls == []


def test_backoff_doubles_from_five_seconds_with_jitter_and_a_cap() -> None:
    rng = random.Random(7)
    for attempt, base in ((1, 5), (2, 10), (3, 20), (8, 640)):
        delays = [backoff_delay(attempt, rng=rng) for _ in range(200)]
        assert min(delays) >= base * 0.8
        assert max(delays) <= base * 1.2
        assert max(delays) - min(delays) > base * 0.2  # jitter spreads retries
    late = [backoff_delay(40, rng=rng) for _ in range(200)]
    assert all(BACKOFF_CAP_SECONDS * 0.8 <= d <= BACKOFF_CAP_SECONDS for d in late)


def test_error_text_is_short_and_masks_credentials() -> None:
    assert describe_error(RuntimeError()) == "RuntimeError"
    text = describe_error(OSError("postgresql://app:s3cret@db/prod refused " + "x" * 5000))
    assert text.startswith("OSError: postgresql://***@db/prod refused x")
    assert "s3cret" not in text
    assert len(text) == MAX_ERROR_CHARS


# ---- leases -------------------------------------------------------------------------------------


async def test_job_of_a_dead_worker_is_claimed_again(runtime: Runtime, probe: Probe) -> None:
    job_id = await add_job(runtime, "test.record")
    departed = Worker(runtime)
    assert [job.id for job in await departed.claim(5)] == [job_id]
    survivor = fast_worker(runtime)

    # Its lease still runs: nobody else takes the job.
    assert await survivor.run_until_idle() == 0
    assert (await load(runtime, job_id)).locked_by == departed.name

    await expire_lease(runtime, job_id)
    assert await survivor.run_until_idle() == 1

    job = await load(runtime, job_id)
    assert (job.status, job.attempts) == ("done", 2)
    assert probe.calls == [(job_id, 2)]


async def test_worker_that_lost_its_lease_does_not_overwrite(
    runtime: Runtime, probe: Probe
) -> None:
    job_id = await add_job(runtime, "test.block", {"fail_after_release": True})
    slowpoke = fast_worker(runtime)
    first = asyncio.create_task(slowpoke.run_until_idle(timeout=10))
    await asyncio.wait_for(probe.started.wait(), 5)

    await expire_lease(runtime, job_id)
    assert await fast_worker(runtime).run_until_idle() == 1
    assert (await load(runtime, job_id)).status == "done"

    # The first run now fails; its outcome must not touch the row the second run settled.
    probe.release.set()
    assert await first == 1

    job = await load(runtime, job_id)
    assert (job.status, job.attempts, job.last_error) == ("done", 2, None)
    assert probe.calls == [(job_id, 2)]


async def test_heartbeat_extends_the_lease(runtime: Runtime, probe: Probe) -> None:
    job_id = await add_job(runtime, "test.heartbeat")

    assert await fast_worker(runtime, lease_seconds=0.3).run_until_idle() == 1

    assert probe.lease_extended
    assert (await load(runtime, job_id)).status == "done"


# ---- shutdown and wake-ups ----------------------------------------------------------------------


async def run_in_background(worker: Worker) -> tuple[asyncio.Event, asyncio.Task[None]]:
    stop = asyncio.Event()
    return stop, asyncio.create_task(worker.run(stop))


async def test_shutdown_puts_a_running_job_back(runtime: Runtime, probe: Probe) -> None:
    job_id = await add_job(runtime, "test.block")
    stop, running = await run_in_background(fast_worker(runtime, grace_seconds=0.05))
    await asyncio.wait_for(probe.started.wait(), 5)

    stop.set()
    await asyncio.wait_for(running, 5)

    job = await load(runtime, job_id)
    assert (job.status, job.attempts, job.locked_by, job.locked_until) == ("queued", 0, None, None)
    assert job.run_at <= utcnow()
    assert probe.calls == []


async def test_shutdown_puts_jobs_claimed_ahead_back(runtime: Runtime, probe: Probe) -> None:
    running_id = await add_job(runtime, "test.block")
    waiting_id = await add_job(runtime, "test.block")
    worker = fast_worker(runtime, concurrency=1, prefetch=1, grace_seconds=0.05)
    stop, running = await run_in_background(worker)
    await asyncio.wait_for(probe.started.wait(), 5)
    assert (await load(runtime, waiting_id)).locked_by == worker.name

    stop.set()
    await asyncio.wait_for(running, 5)

    for job_id in (running_id, waiting_id):
        job = await load(runtime, job_id)
        assert (job.status, job.attempts, job.locked_by) == ("queued", 0, None)


async def test_shutdown_lets_a_running_job_finish_within_the_grace_period(
    runtime: Runtime, probe: Probe
) -> None:
    job_id = await add_job(runtime, "test.block")
    stop, running = await run_in_background(fast_worker(runtime, grace_seconds=10))
    await asyncio.wait_for(probe.started.wait(), 5)

    stop.set()
    await asyncio.sleep(0.05)
    assert not running.done()
    probe.release.set()
    await asyncio.wait_for(running, 5)

    job = await load(runtime, job_id)
    assert (job.status, job.attempts) == ("done", 1)


async def test_run_until_idle_gives_up_after_its_timeout(runtime: Runtime) -> None:
    job_id = await add_job(runtime, "test.block")

    with pytest.raises(TimeoutError):
        await fast_worker(runtime).run_until_idle(timeout=0.2)

    job = await load(runtime, job_id)
    assert (job.status, job.attempts, job.locked_by) == ("queued", 0, None)


async def test_run_schedules_the_periodic_jobs(runtime: Runtime) -> None:
    stop, running = await run_in_background(fast_worker(runtime))
    stop.set()
    await asyncio.wait_for(running, 5)

    async with runtime.sessions() as session:
        jobs = (await session.scalars(select(Job))).all()
    assert sorted(job.kind for job in jobs) == sorted(PERIODIC)
    assert all(job.status == "queued" and job.run_at > utcnow() for job in jobs)


async def test_wakeup_starts_enqueued_work_at_once(runtime: Runtime, probe: Probe) -> None:
    # A poll interval far longer than the test: only the wake-up can start the job in time.
    stop, running = await run_in_background(fast_worker(runtime, poll_interval=60))
    await asyncio.sleep(0.05)

    await add_job(runtime, "test.record")
    runtime.jobs_wakeup.set()
    await asyncio.wait_for(probe.recorded.wait(), 5)

    stop.set()
    await asyncio.wait_for(running, 5)


async def test_sleep_ends_when_the_next_job_is_due(runtime: Runtime, probe: Probe) -> None:
    await add_job(runtime, "test.record", run_at=utcnow() + timedelta(seconds=0.2))
    stop, running = await run_in_background(fast_worker(runtime, poll_interval=60))

    await asyncio.wait_for(probe.recorded.wait(), 5)

    stop.set()
    await asyncio.wait_for(running, 5)


# ---- several workers ----------------------------------------------------------------------------


@pytest.fixture
async def second_runtime(settings: Settings) -> AsyncIterator[Runtime]:
    other = Runtime.build(settings, pool_size=5)
    try:
        yield other
    finally:
        await other.close()


async def run_two_workers(runtime: Runtime, other: Runtime, count: int) -> list[tuple[int, int]]:
    async with transaction(runtime.sessions) as session:
        await enqueue_many(session, "test.record", [{"pause": 0.001}] * count)
    workers = [fast_worker(runtime, concurrency=8), fast_worker(other, concurrency=8)]

    done = await asyncio.gather(*(worker.run_until_idle() for worker in workers))

    assert sum(done) == count
    return Probe.current.calls


async def test_two_workers_share_the_queue(
    runtime: Runtime, second_runtime: Runtime, probe: Probe
) -> None:
    calls = await run_two_workers(runtime, second_runtime, 40)

    assert len(calls) == 40
    assert set(Counter(job_id for job_id, _ in calls).values()) == {1}


@pytest.mark.postgres_only
async def test_two_workers_run_each_job_exactly_once_on_postgresql(
    runtime: Runtime, second_runtime: Runtime, probe: Probe
) -> None:
    calls = await run_two_workers(runtime, second_runtime, 200)

    assert len(calls) == 200
    assert set(Counter(job_id for job_id, _ in calls).values()) == {1}
    assert {attempt for _, attempt in calls} == {1}
    async with runtime.sessions() as session:
        statuses = Counter((await session.scalars(select(Job.status))).all())
    assert statuses == {"done": 200}


async def test_a_claim_takes_at_most_its_limit(runtime: Runtime) -> None:
    # On PostgreSQL a plain ``IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)`` could be run
    # once per row visited and lease the whole queue to one worker.
    async with transaction(runtime.sessions) as session:
        await enqueue_many(session, "test.record", [{"n": n} for n in range(300)])
    worker = fast_worker(runtime)
    for _ in range(3):
        assert len(await worker.claim(7)) == 7
    async with runtime.sessions() as session:
        statuses = Counter((await session.scalars(select(Job.status))).all())
    assert statuses == {"running": 21, "queued": 279}


def test_a_worker_process_freezes_its_startup_heap_with_every_task_imported() -> None:
    class Made:  # an object built after startup: collected as usual
        pass

    try:
        freeze_startup_heap()
        frozen = gc.get_freeze_count()
        made = Made()
        made.cycle = made  # type: ignore[attr-defined]
        assert frozen > 1000
        assert "notification.send_notice" in registered_kinds()
        # What tasks prepare ahead is made before the freeze: every language's notice templates.
        assert _templates.cache_info().currsize >= len(i18n.LANGUAGES)
        # ``made`` was not frozen: the permanent generation only shrinks after the freeze, as
        # frozen objects die (in a long test process some do, between two readings).
        assert gc.is_tracked(made) and gc.get_freeze_count() <= frozen
        del made
        assert gc.collect() >= 1  # the new cycle is still garbage the collector frees
    finally:
        gc.unfreeze()
