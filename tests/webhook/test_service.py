"""The rules of webhook events on their own: body size, retry schedule, retention, atomicity."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from email.utils import format_datetime

import pytest
from sqlalchemy import func, select, update

from tabellion.db import transaction
from tabellion.kit.time import utcnow
from tabellion.models.job import Job
from tabellion.models.webhook import Event, WebhookAttempt
from tabellion.runtime import Runtime
from tabellion.webhook import service
from tabellion.webhook.service import (
    MAX_ATTEMPTS,
    MAX_BODY_BYTES,
    RETRY_DELAYS,
    Outcome,
    event_body,
    next_delay,
    retry_delay,
)
from tests.fixtures.query_plans import query_plan, statements_run
from tests.webhook.test_delivery import attempts, setup_endpoint

NOW = utcnow()


def evidence(n: int) -> dict[str, object]:
    return {"id": f"evd_{n:04d}", "type": "DOWNLOADED", "event": "x" * 150, "occurred_at": "t"}


def size(body: str) -> int:
    return len(body.encode())


def test_small_body_is_exact_compact_json() -> None:
    body = event_body("evt_1", "delivery.accepted", NOW, {"delivery": {"id": "dlv_1", "n": "é"}})
    assert json.loads(body)["data"] == {"delivery": {"id": "dlv_1", "n": "é"}}
    assert ", " not in body and "é" in body


def test_oldest_evidence_gives_way_first_and_caller_data_is_untouched() -> None:
    history = [evidence(n) for n in range(300)]
    data = {"delivery": {"id": "dlv_1", "evidence": history}, "evidence": history[-1]}
    before = copy.deepcopy(data)
    body = event_body("evt_1", "delivery.downloaded", NOW, data)
    assert data == before  # the same data goes to a second audience
    assert MAX_BODY_BYTES - 300 < size(body) <= MAX_BODY_BYTES  # only as much as needed
    sent = json.loads(body)["data"]
    kept = sent["delivery"]["evidence"]
    assert kept == history[-len(kept) :]  # the newest are kept
    assert sent["delivery"]["evidence_truncated"] is True
    assert sent["evidence"] == history[-1]


def test_message_body_then_recipients_give_way() -> None:
    recipients = [{"email": f"r{n}@example.test", "name": "R" * 40} for n in range(2_000)]
    message = {
        "id": "msg_1",
        "subject": "S",
        "body_html": "<p>" + "x" * 60_000,
        "body_text": "y" * 60_000,
        "recipients": recipients,
        "recipient_count": 2_000,
        "attachments": [],
    }
    body = event_body("evt_1", "message.dispatched", NOW, {"message": message})
    assert MAX_BODY_BYTES - 80 < size(body) <= MAX_BODY_BYTES  # one recipient less would fit
    sent = json.loads(body)["data"]["message"]
    assert "body_html" not in sent and "body_text" not in sent
    assert sent["body_truncated"] is True
    assert sent["recipients"] == recipients[: len(sent["recipients"])]  # the first are kept
    assert 100 < len(sent["recipients"]) < 2_000
    assert sent["recipients_truncated"] is True
    assert sent["recipient_count"] == 2_000
    assert "attachments_truncated" not in sent

    # A large body alone: only the body goes.
    body = event_body(
        "evt_2", "message.dispatched", NOW, {"message": {**message, "recipients": []}}
    )
    sent = json.loads(body)["data"]["message"]
    assert sent["body_truncated"] is True and "recipients_truncated" not in sent


def test_anything_else_is_reduced_to_ids_then_to_a_flag() -> None:
    data = {"customer": {"id": "org_1", "name": "n" * 30_000}, "other": "z"}
    sent = json.loads(event_body("evt_1", "customer.accepted", NOW, data))["data"]
    assert sent == {"customer": {"id": "org_1"}, "truncated": True}
    sent = json.loads(event_body("evt_1", "customer.accepted", NOW, {"blob": "b" * 30_000}))
    assert sent["data"] == {"truncated": True}
    assert sent["type"] == "customer.accepted"


def test_multibyte_text_is_measured_in_bytes() -> None:
    data = {"customer": {"id": "org_1", "name": "€" * 6_000}}  # 6,000 characters, 18 kB
    body = event_body("evt_1", "customer.accepted", NOW, data)
    assert json.loads(body)["data"] == data
    data = {"customer": {"id": "org_1", "name": "€" * 7_000}}  # 21 kB
    assert size(event_body("evt_1", "customer.accepted", NOW, data)) <= MAX_BODY_BYTES


def test_retry_schedule_spans_about_three_days_with_jitter() -> None:
    assert RETRY_DELAYS == (5, 300, 1_800, 7_200, 18_000, 36_000, 50_400, 72_000, 86_400)
    assert MAX_ATTEMPTS == 10  # the first try and nine retries
    assert timedelta(days=2.9) < timedelta(seconds=sum(RETRY_DELAYS)) < timedelta(days=3.2)
    for attempt, base in enumerate(RETRY_DELAYS, 1):
        delays = {retry_delay(attempt) for _ in range(50)}
        assert all(0.9 * base <= d <= 1.1 * base for d in delays)
        assert len(delays) > 1  # jittered


@pytest.mark.parametrize(
    ("attempt", "retry_after", "low", "high"),
    [
        (1, 120.0, 120, 120),  # longer than the schedule: as asked
        (1, 1.0, 4.5, 5.5),  # shorter: the schedule
        (4, 60.0, 6_480, 7_920),
        (2, None, 270, 330),
    ],
)
def test_next_delay_honours_retry_after_and_the_schedule(
    attempt: int, retry_after: float | None, low: float, high: float
) -> None:
    outcome = Outcome(False, 429, 3, "HTTP 429", retry_after=retry_after)
    assert low <= next_delay(outcome, attempt) <= high


def test_retry_after_header_forms() -> None:
    parse = service._retry_after
    assert parse({"retry-after": "30"}) == 30
    assert parse({"retry-after": "0"}) == service.MIN_RETRY_AFTER
    assert parse({"retry-after": "99999999"}) == service.MAX_RETRY_AFTER
    in_a_minute = format_datetime(utcnow() + timedelta(seconds=60), usegmt=True)
    assert 55 <= (parse({"retry-after": in_a_minute}) or 0) <= 61
    assert parse({"retry-after": "soon"}) is None
    assert parse({"retry-after": "-5"}) is None
    assert parse({}) is None


async def test_event_and_its_jobs_commit_or_vanish_together(
    runtime: Runtime, org_key: tuple[str, str]
) -> None:
    await setup_endpoint(runtime, org_key[0], "http://127.0.0.1:9/a")
    await setup_endpoint(runtime, org_key[0], "http://127.0.0.1:9/b")

    async with runtime.sessions() as session:
        await service.emit(session, org_key[0], "delivery.accepted", {"n": 1})
        await session.rollback()  # the change that caused the event failed
    async with runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Event)) == 0
        assert await session.scalar(select(func.count()).select_from(Job)) == 0

    async with transaction(runtime.sessions) as session:
        event_id = await service.emit(session, org_key[0], "delivery.accepted", {"n": 2})
    async with runtime.sessions() as session:
        jobs = (await session.scalars(select(Job))).all()
    assert sorted(j.payload["event_id"] for j in jobs) == [event_id, event_id]
    assert {j.kind for j in jobs} == {service.DELIVER_TASK}


async def age(runtime: Runtime, event_id: str, days: float) -> None:
    async with transaction(runtime.sessions) as session:
        moment = utcnow() - timedelta(days=days)
        await session.execute(update(Event).where(Event.id == event_id).values(created_at=moment))


async def record_attempts(
    runtime: Runtime, org: str, endpoint_id: str, event_id: str, *ages_in_days: int
) -> list[int]:
    """One succeeded attempt of ``event_id`` for each age given, in that order; their ids."""
    async with transaction(runtime.sessions) as session:
        rows = [
            WebhookAttempt(
                organization_id=org,
                endpoint_id=endpoint_id,
                event_id=event_id,
                event_type="delivery.accepted",
                attempt=1,
                outcome="succeeded",
                created_at=utcnow() - timedelta(days=days),
            )
            for days in ages_in_days
        ]
        session.add_all(rows)
        await session.flush()
        return [row.id for row in rows]


async def test_events_are_kept_30_days_and_positions_never_restart(
    runtime: Runtime, org_key: tuple[str, str]
) -> None:
    org = org_key[0]

    async def emit() -> str:
        async with transaction(runtime.sessions) as session:
            return await service.emit(session, org, "delivery.accepted", {})

    async def feed(after: int = 0) -> list[Event]:
        async with transaction(runtime.sessions) as session:
            return await service.list_events(session, org, after=after, limit=100)

    old, month, recent = await emit(), await emit(), await emit()
    cursor = int((await feed())[-1].seq or 0)  # positions given: old, month, recent
    await age(runtime, old, 40)
    await age(runtime, month, 31)
    await age(runtime, recent, 36)  # the newest position, though past retention
    endpoint_id = (await setup_endpoint(runtime, org, "http://127.0.0.1:9/"))[0]
    await record_attempts(runtime, org, endpoint_id, old, 40)
    async with transaction(runtime.sessions) as session:
        assert await service.purge_events(session) == 1
    assert [e.id for e in await feed()] == [month, recent]  # 31 days: still there
    async with runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(WebhookAttempt)) == 0

    # Even once every event is past retention, positions go on from the last one given.
    await age(runtime, month, 40)
    async with transaction(runtime.sessions) as session:
        assert await service.purge_events(session) == 1
    later = await emit()
    assert [e.id for e in await feed(cursor)] == [later]


async def test_old_attempts_are_purged_through_their_ids(
    runtime: Runtime, org_key: tuple[str, str]
) -> None:
    """The purge deletes the attempts past retention by a range of ids, up to the first one
    kept, so it reads what it deletes rather than the whole table; an old attempt numbered
    after a recent one (a transaction that committed late) goes with a later purge."""
    org = org_key[0]
    endpoint_id = (await setup_endpoint(runtime, org, "http://127.0.0.1:9/"))[0]
    async with transaction(runtime.sessions) as session:
        event_id = await service.emit(session, org, "delivery.accepted", {})

    async def left() -> list[int]:
        return [attempt.id for attempt in await attempts(runtime)]

    kept = service.EVENT_RETENTION.days
    old = await record_attempts(runtime, org, endpoint_id, event_id, kept + 9, kept + 5, kept + 1)
    recent, late = await record_attempts(runtime, org, endpoint_id, event_id, 1, kept + 10)
    with statements_run(runtime.engine) as statements:
        async with transaction(runtime.sessions) as session:
            await service.purge_events(session)
    assert await left() == [recent, late]
    assert old[-1] < recent < late

    async with transaction(runtime.sessions) as session:
        await session.execute(
            update(WebhookAttempt)
            .where(WebhookAttempt.id == recent)
            .values(created_at=utcnow() - timedelta(days=kept + 1))
        )
    async with transaction(runtime.sessions) as session:
        await service.purge_events(session)
    assert await left() == []  # every attempt old: the range runs to the last id
    async with transaction(runtime.sessions) as session:
        await service.purge_events(session)  # and an empty table is no trouble

    if runtime.engine.dialect.name != "sqlite":
        return  # SQLite's query plans
    [(sql, args)] = [
        (sql, args) for sql, args in statements if sql.startswith("DELETE FROM webhook_attempts")
    ]
    plan = query_plan(runtime.settings.resolved_database_url, sql, args)
    assert plan[0] == "SEARCH webhook_attempts USING INTEGER PRIMARY KEY (rowid<?)", plan


async def test_an_event_goes_to_the_endpoints_that_want_it_in_their_format(
    runtime: Runtime, org_key: tuple[str, str]
) -> None:
    from tabellion.models.webhook import WebhookEndpoint
    from tests.fixtures.factories import create_org_with_key

    org = org_key[0]
    everything, _ = await setup_endpoint(runtime, org, "http://127.0.0.1:9/all")
    accepted_only, _ = await setup_endpoint(
        runtime, org, "http://127.0.0.1:9/acc", events=["delivery.accepted"]
    )
    async with transaction(runtime.sessions) as session:
        stampee, _ = await service.create_endpoint(
            session,
            org,
            url="http://127.0.0.1:9/stampee",
            events=["*"],
            description=None,
            signing_key=runtime.settings.signing_key,
            format_="stampee",
        )
        off, _ = await service.create_endpoint(
            session,
            org,
            url="http://127.0.0.1:9/off",
            events=["*"],
            description=None,
            signing_key=runtime.settings.signing_key,
        )
        (await session.get_one(WebhookEndpoint, off.id)).enabled = False
    other_org, _ = await create_org_with_key(runtime, "Other")
    await setup_endpoint(runtime, other_org, "http://127.0.0.1:9/other")

    async with transaction(runtime.sessions) as session:
        accepted = await service.emit(
            session, org, "delivery.accepted", {"delivery": {"id": "dlv_1"}}, delivery_id="dlv_1"
        )
        # STAMPEE's format has no payload for a dispatched message: its endpoint gets no job.
        dispatched = await service.emit(session, org, "message.dispatched", {"message": {}})
    async with runtime.sessions() as session:
        jobs = (await session.scalars(select(Job))).all()
        stored = {e.id: e for e in await session.scalars(select(Event))}
    routed = sorted((j.payload["event_id"], j.payload["endpoint_id"]) for j in jobs)
    assert routed == sorted(
        [
            (accepted, everything),
            (accepted, accepted_only),
            (accepted, stampee.id),
            (dispatched, everything),
        ]
    )
    assert accepted.startswith("evt_") and dispatched.startswith("evt_")
    assert (stored[accepted].organization_id, stored[accepted].delivery_id) == (org, "dlv_1")
    assert stored[dispatched].delivery_id is None

    async with transaction(runtime.sessions) as session:
        again = await service.redeliver(session, org, dispatched, endpoint_id=None)
        to_all = await service.redeliver(session, org, accepted, endpoint_id=None)
        to_stampee = await service.redeliver(session, org, accepted, endpoint_id=stampee.id)
        with pytest.raises(service.WebhookEndpointDisabled) as refused:
            await service.redeliver(session, org, accepted, endpoint_id=off.id)
    assert (again, to_stampee) == ([everything], [stampee.id])
    assert sorted(to_all) == sorted([everything, accepted_only, stampee.id])
    assert (
        str(refused.value) == f"Webhook endpoint {off.id} is disabled; enable it, then redeliver."
    )
