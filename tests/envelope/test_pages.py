"""The signing page (/s/<token>): opening, signing, approving, rejecting, turns."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import httpx
from PIL import Image
from sqlalchemy import select

from tabellion.envelope.service import signing_token
from tabellion.models.envelope import EnvelopeField, EnvelopeRecipient
from tabellion.models.webhook import Event
from tabellion.runtime import Runtime
from tests.envelope.helpers import invitations, ready_draft
from tests.portal.helpers import csrf

UA = {"User-Agent": "SignerBrowser/1.0"}


async def _token(runtime: Runtime, recipient_id: str) -> str:
    async with runtime.sessions() as session:
        recipient = await session.get(EnvelopeRecipient, recipient_id)
        assert recipient is not None
    return signing_token(runtime.settings.signing_key, recipient_id, recipient.token_salt)


async def _sent(
    client: httpx.AsyncClient, auth: dict[str, str], **extra: Any
) -> tuple[dict[str, Any], str]:
    envelope, document_id = await ready_draft(client, auth, **extra)
    response = await client.post(f"/v1/envelopes/{envelope['id']}/send", headers=auth)
    assert response.status_code == 202, response.text
    return response.json(), document_id


async def _post(
    client: httpx.AsyncClient,
    token: str,
    action: str,
    data: dict[str, str],
    *,
    form_from: str | None = None,
) -> httpx.Response:
    """Post a form of the signing page, with the CSRF token of a page that shows a form."""
    page = await client.get(f"/s/{form_from or token}", headers=UA)
    return await client.post(
        f"/s/{token}/{action}", data={"csrf_token": csrf(page.text), **data}, headers=UA
    )


async def _recipients(client: httpx.AsyncClient, auth: dict[str, str], envelope_id: str) -> dict:
    envelope = (await client.get(f"/v1/envelopes/{envelope_id}", headers=auth)).json()
    return {r["email"]: r for r in envelope["recipients"]} | {"_envelope": envelope}


async def _event_types(runtime: Runtime) -> list[str]:
    async with runtime.sessions() as session:
        return list(await session.scalars(select(Event.type).order_by(Event.id)))


def _signature_field(envelope: dict[str, Any], email: str) -> str:
    recipient = next(r for r in envelope["recipients"] if r["email"] == email)
    [found] = [f["id"] for f in envelope["fields"] if f["recipient_id"] == recipient["id"]]
    return found


async def test_sequential_approve_then_sign_completes(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str]
) -> None:
    envelope, _ = await _sent(client, auth)
    ann, cee, sam = envelope["recipients"]
    [mail] = await invitations(runtime)
    assert mail["To"] == "ann@example.test"

    ann_token = await _token(runtime, ann["id"])
    page = await client.get(f"/s/{ann_token}", headers=UA)
    assert page.status_code == 200
    assert "Service agreement" in page.text and ">Approve<" in page.text
    assert f"/s/{ann_token}/documents/{envelope['documents'][0]['id']}/pages/3.png" in page.text
    assert 'loading="lazy"' in page.text
    state = await _recipients(client, auth, envelope["id"])
    assert state["ann@example.test"]["status"] == "opened"

    response = await _post(client, ann_token, "approve", {})
    assert response.status_code == 303, response.text
    state = await _recipients(client, auth, envelope["id"])
    assert state["ann@example.test"]["status"] == "approved"
    assert state["sam@example.test"]["status"] == "sent"
    assert state["cee@example.test"]["status"] == "waiting"
    assert sorted(m["To"] for m in await invitations(runtime)) == [
        "ann@example.test",
        "sam@example.test",
    ]

    sam_token = await _token(runtime, sam["id"])
    signature = _signature_field(state["_envelope"], "sam@example.test")
    response = await _post(
        client, sam_token, "sign", {f"typed_{signature}": "Sam Signer", "consent": "yes"}
    )
    assert response.status_code == 303, response.text
    done = await client.get(response.headers["location"], headers=UA)
    assert "You signed this document" in done.text

    state = await _recipients(client, auth, envelope["id"])
    final = state["_envelope"]
    assert final["status"] == "completed"
    assert final["completed_at"] is not None
    assert state["sam@example.test"]["status"] == "signed"
    [signed_field] = [f for f in final["fields"] if f["id"] == signature]
    assert signed_field["value"] == {"kind": "typed", "text": "Sam Signer"}
    assert await _event_types(runtime) == [
        "envelope.created",
        "envelope.sent",
        "envelope.opened",
        "envelope.approved",
        "envelope.opened",
        "envelope.signed",
        "envelope.completed",
    ]
    async with runtime.sessions() as session:
        stored = await session.get(EnvelopeRecipient, sam["id"])
        assert stored is not None and stored.trail is not None
    assert stored.trail["signed"]["user_agent"] == "SignerBrowser/1.0"
    assert stored.trail["signed"]["consent"] is True
    assert stored.trail["signed"]["ip"] == "127.0.0.1"
    assert cee["status"] == "waiting"


async def test_acting_out_of_turn_is_409(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str]
) -> None:
    envelope, _ = await _sent(client, auth)
    sam = envelope["recipients"][2]
    token = await _token(runtime, sam["id"])
    page = await client.get(f"/s/{token}", headers=UA)
    assert "Others must act before you" in page.text
    assert f'action="/s/{token}/sign"' not in page.text
    signature = _signature_field(envelope, "sam@example.test")
    ann_token = await _token(runtime, envelope["recipients"][0]["id"])
    response = await _post(
        client,
        token,
        "sign",
        {f"typed_{signature}": "Sam", "consent": "yes"},
        form_from=ann_token,
    )
    assert response.status_code == 409
    assert "Others must act before you" in response.text
    state = await _recipients(client, auth, envelope["id"])
    assert state["sam@example.test"]["status"] == "waiting"


async def test_signing_needs_consent_and_a_signature(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str]
) -> None:
    envelope, _ = await _sent(client, auth, signing_order="parallel")
    sam = envelope["recipients"][2]
    token = await _token(runtime, sam["id"])
    signature = _signature_field(envelope, "sam@example.test")
    no_consent = await _post(client, token, "sign", {f"typed_{signature}": "Sam"})
    assert no_consent.status_code == 422
    assert "agree to sign electronically" in no_consent.text
    empty = await _post(client, token, "sign", {"consent": "yes"})
    assert empty.status_code == 422 and "Fill this field." in empty.text
    bad_image = await _post(
        client,
        token,
        "sign",
        {f"f_{signature}": "data:image/png;base64,bm90IGEgcG5n", "consent": "yes"},
    )
    assert bad_image.status_code == 422
    state = await _recipients(client, auth, envelope["id"])
    assert state["sam@example.test"]["status"] == "opened"
    assert state["_envelope"]["status"] == "pending"


async def test_a_drawn_signature_is_kept_as_an_image(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str]
) -> None:
    envelope, _ = await _sent(client, auth, signing_order="parallel")
    sam = envelope["recipients"][2]
    buffer = io.BytesIO()
    Image.new("RGBA", (60, 20), (0, 0, 80, 255)).save(buffer, format="PNG")
    drawn = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    signature = _signature_field(envelope, "sam@example.test")
    token = await _token(runtime, sam["id"])
    response = await _post(client, token, "sign", {f"f_{signature}": drawn, "consent": "yes"})
    assert response.status_code == 303, response.text
    async with runtime.sessions() as session:
        stored = await session.get(EnvelopeField, signature)
        assert stored is not None
    assert stored.value == {"kind": "image", "image": drawn}


async def test_reject_ends_the_envelope(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str]
) -> None:
    envelope, _ = await _sent(client, auth, signing_order="parallel")
    ann, _, sam = envelope["recipients"]
    ann_token, sam_token = await _token(runtime, ann["id"]), await _token(runtime, sam["id"])
    # Sam's form, loaded before Ann rejects: its CSRF token stays good.
    sam_form = csrf((await client.get(f"/s/{sam_token}")).text)
    response = await _post(client, ann_token, "reject", {"reason": "Wrong price on page 2"})
    assert response.status_code == 303, response.text
    state = await _recipients(client, auth, envelope["id"])
    assert state["_envelope"]["status"] == "rejected"
    assert state["ann@example.test"]["status"] == "rejected"
    assert state["ann@example.test"]["reason"] == "Wrong price on page 2"
    async with runtime.sessions() as session:
        [event] = await session.scalars(select(Event).where(Event.type == "envelope.rejected"))
    assert json.loads(event.body)["data"]["reason"] == "Wrong price on page 2"

    signature = _signature_field(envelope, "sam@example.test")
    late = await client.post(
        f"/s/{sam_token}/sign",
        data={"csrf_token": sam_form, f"typed_{signature}": "Sam", "consent": "yes"},
    )
    assert late.status_code == 409
    assert "closed" in late.text or "rejected" in late.text


async def test_unknown_or_forged_tokens_get_the_invalid_link_page(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str]
) -> None:
    draft, _ = await ready_draft(client, auth)
    draft_token = await _token(runtime, draft["recipients"][0]["id"])
    for token in ("x" * 43, draft_token, "a" * 200):
        response = await client.get(f"/s/{token}")
        assert response.status_code == 404
        assert "This link is no longer valid" in response.text


async def test_page_images_and_languages(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str]
) -> None:
    envelope, document_id = await _sent(client, auth, signing_order="parallel")
    token = await _token(runtime, envelope["recipients"][0]["id"])
    image = await client.get(f"/s/{token}/documents/{document_id}/pages/2.png")
    assert image.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(image.content)).size[0] > 500
    missing = await client.get(f"/s/{token}/documents/{document_id}/pages/4.png")
    assert missing.status_code == 404
    for lang in ("fr", "nl", "de", "en"):
        page = await client.get(f"/s/{token}", params={"lang": lang})
        assert f'<html lang="{lang}">' in page.text
