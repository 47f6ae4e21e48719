# ruff: noqa: E501 (the reference's examples, verbatim)
"""Every example of references 003 (recipients), 004 (envelopes) and 005 (fields) sent as
written, with the same headers and bodies; only the example ids (``clu1abc2def3ghi4jkl``,
``789``, ``123``, ...) are replaced by those of the envelope the test made. Reference 007's
payloads are checked in test_webhooks.py."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from tabellion.runtime import Runtime
from tests.compat.documenso.helpers import BASE, assert_error, created, envelope
from tests.compat.test_documenso import CREATE_PAYLOAD

# The keys of reference 003's recipient object.
RECIPIENT_KEYS = {"id", "envelopeId", "email", "name", "role", "signingOrder", "token",
                  "signedAt", "readStatus", "signingStatus", "sendStatus"}  # fmt: skip
# The keys of reference 005's field object.
FIELD_KEYS = {"id", "type", "recipientId", "page", "positionX", "positionY", "width", "height"}


def _with_ids(example: str, **ids: Any) -> Any:
    """The example's JSON with its placeholder ids replaced (as a client would fill them), in
    one pass so that a new id is never replaced again."""
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, ids)) + r")\b")
    return json.loads(pattern.sub(lambda m: str(ids[m.group(1)]), example))


async def _json_post(
    client: httpx.AsyncClient, key: dict[str, str], path: str, body: Any
) -> httpx.Response:
    # As the examples send it: -H "Content-Type: application/json" -d '...'
    return await client.post(
        f"{BASE}/{path}",
        content=json.dumps(body),
        headers={**key, "Content-Type": "application/json"},
    )


# ---- 003: recipients --------------------------------------------------------------------------

CREATE_RECIPIENTS = """{
    "envelopeId": "clu1abc2def3ghi4jkl",
    "data": [
      {
        "email": "signer@example.com",
        "name": "John Doe",
        "role": "SIGNER",
        "signingOrder": 1
      },
      {
        "email": "approver@example.com",
        "name": "Jane Smith",
        "role": "APPROVER",
        "signingOrder": 0
      }
    ]
  }"""
UPDATE_RECIPIENTS = """{
    "envelopeId": "clu1abc2def3ghi4jkl",
    "data": [
      {
        "id": 789,
        "name": "Jane Doe",
        "signingOrder": 2
      }
    ]
  }"""
DELETE_RECIPIENT = """{
    "recipientId": 789
  }"""
SIGNING_ORDER_RECIPIENTS = """{
    "envelopeId": "clu1abc2def3ghi4jkl",
    "data": [
      {"email": "approver@example.com", "name": "Approver", "role": "APPROVER", "signingOrder": 0},
      {"email": "first@example.com", "name": "First Signer", "role": "SIGNER", "signingOrder": 1},
      {"email": "second@example.com", "name": "Second Signer", "role": "SIGNER", "signingOrder": 2}
    ]
  }"""
AUTH_RECIPIENTS = """{
    "envelopeId": "clu1abc2def3ghi4jkl",
    "data": [
      {
        "email": "signer@example.com",
        "name": "John Doe",
        "role": "SIGNER",
        "accessAuth": ["ACCOUNT"],
        "actionAuth": ["PASSKEY", "TWO_FACTOR_AUTH"]
      }
    ]
  }"""


async def _bare(client: httpx.AsyncClient, key: dict[str, str]) -> str:
    """An envelope with its file and no recipient yet, as the recipients guide starts."""
    return await created(client, key, payload={**CREATE_PAYLOAD, "recipients": []})


async def test_003_create_update_get_delete(client: httpx.AsyncClient, key: dict[str, str]) -> None:
    envelope_id = await _bare(client, key)
    response = await _json_post(
        client,
        key,
        "envelope/recipient/create-many",
        _with_ids(CREATE_RECIPIENTS, clu1abc2def3ghi4jkl=envelope_id),
    )
    assert response.status_code == 200, response.text
    john, jane = response.json()["data"]
    for recipient in (john, jane):
        assert set(recipient) >= RECIPIENT_KEYS
        assert recipient["envelopeId"] == envelope_id and recipient["signedAt"] is None
        assert (recipient["readStatus"], recipient["signingStatus"], recipient["sendStatus"]) == (
            "NOT_OPENED", "NOT_SIGNED", "NOT_SENT")  # fmt: skip
    assert (john["email"], john["role"], john["signingOrder"]) == (
        "signer@example.com",
        "SIGNER",
        1,
    )
    assert (jane["email"], jane["role"], jane["signingOrder"]) == (
        "approver@example.com",
        "APPROVER",
        0,
    )

    response = await _json_post(
        client,
        key,
        "envelope/recipient/update-many",
        _with_ids(UPDATE_RECIPIENTS, clu1abc2def3ghi4jkl=envelope_id, **{"789": john["id"]}),
    )
    assert response.status_code == 200, response.text
    [updated] = response.json()["data"]
    assert (updated["id"], updated["name"], updated["signingOrder"]) == (john["id"], "Jane Doe", 2)

    # GET /api/v2/envelope/recipient/{recipientId}: the full object including fields.
    got = await client.get(f"{BASE}/envelope/recipient/{john['id']}", headers=key)
    assert got.status_code == 200 and got.json()["name"] == "Jane Doe"
    assert set(got.json()) >= RECIPIENT_KEYS | {"fields"}

    response = await _json_post(
        client, key, "envelope/recipient/delete", _with_ids(DELETE_RECIPIENT, **{"789": jane["id"]})
    )
    assert response.status_code == 200 and response.json() == {"success": True}
    assert [r["id"] for r in (await envelope(client, key, envelope_id))["recipients"]] == [
        john["id"]
    ]


async def test_003_signing_order_and_auth_examples(
    client: httpx.AsyncClient, runtime: Runtime, key: dict[str, str]
) -> None:
    envelope_id = await _bare(client, key)
    update = await _json_post(
        client, key, "envelope/update",
        {"envelopeId": envelope_id, "meta": {"signingOrder": "SEQUENTIAL"}},
    )  # fmt: skip
    assert update.status_code == 200, update.text
    response = await _json_post(
        client,
        key,
        "envelope/recipient/create-many",
        _with_ids(SIGNING_ORDER_RECIPIENTS, clu1abc2def3ghi4jkl=envelope_id),
    )
    assert response.status_code == 200, response.text
    orders = [(r["name"], r["signingOrder"]) for r in response.json()["data"]]
    assert orders == [("Approver", 0), ("First Signer", 1), ("Second Signer", 2)]
    body = await envelope(client, key, envelope_id)
    # Lower signingOrder first: the envelope lists them in signing order.
    assert [r["name"] for r in body["recipients"]] == ["Approver", "First Signer", "Second Signer"]

    # ACCOUNT needs a Documenso account, which Tabellion recipients do not have: refused,
    # naming the field, and nothing stored.
    other = await _bare(client, key)
    refused = await _json_post(
        client,
        key,
        "envelope/recipient/create-many",
        _with_ids(AUTH_RECIPIENTS, clu1abc2def3ghi4jkl=other),
    )
    body_ = assert_error(refused, 400, "INVALID_BODY", "ACCOUNT", "TWO_FACTOR_AUTH")
    assert body_["issues"][0]["path"][-1] == "accessAuth"
    assert (await envelope(client, key, other))["recipients"] == []


# ---- 004: envelopes ---------------------------------------------------------------------------


async def test_004_list_get_update_distribute_cancel(
    client: httpx.AsyncClient, key: dict[str, str]
) -> None:
    envelope_id = await created(client, key)
    for path in ("envelope", "envelope?status=PENDING&page=1&perPage=20", "envelope?type=DOCUMENT"):
        response = await client.get(f"{BASE}/{path}", headers=key)
        assert response.status_code == 200, response.text
        assert {"data", "count"} <= set(response.json())
    got = await client.get(f"{BASE}/envelope/{envelope_id}", headers=key)
    assert {"id", "type", "status", "title", "recipients", "fields", "envelopeItems"} <= set(
        got.json()
    )

    update = """{
    "envelopeId": "envelope_abc123",
    "data": {
      "title": "Updated Service Agreement",
      "externalId": "contract-2025-001-v2"
    },
    "meta": {
      "subject": "Updated: Please sign this agreement",
      "redirectUrl": "https://example.com/signed"
    }
  }"""
    response = await _json_post(
        client, key, "envelope/update", _with_ids(update, envelope_abc123=envelope_id)
    )
    assert response.status_code == 200, response.text
    assert response.json()["title"] == "Updated Service Agreement"
    assert response.json()["externalId"] == "contract-2025-001-v2"

    distribute = """{
    "envelopeId": "envelope_abc123",
    "meta": {
      "subject": "Action Required: Sign Agreement",
      "message": "Please sign this document by end of day.",
      "timezone": "America/New_York"
    }
  }"""
    response = await _json_post(
        client, key, "envelope/distribute", _with_ids(distribute, envelope_abc123=envelope_id)
    )
    assert response.status_code == 200, response.text
    assert response.json()["recipients"][0]["signingUrl"].startswith("http")
    sent = await envelope(client, key, envelope_id)
    assert sent["status"] == "PENDING"
    assert sent["documentMeta"]["message"] == "Please sign this document by end of day."

    other = await created(client, key)
    response = await _json_post(
        client,
        key,
        "envelope/distribute",
        _with_ids('{\n    "envelopeId": "envelope_abc123"\n  }', envelope_abc123=other),
    )
    assert response.status_code == 200, response.text

    cancel = """{
    "envelopeId": "envelope_abc123",
    "reason": "The agreement is no longer needed."
  }"""
    response = await _json_post(
        client, key, "envelope/cancel", _with_ids(cancel, envelope_abc123=envelope_id)
    )
    assert response.status_code == 200 and response.json() == {"success": True}


# ---- 005: fields ------------------------------------------------------------------------------

CREATE_FIELDS = """{
    "documentId": 123,
    "fields": [
      {
        "type": "SIGNATURE",
        "recipientId": 456,
        "pageNumber": 1,
        "pageX": 10,
        "pageY": 80,
        "width": 30,
        "height": 5
      },
      {
        "type": "DATE",
        "recipientId": 456,
        "pageNumber": 1,
        "pageX": 50,
        "pageY": 80,
        "width": 20,
        "height": 3
      },
      {
        "type": "TEXT",
        "recipientId": 456,
        "pageNumber": 1,
        "pageX": 10,
        "pageY": 70,
        "width": 40,
        "height": 4,
        "fieldMeta": {
          "type": "text",
          "label": "Job Title",
          "placeholder": "Enter your job title",
          "required": true
        }
      }
    ]
  }"""
UPDATE_FIELDS = """{
    "documentId": 123,
    "fields": [
      {
        "id": 101,
        "type": "SIGNATURE",
        "pageY": 85
      },
      {
        "id": 102,
        "type": "DATE",
        "pageY": 85
      }
    ]
  }"""
DELETE_FIELD = """{
    "fieldId": 456
  }"""


async def test_005_fields_as_the_guide_writes_them(
    client: httpx.AsyncClient, key: dict[str, str]
) -> None:
    envelope_id = await created(client, key, payload={
        **CREATE_PAYLOAD, "recipients": [{**CREATE_PAYLOAD["recipients"][0], "fields": []}]})  # fmt: skip
    body = await envelope(client, key, envelope_id)
    document_id = int(body["secondaryId"].removeprefix("document_"))
    recipient_id = body["recipients"][0]["id"]
    response = await _json_post(
        client,
        key,
        "envelope/field/create-many",
        _with_ids(CREATE_FIELDS, **{"123": document_id, "456": recipient_id}),
    )
    assert response.status_code == 200, response.text
    fields = response.json()["fields"]
    assert response.json()["data"] == fields
    assert [f["type"] for f in fields] == ["SIGNATURE", "DATE", "TEXT"]
    for field in fields:
        assert set(field) >= FIELD_KEYS and field["recipientId"] == recipient_id
    signature, date, text = fields
    assert (signature["page"], signature["positionX"], signature["positionY"]) == (1, "10", "80")
    assert (signature["width"], signature["height"]) == ("30", "5")
    assert text["fieldMeta"]["label"] == "Job Title"
    assert text["fieldMeta"]["placeholder"] == "Enter your job title"
    assert text["fieldMeta"]["required"] is True

    # GET /envelope/field/{fieldId}
    got = await client.get(f"{BASE}/envelope/field/{date['id']}", headers=key)
    assert got.status_code == 200 and got.json() == date

    response = await _json_post(
        client,
        key,
        "envelope/field/update-many",
        _with_ids(UPDATE_FIELDS, **{"123": document_id, "101": signature["id"], "102": date["id"]}),
    )
    assert response.status_code == 200, response.text
    moved = response.json()["fields"]
    assert [(f["id"], f["positionY"]) for f in moved] == [
        (signature["id"], "85"),
        (date["id"], "85"),
    ]

    response = await _json_post(
        client, key, "envelope/field/delete", _with_ids(DELETE_FIELD, **{"456": text["id"]})
    )
    assert response.status_code == 200 and response.json() == {"success": True}
    left = (await envelope(client, key, envelope_id))["fields"]
    assert sorted(f["id"] for f in left) == sorted([signature["id"], date["id"]])

    # The routes' own names work the same (envelopeId, data, page, positionX, positionY).
    routes = await _json_post(
        client,
        key,
        "envelope/field/create-many",
        {"envelopeId": envelope_id, "data": [{"type": "INITIALS", "recipientId": recipient_id,
                                              "page": 2, "positionX": 1, "positionY": 1,
                                              "width": 5, "height": 5}]},
    )  # fmt: skip
    assert routes.status_code == 200 and set(routes.json()) == {"data"}
