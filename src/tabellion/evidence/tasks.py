"""Job handlers of the evidence domain: sealing, PDF rendering, timestamps, tree heads."""

from __future__ import annotations

from typing import Any

from tabellion.db import transaction
from tabellion.evidence.proofs import render_pdf
from tabellion.evidence.sealing import RENDER_TASK, SEAL_TASK, seal_pending
from tabellion.evidence.transparency import PUBLISH_TASK, publish_tree_head
from tabellion.jobs.maintenance import schedule_next
from tabellion.jobs.registry import TaskContext, task


@task(SEAL_TASK, max_attempts=20, timeout_seconds=600)
async def seal(ctx: TaskContext, payload: dict[str, Any]) -> None:
    if await seal_pending(ctx.runtime):
        async with transaction(ctx.runtime.sessions) as session:
            await publish_tree_head(session, ctx.runtime.settings)


@task(RENDER_TASK, max_attempts=10, timeout_seconds=120)
async def render(ctx: TaskContext, payload: dict[str, Any]) -> None:
    await render_pdf(ctx.runtime, payload["evidence_id"])


@task(PUBLISH_TASK, max_attempts=3)
async def publish(ctx: TaskContext, payload: dict[str, Any]) -> None:
    async with transaction(ctx.runtime.sessions) as session:
        await publish_tree_head(session, ctx.runtime.settings)
        await schedule_next(session, PUBLISH_TASK, current=ctx.job_id)
