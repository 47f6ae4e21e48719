"""Job handlers of the notification domain."""

from __future__ import annotations

from typing import Any

from tabellion.jobs.registry import PRIORITY_NOTICE, TaskContext, task
from tabellion.message.service.message import NOTICE_TASK
from tabellion.notification.service import send_notice


@task(NOTICE_TASK, max_attempts=8, timeout_seconds=120, priority=PRIORITY_NOTICE)
async def send_notice_task(ctx: TaskContext, payload: dict[str, Any]) -> None:
    await send_notice(ctx.runtime, payload["delivery_id"], last_attempt=ctx.is_last_attempt)
