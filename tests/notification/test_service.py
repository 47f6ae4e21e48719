"""Notification e-mails end to end: the API dispatches, the real worker sends through aiosmtpd.

Every test here runs with ``TABELLION_SMTP_URL`` pointing at the test SMTP server, except the
outbox test, which builds its own runtime without it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from babel.dates import format_date
from sqlalchemy import select, update

from tabellion.app import create_app
from tabellion.config import Settings
from tabellion.db import transaction
from tabellion.jobs.worker import Worker
from tabellion.kit.time import utcnow
from tabellion.message.service.lifecycle import EXPIRE_TASK, REMIND_TASK
from tabellion.message.service.message import NOTICE_TASK
from tabellion.models.evidence import Evidence
from tabellion.models.job import Job
from tabellion.models.message import Delivery
from tabellion.notification.service import send_notice
from tabellion.runtime import Runtime
from tests.conftest import make_settings
from tests.fixtures.factories import create_org_with_key, natural_recipient
from tests.fixtures.smtp import SmtpServer

MAIL_FROM = "Tabellion <no-reply@mail.tabellion.test>"


@pytest.fixture
def settings(data_dir: Path, database_url: str, smtp_server: SmtpServer) -> Settings:
    return smtp_server.settings(data_dir, database_url, mail_from=MAIL_FROM)


async def send_message(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    recipients: list[dict[str, object]],
    **extra: object,
) -> list[dict[str, Any]]:
    """Create and dispatch a message; returns its deliveries, in recipient order."""
    body = {
        "mode": "registered",
        "subject": "Notice of termination",
        "body_html": "<p>Dear Jane,</p>",
        "recipients": recipients,
        **extra,
    }
    created = await client.post("/v1/messages", json=body, headers=auth)
    assert created.status_code == 201, created.text
    response = await client.post(f"/v1/messages/{created.json()['id']}/dispatch", headers=auth)
    assert response.status_code == 202, response.text
    deliveries = response.json()["deliveries"]
    assert [d["status"] for d in deliveries] == ["pending"] * len(recipients)
    return sorted(
        deliveries, key=lambda d: [r["email"] for r in recipients].index(d["recipient"]["email"])
    )


async def run_worker(runtime: Runtime) -> int:
    return await Worker(runtime, concurrency=4).run_until_idle()


async def delivery(client: httpx.AsyncClient, auth: dict[str, str], delivery_id: str) -> dict:
    response = await client.get(f"/v1/deliveries/{delivery_id}", headers=auth)
    assert response.status_code == 200, response.text
    return response.json()


async def evidence_of(runtime: Runtime, delivery_id: str, kind: str) -> list[Evidence]:
    async with runtime.sessions() as session:
        rows = await session.scalars(
            select(Evidence).where(Evidence.delivery_id == delivery_id, Evidence.type == kind)
        )
        return list(rows)


async def notice_jobs(runtime: Runtime, delivery_id: str) -> list[Job]:
    async with runtime.sessions() as session:
        jobs = await session.scalars(select(Job).where(Job.kind == NOTICE_TASK))
        return [job for job in jobs if job.payload == {"delivery_id": delivery_id}]


# ---- accepted -----------------------------------------------------------------------------


async def test_dispatch_sends_one_notice_per_recipient(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, smtp_server: SmtpServer
) -> None:
    recipients = [
        natural_recipient(0, language="en"),
        natural_recipient(1, language="fr"),
        natural_recipient(2, language="de"),
    ]
    deliveries = await send_message(client, auth, recipients)

    await run_worker(runtime)

    received = await smtp_server.wait_for(3)
    assert len(received) == 3
    assert 1 <= smtp_server.connections <= runtime.settings.smtp_connections
    by_rcpt = {mail.rcpt_tos[0]: mail for mail in received}
    assert sorted(by_rcpt) == sorted(r["email"] for r in recipients)  # type: ignore[type-var]
    subjects = {
        "en": "A registered electronic letter awaits you",
        "fr": "Une lettre recommandée électronique vous attend",
        "de": "Ein elektronisches Einschreiben wartet auf Sie",
    }
    for recipient, sent in zip(recipients, deliveries, strict=True):
        mail = by_rcpt[str(recipient["email"])]
        # VERP: a late bounce names its delivery whatever the remote server does to the text.
        assert mail.envelope_from == f"bounces+{sent['id']}@mail.tabellion.test"
        assert mail.rcpt_tos == [recipient["email"]]
        assert mail.message["X-Tabellion-Delivery"] == sent["id"]
        assert mail.message["Message-ID"] == f"<{sent['id']}.notice@tabellion.test>"
        assert mail.message["From"] == MAIL_FROM
        assert mail.message["Subject"] == subjects[str(recipient["language"])]
        assert "http://tabellion.test/r/" in mail.text

        state = await delivery(client, auth, sent["id"])
        assert state["status"] == "notified"
        assert state["notified_at"] is not None
        assert state["deadline_at"] is not None  # registered: the acceptance deadline runs
        assert [e["type"] for e in state["evidence"]] == ["SENT", "NOTIFIED"]
        [notified] = await evidence_of(runtime, sent["id"], "NOTIFIED")
        assert notified.details["notification_message_id"] == mail.message["Message-ID"]
        assert notified.details["smtp_response"].startswith("2.0.0 Queued as test-")
        assert notified.details["deadline_at"] is not None

    async with runtime.sessions() as session:
        jobs = list(await session.scalars(select(Job).order_by(Job.id)))
        row = await session.get(Delivery, deliveries[0]["id"])
    assert row is not None and row.notification_message_id == f"<{row.id}.notice@tabellion.test>"
    notices = [job for job in jobs if job.kind == NOTICE_TASK]
    assert [(job.status, job.attempts) for job in notices] == [("done", 1)] * 3
    # The deadline and the reminders before it are scheduled for each delivery.
    expiries = [job for job in jobs if job.kind == EXPIRE_TASK]
    assert len(expiries) == 3 and all(job.status == "queued" for job in expiries)
    assert {job.payload["delivery_id"] for job in expiries} == {d["id"] for d in deliveries}
    assert len([job for job in jobs if job.kind == REMIND_TASK]) == 6


async def test_simple_mode_has_no_deadline(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, smtp_server: SmtpServer
) -> None:
    [sent] = await send_message(client, auth, [natural_recipient(0)], mode="simple")
    await run_worker(runtime)
    [mail] = await smtp_server.wait_for(1)
    assert mail.message["Subject"] == "Acme sent you a document: Notice of termination"
    state = await delivery(client, auth, sent["id"])
    assert state["status"] == "notified"
    assert state["deadline_at"] is None


# ---- refused for good ---------------------------------------------------------------------


async def test_a_550_makes_the_delivery_undelivered(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, smtp_server: SmtpServer
) -> None:
    smtp_server.refuse("jane1@example.test", 550)
    recipients = [natural_recipient(n) for n in range(3)]
    deliveries = await send_message(client, auth, recipients)

    await run_worker(runtime)

    received = await smtp_server.wait_for(2)
    assert sorted(m.rcpt_tos[0] for m in received) == ["jane0@example.test", "jane2@example.test"]
    states = [await delivery(client, auth, d["id"]) for d in deliveries]
    assert [s["status"] for s in states] == ["notified", "undelivered", "notified"]
    refused = states[1]
    assert "550" in refused["status_reason"] and "No such user" in refused["status_reason"]
    assert refused["notified_at"] is None and refused["deadline_at"] is None
    assert [e["type"] for e in refused["evidence"]] == ["SENT", "UNDELIVERED"]
    [undelivered] = await evidence_of(runtime, refused["id"], "UNDELIVERED")
    assert undelivered.details["smtp_code"] == 550
    assert "No such user" in undelivered.details["reason"]
    # Settled at once: no retry, and no deadline for a letter nobody received.
    [job] = await notice_jobs(runtime, refused["id"])
    assert (job.status, job.attempts) == ("done", 1)
    async with runtime.sessions() as session:
        expiries = list(await session.scalars(select(Job).where(Job.kind == EXPIRE_TASK)))
    assert refused["id"] not in {job.payload["delivery_id"] for job in expiries}


# ---- refused for now ----------------------------------------------------------------------


async def make_due(runtime: Runtime, job_id: int, *, attempts: int | None = None) -> None:
    values: dict[str, object] = {"run_at": utcnow() - timedelta(seconds=1)}
    if attempts is not None:
        values["attempts"] = attempts
    async with transaction(runtime.sessions) as session:
        await session.execute(update(Job).where(Job.id == job_id).values(**values))


async def test_a_451_is_retried_with_capped_backoff_and_never_undelivers(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, smtp_server: SmtpServer
) -> None:
    settings = runtime.settings
    smtp_server.refuse("jane0@example.test", 451)
    [sent] = await send_message(client, auth, [natural_recipient(0)])
    before = utcnow()

    await run_worker(runtime)
    after = utcnow()

    state = await delivery(client, auth, sent["id"])
    assert state["status"] == "pending"
    assert [e["type"] for e in state["evidence"]] == ["SENT"]
    [job] = await notice_jobs(runtime, sent["id"])
    assert (job.status, job.attempts) == ("queued", 1)
    # The base delay (60 s by default, ±10 %) after the first try, which happened between
    # ``before`` and ``after`` (however slow a busy machine runs the worker).
    base = settings.notice_retry_base_seconds
    assert base * 0.9 <= (job.run_at - before).total_seconds()
    assert (job.run_at - after).total_seconds() <= base * 1.1
    assert job.last_error is not None and "451 4.3.0 Mailbox busy" in job.last_error
    assert job.locked_by is None

    # Many tries later, refused again: still pending, the delay at its cap (an hour).
    await make_due(runtime, job.id, attempts=30)
    before = utcnow()
    await run_worker(runtime)
    after = utcnow()
    [job] = await notice_jobs(runtime, sent["id"])
    assert (job.status, job.attempts) == ("queued", 31)
    cap = settings.notice_retry_cap_seconds
    assert cap * 0.9 <= (job.run_at - before).total_seconds()
    assert (job.run_at - after).total_seconds() <= cap * 1.1
    assert (await delivery(client, auth, sent["id"]))["status"] == "pending"
    assert smtp_server.messages == []


async def test_relay_outage_past_the_window_leaves_the_delivery_pending(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, smtp_server: SmtpServer
) -> None:
    from tabellion.jobs.maintenance import retry_jobs

    smtp_server.stop()
    [sent] = await send_message(client, auth, [natural_recipient(0)])
    await run_worker(runtime)
    # Three days and more of outage: the job gives up, the letter is not failed for it.
    async with transaction(runtime.sessions) as session:
        await session.execute(
            update(Delivery)
            .where(Delivery.id == sent["id"])
            .values(created_at=utcnow() - timedelta(hours=runtime.settings.notice_retry_hours))
        )
    [job] = await notice_jobs(runtime, sent["id"])
    await make_due(runtime, job.id)
    await run_worker(runtime)
    [job] = await notice_jobs(runtime, sent["id"])
    assert (job.status, job.attempts) == ("dead", 2)
    assert job.last_error is not None
    assert "mail relay kept failing for 72 h" in job.last_error
    assert "cannot reach the SMTP server" in job.last_error
    state = await delivery(client, auth, sent["id"])
    assert state["status"] == "pending"
    assert [e["type"] for e in state["evidence"]] == ["SENT"]

    # The relay is back; the operator retries the dead job (`tabellion jobs retry --dead`).
    smtp_server.start()
    async with transaction(runtime.sessions) as session:
        assert await retry_jobs(session, all_dead=True) == 1
    await run_worker(runtime)
    assert (await delivery(client, auth, sent["id"]))["status"] == "notified"
    assert len(await smtp_server.wait_for(1)) == 1


@pytest.mark.parametrize("greeting", [None, b"421 4.3.2 Service not available\r\n"])
async def test_a_silent_or_busy_relay_is_retried_then_recovers(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
    smtp_server: SmtpServer,
    greeting: bytes | None,
) -> None:
    """A relay that accepts the connection and then says nothing (a timeout) or 421."""
    from tabellion.notification.smtp import SmtpTransport
    from tests.fixtures.smtp import scripted_relay

    working = runtime.mail
    [sent] = await send_message(client, auth, [natural_recipient(0)])
    async with scripted_relay(greeting) as port:
        runtime.mail = SmtpTransport.from_url(
            f"smtp://127.0.0.1:{port}?timeout=0.5", connections=runtime.settings.smtp_connections
        )
        try:
            await run_worker(runtime)
        finally:
            await runtime.mail.close()
            runtime.mail = working
    [job] = await notice_jobs(runtime, sent["id"])
    assert (job.status, job.attempts) == ("queued", 1)
    assert job.last_error is not None and "cannot reach the SMTP server" in job.last_error
    assert ("421" if greeting else "Timed out") in job.last_error
    assert (await delivery(client, auth, sent["id"]))["status"] == "pending"

    await make_due(runtime, job.id)
    await run_worker(runtime)
    assert (await delivery(client, auth, sent["id"]))["status"] == "notified"
    assert len(await smtp_server.wait_for(1)) == 1


async def test_a_451_then_accepted_is_notified(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, smtp_server: SmtpServer
) -> None:
    smtp_server.refuse("jane0@example.test", 451)
    [sent] = await send_message(client, auth, [natural_recipient(0)])
    await run_worker(runtime)
    [job] = await notice_jobs(runtime, sent["id"])
    assert job.status == "queued"

    smtp_server.accept("jane0@example.test")
    await make_due(runtime, job.id)
    await run_worker(runtime)

    [mail] = await smtp_server.wait_for(1)
    assert mail.message["X-Tabellion-Delivery"] == sent["id"]
    state = await delivery(client, auth, sent["id"])
    assert state["status"] == "notified"
    assert [e["type"] for e in state["evidence"]] == ["SENT", "NOTIFIED"]
    [job] = await notice_jobs(runtime, sent["id"])
    assert (job.status, job.attempts) == ("done", 2)


async def test_server_down_is_retried(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, smtp_server: SmtpServer
) -> None:
    smtp_server.stop()
    [sent] = await send_message(client, auth, [natural_recipient(0)])
    await run_worker(runtime)
    [job] = await notice_jobs(runtime, sent["id"])
    assert (job.status, job.attempts) == ("queued", 1)
    assert job.last_error is not None and "cannot reach the SMTP server" in job.last_error
    assert (await delivery(client, auth, sent["id"]))["status"] == "pending"

    smtp_server.start()  # the same port
    await make_due(runtime, job.id)
    await run_worker(runtime)
    assert (await delivery(client, auth, sent["id"]))["status"] == "notified"
    assert len(await smtp_server.wait_for(1)) == 1


# ---- idempotence --------------------------------------------------------------------------


async def test_a_settled_delivery_is_not_sent_again(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, smtp_server: SmtpServer
) -> None:
    smtp_server.refuse("jane1@example.test", 550)
    notified, undelivered = await send_message(
        client, auth, [natural_recipient(0), natural_recipient(1)]
    )
    await run_worker(runtime)
    assert len(await smtp_server.wait_for(1)) == 1
    first = await delivery(client, auth, notified["id"])

    # A duplicate run of the job (a lost lease, a retry after a crash) sends nothing.
    assert await send_notice(runtime, notified["id"]) == "notified"
    assert await send_notice(runtime, undelivered["id"], attempt=8) == "undelivered"
    assert await send_notice(runtime, "dlv_" + "0" * 26) == "gone"

    assert len(smtp_server.messages) == 1
    again = await delivery(client, auth, notified["id"])
    assert again["evidence"] == first["evidence"]
    assert again["notified_at"] == first["notified_at"]
    assert again["deadline_at"] == first["deadline_at"]


async def test_deadline_matches_the_notice(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, smtp_server: SmtpServer
) -> None:
    """The date the e-mail announces is the deadline the delivery records."""
    [sent] = await send_message(
        client, auth, [natural_recipient(0, language="fr")], acceptance_days=20
    )
    await run_worker(runtime)
    [mail] = await smtp_server.wait_for(1)
    async with runtime.sessions() as session:
        row = await session.get(Delivery, sent["id"])
    assert row is not None and row.deadline_at is not None
    local_day = row.deadline_at.astimezone(ZoneInfo("Europe/Paris")).date()
    assert format_date(local_day, format="long", locale="fr") in mail.text


# ---- without an SMTP server ---------------------------------------------------------------


@pytest.fixture
async def outbox_runtime(data_dir: Path, database_url: str) -> AsyncIterator[Runtime]:
    rt = Runtime.build(make_settings(data_dir, database_url, mail_from=MAIL_FROM), pool_size=5)
    try:
        yield rt
    finally:
        await rt.close()


async def test_without_smtp_notices_go_to_the_outbox(
    outbox_runtime: Runtime, smtp_server: SmtpServer
) -> None:
    runtime = outbox_runtime
    assert runtime.settings.smtp_url is None
    _, secret = await create_org_with_key(runtime)
    auth = {"Authorization": f"Bearer {secret}"}
    transport = httpx.ASGITransport(app=create_app(runtime=runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://tabellion.test") as client:
        deliveries = await send_message(
            client, auth, [natural_recipient(0), natural_recipient(1, language="nl")]
        )
        await run_worker(runtime)
        states = [await delivery(client, auth, d["id"]) for d in deliveries]

    assert [s["status"] for s in states] == ["notified", "notified"]
    outbox = runtime.settings.data_dir / "outbox"
    files = sorted(outbox.glob("*.eml"))
    assert len(files) == 2
    for sent in deliveries:
        [path] = [p for p in files if p.name.endswith(f"-{sent['id']}.notice_tabellion.test.eml")]
        raw = path.read_bytes()
        assert raw.startswith(f"Return-Path: <bounces+{sent['id']}@mail.tabellion.test>".encode())
        assert f"X-Tabellion-Delivery: {sent['id']}".encode() in raw
        [notified] = await evidence_of(runtime, sent["id"], "NOTIFIED")
        assert notified.details["smtp_response"] == f"written to outbox as {path.name}"
    assert smtp_server.messages == []
