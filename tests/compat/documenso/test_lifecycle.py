"""Documenso v2 after distribute: a round trip through the real signing page, the item and
certificate downloads, the audit log, redistribute, and a rejection on a recipient's behalf."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import httpx

from tabellion.jobs.worker import Worker
from tabellion.runtime import Runtime
from tests.compat.documenso.helpers import (
    BASE,
    assert_error,
    created,
    envelope,
    post,
    sent,
    token_of,
)
from tests.compat.test_documenso import CREATE_PAYLOAD
from tests.envelope.helpers import assert_sealed, invitations, pdf_bytes
from tests.envelope.test_pages import UA, _post
from tests.fixtures.factories import create_org_with_key


async def sign_in_page(
    client: httpx.AsyncClient, runtime: Runtime, body: dict[str, Any], email: str
) -> None:
    """Open the signing page and sign every field of ``email``'s, as a person would."""
    token = await token_of(runtime, email)
    assert (await client.get(f"/s/{token}", headers=UA)).status_code == 200
    recipient = next(r for r in body["recipients"] if r["email"] == email)
    values = {
        f"f_{f['secondaryId']}": "2025-01-31" if f["type"] == "DATE" else "John Smith"
        for f in body["fields"]
        if f["recipientId"] == recipient["id"]
    }
    response = await _post(client, token, "sign", {**values, "consent": "yes"})
    assert response.status_code == 303, response.text


async def test_round_trip_sign_download_audit(
    client: httpx.AsyncClient, runtime: Runtime, key: dict[str, str], tmp_path: Path
) -> None:
    original = pdf_bytes(2)
    files = [("files", ("contract.pdf", original, "application/pdf"))]
    envelope_id = await created(client, key, files=files)
    await post(client, key, "envelope/distribute", {"envelopeId": envelope_id})
    body = await envelope(client, key, envelope_id)
    item_id = body["envelopeItems"][0]["id"]
    early = await client.get(f"{BASE}/envelope/item/{item_id}/download", headers=key)
    assert_error(early, 400, "INVALID_REQUEST", "PENDING")
    await sign_in_page(client, runtime, body, "signer@example.com")
    await Worker(runtime, poll_interval=0.05).run_until_idle()

    done = await envelope(client, key, envelope_id)
    assert done["status"] == "COMPLETED" and done["completedAt"].endswith("Z")
    [signer] = done["recipients"]
    assert (signer["readStatus"], signer["signingStatus"]) == ("OPENED", "SIGNED")
    assert signer["signedAt"] is not None
    assert all(f["inserted"] for f in done["fields"])
    date = next(f for f in done["fields"] if f["type"] == "DATE")
    assert date["customText"] == "2025-01-31"

    signed = await client.get(f"{BASE}/envelope/item/{item_id}/download", headers=key)
    assert signed.status_code == 200 and signed.headers["content-type"] == "application/pdf"
    assert "contract-signed.pdf" in signed.headers["content-disposition"]
    await assert_sealed(runtime, signed.content, tmp_path)
    first = await client.get(
        f"{BASE}/envelope/item/{item_id}/download?version=original", headers=key
    )
    assert first.status_code == 200 and first.content == original
    for path in ("certificate/download", "audit-log/download"):
        pdf = await client.get(f"{BASE}/envelope/{envelope_id}/{path}", headers=key)
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF"), path

    log = await client.get(f"{BASE}/envelope/{envelope_id}/audit-log?perPage=100", headers=key)
    assert log.status_code == 200, log.text
    page = log.json()
    kinds = [entry["type"] for entry in page["data"]]
    assert kinds == [
        "DOCUMENT_COMPLETED",
        "DOCUMENT_RECIPIENT_COMPLETED",
        "DOCUMENT_OPENED",
        "EMAIL_SENT",
        "DOCUMENT_SENT",
        "DOCUMENT_CREATED",
    ]
    assert (page["count"], page["currentPage"], page["totalPages"]) == (6, 1, 1)
    completed_by = page["data"][1]
    assert completed_by["data"]["recipientId"] == signer["id"]
    assert completed_by["data"]["recipientRole"] == "SIGNER"
    assert completed_by["userAgent"] == UA["User-Agent"] and completed_by["email"]
    assert page["data"][3]["data"]["emailType"] == "SIGNING_REQUEST"
    assert page["data"][-1]["data"] == {"title": "Service Agreement",
                                        "source": {"type": "DOCUMENT"}}  # fmt: skip
    oldest = await client.get(
        f"{BASE}/envelope/{envelope_id}/audit-log?orderByDirection=asc&perPage=2&page=2",
        headers=key,
    )
    assert [e["type"] for e in oldest.json()["data"]] == ["EMAIL_SENT", "DOCUMENT_OPENED"]
    assert oldest.json()["totalPages"] == 3


async def test_downloads_refused_as_documenso_does(
    client: httpx.AsyncClient, runtime: Runtime, key: dict[str, str]
) -> None:
    envelope_id = await created(client, key)
    item_id = (await envelope(client, key, envelope_id))["envelopeItems"][0]["id"]
    draft = await client.get(f"{BASE}/envelope/item/{item_id}/download", headers=key)
    assert_error(draft, 400, "ENVELOPE_DRAFT")
    pending = await client.get(
        f"{BASE}/envelope/item/{item_id}/download?version=pending", headers=key
    )
    assert_error(pending, 400, "INVALID_BODY", "version")
    bad = await client.get(f"{BASE}/envelope/item/{item_id}/download?version=x", headers=key)
    assert_error(bad, 400, "INVALID_BODY", "version")
    missing = await client.get(f"{BASE}/envelope/item/doc_nope/download", headers=key)
    assert_error(missing, 404, "NOT_FOUND")
    certificate = await client.get(f"{BASE}/envelope/{envelope_id}/certificate/download",
                                   headers=key)  # fmt: skip
    assert_error(certificate, 400, "ENVELOPE_DRAFT")
    _, secret = await create_org_with_key(runtime, "Other")
    other = {"Authorization": secret}
    for path in (
        f"envelope/item/{item_id}/download?version=original",
        f"envelope/{envelope_id}/audit-log",
        f"envelope/{envelope_id}/certificate/download",
    ):
        assert_error(await client.get(f"{BASE}/{path}", headers=other), 404, "NOT_FOUND")


def _two_in_sequence() -> dict[str, Any]:
    payload = copy.deepcopy(CREATE_PAYLOAD)
    second = copy.deepcopy(payload["recipients"][0])
    second.update(email="second@example.com", name="Second Signer", signingOrder=2)
    payload["recipients"][0]["signingOrder"] = 1
    payload["recipients"].append(second)
    payload["meta"]["signingOrder"] = "SEQUENTIAL"
    return payload


async def test_redistribute_resends_to_whose_turn_it_is(
    client: httpx.AsyncClient, runtime: Runtime, key: dict[str, str]
) -> None:
    draft = await created(client, key)
    draft_body = await envelope(client, key, draft)
    refused = await post(
        client,
        key,
        "envelope/redistribute",
        {"envelopeId": draft, "recipients": [draft_body["recipients"][0]["id"]]},
    )
    assert_error(refused, 400, "ENVELOPE_DRAFT")

    body = await sent(client, key, payload=_two_in_sequence())
    first, second = body["recipients"]
    assert (first["signingOrder"], second["signingOrder"]) == (1, 2)
    assert len(await invitations(runtime)) == 1
    again = await post(
        client, key, "envelope/redistribute", {"envelopeId": body["id"],
                                               "recipients": [first["id"]]}
    )  # fmt: skip
    assert again.status_code == 200, again.text
    answer = again.json()
    assert answer["success"] is True and answer["id"] == body["id"]
    [resent] = answer["recipients"]
    assert resent["id"] == first["id"] and resent["signingUrl"] == first["signingUrl"]
    mails = await invitations(runtime)
    assert [m["To"] for m in mails] == ["signer@example.com", "signer@example.com"]
    assert "Reminder" in str(mails[-1]["Subject"])

    not_yet = await post(
        client, key, "envelope/redistribute", {"envelopeId": body["id"],
                                               "recipients": [second["id"]]}
    )  # fmt: skip
    assert_error(not_yet, 400, "INVALID_REQUEST", "turn")
    unknown = await post(
        client, key, "envelope/redistribute", {"envelopeId": body["id"],
                                               "recipients": [123456789]}
    )  # fmt: skip
    assert_error(unknown, 404, "NOT_FOUND")
    empty = await post(
        client, key, "envelope/redistribute", {"envelopeId": body["id"], "recipients": []}
    )
    assert_error(empty, 400, "INVALID_BODY", "recipients")


async def test_reject_on_behalf_ends_the_envelope(
    client: httpx.AsyncClient, runtime: Runtime, key: dict[str, str]
) -> None:
    body = await sent(client, key, payload=_two_in_sequence())
    first, second = body["recipients"]
    path = f"envelope/recipient/{second['id']}/reject"
    for bad, phrase in (({"reason": ""}, "reason"),
                        ({"reason": "No", "actAsEmail": "boss@example.com"}, "actAsEmail"),
                        ({"reason": "No"}, "envelopeId")):  # fmt: skip
        payload = {"envelopeId": body["id"], **bad} if phrase != "envelopeId" else bad
        assert_error(await post(client, key, path, payload), 400, "INVALID_BODY", phrase)

    # Not their turn yet (sequential), yet they told the sender no: Documenso records it.
    response = await post(
        client, key, path, {"envelopeId": body["id"], "reason": "I do not agree with the terms"}
    )
    assert response.status_code == 200, response.text
    rejected = response.json()
    assert rejected["id"] == second["id"] and rejected["signingStatus"] == "REJECTED"
    assert rejected["rejectionReason"] == "I do not agree with the terms"
    assert rejected["signedAt"] is not None and len(rejected["fields"]) == 2
    after = await envelope(client, key, body["id"])
    assert after["status"] == "REJECTED"
    again = await post(
        client,
        key,
        f"envelope/recipient/{first['id']}/reject",
        {"envelopeId": body["id"], "reason": "Me neither"},
    )
    assert_error(again, 400, "ENVELOPE_REJECTED")
    log = (await client.get(f"{BASE}/envelope/{body['id']}/audit-log", headers=key)).json()
    [entry] = [e for e in log["data"] if e["type"] == "DOCUMENT_RECIPIENT_REJECTED"]
    assert entry["data"]["isExternal"] is True
    assert entry["data"]["reason"] == "I do not agree with the terms"
    # The signing page shows it ended: the first signer can no longer sign.
    token = await token_of(runtime, "signer@example.com")
    page = await client.get(f"/s/{token}", headers=UA)
    assert "This envelope is closed" in page.text and 'name="consent"' not in page.text
