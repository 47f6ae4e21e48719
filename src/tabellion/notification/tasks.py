"""Job handlers of the notification domain."""

from __future__ import annotations

from typing import Any

from tabellion.jobs.registry import PRIORITY_NOTICE, TaskContext, task, warm_up
from tabellion.message.service.delivery import RESEND_TASK
from tabellion.message.service.events import MAILBOX_COPY_TASK, SENDER_STATUS_TASK
from tabellion.message.service.message import NOTICE_TASK
from tabellion.notification import follow_up
from tabellion.notification.compose import load_templates
from tabellion.notification.service import resend_notice, send_notice

# The retry window (TABELLION_NOTICE_RETRY_HOURS) ends a relay outage's retries, not the count:
# this only bounds a failure that is not the mail server's (at the worker's 6 h cap, months).
NOTICE_MAX_ATTEMPTS = 1_000

# Parsing the catalogs and compiling the templates holds the event loop for ~60 ms (longer on
# a busy machine): done when a worker starts, not by the first notices of a dispatch.
warm_up(load_templates)


@task(NOTICE_TASK, max_attempts=NOTICE_MAX_ATTEMPTS, timeout_seconds=120, priority=PRIORITY_NOTICE)
async def send_notice_task(ctx: TaskContext, payload: dict[str, Any]) -> None:
    await send_notice(ctx.runtime, payload["delivery_id"], attempt=ctx.attempt)


@task(RESEND_TASK, max_attempts=20, timeout_seconds=120, priority=PRIORITY_NOTICE)
async def resend_notice_task(ctx: TaskContext, payload: dict[str, Any]) -> None:
    await resend_notice(ctx.runtime, payload["delivery_id"], payload["requested_at"])


@task(SENDER_STATUS_TASK, max_attempts=8)
async def send_sender_status_task(ctx: TaskContext, payload: dict[str, Any]) -> None:
    await follow_up.send_sender_status(ctx.runtime, payload["delivery_id"], payload["evidence_id"])


@task(MAILBOX_COPY_TASK, max_attempts=20, timeout_seconds=300)
async def send_mailbox_copy_task(ctx: TaskContext, payload: dict[str, Any]) -> None:
    await follow_up.send_mailbox_copy(ctx.runtime, payload["delivery_id"], payload["evidence_id"])
