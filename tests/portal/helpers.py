"""Shared steps of the portal tests: dispatch, notify, find links and codes."""

from __future__ import annotations

import asyncio
import email
import email.policy
import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage

import httpx
from sqlalchemy import select

from tabellion.db import transaction
from tabellion.evidence.verification.verify import verify_json_proof
from tabellion.jobs.worker import Worker
from tabellion.kit.sessions import derive_code
from tabellion.kit.time import utcnow
from tabellion.message.service.delivery import load_for_notice, mark_notified, portal_token
from tabellion.models.job import Job
from tabellion.models.message import Delivery
from tabellion.models.portal import OneTimeCode
from tabellion.runtime import Runtime
from tests.fixtures.factories import message_body, natural_recipient
from tests.fixtures.smtp import ReceivedMail, SmtpServer


async def dispatch(client: httpx.AsyncClient, auth: dict[str, str], **extra: object) -> dict:
    language = extra.pop("language", "en")
    fields: dict[str, object] = {
        "subject": "Secret subject",
        "body_html": "<p>Secret body</p>",
        "recipients": [natural_recipient(0, language=language)],
        **extra,
    }
    body = message_body(**fields)
    created = (await client.post("/v1/messages", json=body, headers=auth)).json()
    pdf = b"%PDF-1.4\n%%EOF\n"
    await client.post(
        f"/v1/messages/{created['id']}/attachments?filename=contract.pdf",
        content=pdf,
        headers={**auth, "Content-Type": "application/pdf"},
    )
    response = await client.post(f"/v1/messages/{created['id']}/dispatch", headers=auth)
    assert response.status_code == 202, response.text
    return response.json()["deliveries"][0]


async def notify(runtime: Runtime, delivery_id: str) -> str:
    """What the notification job does once the mail server accepts; returns the link path."""
    async with transaction(runtime.sessions) as session:
        delivery, _, _ = await load_for_notice(session, delivery_id)
        await mark_notified(session, delivery, at=utcnow(), notification_message_id="<x@test>")
        token = portal_token(runtime.settings.signing_key, delivery.id, delivery.token_salt)
    return f"/r/{token}"


async def reply_in_portal(
    client: httpx.AsyncClient,
    runtime: Runtime,
    delivery_id: str,
    body: str,
    files: dict[str, tuple[str, bytes, str]] | None = None,
) -> str:
    """As the recipient of a secure delivery: open it and reply; returns its link path."""
    link = await notify(runtime, delivery_id)
    landing = await client.get(link)
    await client.post(f"{link}/open", data={"csrf_token": csrf(landing.text)})
    token = csrf((await client.get(link)).text)
    reply = await client.post(
        f"{link}/reply", data={"csrf_token": token, "body": body}, files=files or {}
    )
    assert reply.status_code == 303, reply.text
    return link


async def latest_code(runtime: Runtime, subject: str) -> str:
    async with runtime.sessions() as session:
        code = await session.scalar(
            select(OneTimeCode)
            .where(OneTimeCode.subject == subject)
            .order_by(OneTimeCode.created_at.desc())
            .limit(1)
        )
    assert code is not None
    return derive_code(runtime.settings.signing_key, code.id)


async def age_codes(runtime: Runtime, subject: str) -> None:
    """Move codes into the past so a new one may be asked for at once."""
    async with transaction(runtime.sessions) as session:
        for code in await session.scalars(
            select(OneTimeCode).where(OneTimeCode.subject == subject)
        ):
            code.created_at -= timedelta(minutes=2)


async def signed_in(client: httpx.AsyncClient, runtime: Runtime, link: str, delivery: str) -> str:
    """Confirm the recipient's code on the delivery's page; returns the page's CSRF token."""
    page = await client.get(link)
    await client.post(f"{link}/code", data={"csrf_token": csrf(page.text)})
    code = await latest_code(runtime, delivery)
    verified = await client.post(
        f"{link}/verify", data={"code": code, "csrf_token": csrf(page.text)}
    )
    assert verified.status_code == 303, verified.text
    return csrf(page.text)


async def ready_to_answer(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> tuple[dict, str, str]:
    """A registered letter notified, its recipient's identity confirmed: the delivery, its
    link and the page's CSRF token."""
    delivery = await dispatch(client, auth)
    link = await notify(runtime, delivery["id"])
    return delivery, link, await signed_in(client, runtime, link, delivery["id"])


async def accepted_letter(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> tuple[dict, str, dict]:
    """A registered letter, accepted: its delivery, its link and its attachment."""
    delivery, link, token = await ready_to_answer(client, auth, runtime)
    answer = {"decision": "accept", "confirm": "yes", "csrf_token": token}
    assert (await client.post(f"{link}/answer", data=answer)).status_code == 303
    message = (await client.get(f"/v1/messages/{delivery['message_id']}", headers=auth)).json()
    return delivery, link, message["attachments"][0]


def csrf(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


@dataclass(frozen=True)
class CodeSent:
    """A registered letter notified, its page open, a code sent to the recipient."""

    delivery_id: str
    link: str
    token: str  # the page's form token
    code: str  # the code sent


async def code_sent(client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime) -> CodeSent:
    delivery = await dispatch(client, auth)
    link = await notify(runtime, delivery["id"])
    token = csrf((await client.get(link)).text)
    await client.post(f"{link}/code", data={"csrf_token": token})
    return CodeSent(delivery["id"], link, token, await latest_code(runtime, delivery["id"]))


async def vault_sign_in(client: httpx.AsyncClient, runtime: Runtime, email: str) -> None:
    """Sign in to the vault with the code mailed to ``email``."""
    form = await client.get("/vault")
    await client.post("/vault/code", data={"email": email, "csrf_token": csrf(form.text)})
    asked = await client.get("/vault?step=code")
    code = await latest_code(runtime, email)
    signed = await client.post(
        "/vault/verify", data={"email": email, "code": code, "csrf_token": csrf(asked.text)}
    )
    assert signed.status_code == 303, signed.text


async def attachment_ids(client: httpx.AsyncClient, auth: dict[str, str], delivery: dict) -> list:
    message = (await client.get(f"/v1/messages/{delivery['message_id']}", headers=auth)).json()
    return [a["id"] for a in message["attachments"]]


async def status_of(client: httpx.AsyncClient, auth: dict[str, str], delivery_id: str) -> dict:
    return (await client.get(f"/v1/deliveries/{delivery_id}", headers=auth)).json()


async def proof_content(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, evidence_id: str
) -> dict:
    """An evidence's JSON proof as the sender fetches it (sealed first by the worker), checked
    by the verifier: its content."""
    from tests.evidence.helpers import trust_of  # it imports this module

    await Worker(runtime, poll_interval=0.05).run_until_idle()
    proof = await client.get(f"/v1/evidence/{evidence_id}", headers=auth)
    assert proof.status_code == 200, proof.text
    verdict = verify_json_proof(proof.content, trust_of(runtime))
    assert verdict.authentic and verdict.content is not None, verdict.problems
    return verdict.content


async def get_delivery(runtime: Runtime, delivery_id: str) -> Delivery:
    async with runtime.sessions() as session:
        delivery = await session.get(Delivery, delivery_id)
    assert delivery is not None
    return delivery


# ---- e-mails as a recipient reads them --------------------------------------------------------

LINK = re.compile(r"https?://[^\s\"'<>]+/r/[A-Za-z0-9_-]+")
CODE = re.compile(r"(?<!\d)\d{6}(?!\d)")


def _only(found: list[str], what: str, text: str) -> str:
    distinct = list(dict.fromkeys(found))
    assert len(distinct) == 1, f"{what}: {distinct} in {text}"
    return distinct[0]


def link_in(mail: ReceivedMail) -> str:
    """The portal link of an e-mail: the one link of its text part, also a link of its HTML."""
    link = _only(LINK.findall(mail.text), "link", mail.text)
    hrefs = [html.unescape(h) for h in re.findall(r'href="([^"]+)"', mail.html)]
    assert link in hrefs, f"{link} not a link of {mail.html}"
    return link


def code_in(mail: ReceivedMail) -> str:
    """The 6-digit code of a code e-mail, the same in its text, its HTML and its subject."""
    code = _only(CODE.findall(mail.text), "code", mail.text)
    assert code in CODE.findall(mail.html), mail.html
    assert code in str(mail.message["Subject"])
    return code


def is_notice_of(delivery_id: str) -> Callable[[ReceivedMail], bool]:
    return lambda mail: mail.message["X-Tabellion-Delivery"] == delivery_id


def is_code(mail: ReceivedMail) -> bool:
    return ".code@" in str(mail.message["Message-ID"])


def is_answer(mail: ReceivedMail) -> bool:
    """The e-mail telling a recipient that the sender answered in a secure thread."""
    return ".answer@" in str(mail.message["Message-ID"])


@dataclass
class Inbox:
    """What the test SMTP server received, read once each, as a recipient would."""

    smtp: SmtpServer
    _read: set[int] = field(default_factory=set)

    async def receive(
        self, address: str, match: Callable[[ReceivedMail], bool], *, timeout: float = 30.0
    ) -> ReceivedMail:
        """The first unread e-mail to ``address`` that ``match``es, waiting for it to arrive.

        ``timeout`` bounds a slow machine's wait, not the product's speed: on a 2-core machine
        running the suite's two workers and Chromium, a notice once took over 10 s (a notice
        whose send failed would be retried only after a minute, past this bound as well)."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    for mail in self.smtp.to(address):
                        # The server keeps every message it received: ids stay unique.
                        if id(mail) not in self._read and match(mail):
                            self._read.add(id(mail))
                            return mail
                    await asyncio.sleep(0.01)
        except TimeoutError:
            received = [str(m.message["Subject"]) for m in self.smtp.to(address)]
            raise AssertionError(f"no such e-mail to {address}; received {received}") from None


def outbox_read(runtime: Runtime, marker: str) -> list[EmailMessage]:
    """The e-mails written to the outbox (no SMTP set) whose Message-ID contains ``marker``."""
    mails = []
    for path in sorted(runtime.settings.outbox_dir.glob("*.eml")):
        mail = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(mail, EmailMessage)
        if marker in str(mail["Message-ID"]):
            mails.append(mail)
    return mails


async def outbox_mails(runtime: Runtime, kind: str) -> list[EmailMessage]:
    """Run the jobs due, then read the e-mails written to the outbox (no SMTP set) whose
    Message-ID says they are of ``kind`` (``code``, ``to-sender``...)."""
    await Worker(runtime, poll_interval=0.05).run_until_idle()
    return outbox_read(runtime, f".{kind}@")


async def outbox_codes(runtime: Runtime) -> list[EmailMessage]:
    return await outbox_mails(runtime, "code")


async def travel(runtime: Runtime, delivery_id: str, delta: timedelta) -> None:
    """Let ``delta`` pass for a delivery: its deadline and its queued jobs move that far into
    the past, so the real worker runs what falls due, as it would after that time."""
    async with transaction(runtime.sessions) as session:
        delivery = await session.get(Delivery, delivery_id)
        assert delivery is not None and delivery.deadline_at is not None
        delivery.deadline_at -= delta
        for job in await session.scalars(select(Job).where(Job.status == "queued")):
            if job.payload.get("delivery_id") == delivery_id:
                job.run_at -= delta
