"""Identification before signing, in Chromium against npm's oidc-provider: the signing page
shows no document until the signer signs in with a provider and matches what the sender
declared; the identity goes into the recipient's trail and the audit certificate. Someone
else is refused, the documents stay closed and the sender is told."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from joserfc import jwt
from playwright.async_api import Page
from sqlalchemy import func, select

from tabellion.envelope.completion import _recipient_lines
from tabellion.envelope.service import signing_token
from tabellion.models.envelope import EnvelopeRecipient
from tabellion.models.webhook import Event
from tests.envelope.helpers import field, pdf_bytes, upload
from tests.fixtures import browser as chromium
from tests.identity import test_browser as base
from tests.identity.test_browser import Site, sign_in
from tests.portal.helpers import latest_code

# The OpenID provider, served app and browser page of the letters' tests.
world = base.world
site = base.site
browser = base.browser
page = base.page

pytestmark = [
    pytest.mark.browser,
    chromium.requires_chromium,
    pytest.mark.requires_tools("node"),
    pytest.mark.asyncio(loop_scope="session"),
]

IDENTIFICATION = {
    "level": "substantial",
    "providers": ["bank"],
    "match": ["first_name", "last_name", "birth_date"],
    "first_name": "Zoë",
    "last_name": "Dupont-Durand",
    "birth_date": "1980-04-27",
}


async def envelope_for_zoe(site: Site) -> tuple[str, str, str]:
    """A sent envelope whose one signer must identify: its id, the recipient id, the link."""
    created = await site.api.post(
        "/v1/envelopes",
        json={
            "title": "Lease",
            "recipients": [
                {
                    "email": "zoe@example.test",
                    "name": "Zoë Dupont-Durand",
                    "identification": IDENTIFICATION,
                }
            ],
        },
    )
    assert created.status_code == 201, created.text
    envelope = created.json()
    [recipient] = envelope["recipients"]
    assert recipient["identification"]["declared"]["last_name"] == "Dupont-Durand"
    document = await upload(site.api, {}, envelope["id"], pdf_bytes(1))
    fields = [field(recipient["id"], document.json()["id"])]
    added = await site.api.post(f"/v1/envelopes/{envelope['id']}/fields", json={"fields": fields})
    assert added.status_code == 201, added.text
    sent = await site.api.post(f"/v1/envelopes/{envelope['id']}/send")
    assert sent.status_code == 202, sent.text
    async with site.runtime.sessions() as session:
        row = await session.get(EnvelopeRecipient, recipient["id"])
        assert row is not None
        token = signing_token(site.runtime.settings.signing_key, row.id, row.token_salt)
    return envelope["id"], recipient["id"], f"{site.url}/s/{token}"


async def recipient_row(site: Site, recipient_id: str) -> EnvelopeRecipient:
    async with site.runtime.sessions() as session:
        row = await session.get(EnvelopeRecipient, recipient_id)
        assert row is not None
        return row


async def test_identified_signer_signs(site: Site, page: Page) -> None:
    envelope_id, recipient_id, link = await envelope_for_zoe(site)
    # Without the sign-in: no page image, even with the link.
    async with httpx.AsyncClient(timeout=30) as anonymous:
        closed = await anonymous.get(link)
        assert 'id="identity-step"' in closed.text and "<img" not in closed.text
    await sign_in(page, link, "zoe")
    assert page.url == link
    await page.locator("img").first.wait_for()
    await page.fill("input.typed", "Zoe Dupont")
    await page.check("#consent")
    await page.click("form#act button[type=submit]")
    await page.locator("#outcome").wait_for()
    assert "You signed this document" in await page.inner_text("#outcome")

    row = await recipient_row(site, recipient_id)
    assert row.status == "signed"
    identified: dict[str, Any] = row.trail["identified"]  # type: ignore[index]
    assert identified["method"] == "oidc" and identified["confirmed"] is True
    assert identified["provider"] == {"name": "bank", "label": "Test Bank", "preset": "idin"}
    assert identified["matched"] == ["first_name", "last_name", "birth_date"]
    assert identified["subject"] == "zoe" and identified["issuer"] == site.provider.issuer
    token = identified["id_token"]
    assert token == site.relay.id_tokens[-1]
    assert jwt.decode(token, site.provider.key).claims["sub"] == "zoe"
    # The audit certificate names the identification.
    [line] = [x for x in _recipient_lines(row) if x.startswith("Identified:")]
    assert "Test Bank (bank), level substantial" in line and "subject zoe" in line
    view = (await site.api.get(f"/v1/envelopes/{envelope_id}")).json()
    assert view["recipients"][0]["status"] == "signed"


async def test_someone_else_cannot_open_and_the_sender_is_told(site: Site, page: Page) -> None:
    _, recipient_id, link = await envelope_for_zoe(site)
    await sign_in(page, link, "mallory")
    assert await page.text_content("h1") == "Your identity does not match the person asked to sign"
    assert "The sender has been told" in (await page.text_content("[role=alert]") or "")
    row = await recipient_row(site, recipient_id)
    assert row.status == "sent" and "identified" not in (row.trail or {})
    failed = (row.trail or {})["identification_failed"]
    assert failed["provider"] == "bank" and "first_name" in failed["mismatched"]
    async with site.runtime.sessions() as session:
        events = await session.scalar(
            select(func.count())
            .select_from(Event)
            .where(Event.type == "envelope.identification_failed")
        )
    assert events and events >= 1
    # Still closed: the identity step again, no document, no signing form.
    await page.goto(link)
    assert await page.locator("#identity-step").is_visible()
    assert await page.locator("img").count() == 0
    assert await page.locator("form#act").count() == 0


async def test_the_vault_asks_for_identification_before_the_answer(site: Site, page: Page) -> None:
    """Signed in to the vault with an e-mailed code, the recipient of a letter that asks for
    identification still signs in with a provider, and comes back to the vault to answer."""
    delivery_id, _ = await base.letter(site)
    await page.goto(f"{site.url}/vault")
    await page.fill("input[name=email]", "zoe@example.test")
    await page.click("form:has(input[name=email]) button[type=submit]")
    await page.wait_for_selector("input[name=code]")
    await page.fill("input[name=code]", await latest_code(site.runtime, "zoe@example.test"))
    await page.click("form:has(input[name=code]) button[type=submit]")
    await page.wait_for_url(f"{site.url}/vault")

    item = f"{site.url}/vault/d/{delivery_id}"
    await page.goto(item)
    assert await page.locator("#identity-step").is_visible()
    assert await page.locator("button[value=accept]").count() == 0
    await page.click("a[data-provider=bank]")
    await page.wait_for_selector("input[name=login]")
    await page.fill("input[name=login]", "zoe")
    await page.fill("input[name=password]", "any password")
    await page.click("button[type=submit]")
    await page.wait_for_url(item)
    await page.check("#confirm")
    await page.click("button[value=accept]")
    await page.wait_for_selector("text=You accepted this letter on")
    state = await base.recorded(site, delivery_id)
    assert state["status"] == "accepted"
    assert dict(state["evidence"])["ACCEPTED"]["identity"]["method"] == "oidc"
