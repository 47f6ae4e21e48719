"""Job handlers of the evidence domain: sealing, PDF rendering, timestamps, tree heads."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from tabellion.db import transaction
from tabellion.evidence.proofs import TimestampAuthorityUnavailable, render_pdf
from tabellion.evidence.sealing import RENDER_TASK, SEAL_TASK, seal_pending
from tabellion.evidence.timestamping import TIMESTAMP_TASK, resume_later, stamp_proofs
from tabellion.evidence.transparency import PUBLISH_TASK, publish_tree_head
from tabellion.jobs.maintenance import schedule_next
from tabellion.jobs.queue import ENQUEUED, any_due, new_job
from tabellion.jobs.registry import RetryLater, TaskContext, task
from tabellion.kit.time import as_utc, utcnow
from tabellion.message.service.message import NOTICE_TASK
from tabellion.models.evidence import Evidence
from tabellion.models.job import Job
from tabellion.runtime import Runtime

# Notification e-mails go first: while notices are due, background sealing steps aside (a
# proof someone asks for is sealed at once anyway), but never longer than this after the
# oldest unsealed evidence, so proofs keep up under a steady stream of notices. With
# TABELLION_SEAL_DELAY_SECONDS=0 (seal after every change) it never steps aside.
NOTICES_FIRST_FOR = timedelta(seconds=30)
STEP_ASIDE = timedelta(seconds=2)


@task(SEAL_TASK, max_attempts=20, timeout_seconds=600)
async def seal(ctx: TaskContext, payload: dict[str, Any]) -> None:
    if await _step_aside_for_notices(ctx.runtime):
        return
    if await seal_pending(ctx.runtime):
        async with transaction(ctx.runtime.sessions) as session:
            await publish_tree_head(session, ctx.runtime.settings)


@task(RENDER_TASK, max_attempts=10, timeout_seconds=120)
async def render(ctx: TaskContext, payload: dict[str, Any]) -> None:
    try:
        await render_pdf(ctx.runtime, payload["evidence_id"])
    except TimestampAuthorityUnavailable as exc:
        # Expected while the authority is down: retried with backoff, no PDF meanwhile; after
        # the last attempt the PDF is still rendered on its first request.
        raise RetryLater(exc.detail) from exc


# With backoff (5 s doubling, at most 6 h apart) 30 attempts span about four days; then a
# fresh job carries on, so an authority that is down for long delays proofs, never drops them.
@task(TIMESTAMP_TASK, max_attempts=30, timeout_seconds=600)
async def timestamp(ctx: TaskContext, payload: dict[str, Any]) -> None:
    result = await stamp_proofs(ctx.runtime, payload["evidence_ids"])
    if not result.waiting:
        return
    if ctx.is_last_attempt:
        await resume_later(ctx.runtime, result.waiting)
        return
    raise RetryLater(f"{len(result.waiting)} proof(s) still await a timestamp: {result.problem}")


@task(PUBLISH_TASK, max_attempts=3)
async def publish(ctx: TaskContext, payload: dict[str, Any]) -> None:
    async with transaction(ctx.runtime.sessions) as session:
        await publish_tree_head(session, ctx.runtime.settings)
        await schedule_next(session, PUBLISH_TASK, current=ctx.job_id)


async def _step_aside_for_notices(runtime: Runtime) -> bool:
    """Whether sealing waits for the notices due now; if so a later sealing job is queued."""
    if runtime.settings.seal_delay_seconds <= 0:
        return False
    async with transaction(runtime.sessions) as session:
        oldest = await session.scalar(
            select(Evidence.occurred_at)
            .where(Evidence.sealed_at.is_(None))
            .order_by(Evidence.id)
            .limit(1)
        )
        now = utcnow()
        if oldest is None or as_utc(oldest) <= now - NOTICES_FIRST_FOR:
            return False
        if not await any_due(session, NOTICE_TASK):
            return False
        queued = (
            await session.execute(
                select(Job.id)
                .where(Job.kind == SEAL_TASK, Job.status == "queued")
                .limit(1)
                .with_for_update(skip_locked=True)
            )
        ).first()
        if queued is None:
            session.add(new_job(SEAL_TASK, {}, run_at=now + STEP_ASIDE))
            session.info[ENQUEUED] = True
        return True
