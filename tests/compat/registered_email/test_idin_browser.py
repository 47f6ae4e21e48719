"""iDIN end to end through the Registered E-mail dialect: the organisation turns iDIN on, a
registered e-mail goes out through ``/webservice/mailsender/send``, the recipient signs in at
the bank (npm's oidc-provider, configured as the ``idin`` preset) in Chromium and accepts; the
dialect's XML status (valid against the XSD) says who identified, with which provider and
level. And the other way: someone else signs in (mismatch, the sender sees it in the status),
then the right person does and refuses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from lxml import etree
from playwright.async_api import Browser, Page
from sqlalchemy import select

from tabellion.models.evidence import Evidence
from tabellion.runtime import Runtime
from tests.compat.registered_email.helpers import SEND, STATUS, active_sender, send_body, valid_xml
from tests.conftest import make_settings
from tests.fixtures import browser as chromium
from tests.fixtures.factories import bearer, create_org_with_key
from tests.fixtures.openid import CLIENT_ID, CLIENT_SECRET
from tests.fixtures.server import live_server
from tests.identity.test_browser import World, sign_in, world
from tests.portal.helpers import notify

browser = chromium.browser
__all__ = ["world"]

pytestmark = [
    pytest.mark.browser,
    chromium.requires_chromium,
    pytest.mark.requires_tools("node"),
    pytest.mark.asyncio(loop_scope="session"),
]

# The provider's accounts (tests.identity.test_browser.ACCOUNTS): "zoe" is ZOE Marie DUPONT
# DURAND born 1980-04-27; "mallory" is someone else.
NAMED = {
    "recipient_email": "zoe@example.test",
    "recipient_first_name": "Zoë",
    "recipient_last_name": "Dupont-Durand",
    "recipient_birth_date": "1980-04-27",
}


@dataclass
class Site:
    url: str
    runtime: Runtime
    api: httpx.AsyncClient


@pytest_asyncio.fixture(loop_scope="session")
async def site(world: World, data_dir: Path, database_url: str) -> AsyncIterator[Site]:
    world.relay.rewrite = None
    settings = make_settings(
        data_dir,
        database_url,
        public_url=f"http://127.0.0.1:{world.port}",
        identity_providers={
            # As an operator connects an iDIN broker: the preset, the broker's discovery URL.
            "idin": {
                "preset": "idin",
                "label": "Test Bank",
                "discovery_url": world.relay.discovery_url,
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
            },
        },
    )
    runtime = Runtime.build(settings, pool_size=2)
    try:
        async with live_server(runtime, port=world.port) as url:
            organization_id, secret = await create_org_with_key(runtime)
            await active_sender(runtime, organization_id)
            async with httpx.AsyncClient(base_url=url, headers=bearer(secret), timeout=30) as api:
                yield Site(url, runtime, api)
    finally:
        await runtime.close()


async def open_page(browser: Browser) -> AsyncIterator[Page]:
    async with chromium.open_page(browser) as fresh:
        # The provider's development pages import a web font; this machine has no Internet.
        await fresh.route("https://fonts.googleapis.com/**", lambda route: route.abort())
        yield fresh


page = pytest_asyncio.fixture(loop_scope="session")(open_page)


async def idin_default(site: Site, match: list[str]) -> None:
    asked = {"level": "substantial", "providers": ["idin"], "match": match}
    answer = await site.api.patch("/v1/organization", json={"identification": asked})
    assert answer.status_code == 200, answer.text


async def send(site: Site, **fields: Any) -> tuple[str, str, str]:
    """Through the dialect; the ticket token, the delivery id and the recipient's link."""
    sent = await site.api.post(SEND, json=send_body(**fields))
    assert sent.status_code == 200, sent.text
    token = sent.json()["ticket_token"]
    delivery_id = token.split(".")[0]
    return token, delivery_id, site.url + await notify(site.runtime, delivery_id)


async def ticket(site: Site, token: str) -> etree._Element:
    document = valid_xml(await site.api.get(STATUS, params={"ticket_token": token}))
    [node] = document.findall("ticket")
    return node


async def evidence_identity(site: Site, delivery_id: str, kind: str) -> dict[str, Any]:
    async with site.runtime.sessions() as session:
        [found] = await session.scalars(
            select(Evidence).where(Evidence.delivery_id == delivery_id, Evidence.type == kind)
        )
        return dict(found.details["identity"])


async def test_identified_with_idin_then_accepted(site: Site, page: Page) -> None:
    """The original's own fields only (address, no names): the bank's identity is recorded."""
    await idin_default(site, [])
    token, delivery_id, link = await send(site, recipient_email="zoe@example.test")
    before = await ticket(site, token)
    assert before.findtext("status") == "announced"
    identification = before.find("identification")
    assert identification is not None and identification.get("status") == "waiting"

    await sign_in(page, link, "zoe", provider="idin")
    assert page.url == link
    await page.check("#confirm")
    await page.click("button[value=accept]")
    await page.wait_for_selector("text=You accepted this letter on")

    after = await ticket(site, token)
    assert after.findtext("status") == "accepted"
    assert [e.get("type") for e in after.findall("events/event")][-1] == "ACCEPTED"
    identification = after.find("identification")
    assert identification is not None
    assert identification.get("status") == "identified"
    assert identification.get("level") == "substantial"
    done = identification.find("identified")
    assert done is not None
    assert done.get("provider") == "idin" and done.get("preset") == "idin"
    assert done.get("label") == "Test Bank"
    assert done.get("level_of_assurance") == "substantial"
    assert done.get("at", "").endswith("Z")
    assert done.findall("matched") == []
    identity = await evidence_identity(site, delivery_id, "ACCEPTED")
    assert identity["method"] == "oidc" and identity["provider"]["name"] == "idin"
    assert identity["subject"] == "zoe"


async def test_someone_else_then_the_recipient_who_refuses(
    site: Site, page: Page, browser: Browser
) -> None:
    """Names and birth date declared (the extension fields) and compared: Mallory's bank
    identity does not match (the status says so), Zoë's does; she refuses."""
    await idin_default(site, ["first_name", "last_name", "birth_date"])
    token, delivery_id, link = await send(site, **NAMED)

    await sign_in(page, link, "mallory", provider="idin")
    assert await page.text_content("h1") == "Your identity does not match this letter's recipient"
    blocked = await ticket(site, token)
    assert blocked.findtext("status") == "announced"
    reason = blocked.findtext("status_reason") or ""
    assert reason.startswith("identification-failed") and "first_name, last_name" in reason
    identification = blocked.find("identification")
    assert identification is not None and identification.get("status") == "mismatch"
    assert [m.text for m in identification.findall("match")] == [
        "first_name",
        "last_name",
        "birth_date",
    ]
    assert identification.find("identified") is None

    # Another browser (the provider remembers Mallory's session in the first one).
    async for other in open_page(browser):
        await sign_in(other, link, "zoe", provider="idin")
        assert other.url == link
        await other.check("#confirm")
        await other.click("button[value=refuse]")
        await other.wait_for_selector("text=You refused this letter on")

    refused = await ticket(site, token)
    assert refused.findtext("status") == "rejected"
    identification = refused.find("identification")
    assert identification is not None and identification.get("status") == "identified"
    done = identification.find("identified")
    assert done is not None and done.get("provider") == "idin"
    matched = {m.get("name"): m.text for m in done.findall("matched")}
    assert matched == {
        "first_name": "ZOE Marie",
        "last_name": "DUPONT DURAND",
        "birth_date": "1980-04-27",
    }
    identity = await evidence_identity(site, delivery_id, "REFUSED")
    assert identity["matched"] == ["first_name", "last_name", "birth_date"]
