"""Webhooks in Documenso's format: its event names, ``{event, payload, createdAt,
webhookEndpoint}``, the ``X-Documenso-Secret`` header, and our Standard Webhooks signature too.
Payload shapes are checked against reference 007's examples."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook

from tabellion.runtime import Runtime
from tests.compat.documenso.helpers import (
    assert_error,
    created,
    envelope,
    post,
    sent,
    token_of,
)
from tests.compat.documenso.test_lifecycle import sign_in_page
from tests.compat.test_documenso import CREATE_PAYLOAD, SIGNATURE, create
from tests.conftest import count_rows
from tests.envelope.helpers import ready_draft
from tests.envelope.test_pages import UA
from tests.fixtures.factories import bearer
from tests.fixtures.receiver import Receiver
from tests.webhook.test_delivery import run_jobs

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

# Reference 007, DOCUMENT_SENT (the full example): the keys of its payload and recipients.
PAYLOAD_KEYS = {
    "id", "envelopeId", "externalId", "userId", "authOptions", "formValues", "visibility",
    "title", "status", "createdAt", "updatedAt", "completedAt", "deletedAt", "teamId",
    "templateId", "source", "documentMeta", "recipients", "Recipient",
}  # fmt: skip
META_KEYS = {
    "id", "subject", "message", "timezone", "dateFormat", "redirectUrl", "signingOrder",
    "allowDictateNextSigner", "typedSignatureEnabled", "uploadSignatureEnabled",
    "drawSignatureEnabled", "language", "distributionMethod", "emailSettings",
}  # fmt: skip
RECIPIENT_KEYS = {
    "id", "envelopeId", "documentId", "templateId", "email", "name", "token",
    "documentDeletedAt", "expiresAt", "expirationNotifiedAt", "signedAt", "authOptions",
    "signingOrder", "rejectionReason", "role", "readStatus", "signingStatus", "sendStatus",
}  # fmt: skip
# Per event, what reference 007 says changes (status, and the recipient's statuses).
EXPECTED = {
    "DOCUMENT_CREATED": ("DRAFT", {"sendStatus": "NOT_SENT", "readStatus": "NOT_OPENED"}),
    "DOCUMENT_SENT": ("PENDING", {"sendStatus": "SENT", "readStatus": "NOT_OPENED"}),
    "DOCUMENT_OPENED": ("PENDING", {"readStatus": "OPENED", "signingStatus": "NOT_SIGNED"}),
    # Reference 007 shows COMPLETED after the last signature; ours is the state at the
    # signature, before completion (docs/compat/documenso.md).
    "DOCUMENT_SIGNED": ("PENDING", {"signingStatus": "SIGNED"}),
    "DOCUMENT_COMPLETED": ("COMPLETED", {"signingStatus": "SIGNED"}),
}


async def documenso_endpoint(client: httpx.AsyncClient, secret: str, url: str) -> dict[str, Any]:
    response = await client.post(
        "/v1/webhook-endpoints",
        json={"url": url, "events": ["*"], "format": "documenso"},
        headers=bearer(secret),
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_documenso_events_payloads_and_secret(
    client: httpx.AsyncClient,
    runtime: Runtime,
    org_key: tuple[str, str],
    key: dict[str, str],
    receiver: Receiver,
) -> None:
    _, secret = org_key
    hook = await documenso_endpoint(client, secret, receiver.url + "/documenso")
    assert hook["format"] == "documenso"

    signed = await sent(client, key)
    body = await envelope(client, key, signed["id"])
    # Each call goes out before the next step, as it would on a live server.
    await run_jobs(runtime)
    token = await token_of(runtime, "signer@example.com")
    assert (await client.get(f"/s/{token}", headers=UA)).status_code == 200
    await run_jobs(runtime)
    await sign_in_page(client, runtime, body, "signer@example.com")
    cancelled = await sent(client, key)
    await post(client, key, "envelope/cancel", {"envelopeId": cancelled["id"]})
    rejected = await sent(client, key)
    await post(
        client,
        key,
        f"envelope/recipient/{rejected['recipients'][0]['id']}/reject",
        {"envelopeId": rejected["id"], "reason": "I do not agree with the terms"},
    )
    # Made and sent through the native API: never seen by this dialect, so not told in its format.
    native, _ = await ready_draft(client, bearer(secret))
    await client.post(f"/v1/envelopes/{native['id']}/send", headers=bearer(secret))
    await run_jobs(runtime)

    calls = []
    for request in receiver.received:
        assert request.headers["x-documenso-secret"] == hook["secret"]
        Webhook(hook["secret"]).verify(request.body, request.headers)
        calls.append(json.loads(request.body))
    assert all(list(c) == ["event", "payload", "createdAt", "webhookEndpoint"] for c in calls)
    assert all(c["webhookEndpoint"] == receiver.url + "/documenso" for c in calls)
    assert all(ISO_MS.match(c["createdAt"]) for c in calls)
    assert {c["payload"]["envelopeId"] for c in calls} == {
        signed["id"],
        cancelled["id"],
        rejected["id"],
    }
    by_event: dict[tuple[str, str], dict[str, Any]] = {
        (c["payload"]["envelopeId"], c["event"]): c["payload"] for c in calls
    }
    assert {e for (i, e) in by_event if i == signed["id"]} == {
        "DOCUMENT_CREATED",
        "DOCUMENT_SENT",
        "DOCUMENT_OPENED",
        "DOCUMENT_SIGNED",
        "DOCUMENT_COMPLETED",
    }
    for event, (status, recipient_state) in EXPECTED.items():
        payload = by_event[(signed["id"], event)]
        assert set(payload) >= PAYLOAD_KEYS, event
        assert set(payload["documentMeta"]) >= META_KEYS
        assert payload["status"] == status, event
        [recipient] = payload["recipients"]
        assert set(recipient) >= RECIPIENT_KEYS
        assert payload["Recipient"] == payload["recipients"]
        for name, value in recipient_state.items():
            assert recipient[name] == value, (event, name)
        assert recipient["documentId"] == payload["id"] and recipient["templateId"] is None
        assert recipient["token"] == token
        assert isinstance(payload["id"], int) and payload["source"] == "DOCUMENT"
        assert payload["title"] == "Service Agreement"
        assert payload["externalId"] == "contract-2025-001"
    completed = by_event[(signed["id"], "DOCUMENT_COMPLETED")]
    assert ISO_MS.match(completed["completedAt"])
    assert completed["recipients"][0]["signedAt"] is not None
    # The legacy id is the one the dialect shows as secondaryId.
    assert body["secondaryId"] == f"document_{completed['id']}"

    assert by_event[(cancelled["id"], "DOCUMENT_CANCELLED")]["status"] == "CANCELLED"
    rejection = by_event[(rejected["id"], "DOCUMENT_REJECTED")]
    assert rejection["status"] == "REJECTED"
    [rejecter] = rejection["recipients"]
    assert rejecter["signingStatus"] == "REJECTED"
    assert rejecter["rejectionReason"] == "I do not agree with the terms"


async def test_ping_and_document_created(
    client: httpx.AsyncClient,
    runtime: Runtime,
    org_key: tuple[str, str],
    key: dict[str, str],
    receiver: Receiver,
) -> None:
    _, secret = org_key
    hook = await documenso_endpoint(client, secret, receiver.url)
    ping = await client.post(f"/v1/webhook-endpoints/{hook['id']}/test", headers=bearer(secret))
    assert ping.status_code in (200, 202), ping.text
    await run_jobs(runtime)
    envelope_id = await created(client, key)
    body = await envelope(client, key, envelope_id)
    await run_jobs(runtime)
    calls = []
    for request in receiver.received:
        assert request.headers["x-documenso-secret"] == hook["secret"]
        Webhook(hook["secret"]).verify(request.body, request.headers)
        calls.append(json.loads(request.body))
    assert [c["event"] for c in calls] == ["WEBHOOK_TEST", "DOCUMENT_CREATED"]
    call = calls[1]
    # Reference 007, DOCUMENT_CREATED: its keys, top level, payload, meta and recipients.
    assert list(call) == ["event", "payload", "createdAt", "webhookEndpoint"]
    assert call["webhookEndpoint"] == receiver.url and ISO_MS.match(call["createdAt"])
    payload = call["payload"]
    assert set(payload) == PAYLOAD_KEYS
    assert set(payload["documentMeta"]) >= META_KEYS
    assert payload["envelopeId"] == envelope_id
    assert body["secondaryId"] == f"document_{payload['id']}"
    # Its values where 007's example is a fact of any new document, not of its sample data.
    assert isinstance(payload["id"], int)
    assert (payload["status"], payload["source"]) == ("DRAFT", "DOCUMENT")
    assert payload["title"] == "Service Agreement"
    assert payload["externalId"] == "contract-2025-001"
    assert ISO_MS.match(payload["createdAt"]) and ISO_MS.match(payload["updatedAt"])
    for absent in ("completedAt", "deletedAt", "teamId", "templateId"):
        assert payload[absent] is None, absent
    [recipient] = payload["recipients"]
    assert payload["Recipient"] == payload["recipients"]
    assert set(recipient) >= RECIPIENT_KEYS
    assert recipient["email"] == "signer@example.com" and recipient["role"] == "SIGNER"
    assert recipient["documentId"] == payload["id"] and recipient["templateId"] is None
    assert recipient["envelopeId"] == envelope_id
    assert recipient["token"] == await token_of(runtime, "signer@example.com")
    assert (recipient["readStatus"], recipient["signingStatus"], recipient["sendStatus"]) == (
        "NOT_OPENED",
        "NOT_SIGNED",
        "NOT_SENT",
    )
    for absent in ("signedAt", "expiresAt", "expirationNotifiedAt", "rejectionReason"):
        assert recipient[absent] is None, absent


async def test_refused_create_tells_nothing(
    client: httpx.AsyncClient,
    runtime: Runtime,
    org_key: tuple[str, str],
    key: dict[str, str],
    receiver: Receiver,
) -> None:
    """The field naming a file that is not there is found after the envelope is written: the
    envelope and its event go together."""
    _, secret = org_key
    await documenso_endpoint(client, secret, receiver.url)
    payload = {**CREATE_PAYLOAD, "recipients": [
        {"email": "x@example.com", "fields": [{**SIGNATURE, "identifier": 5}]}
    ]}  # fmt: skip
    assert_error(await create(client, key, payload=payload), 400, "INVALID_BODY", "identifier")
    await run_jobs(runtime)
    assert receiver.received == []
    assert await count_rows(runtime, "envelopes") == 0
    assert await count_rows(runtime, "events") == 0
