"""Job priorities: a code e-mail is claimed ahead of a backlog of PDF renders."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from tabellion.db import transaction
from tabellion.evidence.sealing.seal import RENDER_TASK
from tabellion.jobs.queue import enqueue, enqueue_many
from tabellion.jobs.registry import PRIORITY_BULK, PRIORITY_INTERACTIVE, TaskContext, get_task, task
from tabellion.jobs.worker import Worker
from tabellion.kit.time import utcnow
from tabellion.portal.service import CODE_TASK
from tabellion.runtime import Runtime

BACKLOG = 1_000
ran: list[str] = []
STARTED_AFTER = 20
started = asyncio.Event()  # set once STARTED_AFTER bulk jobs ran


@task("test.bulk", priority=PRIORITY_BULK)
async def bulk(ctx: TaskContext, payload: dict[str, Any]) -> None:
    await asyncio.sleep(payload.get("pause", 0))
    ran.append("bulk")
    if len(ran) >= STARTED_AFTER:
        started.set()


@task("test.urgent", priority=PRIORITY_INTERACTIVE)
async def urgent(ctx: TaskContext, payload: dict[str, Any]) -> None:
    ran.append("urgent")


def test_kinds_carry_their_priority() -> None:
    for kind in (CODE_TASK, "accounts.send_activation"):
        assert get_task(kind).priority == PRIORITY_INTERACTIVE  # type: ignore[union-attr]
    assert get_task(RENDER_TASK).priority == PRIORITY_BULK  # type: ignore[union-attr]


async def test_code_email_is_claimed_before_a_thousand_renders(runtime: Runtime) -> None:
    earlier = utcnow() - timedelta(minutes=5)
    async with transaction(runtime.sessions) as session:
        # Queued first and due earlier: without priorities they would all go first.
        await enqueue_many(
            session,
            RENDER_TASK,
            [{"evidence_id": f"evd_{n}"} for n in range(BACKLOG)],
            run_at=earlier,
        )
        code_job = enqueue(session, CODE_TASK, {"code_id": "otp_x", "email": "a@b.test"})
        await session.flush()
        code_id = code_job.id
    worker = Worker(runtime)
    async with runtime.engine.begin() as conn:
        claimed = await worker._claim(conn, 1, utcnow())
    assert [(job.id, job.kind) for job in claimed] == [(code_id, CODE_TASK)]


async def test_worker_runs_the_urgent_job_ahead_of_the_backlog(runtime: Runtime) -> None:
    ran.clear()
    async with transaction(runtime.sessions) as session:
        await enqueue_many(session, "test.bulk", [{} for _ in range(BACKLOG)])
        enqueue(session, "test.urgent", {})
    worker = Worker(runtime, concurrency=2, poll_interval=0.05)
    assert await worker.run_until_idle() == BACKLOG + 1
    assert ran.index("urgent") == 0


async def test_urgent_job_queued_mid_backlog_overtakes_the_jobs_claimed_ahead(
    runtime: Runtime,
) -> None:
    """The worker holds jobs claimed ahead; one more urgent, claimed later, goes first."""
    ran.clear()
    started.clear()
    async with transaction(runtime.sessions) as session:
        await enqueue_many(session, "test.bulk", [{"pause": 0.005} for _ in range(300)])
    worker = Worker(runtime, concurrency=2, prefetch=60, poll_interval=0.05)
    running = asyncio.create_task(worker.run_until_idle())
    await started.wait()
    async with transaction(runtime.sessions) as session:
        enqueue(session, "test.urgent", {})
    queued_after = len(ran)
    runtime.jobs_wakeup.set()
    assert await running == 301
    after = ran.index("urgent") - queued_after
    # Behind at most what was running, and what the claim that brought it had to wait for.
    assert after <= 2 + 30, after
