"""What the notice's outcome does to a delivery (``message.service.delivery``): notified, one
at a time or in a batch, or undelivered; and the link token that opens it.

The notification tests drive these through the worker and a real SMTP server; here each
outcome is checked against the rows it leaves: status, deadline, evidence, jobs, events.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tabellion.db import transaction
from tabellion.errors import NotFound
from tabellion.kit.time import utcnow
from tabellion.message.service.delivery import (
    NoticeAccepted,
    acceptance_deadline,
    load_for_notice,
    mark_notified,
    mark_notified_many,
    mark_undelivered,
    portal_token,
    token_hash,
)
from tabellion.models.evidence import Evidence
from tabellion.models.job import Job
from tabellion.models.message import Delivery
from tabellion.models.webhook import Event
from tabellion.portal.service import delivery_by_token
from tabellion.runtime import Runtime
from tests.fixtures.factories import natural_recipient
from tests.portal.helpers import dispatch

TIMED = ("delivery.expire", "notification.send_reminder")


async def sent(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, **extra: object
) -> list[str]:
    """A dispatched message's delivery ids (pending: no notice recorded yet)."""
    delivery = await dispatch(client, auth, **extra)
    async with runtime.sessions() as session:
        rows = await session.scalars(
            select(Delivery.id).where(Delivery.message_id == delivery["message_id"])
        )
        return sorted(rows)


async def load(runtime: Runtime, delivery_id: str) -> Delivery:
    async with runtime.sessions() as session:
        delivery = await session.get(Delivery, delivery_id)
    assert delivery is not None
    return delivery


async def evidence_of(runtime: Runtime, delivery_id: str, kind: str) -> list[Evidence]:
    async with runtime.sessions() as session:
        rows = await session.scalars(
            select(Evidence).where(Evidence.delivery_id == delivery_id, Evidence.type == kind)
        )
        return list(rows)


async def timed_jobs(runtime: Runtime, delivery_id: str) -> list[tuple[str, Any, datetime]]:
    async with runtime.sessions() as session:
        jobs = await session.scalars(select(Job).where(Job.kind.in_(TIMED)))
        found = [(j.kind, j.payload, j.run_at) for j in jobs]
    return sorted(
        (j for j in found if j[1]["delivery_id"] == delivery_id), key=lambda j: (j[2], j[0])
    )


async def notified_events(runtime: Runtime) -> list[tuple[str, str | None]]:
    async with runtime.sessions() as session:
        rows = await session.execute(
            select(Event.organization_id, Event.delivery_id).where(
                Event.type == "delivery.notified"
            )
        )
        return sorted((r[0], r[1]) for r in rows)


async def test_a_registered_letter_notified_gets_its_deadline_and_timers(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, org_key: tuple[str, str]
) -> None:
    (delivery_id,) = await sent(client, auth, runtime, acceptance_days=15)
    at = utcnow()
    async with transaction(runtime.sessions) as session:
        delivery, _, _ = await load_for_notice(session, delivery_id)
        done = await mark_notified(
            session,
            delivery,
            at=at,
            notification_message_id="<n@test>",
            smtp_response="250 ok",
            reminder_days=(5, 1),
        )
    assert done is True
    delivery = await load(runtime, delivery_id)
    deadline = acceptance_deadline(at, 15, "Europe/Paris")
    assert (delivery.status, delivery.notified_at, delivery.updated_at) == ("notified", at, at)
    assert (delivery.notification_message_id, delivery.deadline_at) == ("<n@test>", deadline)
    assert await timed_jobs(runtime, delivery_id) == [
        (
            "notification.send_reminder",
            {"delivery_id": delivery_id, "days_left": 5},
            deadline - timedelta(days=5),
        ),
        (
            "notification.send_reminder",
            {"delivery_id": delivery_id, "days_left": 1},
            deadline - timedelta(days=1),
        ),
        ("delivery.expire", {"delivery_id": delivery_id}, deadline),
    ]
    (notice,) = await evidence_of(runtime, delivery_id, "NOTIFIED")
    assert (notice.occurred_at, notice.details) == (
        at,
        {
            "notification_message_id": "<n@test>",
            "smtp_response": "250 ok",
            "deadline_at": deadline.isoformat(),
        },
    )
    assert await notified_events(runtime) == [(org_key[0], delivery_id)]

    # The job retried after a crash records nothing twice.
    async with transaction(runtime.sessions) as session:
        delivery, _, _ = await load_for_notice(session, delivery_id)
        again = await mark_notified(
            session, delivery, at=at + timedelta(minutes=1), notification_message_id="<m@test>"
        )
    assert again is False
    assert (await load(runtime, delivery_id)).notification_message_id == "<n@test>"
    assert len(await evidence_of(runtime, delivery_id, "NOTIFIED")) == 1


async def test_a_letter_without_deadline_is_notified_without_timers(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    (delivery_id,) = await sent(client, auth, runtime, mode="deliver")
    at = utcnow()
    async with transaction(runtime.sessions) as session:
        delivery, _, _ = await load_for_notice(session, delivery_id)
        assert await mark_notified(session, delivery, at=at, notification_message_id="<n@t>")
    assert (await load(runtime, delivery_id)).deadline_at is None
    assert await timed_jobs(runtime, delivery_id) == []
    (notice,) = await evidence_of(runtime, delivery_id, "NOTIFIED")
    assert notice.details == {
        "notification_message_id": "<n@t>",
        "smtp_response": None,
        "deadline_at": None,
    }


async def test_a_batch_of_notices_is_recorded_as_one_by_one(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, org_key: tuple[str, str]
) -> None:
    # The settled one first: it is skipped, and the others after it are still recorded.
    (settled,) = await sent(client, auth, runtime)
    registered = await sent(
        client,
        auth,
        runtime,
        recipients=[natural_recipient(1), natural_recipient(2)],
        acceptance_days=3,
    )
    (plain,) = await sent(client, auth, runtime, mode="deliver")
    async with transaction(runtime.sessions) as session:
        delivery = await session.get_one(Delivery, settled)
        delivery.status = "undelivered"
    at = utcnow()

    async with transaction(runtime.sessions) as session:
        items = []
        for n, delivery_id in enumerate([*registered, plain, settled]):
            delivery = await session.get_one(Delivery, delivery_id)
            days = 3 if delivery_id in registered else None
            items.append(
                NoticeAccepted(
                    delivery=delivery,
                    acceptance_days=days,
                    timezone="America/New_York",
                    at=at,
                    notification_message_id=f"<{n}@test>",
                    smtp_response=f"250 queued {n}",
                )
            )
        statuses = await mark_notified_many(session, items, reminder_days=(2, 1))
    assert statuses == {**dict.fromkeys([*registered, plain], "notified"), settled: "undelivered"}

    deadline = acceptance_deadline(at, 3, "America/New_York")
    for n, delivery_id in enumerate(registered):
        delivery = await load(runtime, delivery_id)
        assert (delivery.status, delivery.notified_at, delivery.updated_at) == ("notified", at, at)
        assert (delivery.notification_message_id, delivery.deadline_at) == (f"<{n}@test>", deadline)
        assert await timed_jobs(runtime, delivery_id) == [
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
        (notice,) = await evidence_of(runtime, delivery_id, "NOTIFIED")
        assert (notice.occurred_at, notice.details) == (
            at,
            {
                "notification_message_id": f"<{n}@test>",
                "smtp_response": f"250 queued {n}",
                "deadline_at": deadline.isoformat(),
            },
        )
    delivery = await load(runtime, plain)
    assert (delivery.status, delivery.deadline_at) == ("notified", None)
    assert await timed_jobs(runtime, plain) == []
    (notice,) = await evidence_of(runtime, plain, "NOTIFIED")
    assert notice.details["deadline_at"] is None
    assert (await load(runtime, settled)).status == "undelivered"
    assert await evidence_of(runtime, settled, "NOTIFIED") == []
    assert await notified_events(runtime) == sorted((org_key[0], d) for d in [*registered, plain])
    # Each event shows the delivery as it now is and the NOTIFIED evidence that caused it.
    async with runtime.sessions() as session:
        bodies = list(
            await session.scalars(select(Event.body).where(Event.type == "delivery.notified"))
        )
    for body in bodies:
        data = json.loads(body)["data"]
        assert data["delivery"]["status"] == "notified"
        assert data["evidence"]["type"] == "NOTIFIED"
        assert data["evidence"] == data["delivery"]["evidence"][-1]
        assert [e["type"] for e in data["delivery"]["evidence"]] == ["SENT", "NOTIFIED"]
    assert len(bodies) == 3

    async with transaction(runtime.sessions) as session:
        assert await mark_notified_many(session, items[:1]) == {registered[0]: "notified"}
    assert len(await evidence_of(runtime, registered[0], "NOTIFIED")) == 1


async def test_a_reminder_already_past_is_not_scheduled(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    (delivery_id,) = await sent(client, auth, runtime, acceptance_days=1)
    at = utcnow()
    async with transaction(runtime.sessions) as session:
        delivery = await session.get_one(Delivery, delivery_id)
        item = NoticeAccepted(delivery, 1, "Europe/Paris", at, "<n@test>")
        await mark_notified_many(session, [item], reminder_days=(7, 2))
    deadline = acceptance_deadline(at, 1, "Europe/Paris")
    assert await timed_jobs(runtime, delivery_id) == [
        ("delivery.expire", {"delivery_id": delivery_id}, deadline)
    ]


async def test_a_bounce_makes_a_letter_undelivered_unless_it_ended(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    ids = await sent(client, auth, runtime, recipients=[natural_recipient(n) for n in range(7)])
    at = utcnow()
    statuses = ["pending", "notified", "undelivered", "accepted", "refused", "expired", "received"]
    async with transaction(runtime.sessions) as session:
        for delivery_id, status in zip(ids, statuses, strict=True):
            (await session.get_one(Delivery, delivery_id)).status = status
    outcomes = {}
    async with transaction(runtime.sessions) as session:
        for delivery_id, status in zip(ids, statuses, strict=True):
            delivery = await session.get_one(Delivery, delivery_id)
            outcomes[status] = await mark_undelivered(
                session, delivery, at=at, reason="550 no such user", smtp_code=550
            )
    assert outcomes == {
        "pending": True,
        "notified": True,  # a late bounce after the server first accepted
        "undelivered": False,
        "accepted": False,
        "refused": False,
        "expired": False,
        "received": False,
    }
    for delivery_id, status in zip(ids, statuses, strict=True):
        delivery = await load(runtime, delivery_id)
        bounced = await evidence_of(runtime, delivery_id, "UNDELIVERED")
        if outcomes[status]:
            assert (delivery.status, delivery.status_reason) == ("undelivered", "550 no such user")
            assert delivery.updated_at == at
            assert [(e.occurred_at, e.details) for e in bounced] == [
                (at, {"reason": "550 no such user", "smtp_code": 550})
            ]
        else:
            assert (delivery.status, bounced) == (status, [])


def test_the_link_token_is_an_hmac_of_id_and_salt() -> None:
    key = b"s" * 32
    token = portal_token(key, "dlv_1", "salt")
    digest = hmac.new(key, b"portal-token:dlv_1:salt", hashlib.sha256).digest()
    assert token == base64.urlsafe_b64encode(digest).decode().rstrip("=")
    assert len(token) == 43 and "=" not in token
    assert portal_token(key, "dlv_1", "other") != token
    assert portal_token(key, "dlv_2", "salt") != token
    assert token_hash(token) == hashlib.sha256(f"portal:{token}".encode()).hexdigest()


async def test_the_link_opens_its_own_delivery_only(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    first, second = await sent(
        client, auth, runtime, recipients=[natural_recipient(1), natural_recipient(2)]
    )
    async with runtime.sessions() as session:
        for delivery_id in (first, second):
            delivery = await session.get_one(Delivery, delivery_id)
            token = portal_token(runtime.settings.signing_key, delivery_id, delivery.token_salt)
            found = await delivery_by_token(session, token)
            assert found is not None and found.id == delivery_id
        assert await delivery_by_token(session, token[:-1]) is None


async def test_a_notice_for_a_delivery_that_is_gone(runtime: Runtime) -> None:
    async with runtime.sessions() as session:
        with pytest.raises(NotFound) as missing:
            await load_for_notice(session, "dlv_gone")
    assert str(missing.value) == "No delivery dlv_gone."


async def test_the_reseller_hears_of_a_notice_sent_on_behalf(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, org_key: tuple[str, str]
) -> None:
    from tests.organization.test_customers import answer, register_customer

    customer = await register_customer(client, auth)
    assert (await answer(client, runtime, customer["id"], "accept")).status_code == 200
    (delivery_id,) = await sent(client, auth, runtime, mode="deliver", on_behalf_of=customer["id"])
    async with transaction(runtime.sessions) as session:
        delivery = await session.get_one(Delivery, delivery_id)
        item = NoticeAccepted(delivery, None, "Europe/Paris", utcnow(), "<n@test>")
        assert await mark_notified_many(session, [item]) == {delivery_id: "notified"}
    assert await notified_events(runtime) == sorted(
        [(customer["id"], delivery_id), (org_key[0], delivery_id)]
    )
