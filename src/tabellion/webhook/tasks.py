"""Webhook jobs: thin handlers around plain functions."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from tabellion.db import transaction
from tabellion.jobs.maintenance import PURGE_EVENTS, schedule_next
from tabellion.jobs.registry import PRIORITY_BULK, TaskContext, task
from tabellion.models.organization import Organization
from tabellion.models.webhook import WebhookEndpoint
from tabellion.webhook import service
from tabellion.webhook.delivery import deliver
from tabellion.webhook.service import DELIVER_TASK, MAX_ATTEMPTS, NOTIFY_DISABLED_TASK


@task(DELIVER_TASK, max_attempts=MAX_ATTEMPTS, timeout_seconds=60)
async def deliver_event(ctx: TaskContext, payload: dict[str, Any]) -> None:
    await deliver(
        ctx.runtime,
        endpoint_id=payload["endpoint_id"],
        event_id=payload["event_id"],
        attempt=ctx.attempt,
        is_last=ctx.is_last_attempt,
    )


@task(NOTIFY_DISABLED_TASK, max_attempts=8)
async def notify_disabled(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """Tell the organisation's contact that an endpoint was disabled after failing for days."""
    async with transaction(ctx.runtime.sessions) as session:
        endpoint = await session.get(WebhookEndpoint, payload["endpoint_id"])
        if endpoint is None:
            return
        organization = await session.get(Organization, endpoint.organization_id)
        if organization is None or not organization.email:
            return
        url, reason, to = endpoint.url, endpoint.disabled_reason, organization.email
    message = EmailMessage()
    message["From"] = ctx.runtime.settings.mail_from
    message["To"] = to
    message["Subject"] = "Tabellion: a webhook endpoint was disabled"
    message["Date"] = formatdate(usegmt=True)  # UTC, said so (not "-0000")
    message["Message-ID"] = make_msgid(idstring=f"{payload['endpoint_id']}.disabled")
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(
        f"Hello,\n\nTabellion disabled the webhook endpoint {payload['endpoint_id']}\n"
        f"({url})\nbecause: {reason}\n\nEvents are still recorded: read them from GET /v1/events,"
        " and once the receiver works again, re-enable the endpoint\n(POST /v1/webhook-endpoints/"
        f"{payload['endpoint_id']}/enable) and redeliver what it missed\n"
        "(POST /v1/events/{id}/redeliver).\n"
    )
    await ctx.runtime.mail.send(message)


@task(PURGE_EVENTS, max_attempts=3, priority=PRIORITY_BULK)
async def purge_events(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """Events stay in the feed for at least 30 days."""
    async with transaction(ctx.runtime.sessions) as session:
        await service.purge_events(session)
        await schedule_next(session, PURGE_EVENTS, current=ctx.job_id)
