"""Timers of the delivery lifecycle."""

from __future__ import annotations

from typing import Any

from tabellion.db import transaction
from tabellion.jobs.registry import PRIORITY_NOTICE, TaskContext, task
from tabellion.message.service.lifecycle import EXPIRE_TASK, expire


@task(EXPIRE_TASK, max_attempts=20, priority=PRIORITY_NOTICE)
async def expire_delivery(ctx: TaskContext, payload: dict[str, Any]) -> None:
    async with transaction(ctx.runtime.sessions) as session:
        await expire(session, payload["delivery_id"])
