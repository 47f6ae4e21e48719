"""Expired envelopes and assistants through the Documenso dialect: RECIPIENT_EXPIRED (the
error code and the webhook event), expirationNotifiedAt, DOCUMENT_RECIPIENT_EXPIRED in the
audit log; an assistant's completed step shows SIGNED, as Documenso shows it."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from typing import Any

import httpx

from tabellion.runtime import Runtime
from tests.compat.documenso.helpers import BASE, assert_error, envelope, post, sent, token_of
from tests.compat.documenso.test_webhooks import RECIPIENT_KEYS, documenso_endpoint
from tests.compat.test_documenso import CREATE_PAYLOAD, created
from tests.envelope.test_pages import UA, _post
from tests.envelope.test_tasks import travel
from tests.fixtures.receiver import Receiver
from tests.webhook.test_delivery import run_jobs


async def test_an_expired_envelope(
    client: httpx.AsyncClient,
    runtime: Runtime,
    org_key: tuple[str, str],
    key: dict[str, str],
    receiver: Receiver,
) -> None:
    await documenso_endpoint(client, org_key[1], receiver.url)
    distributed = await sent(client, key)
    envelope_id = distributed["id"]
    [signer] = distributed["recipients"]
    again = await post(
        client,
        key,
        "envelope/redistribute",
        {"envelopeId": envelope_id, "recipients": [signer["id"]]},
    )
    assert again.status_code == 200, again.text
    await run_jobs(runtime)
    told = [json.loads(r.body) for r in receiver.received]
    # The worker runs jobs side by side: calls may arrive in any order.
    assert sorted(c["event"] for c in told) == [
        "DOCUMENT_CREATED",
        "DOCUMENT_REMINDER_SENT",
        "DOCUMENT_SENT",
    ]
    [reminder] = [c["payload"] for c in told if c["event"] == "DOCUMENT_REMINDER_SENT"]
    assert reminder["status"] == "PENDING" and reminder["envelopeId"] == envelope_id
    assert [r["id"] for r in reminder["recipients"]] == [signer["id"]]
    assert reminder["recipients"][0]["sendStatus"] == "SENT"
    await travel(runtime, envelope_id, timedelta(days=91))
    await run_jobs(runtime)

    body = await envelope(client, key, envelope_id)
    assert body["status"] == "REJECTED"  # ended unsigned (docs/compat/documenso.md)
    [recipient] = body["recipients"]
    assert recipient["signingStatus"] == "NOT_SIGNED"
    assert recipient["expirationNotifiedAt"] is not None
    assert recipient["expired"] == recipient["expirationNotifiedAt"]
    assert recipient["expiresAt"] <= recipient["expirationNotifiedAt"]

    for path, extra in (
        ("envelope/redistribute", {"recipients": [signer["id"]]}),
        ("envelope/cancel", {}),
        (f"envelope/recipient/{signer['id']}/reject", {"reason": "late"}),
    ):
        response = await post(client, key, path, {"envelopeId": envelope_id, **extra})
        assert_error(response, 400, "RECIPIENT_EXPIRED", "expired")

    rejected = await client.get(f"{BASE}/envelope?status=REJECTED", headers=key)
    assert [e["id"] for e in rejected.json()["data"]] == [envelope_id]
    pending = await client.get(f"{BASE}/envelope?status=PENDING", headers=key)
    assert pending.json()["count"] == 0

    log = await client.get(f"{BASE}/envelope/{envelope_id}/audit-log", headers=key)
    [latest] = log.json()["data"][:1]
    assert latest["type"] == "DOCUMENT_RECIPIENT_EXPIRED"
    assert latest["data"]["recipientId"] == signer["id"]
    assert latest["data"]["recipientEmail"] == "signer@example.com"

    calls = {json.loads(r.body)["event"]: json.loads(r.body) for r in receiver.received}
    assert set(calls) == {
        "DOCUMENT_CREATED",
        "DOCUMENT_SENT",
        "DOCUMENT_REMINDER_SENT",
        "RECIPIENT_EXPIRED",
    }
    payload = calls["RECIPIENT_EXPIRED"]["payload"]
    assert payload["envelopeId"] == envelope_id and payload["status"] == "REJECTED"
    [told] = payload["recipients"]
    assert set(told) >= RECIPIENT_KEYS
    assert told["id"] == signer["id"] and told["expirationNotifiedAt"] is not None
    assert told["signingStatus"] == "NOT_SIGNED" and told["sendStatus"] == "SENT"


async def test_an_assistants_step_shows_signed(
    client: httpx.AsyncClient, runtime: Runtime, key: dict[str, str]
) -> None:
    payload: dict[str, Any] = copy.deepcopy(CREATE_PAYLOAD)
    signer = payload["recipients"][0]
    signer["signingOrder"] = 1
    signer["fields"].append(
        {"identifier": 0, "type": "TEXT", "page": 1, "positionX": 10, "positionY": 10,
         "width": 30, "height": 5, "fieldMeta": {"type": "text", "label": "Company"}}
    )  # fmt: skip
    assistant = {"email": "asa@example.com", "name": "Asa", "role": "ASSISTANT",
                 "signingOrder": 0}  # fmt: skip
    payload["recipients"] = [assistant, signer]
    payload["meta"]["signingOrder"] = "SEQUENTIAL"
    envelope_id = await created(client, key, payload=payload)
    await post(client, key, "envelope/distribute", {"envelopeId": envelope_id})
    body = await envelope(client, key, envelope_id)
    [text] = [f for f in body["fields"] if f["type"] == "TEXT"]
    token = await token_of(runtime, "asa@example.com")
    assert (await client.get(f"/s/{token}", headers=UA)).status_code == 200
    done = await _post(client, token, "assist", {f"f_{text['secondaryId']}": "Acme SA"})
    assert done.status_code == 303, done.text

    after = await envelope(client, key, envelope_id)
    asa = next(r for r in after["recipients"] if r["role"] == "ASSISTANT")
    assert (asa["signingStatus"], asa["signedAt"] is not None) == ("SIGNED", True)
    log = await client.get(f"{BASE}/envelope/{envelope_id}/audit-log", headers=key)
    completed = [e for e in log.json()["data"] if e["type"] == "DOCUMENT_RECIPIENT_COMPLETED"]
    assert [e["data"]["recipientRole"] for e in completed] == ["ASSISTANT"]
