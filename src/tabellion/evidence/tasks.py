"""Job handlers of the evidence domain: sealing, PDF rendering, timestamps, tree heads."""

from __future__ import annotations

from typing import Any

from tabellion.db import transaction
from tabellion.evidence.proofs import (
    RevocationDataUnavailable,
    TimestampAuthorityUnavailable,
    render_pdf,
)
from tabellion.evidence.sealing.seal import RENDER_TASK, SEAL_TASK, seal_pending, step_aside_for
from tabellion.evidence.timestamping.stamps import TIMESTAMP_TASK, resume_later, stamp_proofs
from tabellion.evidence.transparency.log import PUBLISH_TASK, publish_tree_head
from tabellion.jobs.maintenance import schedule_next
from tabellion.jobs.registry import PRIORITY_BULK, RetryLater, TaskContext, task
from tabellion.message.service.message import NOTICE_TASK


@task(SEAL_TASK, max_attempts=20, timeout_seconds=600)
async def seal(ctx: TaskContext, payload: dict[str, Any]) -> None:
    # Notification e-mails go first (see sealing.step_aside_for).
    async with transaction(ctx.runtime.sessions) as session:
        if await step_aside_for(session, ctx.runtime.settings, NOTICE_TASK):
            return
    if await seal_pending(ctx.runtime):
        async with transaction(ctx.runtime.sessions) as session:
            await publish_tree_head(session, ctx.runtime.settings)


@task(RENDER_TASK, max_attempts=10, timeout_seconds=300, priority=PRIORITY_BULK)
async def render(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """Render the PDFs of a group of proofs (``evidence_ids``; a job queued by an earlier
    version names one, ``evidence_id``). A retry skips the PDFs already stored."""
    ids = payload.get("evidence_ids") or [payload["evidence_id"]]
    failed: Exception | None = None
    for evidence_id in ids:
        try:
            await render_pdf(ctx.runtime, evidence_id)
        except Exception as exc:  # the others are rendered all the same; the job retries
            failed = failed or exc
    if isinstance(failed, TimestampAuthorityUnavailable | RevocationDataUnavailable):
        # Expected while the authority, or the seal's CRL or OCSP responder, is down: retried
        # with backoff, no PDF meanwhile; after the last attempt the PDF is still rendered on
        # its first request.
        raise RetryLater(failed.detail) from failed
    if failed is not None:
        raise failed


# With backoff (5 s doubling, at most 6 h apart) 30 attempts span about four days; then a
# fresh job carries on, so an authority that is down for long delays proofs, never drops them.
@task(TIMESTAMP_TASK, max_attempts=30, timeout_seconds=600, priority=PRIORITY_BULK)
async def timestamp(ctx: TaskContext, payload: dict[str, Any]) -> None:
    result = await stamp_proofs(ctx.runtime, payload["evidence_ids"])
    if not result.waiting:
        return
    if ctx.is_last_attempt:
        await resume_later(ctx.runtime, result.waiting)
        return
    raise RetryLater(f"{len(result.waiting)} proof(s) still await a timestamp: {result.problem}")


@task(PUBLISH_TASK, max_attempts=3, priority=PRIORITY_BULK)
async def publish(ctx: TaskContext, payload: dict[str, Any]) -> None:
    async with transaction(ctx.runtime.sessions) as session:
        await publish_tree_head(session, ctx.runtime.settings)
        await schedule_next(session, PUBLISH_TASK, current=ctx.job_id)
