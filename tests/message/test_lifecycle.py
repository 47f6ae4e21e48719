"""The delivery lifecycle's rules on their own: who may answer when, what each step records.

The portal tests drive the same steps through pages; here each transition of
``message.service.lifecycle`` is checked against the database it leaves behind: status,
timestamps, evidence and its details, scheduled jobs.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import select, update

from tabellion.db import transaction
from tabellion.kit.time import utcnow
from tabellion.message.service import lifecycle
from tabellion.message.service.lifecycle import (
    Actor,
    DeliveryAlreadyAnswered,
    DeliveryClosed,
    DeliveryExpired,
    IdentityNotConfirmed,
    answer,
    can_reveal_content,
    confirm_identity,
    expire,
    record_download,
    record_opened,
    schedule_deadline,
)
from tabellion.models.base import table_of
from tabellion.models.evidence import Evidence
from tabellion.models.job import Job
from tabellion.models.message import Attachment, Delivery
from tabellion.runtime import Runtime
from tests.fixtures.factories import message_body
from tests.portal.helpers import dispatch, notify

ACTOR = Actor(method="email-otp", ip="203.0.113.7", user_agent="Firefox")


async def notified(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, **extra: object
) -> str:
    delivery = await dispatch(client, auth, **extra)
    await notify(runtime, delivery["id"])
    return str(delivery["id"])


async def load(runtime: Runtime, delivery_id: str) -> Delivery:
    async with runtime.sessions() as session:
        delivery = await session.get(Delivery, delivery_id)
    assert delivery is not None
    return delivery


async def evidence_of(runtime: Runtime, delivery_id: str) -> list[Evidence]:
    async with runtime.sessions() as session:
        rows = await session.scalars(
            select(Evidence)
            .where(Evidence.delivery_id == delivery_id)
            .order_by(Evidence.occurred_at, Evidence.id)
        )
        return list(rows)


async def change(runtime: Runtime, delivery_id: str, **values: object) -> None:
    async with transaction(runtime.sessions) as session:
        delivery = await session.get(Delivery, delivery_id)
        assert delivery is not None
        for name, value in values.items():
            setattr(delivery, name, value)


async def confirmed(runtime: Runtime, delivery_id: str, at: datetime) -> None:
    async with transaction(runtime.sessions) as session:
        delivery = await session.get(Delivery, delivery_id)
        assert delivery is not None
        await confirm_identity(session, delivery, actor=ACTOR, at=at)


async def try_answer(
    runtime: Runtime, delivery_id: str, *, accept: bool, at: datetime | None = None
) -> None:
    async with transaction(runtime.sessions) as session:
        delivery = await session.get(Delivery, delivery_id)
        assert delivery is not None
        await answer(session, delivery, accept=accept, actor=ACTOR, at=at)


def test_actor_details_are_what_evidence_records() -> None:
    at = datetime.fromisoformat("2026-03-01T10:00:00+00:00")
    assert ACTOR.details(at) == {
        "method": "email-otp",
        "ip": "203.0.113.7",
        "user_agent": "Firefox",
        "at": "2026-03-01T10:00:00+00:00",
    }


async def test_confirming_the_identity_records_who_and_when(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    delivery_id = await notified(client, auth, runtime)
    at = utcnow()
    await confirmed(runtime, delivery_id, at)
    delivery = await load(runtime, delivery_id)
    assert delivery.identity == {
        "confirmed": True,
        **ACTOR.details(at),
        "address": delivery.email,
    }
    assert delivery.updated_at == at


async def test_accepting_records_answer_receipt_and_evidence(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    delivery_id = await notified(client, auth, runtime)
    confirmed_at = utcnow()
    await confirmed(runtime, delivery_id, confirmed_at)
    at = confirmed_at + timedelta(seconds=5)
    await try_answer(runtime, delivery_id, accept=True, at=at)
    delivery = await load(runtime, delivery_id)
    assert (delivery.status, delivery.answered_at, delivery.received_at, delivery.updated_at) == (
        "accepted",
        at,
        at,
        at,
    )
    last = (await evidence_of(runtime, delivery_id))[-1]
    assert (last.type, last.occurred_at) == ("ACCEPTED", at)
    assert last.details == {"actor": ACTOR.details(at), "identity": delivery.identity}
    assert can_reveal_content(delivery) is True


async def test_refusing_records_the_answer_but_no_receipt(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    delivery_id = await notified(client, auth, runtime)
    await confirmed(runtime, delivery_id, utcnow())
    at = utcnow()
    await try_answer(runtime, delivery_id, accept=False, at=at)
    delivery = await load(runtime, delivery_id)
    assert (delivery.status, delivery.answered_at, delivery.received_at) == ("refused", at, None)
    last = (await evidence_of(runtime, delivery_id))[-1]
    assert (last.type, last.details["actor"]) == ("REFUSED", ACTOR.details(at))
    assert can_reveal_content(delivery) is False  # a refused letter stays closed


async def test_an_answer_keeps_an_earlier_receipt(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    delivery_id = await notified(client, auth, runtime)
    earlier = utcnow() - timedelta(hours=1)
    await change(runtime, delivery_id, received_at=earlier)
    await confirmed(runtime, delivery_id, utcnow())
    await try_answer(runtime, delivery_id, accept=True)
    assert (await load(runtime, delivery_id)).received_at == earlier


@pytest.mark.parametrize(
    ("status", "refusal", "message"),
    [
        ("accepted", DeliveryAlreadyAnswered, "This letter was already accepted."),
        ("refused", DeliveryAlreadyAnswered, "This letter was already refused."),
        ("expired", DeliveryExpired, "The deadline to accept or refuse this letter has passed."),
        ("undelivered", DeliveryClosed, "This letter could not be delivered."),
    ],
)
async def test_an_ended_letter_cannot_be_answered(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
    status: str,
    refusal: type[Exception],
    message: str,
) -> None:
    delivery_id = await notified(client, auth, runtime)
    await confirmed(runtime, delivery_id, utcnow())
    await change(runtime, delivery_id, status=status)
    before = len(await evidence_of(runtime, delivery_id))
    with pytest.raises(refusal) as refused:
        await try_answer(runtime, delivery_id, accept=True)
    assert str(refused.value) == message
    assert (await load(runtime, delivery_id)).status == status
    assert len(await evidence_of(runtime, delivery_id)) == before


async def test_the_deadline_is_the_last_moment_to_answer(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    late_id = await notified(client, auth, runtime)
    on_time_id = await notified(client, auth, runtime)
    for delivery_id in (late_id, on_time_id):
        await confirmed(runtime, delivery_id, utcnow())
    deadline = (await load(runtime, late_id)).deadline_at
    assert deadline is not None
    with pytest.raises(DeliveryExpired):
        await try_answer(runtime, late_id, accept=True, at=deadline + timedelta(microseconds=1))
    assert (await load(runtime, late_id)).status == "notified"
    on_time_deadline = (await load(runtime, on_time_id)).deadline_at
    assert on_time_deadline is not None
    await try_answer(runtime, on_time_id, accept=False, at=on_time_deadline)
    assert (await load(runtime, on_time_id)).status == "refused"


async def test_an_answer_needs_a_confirmed_identity(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    delivery_id = await notified(client, auth, runtime)
    with pytest.raises(IdentityNotConfirmed) as refused:
        await try_answer(runtime, delivery_id, accept=True)
    assert str(refused.value) == "Confirm the code sent to your address first."
    await change(runtime, delivery_id, identity={"confirmed": False})
    with pytest.raises(IdentityNotConfirmed):
        await try_answer(runtime, delivery_id, accept=True)
    assert (await load(runtime, delivery_id)).status == "notified"


async def test_only_registered_letters_are_answered(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    delivery_id = await notified(client, auth, runtime, mode="deliver")
    await confirmed(runtime, delivery_id, utcnow())
    with pytest.raises(DeliveryClosed) as refused:
        await try_answer(runtime, delivery_id, accept=True)
    assert str(refused.value) == "Only registered letters are accepted or refused."
    assert can_reveal_content(await load(runtime, delivery_id)) is True


async def test_a_registered_letter_hides_its_content_until_accepted(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    delivery_id = await notified(client, auth, runtime)
    assert can_reveal_content(await load(runtime, delivery_id)) is False


async def test_expiry_ends_an_unanswered_letter_at_its_deadline(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    delivery_id = await notified(client, auth, runtime)
    deadline = (await load(runtime, delivery_id)).deadline_at
    assert deadline is not None
    async with transaction(runtime.sessions) as session:
        early = await expire(session, delivery_id, now=deadline - timedelta(microseconds=1))
    assert early is False
    assert (await load(runtime, delivery_id)).status == "notified"
    async with transaction(runtime.sessions) as session:
        assert await expire(session, delivery_id, now=deadline) is True
    delivery = await load(runtime, delivery_id)
    assert (delivery.status, delivery.updated_at) == ("expired", deadline)
    last = (await evidence_of(runtime, delivery_id))[-1]
    assert (last.type, last.occurred_at) == ("EXPIRED", deadline)
    assert last.details == {"deadline_at": deadline.isoformat(), "reason": "no answer in time"}
    # A retried job changes nothing.
    async with transaction(runtime.sessions) as session:
        assert await expire(session, delivery_id, now=deadline + timedelta(days=1)) is False
    assert len([e for e in await evidence_of(runtime, delivery_id) if e.type == "EXPIRED"]) == 1


@pytest.mark.parametrize("status", ["accepted", "refused", "undelivered"])
async def test_expiry_leaves_an_ended_letter_alone(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, status: str
) -> None:
    delivery_id = await notified(client, auth, runtime)
    await change(runtime, delivery_id, status=status)
    async with transaction(runtime.sessions) as session:
        assert await expire(session, delivery_id, now=utcnow() + timedelta(days=365)) is False
    assert (await load(runtime, delivery_id)).status == status


async def test_expiry_of_a_letter_without_deadline_or_gone(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    delivery_id = await notified(client, auth, runtime, mode="deliver")
    async with transaction(runtime.sessions) as session:
        assert await expire(session, delivery_id, now=utcnow() + timedelta(days=365)) is False
        assert await expire(session, "dlv_gone") is False
    assert (await load(runtime, delivery_id)).status == "notified"


async def test_schedule_deadline_queues_expiry_and_future_reminders(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    delivery_id = (await dispatch(client, auth))["id"]
    deadline = utcnow() + timedelta(days=3)
    async with transaction(runtime.sessions) as session:
        delivery = await session.get(Delivery, delivery_id)
        assert delivery is not None
        delivery.deadline_at = deadline
        schedule_deadline(session, delivery, reminder_days=(7, 2, 1))
    async with runtime.sessions() as session:
        jobs = await session.scalars(
            select(Job).where(Job.kind.in_((lifecycle.EXPIRE_TASK, lifecycle.REMIND_TASK)))
        )
        scheduled = sorted(((j.kind, j.payload, j.run_at) for j in jobs), key=lambda j: j[2])
    # 7 days before a deadline 3 days away is past: no reminder for it.
    assert scheduled == [
        (
            "notification.send_reminder",
            {"delivery_id": delivery_id, "days_left": 2},
            deadline - timedelta(days=2),
        ),
        (
            "notification.send_reminder",
            {"delivery_id": delivery_id, "days_left": 1},
            deadline - timedelta(days=1),
        ),
        ("delivery.expire", {"delivery_id": delivery_id}, deadline),
    ]


async def test_no_deadline_schedules_nothing(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    delivery_id = (await dispatch(client, auth, mode="deliver"))["id"]
    async with transaction(runtime.sessions) as session:
        delivery = await session.get(Delivery, delivery_id)
        assert delivery is not None and delivery.deadline_at is None
        schedule_deadline(session, delivery)
    async with runtime.sessions() as session:
        kinds = set(await session.scalars(select(Job.kind)))
    assert not kinds & {lifecycle.EXPIRE_TASK, lifecycle.REMIND_TASK}


async def test_first_opening_is_the_receipt_of_a_non_registered_letter(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    delivery_id = await notified(client, auth, runtime, mode="deliver")
    at = utcnow()
    async with transaction(runtime.sessions) as session:
        delivery = await session.get(Delivery, delivery_id)
        assert delivery is not None
        assert await record_opened(session, delivery, actor=ACTOR, at=at) is True
        again = at + timedelta(minutes=1)
        assert await record_opened(session, delivery, actor=ACTOR, at=again) is False
    delivery = await load(runtime, delivery_id)
    assert (delivery.status, delivery.received_at, delivery.updated_at) == ("received", at, at)
    received = [e for e in await evidence_of(runtime, delivery_id) if e.type == "RECEIVED"]
    assert [(e.occurred_at, e.details) for e in received] == [(at, {"actor": ACTOR.details(at)})]


async def test_opening_a_registered_letter_is_no_receipt(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    delivery_id = await notified(client, auth, runtime)
    async with transaction(runtime.sessions) as session:
        delivery = await session.get(Delivery, delivery_id)
        assert delivery is not None
        assert await record_opened(session, delivery, actor=ACTOR) is False
    delivery = await load(runtime, delivery_id)
    assert (delivery.status, delivery.received_at) == ("notified", None)


async def test_each_attachments_first_download_is_evidence(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    delivery_id = await notified(client, auth, runtime, mode="deliver")
    at = utcnow()
    async with transaction(runtime.sessions) as session:
        delivery = await session.get(Delivery, delivery_id)
        assert delivery is not None
        (attachment,) = await session.scalars(
            select(Attachment).where(Attachment.message_id == delivery.message_id)
        )
        first = await record_download(session, delivery, attachment, actor=ACTOR, at=at)
        second = await record_download(session, delivery, attachment, actor=ACTOR)
        details = {
            "actor": ACTOR.details(at),
            "attachment": {
                "id": attachment.id,
                "filename": attachment.filename,
                "sha256": attachment.sha256,
            },
        }
    assert (first, second) == (True, False)
    delivery = await load(runtime, delivery_id)
    assert (delivery.downloaded, delivery.updated_at) == ([attachment.id], at)
    downloads = [e for e in await evidence_of(runtime, delivery_id) if e.type == "DOWNLOADED"]
    assert [(e.occurred_at, e.details) for e in downloads] == [(at, details)]


async def test_an_opening_recorded_meanwhile_is_not_recorded_again(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    """Two tabs open the letter at once: the second, having read the delivery before the first
    committed, finds the receipt under its row lock and records nothing."""
    delivery_id = await notified(client, auth, runtime, mode="deliver")
    first = utcnow()
    async with transaction(runtime.sessions) as session:
        stale = await session.get_one(Delivery, delivery_id)
        # The other tab's committed change, not seen by the object read before it.
        table = table_of(Delivery)
        await session.execute(
            update(table)
            .where(table.c.id == delivery_id)
            .values(received_at=first, status="received")
        )
        assert stale.received_at is None
        assert await record_opened(session, stale, actor=ACTOR) is False
    assert (await load(runtime, delivery_id)).received_at == first
    assert [e for e in await evidence_of(runtime, delivery_id) if e.type == "RECEIVED"] == []


async def test_downloads_of_several_files_and_one_recorded_meanwhile(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    created = await client.post("/v1/messages", json=message_body(mode="deliver"), headers=auth)
    message_id = created.json()["id"]
    for name in ("a.pdf", "b.pdf", "c.pdf"):
        uploaded = await client.post(
            f"/v1/messages/{message_id}/attachments?filename={name}",
            content=b"%PDF-1.4\n%%EOF\n",
            headers={**auth, "Content-Type": "application/pdf"},
        )
        assert uploaded.status_code == 201, uploaded.text
    dispatched = await client.post(f"/v1/messages/{message_id}/dispatch", headers=auth)
    delivery_id = dispatched.json()["deliveries"][0]["id"]
    await notify(runtime, delivery_id)
    async with transaction(runtime.sessions) as session:
        delivery = await session.get_one(Delivery, delivery_id)
        a, b, c = await session.scalars(
            select(Attachment)
            .where(Attachment.message_id == message_id)
            .order_by(Attachment.filename)
        )
        assert await record_download(session, delivery, a, actor=ACTOR) is True
        assert await record_download(session, delivery, b, actor=ACTOR) is True
        # Another tab downloaded c and committed after this delivery was read.
        table = table_of(Delivery)
        await session.execute(
            update(table).where(table.c.id == delivery_id).values(downloaded=[a.id, b.id, c.id])
        )
        assert delivery.downloaded == [a.id, b.id]
        assert await record_download(session, delivery, c, actor=ACTOR) is False
    assert (await load(runtime, delivery_id)).downloaded == [a.id, b.id, c.id]
    downloads = [e for e in await evidence_of(runtime, delivery_id) if e.type == "DOWNLOADED"]
    assert [e.details["attachment"]["filename"] for e in downloads] == ["a.pdf", "b.pdf"]
