"""After an outcome: the sender's status e-mail, the recipient's mailbox copy (attachments up
to the size setting, links above it, the sealed acceptance proof), through the real worker."""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import json
from email.message import EmailMessage
from pathlib import Path

import httpx

from tabellion.db import transaction
from tabellion.jobs.worker import Worker
from tabellion.message.service.lifecycle import Actor, answer, confirm_identity
from tabellion.models.message import Delivery
from tabellion.runtime import Runtime
from tests.compat.registered_email.helpers import (
    PDF,
    SEND,
    SENDER,
    active_sender,
    app_with,
    send_body,
)
from tests.fixtures.factories import bearer, message_body

ACTOR = Actor(method="email-otp", ip="127.0.0.1", user_agent="test")


def outbox(runtime: Runtime) -> list[EmailMessage]:
    mails = []
    for path in sorted(runtime.settings.outbox_dir.glob("*.eml")):
        mail = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(mail, EmailMessage)
        mails.append(mail)
    return mails


def by_kind(runtime: Runtime, kind: str) -> list[EmailMessage]:
    return [m for m in outbox(runtime) if f".{kind}@" in str(m["Message-ID"])]


async def until_sent(worker: Worker, kind: str) -> list[EmailMessage]:
    """Run the jobs until an e-mail of this kind was written (a job may wait for a seal)."""
    async with asyncio.timeout(10):
        while not (found := by_kind(worker.runtime, kind)):
            await worker.run_until_idle()
            await asyncio.sleep(0.1)
    return found


async def accept(runtime: Runtime, delivery_id: str, *, accept_it: bool = True) -> None:
    async with transaction(runtime.sessions) as session:
        delivery = await session.get(Delivery, delivery_id)
        assert delivery is not None
        await confirm_identity(session, delivery, actor=ACTOR)
        await answer(session, delivery, accept=accept_it, actor=ACTOR)


async def test_copy_attaches_small_files_and_links_large_ones(
    org_key: tuple[str, str], data_dir: Path, database_url: str
) -> None:
    small, large = PDF, b"%PDF-1.4\n" + b"x" * 5000
    files = [
        {"attachment": base64.b64encode(data).decode(), "attachment_name": name}
        for data, name in ((small, "small.pdf"), (large, "large.pdf"))
    ]
    async with app_with(data_dir, database_url, mailbox_copy_max_bytes=1000) as (runtime, c):
        await active_sender(runtime, org_key[0])
        sent = await c.post(SEND, json=send_body(attachments=files), headers=bearer(org_key[1]))
        assert sent.status_code == 200, sent.text
        delivery_id = sent.json()["ticket_token"].split(".")[0]
        worker = Worker(runtime, poll_interval=0.05)
        await worker.run_until_idle()
        await accept(runtime, delivery_id)
        [copy] = await until_sent(worker, "copy")
        assert copy["To"] == "recipient@example.test"
        attached = {p.get_filename(): p.get_content() for p in copy.iter_attachments()}
        assert set(attached) == {"small.pdf", "acceptance-proof.json"}
        assert attached["small.pdf"] == small
        proof = json.loads(attached["acceptance-proof.json"])
        payload = json.loads(base64.urlsafe_b64decode(proof["payload"] + "=="))
        assert "ACCEPTED" in json.dumps(payload)
        text = copy.get_body(preferencelist=("plain",))
        assert text is not None
        body = text.get_content()
        assert "large.pdf" in body and "http://tabellion.test/r/" in body

        [status] = by_kind(runtime, "status.accepted")
        assert status["To"] == SENDER
        assert str(status["Subject"]) == "Registered e-mail accepted: this is the subject"
        plain = status.get_body(preferencelist=("plain",))
        assert plain is not None and sent.json()["ticket_url"] in plain.get_content()


async def test_native_messages_choose_their_follow_ups(
    client: httpx.AsyncClient, auth: dict[str, str], org_key: tuple[str, str], runtime: Runtime
) -> None:
    await active_sender(runtime, org_key[0])
    plain = message_body()
    with_options = message_body(
        sender={"email": SENDER}, copy_to_mailbox_after_acceptance=True, notify_sender=True
    )
    delivery_ids = []
    for body in (plain, with_options):
        created = (await client.post("/v1/messages?dispatch=false", json=body, headers=auth)).json()
        assert created["copy_to_mailbox_after_acceptance"] is (body is with_options)
        dispatched = await client.post(f"/v1/messages/{created['id']}/dispatch", headers=auth)
        delivery_ids.append(dispatched.json()["deliveries"][0]["id"])
    worker = Worker(runtime, poll_interval=0.05)
    await worker.run_until_idle()
    await accept(runtime, delivery_ids[0])
    await accept(runtime, delivery_ids[1], accept_it=False)
    await worker.run_until_idle()
    # The plain message sends nothing more; the other was refused: a status, no copy.
    assert by_kind(runtime, "copy") == []
    [status] = by_kind(runtime, "status.refused")
    assert delivery_ids[1] in str(status["Message-ID"])

    wrong = await client.post(
        "/v1/messages",
        json=message_body(mode="simple", copy_to_mailbox_after_acceptance=True),
        headers=auth,
    )
    assert wrong.status_code == 422
    assert "copy_to_mailbox_after_acceptance" in wrong.text
    no_sender = await client.post(
        "/v1/messages", json=message_body(notify_sender=True), headers=auth
    )
    assert no_sender.status_code == 422


async def test_the_sender_hears_of_an_undelivered_letter(
    client: httpx.AsyncClient, auth: dict[str, str], org_key: tuple[str, str], runtime: Runtime
) -> None:
    from tabellion.kit.time import utcnow
    from tabellion.message.service.delivery import mark_undelivered

    await active_sender(runtime, org_key[0])
    sent = (await client.post(SEND, json=send_body(), headers=auth)).json()
    delivery_id = sent["ticket_token"].split(".")[0]
    async with transaction(runtime.sessions) as session:
        delivery = await session.get(Delivery, delivery_id)
        assert delivery is not None
        await mark_undelivered(
            session, delivery, at=utcnow(), reason="550 5.1.1 no such user", smtp_code=550
        )
    worker = Worker(runtime, poll_interval=0.05)
    [status] = await until_sent(worker, "status.undelivered")
    assert status["To"] == SENDER
    assert str(status["Subject"]) == "Registered e-mail not delivered: this is the subject"
    assert by_kind(runtime, "copy") == []
