"""The code of a registered letter by SMS, in Chromium: the recipient asks for it by text
message, the served app's worker sends it through the HTTP SMS provider to the test's HTTP
receiver, and the code read there opens the letter's answer."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page

from tabellion.runtime import Runtime
from tests.conftest import make_settings
from tests.fixtures import browser as chromium
from tests.fixtures.factories import bearer, create_org_with_key, message_body, natural_recipient
from tests.fixtures.receiver import running_receiver
from tests.fixtures.server import free_port, live_server
from tests.portal.helpers import notify

browser = chromium.browser
page = chromium.page

pytestmark = [
    pytest.mark.browser,
    chromium.requires_chromium,
    pytest.mark.asyncio(loop_scope="session"),
]


async def test_the_recipient_confirms_a_code_sent_by_sms(
    page: Page, data_dir: Path, database_url: str
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with running_receiver() as receiver:
        settings = make_settings(
            data_dir, database_url, public_url=base, sms_url=receiver.url + "/sms"
        )
        runtime = Runtime.build(settings, pool_size=5)
        try:
            _, secret = await create_org_with_key(runtime)
            async with (
                live_server(runtime, run_worker=True, port=port),
                httpx.AsyncClient(base_url=base, headers=bearer(secret), timeout=30) as api,
            ):
                recipient = {**natural_recipient(0), "phone": "+32 470 12 34 56"}
                body = message_body(recipients=[recipient])
                created = await api.post("/v1/messages?dispatch=true", json=body)
                assert created.status_code in (201, 202), created.text
                delivery_id = created.json()["deliveries"][0]["id"]
                link = base + await notify(runtime, delivery_id)

                await page.goto(link)
                await page.click("button[name=channel][value=sms]")
                await page.wait_for_selector("text=We sent a 6-digit code by text message")
                assert await page.locator("label[for=code]").inner_text() == (
                    "Code received by text message"
                )
                [sms] = [json.loads(r.body) for r in await receiver.wait_for(1)]
                assert sms["to"] == "+32470123456"
                match = re.search(r"\b\d{6}\b", sms["text"])
                assert match, sms
                await page.fill("input[name=code]", match.group(0))
                await page.click("form[action$='/verify'] button[type=submit]")
                await page.wait_for_selector("button[value=accept]")
        finally:
            await runtime.close()
