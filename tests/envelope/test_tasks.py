"""Timed jobs of envelopes: automatic reminders and expiry, with the clock moved by the test."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tabellion.db import transaction
from tabellion.envelope import signing
from tabellion.envelope.service import EnvelopeExpired
from tabellion.envelope.signing import Actor
from tabellion.models.envelope import Envelope
from tabellion.models.job import Job
from tabellion.models.webhook import Event
from tabellion.runtime import Runtime
from tests.envelope.helpers import invitations, outbox, ready_draft
from tests.envelope.test_pages import UA, _post, _token
from tests.message.test_endpoints import assert_problem, fields

SIGNER = {"email": "sam@example.test", "name": "Sam Signer", "role": "signer"}


async def _sent(client: httpx.AsyncClient, auth: dict[str, str], **extra: Any) -> dict[str, Any]:
    envelope, _ = await ready_draft(client, auth, recipients=[SIGNER], **extra)
    response = await client.post(f"/v1/envelopes/{envelope['id']}/send", headers=auth)
    assert response.status_code == 202, response.text
    sent: dict[str, Any] = response.json()
    return sent


async def travel(
    runtime: Runtime, envelope_id: str, delta: timedelta, *, jobs: bool = True
) -> None:
    """Let ``delta`` pass for an envelope: its times and its queued jobs move that far into
    the past, so the real worker runs what falls due, as it would after that time."""
    async with transaction(runtime.sessions) as session:
        envelope = await session.get(Envelope, envelope_id)
        assert envelope is not None and envelope.sent_at and envelope.expires_at
        envelope.sent_at -= delta
        envelope.expires_at -= delta
        if envelope.next_reminder_at is not None:
            envelope.next_reminder_at -= delta
        if not jobs:
            return
        for job in await session.scalars(select(Job).where(Job.status == "queued")):
            if job.payload.get("envelope_id") == envelope_id:
                job.run_at -= delta


async def _get(client: httpx.AsyncClient, auth: dict[str, str], envelope_id: str) -> Any:
    return (await client.get(f"/v1/envelopes/{envelope_id}", headers=auth)).json()


async def _events(runtime: Runtime) -> list[str]:
    async with runtime.sessions() as session:
        return list(await session.scalars(select(Event.type).order_by(Event.id)))


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_reminders_follow_the_envelope_settings(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str]
) -> None:
    envelope = await _sent(
        client, auth, reminders={"first_after_days": 5, "every_days": 2, "max": 2}
    )
    reminders = envelope["reminders"]
    assert reminders["sent"] == 0 and reminders["max"] == 2
    assert _at(reminders["next_at"]) - _at(envelope["sent_at"]) == timedelta(days=5)
    assert [m["Subject"] for m in await invitations(runtime)] == [
        "Acme asks you to sign \u201cService agreement\u201d"
    ]

    await travel(runtime, envelope["id"], timedelta(days=4, hours=23))
    assert len(await invitations(runtime)) == 1  # not due yet

    await travel(runtime, envelope["id"], timedelta(hours=1))
    mails = await invitations(runtime)
    assert len(mails) == 2
    assert mails[-1]["Subject"].startswith("Reminder: Acme asks you to sign")
    assert ".invite.1@" in mails[-1]["Message-ID"]
    state = await _get(client, auth, envelope["id"])
    assert state["reminders"]["sent"] == 1
    assert _at(state["reminders"]["next_at"]) - _at(state["updated_at"]) == timedelta(days=2)

    await travel(runtime, envelope["id"], timedelta(days=2))
    mails = await invitations(runtime)
    assert len(mails) == 3 and ".invite.2@" in mails[-1]["Message-ID"]
    state = await _get(client, auth, envelope["id"])
    assert state["reminders"]["sent"] == 2 and state["reminders"]["next_at"] is None

    await travel(runtime, envelope["id"], timedelta(days=20))
    assert len(await invitations(runtime)) == 3  # at most 2


async def test_no_reminder_once_the_recipient_signed_or_the_envelope_was_cancelled(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str]
) -> None:
    signed = await _sent(client, auth)
    token = await _token(runtime, signed["recipients"][0]["id"])
    [signature] = [f["id"] for f in signed["fields"]]
    response = await _post(client, token, "sign", {f"typed_{signature}": "Sam", "consent": "yes"})
    assert response.status_code == 303
    cancelled = await _sent(client, auth)
    response = await client.post(f"/v1/envelopes/{cancelled['id']}/cancel", headers=auth)
    assert response.json()["reminders"]["next_at"] is None
    before = len(await invitations(runtime))
    for envelope in (signed, cancelled):
        await travel(runtime, envelope["id"], timedelta(days=6))
    assert len(await invitations(runtime)) == before


async def test_no_reminder_when_switched_off_or_after_expiry(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str]
) -> None:
    off = await _sent(client, auth, reminders={"max": 0})
    assert off["reminders"]["next_at"] is None
    # Expiring in 3 days, before the first reminder (after 5): none is planned.
    short = await _sent(client, auth, expires_in_days=3)
    assert short["reminders"]["next_at"] is None
    async with runtime.sessions() as session:
        kinds = [j.kind for j in await session.scalars(select(Job).where(Job.status == "queued"))]
    assert "envelope.remind" not in kinds
    assert kinds.count("envelope.expire") == 2


async def test_expiry_ends_the_envelope(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str], org_key: tuple[str, str]
) -> None:
    envelope = await _sent(client, auth, expires_in_days=10)
    token = await _token(runtime, envelope["recipients"][0]["id"])
    assert (await client.get(f"/s/{token}", headers=UA)).status_code == 200

    await travel(runtime, envelope["id"], timedelta(days=9, hours=23))
    await outbox(runtime, ".expired@")
    assert (await _get(client, auth, envelope["id"]))["status"] == "pending"

    await travel(runtime, envelope["id"], timedelta(hours=1))
    mails = {m["To"]: m for m in await outbox(runtime, ".expired@")}
    assert set(mails) == {"sam@example.test", "admin@acme.test"}  # the organisation's
    assert f"Envelope {envelope['id']} expired" in str(
        mails["admin@acme.test"].get_body(("plain",))
    )
    mail = mails["sam@example.test"]
    assert mail["Subject"] == "Expired: \u201cService agreement\u201d"
    text = mail.get_body(("plain",))
    assert text is not None and "You no longer need to do anything" in text.get_content()
    state = await _get(client, auth, envelope["id"])
    assert state["status"] == "expired" and state["expired_at"] is not None
    assert state["reminders"]["next_at"] is None
    assert (await _events(runtime))[-1] == "envelope.expired"

    page = await client.get(f"/s/{token}", headers=UA)
    assert "This envelope is closed" in page.text and f"/s/{token}/sign" not in page.text
    assert_problem(
        await client.post(f"/v1/envelopes/{envelope['id']}/remind", headers=auth),
        409,
        "envelope-not-pending",
    )


async def test_the_signing_page_expires_an_envelope_whose_job_has_not_run(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str]
) -> None:
    envelope = await _sent(client, auth, expires_in_days=1)
    token = await _token(runtime, envelope["recipients"][0]["id"])
    await travel(runtime, envelope["id"], timedelta(days=1, seconds=1), jobs=False)
    # Signing past the time is refused even before anything marked the envelope expired.
    [signature] = [f["id"] for f in envelope["fields"]]
    async with runtime.sessions() as session:
        ctx = await signing.recipient_by_token(session, token)
        assert ctx is not None and ctx.envelope.status == "pending"
        with pytest.raises(EnvelopeExpired):
            await signing.sign(
                session, ctx, {signature: "Sam"}, consent=True, actor=Actor("127.0.0.1", "t")
            )
    page = await client.get(f"/s/{token}", headers=UA)
    assert "This envelope is closed" in page.text
    state = await _get(client, auth, envelope["id"])
    assert state["status"] == "expired"
    assert state["recipients"][0]["status"] == "sent"
    # The job, when it runs, finds nothing left to do: one event, one e-mail.
    await travel(runtime, envelope["id"], timedelta(days=1))
    assert len([m for m in await outbox(runtime, ".expired@") if m["To"] == SIGNER["email"]]) == 1
    assert (await _events(runtime)).count("envelope.expired") == 1


@pytest.mark.parametrize(
    ("reminders", "field"),
    [
        ({"max": 21}, "reminders.max"),
        ({"first_after_days": 0}, "reminders.first_after_days"),
        ({"every_days": "often"}, "reminders.every_days"),
        ({"weekly": True}, "reminders.weekly"),
    ],
)
async def test_bad_reminder_settings(
    client: httpx.AsyncClient, auth: dict[str, str], reminders: dict[str, Any], field: str
) -> None:
    body = {"title": "T", "recipients": [SIGNER], "reminders": reminders}
    response = await client.post("/v1/envelopes", json=body, headers=auth)
    problem = assert_problem(response, 422, "validation-failed")
    assert fields(problem) == [field]
