"""Recipient identity in a real Chromium against a real OpenID provider (npm's oidc-provider).

notice → "Continue with Test Bank" → the provider's login → back → identity matched →
accept, with the evidence naming the provider, level, matched attributes, issuer, subject
and the provider-signed ID token; a recipient who signs in as someone else is blocked and
the sender told; and a tampered ID token, a wrong nonce, an expired token, a token for
another client and a replayed state are each refused with a clear page, recording nothing.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from joserfc import jwt
from joserfc.jwk import RSAKey
from playwright.async_api import Browser, Page
from sqlalchemy import func, select

from tabellion.jobs.worker import Worker
from tabellion.models.evidence import Evidence
from tabellion.models.message import Delivery
from tabellion.models.webhook import Event
from tabellion.runtime import Runtime
from tests.conftest import make_settings
from tests.fixtures import browser as chromium
from tests.fixtures.factories import bearer, create_org_with_key, message_body
from tests.fixtures.openid import (
    CLIENT_ID,
    CLIENT_SECRET,
    OTHER_CLIENT_ID,
    OpenIdProvider,
    TokenRelay,
    expired,
    openid_provider,
    tampered,
    token_relay,
)
from tests.fixtures.server import free_port, live_server
from tests.portal.helpers import notify

browser = chromium.browser

pytestmark = [
    pytest.mark.browser,
    chromium.requires_chromium,
    pytest.mark.requires_tools("node"),
    pytest.mark.asyncio(loop_scope="session"),
]

NATIONAL_NUMBER = "http://itsme.services/v2/claim/BENationalNumber"
ACCOUNTS = {
    # Registers write names their own way: all given names, capitals, no accents, no hyphen.
    "zoe": {
        "given_name": "ZOE Marie",
        "family_name": "DUPONT DURAND",
        "birthdate": "1980-04-27",
        NATIONAL_NUMBER: "80042712345",
    },
    "mallory": {"given_name": "Mallory", "family_name": "Martin", "birthdate": "1980-04-27"},
}
RECIPIENT = {
    "email": "zoe@example.test",
    "first_name": "Zoë",
    "last_name": "Dupont-Durand",
    "birth_date": "1980-04-27",
}
KEYED_CLIENT = "tabellion-keyed"
IDENTIFICATION = {
    "level": "substantial",
    "providers": ["bank"],
    "match": ["first_name", "last_name", "birth_date"],
}


@dataclass
class World:
    provider: OpenIdProvider
    relay: TokenRelay
    port: int
    client_key: RSAKey


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world() -> AsyncIterator[World]:
    port = free_port()
    redirect = f"http://127.0.0.1:{port}/identity/callback"
    client_key = RSAKey.generate_key(2048, parameters={"kid": "tabellion-client-1"})
    async with (
        openid_provider(
            redirect_uris=[redirect], accounts=ACCOUNTS, client_keys={KEYED_CLIENT: client_key}
        ) as provider,
        token_relay(provider) as relay,
    ):
        yield World(provider, relay, port, client_key)


@dataclass
class Site:
    url: str
    runtime: Runtime
    api: httpx.AsyncClient
    relay: TokenRelay
    provider: OpenIdProvider


@pytest_asyncio.fixture(loop_scope="session")
async def site(world: World, data_dir: Path, database_url: str) -> AsyncIterator[Site]:
    world.relay.rewrite = None
    key_file = data_dir / "itsme-client.pem"
    key_file.write_text(world.client_key.as_pem(private=True).decode())
    settings = make_settings(
        data_dir,
        database_url,
        public_url=f"http://127.0.0.1:{world.port}",
        identity_providers={
            "bank": {
                "preset": "idin",
                "label": "Test Bank",
                "discovery_url": world.relay.discovery_url,
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
            },
            # Straight to the provider, authenticating with a signed client assertion.
            "itsme": {
                "preset": "itsme",
                "discovery_url": world.provider.discovery_url,
                "client_id": KEYED_CLIENT,
                "private_key_file": str(key_file),
                "private_key_id": "tabellion-client-1",
                "scopes": ["openid", "profile"],
                "keep_id_token": False,
            },
        },
    )
    runtime = Runtime.build(settings, pool_size=2)
    try:
        async with live_server(runtime, port=world.port) as url:
            _, secret = await create_org_with_key(runtime)
            async with httpx.AsyncClient(base_url=url, headers=bearer(secret), timeout=30) as api:
                yield Site(url, runtime, api, world.relay, world.provider)
    finally:
        await runtime.close()


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser: Browser) -> AsyncIterator[Page]:
    async with chromium.open_page(browser) as fresh:
        # The provider's development pages import a web font; this machine has no Internet.
        await fresh.route("https://fonts.googleapis.com/**", lambda route: route.abort())
        yield fresh


async def letter(site: Site, identification: dict[str, Any] = IDENTIFICATION) -> tuple[str, str]:
    """A registered letter that asks for identification, notified: its delivery and link."""
    body = message_body(recipients=[RECIPIENT], identification=identification)
    created = await site.api.post("/v1/messages", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["identification"] == identification
    dispatched = await site.api.post(f"/v1/messages/{created.json()['id']}/dispatch")
    assert dispatched.status_code == 202, dispatched.text
    delivery_id = dispatched.json()["deliveries"][0]["id"]
    return delivery_id, site.url + await notify(site.runtime, delivery_id)


async def sign_in(page: Page, link: str, login: str, provider: str = "bank") -> None:
    await page.goto(link)
    assert await page.locator("#identity-step").is_visible()
    # No code form: the sender asked for more than control of the mailbox.
    assert await page.locator("input[name=code]").count() == 0
    await page.click(f"a[data-provider={provider}]")
    await page.wait_for_selector("input[name=login]")
    await page.fill("input[name=login]", login)
    await page.fill("input[name=password]", "any password")
    await page.click("button[type=submit]")
    await page.wait_for_url("http://127.0.0.1:*/**")


async def recorded(site: Site, delivery_id: str) -> dict[str, Any]:
    async with site.runtime.sessions() as session:
        delivery = await session.get(Delivery, delivery_id)
        assert delivery is not None
        evidence = list(
            await session.scalars(
                select(Evidence)
                .where(Evidence.delivery_id == delivery_id)
                .order_by(Evidence.occurred_at)
            )
        )
        events = await session.scalar(
            select(func.count())
            .select_from(Event)
            .where(Event.delivery_id == delivery_id, Event.type.like("%identification%"))
        )
    return {
        "status": delivery.status,
        "status_reason": delivery.status_reason,
        "identity": delivery.identity,
        "evidence": [(e.type, e.details) for e in evidence],
        "identification_events": events,
    }


async def test_identified_recipient_accepts(site: Site, page: Page) -> None:
    delivery_id, link = await letter(site)
    await sign_in(page, link, "zoe")
    assert page.url == link
    await page.check("#confirm")
    await page.click("button[value=accept]")
    await page.wait_for_selector("text=You accepted this letter on")

    state = await recorded(site, delivery_id)
    assert state["status"] == "accepted"
    accepted = dict(state["evidence"])["ACCEPTED"]
    assert accepted["actor"]["method"] == "oidc"
    identity = accepted["identity"]
    assert identity["method"] == "oidc" and identity["confirmed"] is True
    assert identity["provider"] == {"name": "bank", "label": "Test Bank", "preset": "idin"}
    assert identity["level_of_assurance"] == "substantial"
    assert identity["matched"] == ["first_name", "last_name", "birth_date"]
    assert identity["attributes"]["last_name"] == "DUPONT DURAND"
    assert identity["issuer"] == site.provider.issuer
    assert identity["subject"] == "zoe" and identity["subject_hashed"] is False
    # The ID token, as the provider signed it: a third party checks it with the provider's key.
    token = identity["id_token"]
    assert token == site.relay.id_tokens[-1]
    claims = jwt.decode(token, site.provider.key).claims
    assert claims["iss"] == site.provider.issuer and claims["aud"] == CLIENT_ID
    assert claims["sub"] == "zoe"
    # Sealed, the proof carries the sign-in as the recipient's authentication.
    await Worker(site.runtime, poll_interval=0.05).run_until_idle()
    view = (await site.api.get(f"/v1/deliveries/{delivery_id}")).json()
    [ref] = [e for e in view["evidence"] if e["type"] == "ACCEPTED"]
    sealed = await site.api.get(f"/v1/evidence/{ref['id']}")
    assert sealed.status_code == 200, sealed.text
    payload = sealed.json()["payload"]
    content = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    authentication = content["recipient"]["action"]["authentication"]
    assert authentication["id_token"] == token and authentication["channel"] == "oidc"
    assert authentication["level_of_assurance"] == "substantial"
    pdf = await site.api.get(f"/v1/evidence/{ref['id']}/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


async def test_someone_else_is_blocked_and_the_sender_told(site: Site, page: Page) -> None:
    delivery_id, link = await letter(site)
    await sign_in(page, link, "mallory")
    heading = await page.text_content("h1")
    assert heading == "Your identity does not match this letter's recipient"
    assert "The sender has been told" in (await page.text_content("[role=alert]") or "")

    state = await recorded(site, delivery_id)
    assert state["status"] == "notified" and state["identity"] is None
    assert state["status_reason"].startswith("identification-failed")
    assert "first_name, last_name" in state["status_reason"]
    assert [t for t, _ in state["evidence"]] == ["SENT", "NOTIFIED"]
    assert state["identification_events"] == 1
    api_view = (await site.api.get(f"/v1/deliveries/{delivery_id}")).json()
    assert api_view["status_reason"] == state["status_reason"]
    # The letter stays closed: back on its page, the identity step again, no answer form.
    await page.goto(link)
    assert await page.locator("#identity-step").is_visible()
    assert await page.locator("button[value=accept]").count() == 0


def _nonce(claims: dict[str, Any]) -> dict[str, Any]:
    return {**claims, "nonce": "a-nonce-from-another-sign-in"}


def _other_client(claims: dict[str, Any]) -> dict[str, Any]:
    return {**claims, "aud": OTHER_CLIENT_ID, "azp": OTHER_CLIENT_ID}


def _forged(site: Site) -> Callable[[dict[str, Any]], str]:
    return lambda claims: tampered(site.provider.sign(claims))


@pytest.mark.parametrize(
    ("attack", "reason", "text"),
    [
        ("tampered", "token-bad-signature", "was not signed by the provider"),
        ("nonce", "token-wrong-nonce", "belongs to another sign-in"),
        ("expired", "token-expired", "has expired"),
        ("other-client", "token-wrong-audience", "meant for another service"),
    ],
)
async def test_a_bad_id_token_is_refused_and_nothing_recorded(
    site: Site, page: Page, attack: str, reason: str, text: str
) -> None:
    rewrites: dict[str, Callable[[dict[str, Any]], Any]] = {
        "tampered": _forged(site),
        "nonce": _nonce,
        "expired": expired,
        "other-client": _other_client,
    }
    site.relay.rewrite = rewrites[attack]
    delivery_id, link = await letter(site)
    before = await recorded(site, delivery_id)
    await sign_in(page, link, "zoe")
    assert await page.text_content("h1") == "Your identity could not be confirmed"
    alert = page.locator("[role=alert]")
    assert await alert.get_attribute("data-reason") == reason
    assert text in (await alert.text_content() or "")
    assert await recorded(site, delivery_id) == before
    assert before["identity"] is None and before["status_reason"] is None
    # And the recipient cannot answer.
    await page.goto(link)
    assert await page.locator("button[value=accept]").count() == 0


async def test_a_replayed_state_is_refused(site: Site, page: Page) -> None:
    delivery_id, link = await letter(site)
    callbacks: list[str] = []
    page.on("request", lambda r: callbacks.append(r.url) if "/identity/callback" in r.url else None)
    await sign_in(page, link, "zoe")
    assert page.url == link and len(callbacks) == 1
    after_sign_in = await recorded(site, delivery_id)
    assert after_sign_in["identity"]["method"] == "oidc"
    # The provider's answer again (a back button, or someone who copied the URL).
    await page.goto(callbacks[0])
    alert = page.locator("[role=alert]")
    assert await alert.get_attribute("data-reason") == "state-replayed"
    assert "already used" in (await alert.text_content() or "")
    assert await recorded(site, delivery_id) == after_sign_in


async def test_private_key_jwt_and_a_hashed_personal_number(site: Site, page: Page) -> None:
    """itsme's way: the client proves itself with a signed assertion; the national number
    reaches the evidence only as a hash, and the ID token (which holds it) is not kept."""
    asked = {"level": "high", "providers": ["itsme"], "match": ["last_name", "birth_date"]}
    delivery_id, link = await letter(site, asked)
    await sign_in(page, link, "zoe", provider="itsme")
    assert page.url == link
    await page.check("#confirm")
    await page.click("button[value=refuse]")
    await page.wait_for_selector("text=You refused this letter on")
    state = await recorded(site, delivery_id)
    refused = dict(state["evidence"])["REFUSED"]
    identity = refused["identity"]
    assert identity["provider"]["name"] == "itsme"
    assert identity["level_of_assurance"] == "high"
    assert identity["matched"] == ["last_name", "birth_date"]
    assert identity["personal_numbers"] == {
        NATIONAL_NUMBER: "sha256:" + hashlib.sha256(b"80042712345").hexdigest()
    }
    assert identity["id_token"] is None
    assert "80042712345" not in json.dumps(state["evidence"])
