"""Identification asked of a signing envelope's recipient: the API's rules, and the signing
page refusing documents and actions until the browser signed in with a provider."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tabellion.envelope.service import signing_token
from tabellion.models.envelope import EnvelopeRecipient
from tabellion.runtime import Runtime
from tests.envelope.helpers import ready_draft
from tests.message.test_endpoints import assert_problem, fields
from tests.portal.helpers import csrf

ASKED = {"level": "substantial", "providers": ["bank"], "match": ["last_name"]}


def signer(identification: dict[str, Any] | None) -> dict[str, Any]:
    return {"email": "sam@example.test", "name": "Sam Signer", "identification": identification}


async def test_a_recipient_asks_for_identification(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    asked = {**ASKED, "last_name": "Signer"}
    created = await client.post(
        "/v1/envelopes", json={"title": "T", "recipients": [signer(asked)]}, headers=auth
    )
    assert created.status_code == 201, created.text
    assert created.json()["recipients"][0]["identification"] == {
        "level": "substantial",
        "providers": ["bank"],
        "match": ["last_name"],
        "declared": {"last_name": "Signer"},
    }
    plain = await client.post(
        "/v1/envelopes", json={"title": "T", "recipients": [signer(None)]}, headers=auth
    )
    assert plain.json()["recipients"][0]["identification"] is None


@pytest.mark.parametrize(
    ("identification", "field", "code"),
    [
        ({**ASKED, "providers": ["nope"], "last_name": "S"}, "providers[0]", "unknown-provider"),
        ({**ASKED, "providers": ["fc"], "last_name": "S"}, "providers[0]", "level-too-low"),
        ({**ASKED, "providers": [], "level": "high", "last_name": "S"}, "level", "no-provider"),
    ],
)
async def test_providers_must_give_the_level(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    identification: dict[str, Any],
    field: str,
    code: str,
) -> None:
    refused = await client.post(
        "/v1/envelopes", json={"title": "T", "recipients": [signer(identification)]}, headers=auth
    )
    problem = assert_problem(refused, 422, "validation-failed")
    assert fields(problem) == [f"recipients[0].identification.{field}"]
    assert problem["errors"][0]["code"] == code  # type: ignore[index]


async def test_each_matched_attribute_is_declared(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    refused = await client.post(
        "/v1/envelopes", json={"title": "T", "recipients": [signer(ASKED)]}, headers=auth
    )
    problem = assert_problem(refused, 422, "validation-failed")
    assert fields(problem) == ["recipients[0].identification"]
    assert "last_name" in str(problem)


async def test_the_signing_page_waits_for_the_sign_in(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    recipients = [signer({**ASKED, "last_name": "Signer"})]
    envelope, document_id = await ready_draft(
        client, auth, recipients=recipients, signing_order="parallel"
    )
    sent = await client.post(f"/v1/envelopes/{envelope['id']}/send", headers=auth)
    assert sent.status_code == 202, sent.text
    recipient_id = envelope["recipients"][0]["id"]
    async with runtime.sessions() as session:
        row = await session.get(EnvelopeRecipient, recipient_id)
        assert row is not None
        link = "/s/" + signing_token(runtime.settings.signing_key, row.id, row.token_salt)
    page = await client.get(link)
    assert page.status_code == 200
    assert 'id="identity-step"' in page.text and 'href="' + link + '/identify/bank"' in page.text
    assert "<img" not in page.text and 'id="act"' not in page.text
    image = await client.get(f"{link}/documents/{document_id}/pages/1.png")
    assert image.status_code == 404
    # A forged form cannot sign or reject either; nothing is recorded.
    token = csrf((await client.get("/vault")).text)
    for action, data in (("sign", {"consent": "yes"}), ("reject", {"reason": "no"})):
        acted = await client.post(f"{link}/{action}", data={"csrf_token": token, **data})
        assert acted.status_code == 403
        assert "identity services" in acted.text
    async with runtime.sessions() as session:
        row = await session.get(EnvelopeRecipient, recipient_id)
        assert row is not None and row.status == "sent" and not (row.trail or {})
    # A sign-in for a recipient who was not asked for one is refused at once.
    other = await client.get("/s/not-a-real-token-0123456789abcdef/identify/bank")
    assert other.status_code == 303 and "state-unknown" in other.headers["location"]
