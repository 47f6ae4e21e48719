"""Sending events to a real receiver: signatures, retries, 410, Retry-After, rotation."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook

from tabellion.db import transaction
from tabellion.jobs.registry import RetryLater
from tabellion.kit.time import utcnow
from tabellion.models.job import Job
from tabellion.models.webhook import WebhookAttempt, WebhookEndpoint
from tabellion.runtime import Runtime
from tabellion.webhook import service
from tabellion.webhook.delivery import deliver, outbound, webhook_ledger
from tabellion.webhook.service import WebhookGone
from tests.fixtures.receiver import Receiver


async def setup_endpoint(
    runtime: Runtime, org_id: str, url: str, events: list[str] | None = None
) -> tuple[str, str]:
    async with transaction(runtime.sessions) as session:
        endpoint, secret = await service.create_endpoint(
            session,
            org_id,
            url=url,
            events=events or ["*"],
            description=None,
            signing_key=runtime.settings.signing_key,
        )
    return endpoint.id, secret


async def emit_event(runtime: Runtime, org_id: str, event_type: str = "delivery.accepted") -> str:
    async with transaction(runtime.sessions) as session:
        return await service.emit(session, org_id, event_type, {"delivery": {"id": "dlv_x"}})


async def attempts(runtime: Runtime) -> list[WebhookAttempt]:
    async with runtime.sessions() as session:
        return list(await session.scalars(select(WebhookAttempt).order_by(WebhookAttempt.id)))


async def test_event_is_signed_and_verifiable(
    runtime: Runtime, org_key: tuple[str, str], receiver: Receiver
) -> None:
    endpoint_id, secret = await setup_endpoint(runtime, org_key[0], receiver.url)
    event_id = await emit_event(runtime, org_key[0])
    async with runtime.sessions() as session:
        jobs = (await session.scalars(select(Job))).all()
    assert [j.payload for j in jobs] == [{"endpoint_id": endpoint_id, "event_id": event_id}]

    outcome = await deliver(
        runtime, endpoint_id=endpoint_id, event_id=event_id, attempt=1, is_last=False
    )
    assert outcome == "succeeded"
    (got,) = receiver.received
    assert got.headers["webhook-id"] == event_id
    payload = Webhook(secret).verify(got.body, got.headers)
    assert payload["type"] == "delivery.accepted"
    assert payload["timestamp"].endswith("Z")
    assert payload["data"] == {"delivery": {"id": "dlv_x"}}
    (attempt,) = await attempts(runtime)
    assert (attempt.outcome, attempt.status_code, attempt.attempt) == ("succeeded", 200, 1)


async def test_unsubscribed_endpoint_gets_no_job(
    runtime: Runtime, org_key: tuple[str, str], receiver: Receiver
) -> None:
    await setup_endpoint(runtime, org_key[0], receiver.url, ["delivery.refused"])
    await emit_event(runtime, org_key[0], "delivery.accepted")
    async with runtime.sessions() as session:
        assert (await session.scalars(select(Job))).all() == []


@pytest.mark.parametrize("status", [500, 302, 400])
async def test_failure_is_retried_on_schedule(
    runtime: Runtime, org_key: tuple[str, str], receiver: Receiver, status: int
) -> None:
    endpoint_id, _ = await setup_endpoint(runtime, org_key[0], receiver.url)
    event_id = await emit_event(runtime, org_key[0])
    receiver.answer(status, {"location": "http://127.0.0.1:1/"} if status == 302 else {})
    with pytest.raises(RetryLater) as raised:
        await deliver(runtime, endpoint_id=endpoint_id, event_id=event_id, attempt=1, is_last=False)
    assert raised.value.delay is not None
    assert 4.5 <= raised.value.delay <= 5.5
    assert len(receiver.received) == 1  # the redirect was not followed
    (attempt,) = await attempts(runtime)
    assert attempt.outcome == "retrying"
    assert attempt.status_code == status
    assert attempt.next_retry_at is not None
    receiver.answer(status)
    with pytest.raises(RetryLater) as third:
        await deliver(runtime, endpoint_id=endpoint_id, event_id=event_id, attempt=3, is_last=False)
    assert 1620 <= (third.value.delay or 0) <= 1980  # ≈ 30 minutes


async def test_timeout_and_connection_refused_are_retried(
    runtime: Runtime, org_key: tuple[str, str], receiver: Receiver
) -> None:
    outbound(runtime, timeout=0.3)
    endpoint_id, _ = await setup_endpoint(runtime, org_key[0], receiver.url)
    event_id = await emit_event(runtime, org_key[0])
    receiver.answer(200, delay=1.0)
    with pytest.raises(RetryLater):
        await deliver(runtime, endpoint_id=endpoint_id, event_id=event_id, attempt=1, is_last=False)
    closed_id, _ = await setup_endpoint(runtime, org_key[0], "http://127.0.0.1:1/nothing-here")
    with pytest.raises(RetryLater):
        await deliver(runtime, endpoint_id=closed_id, event_id=event_id, attempt=1, is_last=False)
    errors = [a.error for a in await attempts(runtime)]
    assert "timed out" in (errors[0] or "")
    assert "Connect" in (errors[1] or "")


async def test_410_disables_the_endpoint(
    runtime: Runtime, org_key: tuple[str, str], receiver: Receiver
) -> None:
    endpoint_id, _ = await setup_endpoint(runtime, org_key[0], receiver.url)
    event_id = await emit_event(runtime, org_key[0])
    receiver.answer(410)
    assert (
        await deliver(runtime, endpoint_id=endpoint_id, event_id=event_id, attempt=1, is_last=False)
        == "failed"
    )
    async with runtime.sessions() as session:
        endpoint = await session.get(WebhookEndpoint, endpoint_id)
    assert endpoint is not None
    assert endpoint.enabled is False
    assert "410" in (endpoint.disabled_reason or "")
    await emit_event(runtime, org_key[0])  # a disabled endpoint gets no new job
    async with runtime.sessions() as session:
        assert len((await session.scalars(select(Job))).all()) == 1


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_is_honoured(
    runtime: Runtime, org_key: tuple[str, str], receiver: Receiver, status: int
) -> None:
    endpoint_id, _ = await setup_endpoint(runtime, org_key[0], receiver.url)
    event_id = await emit_event(runtime, org_key[0])
    receiver.answer(status, {"retry-after": "120"})
    with pytest.raises(RetryLater) as raised:
        await deliver(runtime, endpoint_id=endpoint_id, event_id=event_id, attempt=1, is_last=False)
    assert raised.value.delay == 120


async def test_last_failed_attempt_is_dead(
    runtime: Runtime, org_key: tuple[str, str], receiver: Receiver
) -> None:
    endpoint_id, _ = await setup_endpoint(runtime, org_key[0], receiver.url)
    event_id = await emit_event(runtime, org_key[0])
    receiver.answer(500)
    with pytest.raises(WebhookGone):
        await deliver(runtime, endpoint_id=endpoint_id, event_id=event_id, attempt=10, is_last=True)
    (attempt,) = await attempts(runtime)
    assert attempt.outcome == "dead"
    assert attempt.next_retry_at is None


async def test_failing_for_three_days_disables_and_emails(
    runtime: Runtime, org_key: tuple[str, str], receiver: Receiver
) -> None:
    endpoint_id, _ = await setup_endpoint(runtime, org_key[0], receiver.url)
    event_id = await emit_event(runtime, org_key[0])
    async with transaction(runtime.sessions) as session:
        endpoint = await session.get(WebhookEndpoint, endpoint_id)
        assert endpoint is not None
        endpoint.failing_since = utcnow() - timedelta(days=3, minutes=1)
    receiver.answer(500)
    with pytest.raises(RetryLater):
        await deliver(runtime, endpoint_id=endpoint_id, event_id=event_id, attempt=8, is_last=False)
    async with runtime.sessions() as session:
        endpoint = await session.get(WebhookEndpoint, endpoint_id)
        kinds = [j.kind for j in (await session.scalars(select(Job))).all()]
    assert endpoint is not None and endpoint.enabled is False
    assert "webhook.notify_disabled" in kinds


async def test_success_clears_failing_since(
    runtime: Runtime, org_key: tuple[str, str], receiver: Receiver
) -> None:
    endpoint_id, _ = await setup_endpoint(runtime, org_key[0], receiver.url)
    event_id = await emit_event(runtime, org_key[0])
    receiver.answer(500)
    with pytest.raises(RetryLater):
        await deliver(runtime, endpoint_id=endpoint_id, event_id=event_id, attempt=1, is_last=False)
    await deliver(runtime, endpoint_id=endpoint_id, event_id=event_id, attempt=2, is_last=False)
    async with runtime.sessions() as session:
        endpoint = await session.get(WebhookEndpoint, endpoint_id)
    assert endpoint is not None and endpoint.failing_since is None
    ids = {r.headers["webhook-id"] for r in receiver.received}
    assert ids == {event_id}  # stable across retries


async def test_rotation_sends_two_valid_signatures(
    runtime: Runtime,
    org_key: tuple[str, str],
    receiver: Receiver,
    client: httpx.AsyncClient,
    auth: dict[str, str],
) -> None:
    endpoint_id, old_secret = await setup_endpoint(runtime, org_key[0], receiver.url)
    rotated = await client.post(
        f"/v1/webhook-endpoints/{endpoint_id}/rotate-secret",
        json={"overlap_hours": 1},
        headers=auth,
    )
    new_secret = rotated.json()["secret"]
    assert new_secret != old_secret
    event_id = await emit_event(runtime, org_key[0])
    await deliver(runtime, endpoint_id=endpoint_id, event_id=event_id, attempt=1, is_last=False)
    (got,) = receiver.received
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    assert Webhook(old_secret).verify(got.body, got.headers)
    assert Webhook(new_secret).verify(got.body, got.headers)
    # After the overlap window only the new secret signs.
    async with transaction(runtime.sessions) as session:
        endpoint = await session.get(WebhookEndpoint, endpoint_id)
        assert endpoint is not None
        endpoint.secrets = [
            {**s, "expires_at": (utcnow() - timedelta(seconds=1)).isoformat()}
            if s.get("expires_at")
            else s
            for s in endpoint.secrets
        ]
    # Changed behind the API's back: this process would see it within ENDPOINT_TTL.
    webhook_ledger(runtime).forget(endpoint_id)
    await deliver(runtime, endpoint_id=endpoint_id, event_id=event_id, attempt=1, is_last=False)
    later = receiver.received[1]
    assert len(later.headers["webhook-signature"].split(" ")) == 1
    assert Webhook(new_secret).verify(later.body, later.headers)


async def test_destination_rechecked_at_send_time(
    runtime: Runtime, org_key: tuple[str, str], receiver: Receiver
) -> None:
    """An address allowed at registration but not when sending (DNS rebinding) is refused."""
    endpoint_id, _ = await setup_endpoint(runtime, org_key[0], receiver.url)
    event_id = await emit_event(runtime, org_key[0])
    outbound(runtime, allowed=frozenset())
    with pytest.raises(RetryLater):
        await deliver(runtime, endpoint_id=endpoint_id, event_id=event_id, attempt=1, is_last=False)
    assert receiver.received == []
    (attempt,) = await attempts(runtime)
    assert "destination refused" in (attempt.error or "")


async def test_test_ping_and_attempts_listing(
    runtime: Runtime,
    org_key: tuple[str, str],
    receiver: Receiver,
    client: httpx.AsyncClient,
    auth: dict[str, str],
) -> None:
    endpoint_id, secret = await setup_endpoint(runtime, org_key[0], receiver.url)
    sent = await client.post(f"/v1/webhook-endpoints/{endpoint_id}/test", headers=auth)
    assert sent.status_code == 202
    event_id = sent.json()["event_id"]
    await deliver(runtime, endpoint_id=endpoint_id, event_id=event_id, attempt=1, is_last=False)
    payload = Webhook(secret).verify(receiver.received[0].body, receiver.received[0].headers)
    assert payload["type"] == "webhook.test"
    listed = (
        await client.get(f"/v1/webhook-endpoints/{endpoint_id}/attempts", headers=auth)
    ).json()
    assert [(a["event_id"], a["outcome"], a["status_code"]) for a in listed["data"]] == [
        (event_id, "succeeded", 200)
    ]
    assert listed["data"][0]["latency_ms"] >= 0


async def test_redeliver_sends_the_same_id_again(
    runtime: Runtime,
    org_key: tuple[str, str],
    receiver: Receiver,
    client: httpx.AsyncClient,
    auth: dict[str, str],
) -> None:
    endpoint_id, _ = await setup_endpoint(runtime, org_key[0], receiver.url)
    event_id = await emit_event(runtime, org_key[0])
    response = await client.post(f"/v1/events/{event_id}/redeliver", headers=auth)
    assert response.status_code == 202
    assert response.json() == {"event_id": event_id, "endpoint_ids": [endpoint_id]}
    async with runtime.sessions() as session:
        jobs = (await session.scalars(select(Job).order_by(Job.id))).all()
    assert [j.payload["event_id"] for j in jobs] == [event_id, event_id]
    body = json.loads((await client.get(f"/v1/events/{event_id}", headers=auth)).text)
    assert body["type"] == "delivery.accepted"
