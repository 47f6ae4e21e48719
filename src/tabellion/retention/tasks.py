"""Job handlers of retention: the timer that purges content past its retention period and
expires proofs past theirs."""

from __future__ import annotations

from typing import Any

from tabellion.db import transaction
from tabellion.jobs.maintenance import APPLY_RETENTION, schedule_next
from tabellion.jobs.registry import PRIORITY_BULK, TaskContext, task
from tabellion.retention.expiry import expire_proofs
from tabellion.retention.service import apply_retention


@task(APPLY_RETENTION, max_attempts=3, timeout_seconds=3600, priority=PRIORITY_BULK)
async def retention(ctx: TaskContext, payload: dict[str, Any]) -> None:
    # A periodic chain: one pending run across every worker (jobs.maintenance).
    await apply_retention(ctx.runtime)
    await expire_proofs(ctx.runtime)
    async with transaction(ctx.runtime.sessions) as session:
        await schedule_next(session, APPLY_RETENTION, current=ctx.job_id)
