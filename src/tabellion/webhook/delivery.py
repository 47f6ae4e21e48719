"""Sending one event to one endpoint: a job's work, outside any open transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tabellion.db import transaction
from tabellion.jobs.queue import enqueue
from tabellion.jobs.registry import RetryLater
from tabellion.kit.time import utcnow
from tabellion.models.webhook import Event, WebhookAttempt, WebhookEndpoint
from tabellion.runtime import Runtime
from tabellion.webhook.service import (
    DISABLE_AFTER_FAILING,
    NOTIFY_DISABLED_TASK,
    Outcome,
    WebhookGone,
    active_secrets,
    post_event,
    retry_delay,
    set_enabled,
)
from tabellion.webhook.transport import guarded_client


def webhook_client(runtime: Runtime) -> httpx.AsyncClient:
    def build() -> tuple[httpx.AsyncClient, Callable[[], Awaitable[None]]]:
        client = guarded_client(runtime.settings.allowed_webhook_hosts)
        return client, client.aclose

    return runtime.resource("webhook-client", build)


async def deliver(
    runtime: Runtime, *, endpoint_id: str, event_id: str, attempt: int, is_last: bool
) -> str:
    """Send, record the attempt, and decide what follows. Returns the attempt's outcome.

    Raises RetryLater to be run again on the retry schedule, and WebhookGone when the last
    attempt failed (the job then ends dead).
    """
    signing_key = runtime.settings.signing_key
    async with transaction(runtime.sessions) as session:
        endpoint = await session.get(WebhookEndpoint, endpoint_id)
        event = await session.get(Event, event_id)
        if endpoint is None or event is None or not endpoint.enabled:
            return "skipped"
        url, body = endpoint.url, event.body
        secrets_ = active_secrets(endpoint, signing_key, utcnow())

    outcome = await post_event(
        webhook_client(runtime), url, event_id=event_id, body=body, secrets_=secrets_
    )

    delay: float | None = None
    if not outcome.success and not outcome.gone and not is_last:
        delay = outcome.retry_after if outcome.retry_after is not None else retry_delay(attempt)
    async with transaction(runtime.sessions) as session:
        endpoint = await session.get(WebhookEndpoint, endpoint_id)
        if endpoint is None:
            return "skipped"
        label = _record(session, endpoint, event_id, event.type, attempt, outcome, delay, is_last)
    if label == "retrying":
        assert delay is not None
        raise RetryLater(outcome.error or "failed", delay=delay)
    if label == "dead":
        raise WebhookGone(f"gave up after {attempt} attempts: {outcome.error}")
    return label


def _record(
    session: AsyncSession,
    endpoint: WebhookEndpoint,
    event_id: str,
    event_type: str,
    attempt: int,
    outcome: Outcome,
    delay: float | None,
    is_last: bool,
) -> str:
    now = utcnow()
    if outcome.success:
        label = "succeeded"
        endpoint.failing_since = None
    elif outcome.gone:
        label = "failed"
        set_enabled(endpoint, False, reason="The endpoint answered 410 Gone.")
    else:
        label = "dead" if is_last else "retrying"
        endpoint.failing_since = endpoint.failing_since or now
        if now - endpoint.failing_since >= DISABLE_AFTER_FAILING and endpoint.enabled:
            set_enabled(endpoint, False, reason="Every attempt failed for three days.")
            enqueue(session, NOTIFY_DISABLED_TASK, {"endpoint_id": endpoint.id})
    session.add(
        WebhookAttempt(
            organization_id=endpoint.organization_id,
            endpoint_id=endpoint.id,
            event_id=event_id,
            event_type=event_type,
            attempt=attempt,
            outcome=label,
            status_code=outcome.status_code,
            latency_ms=outcome.latency_ms,
            error=outcome.error,
            next_retry_at=now + timedelta(seconds=delay) if label == "retrying" and delay else None,
            created_at=now,
        )
    )
    return label
