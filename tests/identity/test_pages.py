"""The callback's own refusals, before any provider is asked: an unknown, used, expired or
other browser's ``state``, and a provider that said no. Each shows why, and changes nothing."""

from __future__ import annotations

import logging
from datetime import timedelta

import httpx
import pytest

from tabellion.db import transaction
from tabellion.identity.oidc import IdentityRefused
from tabellion.identity.pages import BROWSER_COOKIE, _browser_mark, refused
from tabellion.kit.ids import new_id
from tabellion.kit.time import utcnow
from tabellion.kit.tokens import sha256_hex
from tabellion.models.identity import IdentityRequest
from tabellion.models.message import Delivery
from tabellion.runtime import Runtime
from tests.fixtures.factories import message_body, natural_recipient
from tests.portal.helpers import notify

STATE = "a-state-of-our-own-0123456789abcdef"
ASKED = {"level": "substantial", "providers": ["bank"], "match": ["last_name"]}


async def pending_sign_in(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, *, age: timedelta
) -> tuple[str, str]:
    """A letter asking for identification and a sign-in under way for it (as ``start``
    leaves one): its delivery id and link."""
    body = message_body(recipients=[natural_recipient(0)], identification=ASKED)
    created = (await client.post("/v1/messages?dispatch=true", json=body, headers=auth)).json()
    delivery_id = created["deliveries"][0]["id"]
    link = await notify(runtime, delivery_id)
    async with transaction(runtime.sessions) as session:
        delivery = await session.get(Delivery, delivery_id)
        assert delivery is not None
        session.add(
            IdentityRequest(
                id=new_id("idr"),
                state_hash=sha256_hex(STATE),
                organization_id=delivery.organization_id,
                delivery_id=delivery_id,
                provider="bank",
                nonce="n",
                code_verifier="v" * 64,
                created_at=utcnow() - age,
            )
        )
    return delivery_id, link


async def callback(
    client: httpx.AsyncClient, runtime: Runtime, *, cookie: bool = True, **query: str
) -> httpx.Response:
    client.cookies.delete(BROWSER_COOKIE)
    if cookie:
        client.cookies.set(BROWSER_COOKIE, _browser_mark(runtime.settings.signing_key, STATE))
    first = await client.get("/identity/callback", params=query)
    assert first.status_code == 303, first.text
    return await client.get(first.headers["location"])


def reason(page: httpx.Response) -> str:
    assert page.status_code == 403
    marker = 'data-reason="'
    return page.text.split(marker, 1)[1].split('"', 1)[0]


@pytest.mark.parametrize(
    ("age", "query", "cookie", "expected"),
    [
        (timedelta(0), {"state": "not-ours", "code": "c"}, True, "state-unknown"),
        (timedelta(0), {"code": "c"}, True, "state-unknown"),
        (timedelta(minutes=11), {"state": STATE, "code": "c"}, True, "state-expired"),
        (timedelta(0), {"state": STATE, "code": "c"}, False, "state-other-browser"),
        (timedelta(0), {"state": STATE, "error": "access_denied"}, True, "provider-error"),
    ],
)
async def test_refusals(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
    age: timedelta,
    query: dict[str, str],
    cookie: bool,
    expected: str,
) -> None:
    delivery_id, link = await pending_sign_in(client, auth, runtime, age=age)
    page = await callback(client, runtime, cookie=cookie, **query)
    assert reason(page) == expected
    async with runtime.sessions() as session:
        delivery = await session.get(Delivery, delivery_id)
        assert delivery is not None
        assert (delivery.identity, delivery.status_reason) == (None, None)
    if expected == "provider-error":
        # The way back to the letter, and the state is used up: the same answer again fails.
        assert f'href="{link}"' in page.text
        assert reason(await callback(client, runtime, **query)) == "state-replayed"


async def test_the_refusal_page_links_only_to_a_letter(client: httpx.AsyncClient) -> None:
    page = await client.get(
        "/identity/refused", params={"reason": "token-expired", "back": "https://evil.test/r/x"}
    )
    assert reason(page) == "token-expired" and "evil.test" not in page.text
    unknown = await client.get("/identity/refused", params={"reason": "<script>"})
    assert reason(unknown) == "token-invalid" and "<script>" not in unknown.text


async def test_only_allowed_providers_start(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    _, link = await pending_sign_in(client, auth, runtime, age=timedelta(0))
    # "fc" is configured but below the level asked; "nope" is not configured at all.
    for provider in ("fc", "nope"):
        started = await client.get(f"{link}/identify/{provider}")
        assert started.status_code == 303
        page = await client.get(started.headers["location"])
        assert reason(page) == "provider-not-allowed"
        assert f'href="{link}"' in page.text


@pytest.mark.parametrize(
    ("refusal", "level"),
    [
        (IdentityRefused("token-exchange-failed", "ReadTimeout: timed out"), logging.WARNING),
        (IdentityRefused("token-bad-signature", "BadSignatureError"), logging.WARNING),
        (IdentityRefused("provider-unavailable", "ConnectError"), logging.WARNING),
        (IdentityRefused("provider-error", "access_denied"), logging.INFO),
    ],
)
def test_a_providers_failure_is_logged_for_the_operator(
    caplog: pytest.LogCaptureFixture, refusal: IdentityRefused, level: int
) -> None:
    """A provider down or a forged answer is a warning, with what went wrong; the recipient's
    own doing (a cancelled sign-in) is information."""
    with caplog.at_level(logging.INFO, logger="tabellion.identity"):
        answer = refused(refusal, back=None)
    assert answer.status_code == 303
    (record,) = [r for r in caplog.records if r.name == "tabellion.identity"]
    assert record.levelno == level
    assert refusal.reason in record.getMessage() and str(refusal.detail) in record.getMessage()
