"""Documentd round trips through the real portal, in a real Chromium: a delivery opened in the
recipient's vault, a secure message read and answered, and the answer reaching the sender by
webhook, by the native replies API and by e-mail to ``senderEmail``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Page

from tests.compat.test_documentd import SENDER, add_sender, attach, documentd, prepare
from tests.fixtures import browser as chromium
from tests.fixtures.jwt import Client, key_pair, register_key
from tests.fixtures.receiver import Receiver, running_receiver
from tests.fixtures.smtp import ReceivedMail, SmtpServer
from tests.portal.test_browser import Portal, check_page, open_portal

browser = chromium.browser
page = chromium.page

pytestmark = [
    pytest.mark.browser,
    chromium.requires_chromium,
    pytest.mark.asyncio(loop_scope="session"),
]


@dataclass
class Company:
    portal: Portal
    client: Client
    hooks: Receiver

    async def dispatch(self, call: str, address: str, body: str) -> dict:
        """Prepare, attach and deliver or send through the dialect; the native delivery."""
        api = self.portal.api
        ref = await prepare(api, self.client, emailBody=body)
        await attach(api, self.client, ref, "invoice.pdf")
        sent = await api.post(
            f"/compat/documentd/1.0/emails/{ref}/{call}",
            json={"emailToList": [address]},
            headers=documentd(self.client),
        )
        assert sent.json() == {"success": True}, sent.text
        [delivery] = (await api.get(f"/v1/messages/{ref}")).json()["deliveries"]
        return dict(delivery)


@pytest_asyncio.fixture(loop_scope="session")
async def company(
    data_dir: Path, database_url: str, smtp_server: SmtpServer
) -> AsyncIterator[Company]:
    async with (
        running_receiver() as hooks,
        open_portal(
            data_dir, database_url, smtp_server, webhook_allowed_hosts="127.0.0.1"
        ) as portal,
    ):
        await add_sender(portal.api, {})
        pair = key_pair("RSA")
        endpoint = await portal.api.post(
            "/v1/webhook-endpoints", json={"url": hooks.url, "events": ["delivery.replied"]}
        )
        assert endpoint.status_code == 201, endpoint.text
        yield Company(portal, Client(pair, await register_key(portal.api, {}, pair)), hooks)


async def test_delivery_opened_in_the_vault(page: Page, company: Company) -> None:
    portal = company.portal
    delivery = await company.dispatch("deliver", "vault@example.test", "Your invoice.")
    assert delivery["mode"] == "deliver"
    await portal.notice(delivery, "en")  # the notification e-mail, then NOTIFIED

    await page.goto(portal.url("/vault"))
    await page.fill("#email", "vault@example.test")
    await page.click("form[action='/vault/code'] button")
    await page.fill("#code", await portal.code("vault@example.test", "en"))
    await page.click("form[action='/vault/verify'] button")
    assert await page.locator(".deliveries li a").all_inner_texts() == ["Your documents"]
    await page.click(f"a[href='/vault/d/{delivery['id']}']")
    text = await check_page(page, "en", "content")
    assert "Your documents" in text and "Your invoice." in text and "invoice.pdf" in text
    assert (await portal.status(delivery["id"]))["status"] == "received"


def is_reply_to_sender(mail: ReceivedMail) -> bool:
    return ".to-sender@" in str(mail.message["Message-ID"])


async def test_secure_message_answered_reaches_the_sender(page: Page, company: Company) -> None:
    portal = company.portal
    delivery = await company.dispatch("send", "secure@example.test", "Please sign it.")
    assert delivery["mode"] == "secure"
    await page.goto(await portal.notice(delivery, "en"))
    await page.click("form[action$='/open'] button")
    assert "Please sign it." in await check_page(page, "en", "no-reply")
    await page.fill("#body", "Signed, see attached.")
    await page.set_input_files(
        "#files", files=[{"name": "signed.txt", "mimeType": "text/plain", "buffer": b"signed"}]
    )
    await page.click("form[action$='/reply'] button")
    await check_page(page, "en", "reply-sent")

    # The native replies API.
    replies = (await portal.api.get(f"/v1/deliveries/{delivery['id']}/replies")).json()["data"]
    assert [(r["author"], r["body_text"]) for r in replies] == [
        ("recipient", "Signed, see attached.")
    ]
    assert [f["filename"] for f in replies[0]["attachments"]] == ["signed.txt"]
    # An e-mail to senderEmail, with the reply's text and its files named.
    mail = await portal.inbox.receive(SENDER, is_reply_to_sender)
    assert str(mail.message["Subject"]) == "Re: Your documents"
    assert "secure@example.test" in mail.text and "Signed, see attached." in mail.text
    assert "signed.txt" in mail.text and "Signed, see attached." in mail.html
    # The webhook.
    [hook] = await company.hooks.wait_for(1)
    event = json.loads(hook.body)
    assert event["type"] == "delivery.replied"
    assert event["data"]["delivery"]["id"] == delivery["id"]
    evidence = [e["type"] for e in (await portal.status(delivery["id"]))["evidence"]]
    assert evidence == ["SENT", "NOTIFIED", "RECEIVED", "REPLIED"]
