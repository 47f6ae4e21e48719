"""Sending events to a real receiver: signatures, retries, 410, Retry-After, rotation."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import time
from datetime import datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook

from tabellion.db import transaction
from tabellion.jobs.registry import RetryLater
from tabellion.jobs.worker import Worker
from tabellion.kit.time import utcnow
from tabellion.models.job import Job
from tabellion.models.webhook import WebhookAttempt, WebhookEndpoint
from tabellion.runtime import Runtime
from tabellion.webhook import service
from tabellion.webhook.delivery import deliver, outbound, webhook_ledger
from tabellion.webhook.service import WebhookGone
from tabellion.webhook.transport import TIMEOUT_SECONDS
from tests.fixtures.factories import create_org_with_key, message_body, natural_recipient
from tests.fixtures.receiver import Receiver
from tests.message.test_endpoints import assert_problem


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
    # The receiver takes 150 ms to answer: the recorded latency is the real wait.
    receiver.answer(200, delay=0.15)
    started = time.monotonic()
    await deliver(runtime, endpoint_id=endpoint_id, event_id=event_id, attempt=1, is_last=False)
    elapsed_ms = (time.monotonic() - started) * 1000
    payload = Webhook(secret).verify(receiver.received[0].body, receiver.received[0].headers)
    assert payload["type"] == "webhook.test"
    listed = (
        await client.get(f"/v1/webhook-endpoints/{endpoint_id}/attempts", headers=auth)
    ).json()
    assert [(a["event_id"], a["outcome"], a["status_code"]) for a in listed["data"]] == [
        (event_id, "succeeded", 200)
    ]
    assert 150 <= listed["data"][0]["latency_ms"] <= elapsed_ms


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


async def run_jobs(runtime: Runtime) -> int:
    return await Worker(runtime, poll_interval=0.05).run_until_idle(timeout=20)


async def test_retries_follow_the_schedule_then_the_event_is_dead_and_visible(
    runtime: Runtime,
    org_key: tuple[str, str],
    receiver: Receiver,
    client: httpx.AsyncClient,
    auth: dict[str, str],
) -> None:
    """The real job, run by the worker ten times (the clock moved by hand between runs)."""
    endpoint_id, _ = await setup_endpoint(runtime, org_key[0], receiver.url)
    event_id = await emit_event(runtime, org_key[0])
    for _ in range(service.MAX_ATTEMPTS):
        receiver.answer(500)
    for run in range(service.MAX_ATTEMPTS):
        assert await run_jobs(runtime) == 1
        async with transaction(runtime.sessions) as session:
            job = await session.scalar(select(Job).where(Job.kind == service.DELIVER_TASK))
            assert job is not None
            if run < len(service.RETRY_DELAYS):
                assert job.status == "queued"
                job.run_at = utcnow()  # the wait is over
    assert job.status == "dead"
    assert len(receiver.received) == service.MAX_ATTEMPTS
    assert {r.headers["webhook-id"] for r in receiver.received} == {event_id}

    listed = (
        await client.get(
            f"/v1/webhook-endpoints/{endpoint_id}/attempts", params={"limit": 20}, headers=auth
        )
    ).json()["data"]
    listed.reverse()  # oldest first
    assert [a["attempt"] for a in listed] == list(range(1, 11))
    assert [a["outcome"] for a in listed] == ["retrying"] * 9 + ["dead"]
    for attempt, base in zip(listed, service.RETRY_DELAYS, strict=False):
        assert attempt["status_code"] == 500
        assert attempt["error"] == "HTTP 500"
        assert attempt["event_id"] == event_id
        assert attempt["event_type"] == "delivery.accepted"
        waited = datetime.fromisoformat(attempt["next_retry_at"]) - datetime.fromisoformat(
            attempt["created_at"]
        )
        assert 0.9 * base - 1 <= waited.total_seconds() <= 1.1 * base + 1
    assert listed[-1]["next_retry_at"] is None


async def test_default_timeout_is_ten_seconds(runtime: Runtime) -> None:
    assert TIMEOUT_SECONDS == 10
    assert outbound(runtime).timeout == 10


async def test_retry_after_never_shortens_the_schedule(
    runtime: Runtime, org_key: tuple[str, str], receiver: Receiver
) -> None:
    endpoint_id, _ = await setup_endpoint(runtime, org_key[0], receiver.url)
    event_id = await emit_event(runtime, org_key[0])
    receiver.answer(429, {"retry-after": "1"})
    with pytest.raises(RetryLater) as raised:
        await deliver(runtime, endpoint_id=endpoint_id, event_id=event_id, attempt=3, is_last=False)
    assert 1620 <= (raised.value.delay or 0) <= 1980
    when = format_datetime(utcnow() + timedelta(hours=1), usegmt=True)
    receiver.answer(503, {"retry-after": when})
    with pytest.raises(RetryLater) as raised:
        await deliver(runtime, endpoint_id=endpoint_id, event_id=event_id, attempt=1, is_last=False)
    assert 3590 <= (raised.value.delay or 0) <= 3600


def fake_dns(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> None:
    """Answer these names as a resolver would (the test machine has no DNS)."""
    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo

    async def getaddrinfo(host: str, port: object, *args: object, **kwargs: object) -> list:
        if host in answers:
            family = {4: socket.AF_INET, 6: socket.AF_INET6}
            return [
                (family[ipaddress.ip_address(a).version], socket.SOCK_STREAM, 6, "", (a, port))
                for a in answers[host]
            ]
        return await real(host, port, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/hooks",
        "http://localhost:{port}/hooks",
        "http://10.0.0.8/hooks",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:{port}/hooks",
        "http://intranet.example.com:{port}/hooks",
    ],
)
async def test_private_destinations_are_refused_when_sending(
    runtime: Runtime,
    org_key: tuple[str, str],
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    url: str,
) -> None:
    """Whatever the URL was when registered, the address connected to is checked each time."""
    fake_dns(monkeypatch, {"intranet.example.com": ["10.1.2.3"]})
    port = receiver.url.split(":")[2].split("/")[0]
    endpoint_id, _ = await setup_endpoint(runtime, org_key[0], url.format(port=port))
    event_id = await emit_event(runtime, org_key[0])
    outbound(runtime, allowed=frozenset())  # no operator exemption
    with pytest.raises(RetryLater):
        await deliver(runtime, endpoint_id=endpoint_id, event_id=event_id, attempt=1, is_last=False)
    assert receiver.received == []
    (attempt,) = await attempts(runtime)
    assert (attempt.outcome, attempt.status_code) == ("retrying", None)
    assert (attempt.error or "").startswith("destination refused")


async def test_a_name_that_rebinds_to_a_private_address_is_refused_when_sending(
    runtime: Runtime,
    org_key: tuple[str, str],
    client: httpx.AsyncClient,
    auth: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_dns(monkeypatch, {"hooks.example.com": ["93.184.216.34"]})
    created = await client.post(
        "/v1/webhook-endpoints",
        json={"url": "http://hooks.example.com/in", "events": ["*"]},
        headers=auth,
    )
    assert created.status_code == 201, created.text  # public when registered
    fake_dns(monkeypatch, {"hooks.example.com": ["93.184.216.34", "169.254.169.254"]})
    event_id = await emit_event(runtime, org_key[0])
    with pytest.raises(RetryLater):
        await deliver(
            runtime, endpoint_id=created.json()["id"], event_id=event_id, attempt=1, is_last=False
        )
    (attempt,) = await attempts(runtime)
    assert "169.254.169.254" in (attempt.error or "")


async def test_jobs_of_a_disabled_endpoint_are_visible_as_failed_but_a_ping_is_sent(
    runtime: Runtime,
    org_key: tuple[str, str],
    receiver: Receiver,
    client: httpx.AsyncClient,
    auth: dict[str, str],
) -> None:
    endpoint_id, secret = await setup_endpoint(runtime, org_key[0], receiver.url)
    event_id = await emit_event(runtime, org_key[0])  # queued while enabled
    url = f"/v1/webhook-endpoints/{endpoint_id}"
    assert (await client.post(f"{url}/disable", headers=auth)).status_code == 200
    ping = (await client.post(f"{url}/test", headers=auth)).json()["event_id"]
    assert await run_jobs(runtime) == 2
    (got,) = receiver.received
    assert got.headers["webhook-id"] == ping
    assert Webhook(secret).verify(got.body, got.headers)["type"] == "webhook.test"
    listed = (await client.get(f"{url}/attempts", headers=auth)).json()["data"]
    by_event = {a["event_id"]: a for a in listed}
    assert by_event[ping]["outcome"] == "succeeded"
    skipped = by_event[event_id]
    assert (skipped["outcome"], skipped["status_code"], skipped["next_retry_at"]) == (
        "failed",
        None,
        None,
    )
    assert "disabled" in skipped["error"]
    async with runtime.sessions() as session:
        endpoint = await session.get(WebhookEndpoint, endpoint_id)
    assert endpoint is not None
    assert (endpoint.enabled, endpoint.failing_since) == (False, None)  # nothing else changed


async def test_redelivery_sends_the_same_event_again(
    runtime: Runtime,
    org_key: tuple[str, str],
    receiver: Receiver,
    client: httpx.AsyncClient,
    auth: dict[str, str],
) -> None:
    first, secret = await setup_endpoint(runtime, org_key[0], receiver.url)
    second, _ = await setup_endpoint(runtime, org_key[0], receiver.url + "/2")
    event_id = await emit_event(runtime, org_key[0])
    assert await run_jobs(runtime) == 2
    one = await client.post(
        f"/v1/events/{event_id}/redeliver", params={"endpoint_id": first}, headers=auth
    )
    assert one.status_code == 202
    assert one.json() == {"event_id": event_id, "endpoint_ids": [first]}
    assert await run_jobs(runtime) == 1
    to_first = [r for r in receiver.received if r.path == "/hooks"]
    assert len(to_first) == 2
    assert to_first[0].headers["webhook-id"] == to_first[1].headers["webhook-id"] == event_id
    assert to_first[0].body == to_first[1].body
    assert Webhook(secret).verify(to_first[1].body, to_first[1].headers)

    await client.post(f"/v1/webhook-endpoints/{second}/disable", headers=auth)
    refused = await client.post(
        f"/v1/events/{event_id}/redeliver", params={"endpoint_id": second}, headers=auth
    )
    assert_problem(refused, 409, "webhook-endpoint-disabled")
    everyone = await client.post(f"/v1/events/{event_id}/redeliver", headers=auth)
    assert everyone.json()["endpoint_ids"] == [first]  # the enabled subscribers

    other_org, other_key = await create_org_with_key(runtime, "Other")
    other = {"Authorization": f"Bearer {other_key}"}
    assert_problem(
        await client.post(f"/v1/events/{event_id}/redeliver", headers=other),
        404,
        "event-not-found",
    )
    other_event = await emit_event(runtime, other_org)
    assert_problem(
        await client.post(
            f"/v1/events/{other_event}/redeliver", params={"endpoint_id": first}, headers=other
        ),
        404,
        "webhook-endpoint-not-found",
    )


async def test_attempts_listing_pages_newest_first(
    runtime: Runtime,
    org_key: tuple[str, str],
    receiver: Receiver,
    client: httpx.AsyncClient,
    auth: dict[str, str],
) -> None:
    endpoint_id, _ = await setup_endpoint(runtime, org_key[0], receiver.url)
    event_ids = [await emit_event(runtime, org_key[0]) for _ in range(3)]
    receiver.answer(503, {"retry-after": "600"}, delay=0.1)
    assert await run_jobs(runtime) == 3
    url = f"/v1/webhook-endpoints/{endpoint_id}/attempts"
    first = (await client.get(url, params={"limit": 2}, headers=auth)).json()
    rest = (
        await client.get(url, params={"limit": 2, "cursor": first["next_cursor"]}, headers=auth)
    ).json()
    assert rest["next_cursor"] is None
    listed = first["data"] + rest["data"]
    assert [a["id"] for a in listed] == sorted((a["id"] for a in listed), reverse=True)
    assert sorted(a["event_id"] for a in listed) == sorted(event_ids)
    (failed,) = [a for a in listed if a["outcome"] == "retrying"]
    assert (failed["status_code"], failed["error"]) == (503, "HTTP 503")
    assert failed["latency_ms"] >= 100  # the receiver's 100 ms before its 503
    waited = datetime.fromisoformat(failed["next_retry_at"]) - datetime.fromisoformat(
        failed["created_at"]
    )
    assert 599 <= waited.total_seconds() <= 601
    assert all(a["created_at"].endswith("Z") for a in listed)


async def test_what_the_product_records_reaches_the_receiver_signed(
    runtime: Runtime,
    org_key: tuple[str, str],
    receiver: Receiver,
    client: httpx.AsyncClient,
    auth: dict[str, str],
) -> None:
    """A dispatch through the API, its jobs run by the worker: every event arrives once,
    verifiable, as the feed has it, and no body is over 20 kB (this message's is 60 kB)."""
    _, secret = await setup_endpoint(runtime, org_key[0], receiver.url)
    big = "<p>" + "Lorem ipsum dolor sit amet. " * 2_200 + "</p>"
    response = await client.post(
        "/v1/messages",
        json=message_body(recipients=[natural_recipient(0), natural_recipient(1)], body_html=big),
        headers=auth,
    )
    assert response.status_code == 201, response.text
    dispatched = await client.post(f"/v1/messages/{response.json()['id']}/dispatch", headers=auth)
    assert dispatched.status_code == 202, dispatched.text
    await run_jobs(runtime)
    got = {r.headers["webhook-id"]: r for r in receiver.received}
    assert len(got) == len(receiver.received)  # each once
    feed = (await client.get("/v1/events", headers=auth)).json()["data"]
    assert {e["id"] for e in feed} <= set(got)
    by_type: dict[str, list[dict]] = {}
    for event in feed:
        received = got[event["id"]]
        assert len(received.body) <= service.MAX_BODY_BYTES
        payload = Webhook(secret).verify(received.body, received.headers)
        assert payload == {
            "type": event["type"],
            "timestamp": event["timestamp"],
            "data": event["data"],
        }
        by_type.setdefault(event["type"], []).append(payload["data"])
    (message,) = by_type["message.dispatched"]
    assert message["message"]["id"] == response.json()["id"]
    assert message["message"]["body_truncated"] is True
    assert "body_html" not in message["message"]
    assert message["message"]["recipient_count"] == 2
    sent = by_type["delivery.sent"]
    assert len(sent) == 2
    for data in sent:
        assert data["evidence"]["type"] == "SENT"
        assert data["delivery"]["message_id"] == response.json()["id"]


async def test_account_events_flow_as_webhooks(
    runtime: Runtime,
    org_key: tuple[str, str],
    receiver: Receiver,
    client: httpx.AsyncClient,
    auth: dict[str, str],
) -> None:
    _, secret = await setup_endpoint(runtime, org_key[0], receiver.url, ["customer.cancelled"])
    created = await client.post(
        "/v1/customers",
        json={"customers": [{"name": "Bakery Dupont", "email": "boss@dupont.test"}]},
        headers=auth,
    )
    assert created.status_code == 201, created.text
    customer_id = created.json()["customers"][0]["id"]
    cancelled = await client.post(f"/v1/customers/{customer_id}/cancel", headers=auth)
    assert cancelled.status_code == 200, cancelled.text
    await run_jobs(runtime)
    (got,) = receiver.received
    payload = Webhook(secret).verify(got.body, got.headers)
    assert payload["type"] == "customer.cancelled"
    assert payload["data"]["customer"]["id"] == customer_id
    assert payload["data"]["customer"]["state"] == "CANCELLED"


async def test_events_reach_only_their_own_organisations_subscribed_endpoints(
    runtime: Runtime,
    org_key: tuple[str, str],
    receiver: Receiver,
    client: httpx.AsyncClient,
    auth: dict[str, str],
) -> None:
    """Two organisations with endpoints on one receiver (told apart by path): a dispatch by
    the first, run by the worker, reaches the first's subscribed endpoints and never the
    second's; an event of the second reaches only the second's."""
    other_org, _ = await create_org_with_key(runtime)
    secrets = {}
    for org, path, events in [
        (org_key[0], "a", None),
        (org_key[0], "a-sent", ["delivery.sent"]),
        (org_key[0], "a-quiet", ["customer.cancelled"]),
        (other_org, "b", None),
    ]:
        _, secrets[f"/hooks/{path}"] = await setup_endpoint(
            runtime, org, f"{receiver.url}/{path}", events
        )
    created = await client.post("/v1/messages", json=message_body(), headers=auth)
    assert created.status_code == 201, created.text
    message_id = created.json()["id"]
    dispatched = await client.post(f"/v1/messages/{message_id}/dispatch", headers=auth)
    assert dispatched.status_code == 202, dispatched.text
    await run_jobs(runtime)
    by_path: dict[str, list[dict]] = {}
    for got in receiver.received:
        payload = Webhook(secrets[got.path]).verify(got.body, got.headers)
        by_path.setdefault(got.path, []).append(payload)
    assert set(by_path) == {"/hooks/a", "/hooks/a-sent"}
    assert {p["type"] for p in by_path["/hooks/a"]} >= {"message.dispatched", "delivery.sent"}
    assert [p["type"] for p in by_path["/hooks/a-sent"]] == ["delivery.sent"]
    assert by_path["/hooks/a-sent"][0]["data"]["delivery"]["message_id"] == message_id

    receiver.received.clear()
    event_id = await emit_event(runtime, other_org)
    await run_jobs(runtime)
    (got,) = receiver.received
    assert (got.path, got.headers["webhook-id"]) == ("/hooks/b", event_id)
    assert Webhook(secrets["/hooks/b"]).verify(got.body, got.headers)["type"] == "delivery.accepted"
