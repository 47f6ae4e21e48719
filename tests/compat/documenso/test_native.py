"""Envelopes made through the native ``/v1`` API, read through the Documenso dialect: their
numeric ids are drawn on first sight, even by the read routes (whose session cannot write)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tabellion.runtime import Runtime
from tests.compat.documenso.helpers import BASE, post
from tests.conftest import count_rows
from tests.envelope.helpers import ready_draft


def _numbers(body: dict[str, Any]) -> tuple[list[int], list[int]]:
    recipients = [r["id"] for r in body["recipients"]]
    fields = [f["id"] for f in body["fields"]]
    assert all(isinstance(n, int) and 10**8 <= n < 10**9 for n in recipients + fields), body
    assert {f["recipientId"] for f in body["fields"]} <= set(recipients)
    return recipients, fields


async def test_native_envelopes_read_through_every_route(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str], key: dict[str, str]
) -> None:
    first, _ = await ready_draft(client, auth)
    second, document_id = await ready_draft(client, auth, title="Second")
    assert await count_rows(runtime, "compat_ids") == 0

    listed = await client.get(f"{BASE}/envelope", headers=key)
    assert listed.status_code == 200, listed.text
    page = listed.json()
    assert page["count"] == 2 and [e["id"] for e in page["data"]] == [second["id"], first["id"]]
    by_id = {e["id"]: e for e in page["data"]}
    recipients, fields = _numbers(by_id[second["id"]])
    assert [r["email"] for r in by_id[second["id"]]["recipients"]] == [
        r["email"] for r in second["recipients"]
    ]
    assert by_id[second["id"]]["secondaryId"].startswith("document_")
    # Two envelopes of three recipients and one field each, and the envelopes themselves.
    assert await count_rows(runtime, "compat_ids") == 2 + 2 * 3 + 2 * 1

    one = await client.get(f"{BASE}/envelope/{second['id']}", headers=key)
    assert one.status_code == 200, one.text
    assert _numbers(one.json()) == (recipients, fields)
    assert one.json()["envelopeItems"][0]["id"] == document_id

    many = await post(
        client, key, "envelope/get-many", {"ids": {"type": "envelopeId", "ids": [first["id"]]}}
    )
    assert many.status_code == 200, many.text
    assert _numbers(many.json()["data"][0]) == _numbers(by_id[first["id"]])

    signer = next(r for r in one.json()["recipients"] if r["role"] == "SIGNER")
    recipient = await client.get(f"{BASE}/envelope/recipient/{signer['id']}", headers=key)
    assert recipient.status_code == 200, recipient.text
    assert recipient.json()["email"] == "sam@example.test"
    assert [f["id"] for f in recipient.json()["fields"]] == fields

    field = await client.get(f"{BASE}/envelope/field/{fields[0]}", headers=key)
    assert field.status_code == 200, field.text
    assert field.json()["type"] == "SIGNATURE" and field.json()["recipientId"] == signer["id"]

    log = await client.get(f"{BASE}/envelope/{first['id']}/audit-log", headers=key)
    assert log.status_code == 200, log.text
    assert [e["type"] for e in log.json()["data"]] == ["DOCUMENT_CREATED"]
    # Reading again draws nothing new.
    assert await count_rows(runtime, "compat_ids") == 10


async def test_native_recipient_and_field_first_seen_by_audit_log(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str], key: dict[str, str]
) -> None:
    envelope, _ = await ready_draft(client, auth)
    sent = await client.post(f"/v1/envelopes/{envelope['id']}/send", headers=auth)
    assert sent.status_code == 202, sent.text
    log = await client.get(f"{BASE}/envelope/{envelope['id']}/audit-log", headers=key)
    assert log.status_code == 200, log.text
    ids = {e["data"]["recipientId"] for e in log.json()["data"] if "recipientId" in e["data"]}
    body = (await client.get(f"{BASE}/envelope/{envelope['id']}", headers=key)).json()
    assert ids and ids <= {r["id"] for r in body["recipients"]}


async def test_concurrent_first_sights_agree(
    served: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str], key: dict[str, str]
) -> None:
    envelope, _ = await ready_draft(served, auth)
    answers = await asyncio.gather(
        *(served.get(f"{BASE}/envelope/{envelope['id']}", headers=key) for _ in range(4)),
        served.get(f"{BASE}/envelope", headers=key),
    )
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    bodies = [a.json() for a in answers[:4]] + answers[4].json()["data"]
    assert len({str(_numbers(b)) for b in bodies}) == 1
    assert await count_rows(runtime, "compat_ids") == 1 + 3 + 1
