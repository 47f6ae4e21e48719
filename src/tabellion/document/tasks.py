"""Job handlers of the document domain."""

from __future__ import annotations

from typing import Any

from tabellion.db import transaction
from tabellion.document.service import collect_garbage
from tabellion.jobs.maintenance import COLLECT_BLOBS, schedule_next
from tabellion.jobs.registry import PRIORITY_BULK, TaskContext, task


@task(COLLECT_BLOBS, max_attempts=3, timeout_seconds=3600, priority=PRIORITY_BULK)
async def collect_blobs(ctx: TaskContext, payload: dict[str, Any]) -> None:
    await collect_garbage(ctx.runtime)
    async with transaction(ctx.runtime.sessions) as session:
        await schedule_next(session, COLLECT_BLOBS, current=ctx.job_id)
