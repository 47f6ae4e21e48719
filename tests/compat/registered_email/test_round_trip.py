"""Round trips through the served app: send through the dialect, answer in the real portal in
Chromium (or let the deadline pass), then read the outcome as its sender does: the status
e-mail, the XML status (valid against the XSD) and the track-and-trace page in Chromium. After
an acceptance the recipient also finds the letter, its attachment and the proof in their
mailbox."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import httpx
import pytest
from playwright.async_api import Page
from sqlalchemy import select

from tabellion.db import transaction
from tabellion.kit.time import utcnow
from tabellion.message.service.lifecycle import expire
from tabellion.models.message import Delivery
from tabellion.models.organization import Organization
from tests.compat.registered_email.helpers import (
    PDF,
    SEND,
    SENDER,
    STATUS,
    active_sender,
    send_body,
    valid_xml,
)
from tests.fixtures import browser as chromium
from tests.fixtures.smtp import ReceivedMail
from tests.portal import test_browser
from tests.portal.helpers import is_notice_of, link_in
from tests.portal.test_browser import Portal, ask_and_enter_code

browser = chromium.browser
page = chromium.page
screenshots = chromium.screenshots
portal = test_browser.portal

pytestmark = [
    pytest.mark.browser,
    chromium.requires_chromium,
    pytest.mark.asyncio(loop_scope="session"),
]

RECIPIENT = "recipient@example.test"


def is_status(kind: str) -> object:
    return lambda mail: f".status.{kind}@" in str(mail.message["Message-ID"])


def is_copy(mail: ReceivedMail) -> bool:
    return ".copy@" in str(mail.message["Message-ID"])


async def send_and_open(portal: Portal, lang: str = "en") -> tuple[dict, str, str]:
    """Send through the dialect; returns its answer, the delivery id and the notice's link."""
    async with portal.runtime.sessions() as session:
        organization_id = await session.scalar(select(Organization.id))
    assert organization_id is not None
    await active_sender(portal.runtime, organization_id)
    response = await portal.api.post(SEND, json=send_body(recipient_language=lang))
    assert response.status_code == 200, response.text
    answer = response.json()
    delivery_id = answer["ticket_token"].split(".")[0]
    notice = await portal.inbox.receive(RECIPIENT, is_notice_of(delivery_id))
    await portal.until_status(delivery_id, "notified")
    return answer, delivery_id, link_in(notice)


async def answer_in_portal(
    page: Page, portal: Portal, link: str, decision: str, lang: str = "en"
) -> None:
    await page.goto(link)
    await ask_and_enter_code(page, portal, RECIPIENT, lang)
    await page.check("#confirm")
    await page.click(f"button[name=decision][value={decision}]")


async def xml_status(api: httpx.AsyncClient, token: str) -> str:
    document = valid_xml(await api.get(STATUS, params={"ticket_token": token}))
    [ticket] = document.findall("ticket")
    return str(ticket.findtext("status"))


async def track_page(page: Page, url: str, lang: str = "en") -> str:
    await page.goto(url + f"?lang={lang}")
    assert await page.get_attribute("html", "lang") == lang
    return await page.inner_text("body")


async def test_accept(page: Page, portal: Portal, screenshots: chromium.Screenshots) -> None:
    answer, delivery_id, link = await send_and_open(portal)
    await answer_in_portal(page, portal, link, "accept")
    await portal.until_status(delivery_id, "accepted")

    status_mail = await portal.inbox.receive(SENDER, is_status("accepted"))
    assert str(status_mail.message["Subject"]) == (
        "Registered e-mail accepted: this is the subject"
    )
    assert answer["ticket_url"] in status_mail.text

    copy = await portal.inbox.receive(RECIPIENT, is_copy, timeout=20)
    assert str(copy.message["Subject"]) == "this is the subject"
    assert "this is the e‑mail body" in copy.text
    files = {p.get_filename(): p.get_content() for p in copy.message.iter_attachments()}
    assert files["attachment.pdf"] == PDF
    proof = json.loads(files["acceptance-proof.json"])
    assert {"protected", "payload", "signature"} <= set(proof)

    assert await xml_status(portal.api, answer["ticket_token"]) == "accepted"
    text = await track_page(page, answer["ticket_url"])
    await screenshots.take(page, "tracking", "en")  # no sideways scrolling on a phone
    assert "Status: Accepted by the recipient" in text
    assert hashlib.sha256(PDF).hexdigest() in text
    steps = await page.locator("#timeline li").evaluate_all("els => els.map(li => li.dataset.type)")
    assert steps == ["SENT", "NOTIFIED", "ACCEPTED"]
    # Each proof link works without an API key.
    pdf_link = await page.locator("#timeline li[data-type=ACCEPTED] a").first.get_attribute("href")
    assert pdf_link is not None
    async with httpx.AsyncClient() as anonymous:
        proof_pdf = await anonymous.get(pdf_link)
    assert proof_pdf.status_code in (200, 202), proof_pdf.text


async def test_refuse(page: Page, portal: Portal, screenshots: chromium.Screenshots) -> None:
    answer, delivery_id, link = await send_and_open(portal, "nl")
    await answer_in_portal(page, portal, link, "refuse", "nl")
    await portal.until_status(delivery_id, "refused")
    status_mail = await portal.inbox.receive(SENDER, is_status("refused"))
    assert "Aangetekende e-mail geweigerd" in str(status_mail.message["Subject"])
    assert await xml_status(portal.api, answer["ticket_token"]) == "rejected"
    text = await track_page(page, answer["ticket_url"], "nl")
    await screenshots.take(page, "tracking", "nl")
    assert "Geweigerd door de ontvanger" in text and "Tijdlijn" in text
    assert not any(is_copy(m) for m in portal.inbox.smtp.to(RECIPIENT))


async def test_expiry(page: Page, portal: Portal, screenshots: chromium.Screenshots) -> None:
    answer, delivery_id, _ = await send_and_open(portal)
    async with transaction(portal.runtime.sessions) as session:
        delivery = await session.get(Delivery, delivery_id)
        assert delivery is not None
        delivery.deadline_at = utcnow() - timedelta(seconds=1)
    async with transaction(portal.runtime.sessions) as session:
        assert await expire(session, delivery_id)
    status_mail = await portal.inbox.receive(SENDER, is_status("expired"))
    assert "expired" in status_mail.text
    assert await xml_status(portal.api, answer["ticket_token"]) == "expired"
    text = await track_page(page, answer["ticket_url"])
    await screenshots.take(page, "tracking", "en")
    assert "Expired: not accepted in time" in text
