"""Documenso v2: get-many, update, and recipient / field create-many, update-many, delete on a
draft; refused in Documenso's shape once sent; another organisation's ids answer 404."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tabellion.runtime import Runtime
from tests.compat.documenso.helpers import BASE, assert_error, created, envelope, post, sent
from tests.compat.test_documenso import CREATE_PAYLOAD
from tests.conftest import count_rows
from tests.fixtures.factories import create_org_with_key


async def test_get_many_answers_known_ids_only(
    client: httpx.AsyncClient, runtime: Runtime, key: dict[str, str]
) -> None:
    first, second = await created(client, key), await created(client, key)
    _, other_secret = await create_org_with_key(runtime, "Other")
    theirs = await created(client, {"Authorization": other_secret})
    response = await post(
        client,
        key,
        "envelope/get-many",
        {"ids": {"type": "envelopeId", "ids": [first, second, theirs, "env_nope"]}},
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert [e["id"] for e in data] == [first, second]
    assert data[0]["recipients"][0]["email"] == "signer@example.com"
    assert data[0]["secondaryId"].startswith("document_")
    refused = await post(client, key, "envelope/get-many", {"ids": {"type": "documentId",
                                                                     "ids": [1]}})  # fmt: skip
    assert_error(refused, 400, "INVALID_BODY", "envelopeId")
    too_many = await post(
        client, key, "envelope/get-many", {"ids": {"type": "envelopeId", "ids": ["e"] * 21}}
    )
    assert_error(too_many, 400, "INVALID_BODY", "ids")


async def test_update_changes_a_draft_only(client: httpx.AsyncClient, key: dict[str, str]) -> None:
    envelope_id = await created(client, key)
    response = await post(
        client,
        key,
        "envelope/update",
        {
            "envelopeId": envelope_id,
            "data": {"title": "Amended Agreement", "externalId": None, "visibility": "EVERYONE"},
            "meta": {"message": "Please sign the amended one.", "signingOrder": "SEQUENTIAL",
                     "language": "fr"},
        },
    )  # fmt: skip
    assert response.status_code == 200, response.text
    lite = response.json()
    assert lite["title"] == "Amended Agreement" and lite["externalId"] is None
    assert "recipients" not in lite and lite["status"] == "DRAFT"
    body = await envelope(client, key, envelope_id)
    assert body["documentMeta"]["message"] == "Please sign the amended one."
    assert body["documentMeta"]["signingOrder"] == "SEQUENTIAL"
    assert body["documentMeta"]["language"] == "fr"
    # Only what is sent changes.
    kept = await post(client, key, "envelope/update", {"envelopeId": envelope_id,
                                                       "data": {"externalId": "X-9"}})  # fmt: skip
    assert kept.json()["title"] == "Amended Agreement" and kept.json()["externalId"] == "X-9"

    for bad, phrase in (
        ({"data": {"title": ""}}, "title"),
        ({"data": {"globalActionAuth": ["PASSKEY"]}}, "globalActionAuth"),
        ({"meta": {"language": "xx"}}, "language"),
        ({"meta": {"signingOrder": "RANDOM"}}, "signingOrder"),
    ):
        refused = await post(client, key, "envelope/update", {"envelopeId": envelope_id, **bad})
        assert_error(refused, 400, "INVALID_BODY", phrase)

    distributed = await sent(client, key)
    after = await post(
        client, key, "envelope/update", {"envelopeId": distributed["id"], "data": {"title": "X"}}
    )
    assert_error(after, 400, "INVALID_REQUEST", "PENDING")
    missing = await post(client, key, "envelope/update", {"envelopeId": "env_nope"})
    assert_error(missing, 404, "NOT_FOUND")


REFERENCE_RECIPIENTS = [
    {"email": "signer@example.com", "name": "John Doe", "role": "SIGNER", "signingOrder": 1},
    {"email": "approver@example.com", "name": "Jane Smith", "role": "APPROVER", "signingOrder": 0},
]


async def test_recipients_create_update_delete(
    client: httpx.AsyncClient, runtime: Runtime, key: dict[str, str]
) -> None:
    # Documenso clients often create the envelope bare and add its recipients after.
    envelope_id = await created(client, key, payload={**CREATE_PAYLOAD, "recipients": []})
    response = await post(
        client,
        key,
        "envelope/recipient/create-many",
        {"envelopeId": envelope_id, "data": REFERENCE_RECIPIENTS},
    )
    assert response.status_code == 200, response.text
    john, jane = response.json()["data"]
    assert (john["name"], john["role"], john["signingOrder"]) == ("John Doe", "SIGNER", 1)
    assert (jane["name"], jane["role"], jane["signingOrder"]) == ("Jane Smith", "APPROVER", 0)
    assert john["signingStatus"] == "NOT_SIGNED" and john["sendStatus"] == "NOT_SENT"
    assert isinstance(john["id"], int) and john["token"]
    assert john["authOptions"] == {"accessAuth": [], "actionAuth": []}

    updated = await post(
        client,
        key,
        "envelope/recipient/update-many",
        {"envelopeId": envelope_id, "data": [{"id": john["id"], "name": "Jane Doe",
                                               "signingOrder": 2}]},
    )  # fmt: skip
    assert updated.status_code == 200, updated.text
    [changed] = updated.json()["data"]
    assert (changed["id"], changed["name"], changed["signingOrder"]) == (john["id"], "Jane Doe", 2)
    assert changed["email"] == "signer@example.com"

    deleted = await post(client, key, "envelope/recipient/delete", {"recipientId": jane["id"]})
    assert deleted.status_code == 200 and deleted.json() == {"success": True}
    body = await envelope(client, key, envelope_id)
    assert [r["email"] for r in body["recipients"]] == ["signer@example.com"]
    gone = await client.get(f"{BASE}/envelope/recipient/{jane['id']}", headers=key)
    assert_error(gone, 404, "NOT_FOUND")
    assert await count_rows(runtime, "envelope_recipients") == 1
    again = await post(
        client,
        key,
        "envelope/recipient/create-many",
        {"envelopeId": envelope_id, "data": REFERENCE_RECIPIENTS[:1]},
    )
    assert_error(again, 400, "ALREADY_EXISTS", "already exists")


async def test_recipient_rules_in_documensos_shape(
    client: httpx.AsyncClient, runtime: Runtime, key: dict[str, str]
) -> None:
    envelope_id = await created(client, key)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"email": "x@example.com", "name": "X"}, "role"),
        ({"email": "x@example.com", "name": "X", "role": "BOSS"}, "role"),
        ({"email": "not-an-address", "name": "X", "role": "SIGNER"}, "email"),
        ({"email": "x@example.com", "name": "X" * 256, "role": "SIGNER"}, "name"),
        ({"email": "x@example.com", "name": "X", "role": "SIGNER", "accessAuth": ["ACCOUNT"]},
         "accessAuth"),
        ({"email": "x@example.com", "name": "X", "role": "SIGNER", "actionAuth": ["MAGIC"]},
         "actionAuth"),
    ]  # fmt: skip
    for item, phrase in cases:
        response = await post(
            client,
            key,
            "envelope/recipient/create-many",
            {"envelopeId": envelope_id, "data": [item]},
        )
        assert_error(response, 400, "INVALID_BODY", phrase)
    assert await count_rows(runtime, "envelope_recipients") == 1
    empty = await post(
        client, key, "envelope/recipient/create-many", {"envelopeId": envelope_id, "data": []}
    )
    assert_error(empty, 400, "INVALID_BODY", "data")
    unknown = await post(
        client,
        key,
        "envelope/recipient/update-many",
        {"envelopeId": envelope_id, "data": [{"id": 123456789, "name": "Nobody"}]},
    )
    assert_error(unknown, 404, "NOT_FOUND")
    signer = (await envelope(client, key, envelope_id))["recipients"][0]["id"]
    bad = await post(
        client,
        key,
        "envelope/recipient/update-many",
        {"envelopeId": envelope_id, "data": [{"id": signer, "email": "nope"}]},
    )
    body = assert_error(bad, 400, "INVALID_BODY")
    assert body["issues"][0]["path"] == ["data", "0", "email"]
    assert (await envelope(client, key, envelope_id))["recipients"][0]["email"] == (
        "signer@example.com"
    )


async def test_auth_options_map_onto_ours(
    client: httpx.AsyncClient, key: dict[str, str], auth: dict[str, str]
) -> None:
    envelope_id = await created(client, key)
    response = await post(
        client,
        key,
        "envelope/recipient/create-many",
        {
            "envelopeId": envelope_id,
            "data": [
                {"email": "a@example.com", "name": "A", "role": "SIGNER",
                 "accessAuth": ["TWO_FACTOR_AUTH"], "actionAuth": ["PASSKEY", "TWO_FACTOR_AUTH"]},
                {"email": "b@example.com", "name": "B", "role": "SIGNER",
                 "actionAuth": ["EXPLICIT_NONE"]},
            ],
        },
    )  # fmt: skip
    assert response.status_code == 200, response.text
    a, b = response.json()["data"]
    assert a["authOptions"] == {
        "accessAuth": ["TWO_FACTOR_AUTH"],
        "actionAuth": ["PASSKEY", "TWO_FACTOR_AUTH"],
    }
    assert b["authOptions"] == {"accessAuth": [], "actionAuth": []}
    native = (await client.get(f"/v1/envelopes/{envelope_id}", headers=auth)).json()
    stored = {r["email"]: r for r in native["recipients"]}["a@example.com"]
    assert stored["access_auth"] == ["email_otp"]
    assert stored["action_auth"] == ["passkey", "totp"]
    changed = await post(
        client,
        key,
        "envelope/recipient/update-many",
        {"envelopeId": envelope_id, "data": [{"id": a["id"], "actionAuth": ["PASSWORD"]}]},
    )
    assert changed.json()["data"][0]["authOptions"]["actionAuth"] == ["PASSWORD"]
    account = await post(
        client,
        key,
        "envelope/recipient/update-many",
        {"envelopeId": envelope_id, "data": [{"id": a["id"], "actionAuth": ["ACCOUNT"]}]},
    )
    assert_error(account, 400, "INVALID_BODY", "ACCOUNT")


async def _one_recipient(client: httpx.AsyncClient, key: dict[str, str]) -> tuple[str, int, str]:
    envelope_id = await created(client, key)
    body = await envelope(client, key, envelope_id)
    return envelope_id, body["recipients"][0]["id"], body["envelopeItems"][0]["id"]


async def test_fields_create_update_delete(client: httpx.AsyncClient, key: dict[str, str]) -> None:
    envelope_id, recipient_id, item_id = await _one_recipient(client, key)
    response = await post(
        client,
        key,
        "envelope/field/create-many",
        {
            "envelopeId": envelope_id,
            "data": [
                {"type": "TEXT", "recipientId": recipient_id, "page": 2, "positionX": 10,
                 "positionY": 70, "width": 40, "height": 4,
                 "fieldMeta": {"type": "text", "label": "Job Title", "required": False,
                               "characterLimit": 40, "text": "Engineer"}},
                {"type": "RADIO", "recipientId": recipient_id, "envelopeItemId": item_id,
                 "page": 1, "positionX": 5, "positionY": 5, "width": 10, "height": 10,
                 "fieldMeta": {"type": "radio", "values": [
                     {"id": 1, "checked": False, "value": "Yes"},
                     {"id": 2, "checked": True, "value": "No"}]}},
                {"type": "NUMBER", "recipientId": recipient_id, "page": 1, "positionX": 50,
                 "positionY": 5, "width": 10, "height": 5,
                 "fieldMeta": {"type": "number", "minValue": 1, "maxValue": 9}},
            ],
        },
    )  # fmt: skip
    assert response.status_code == 200, response.text
    text, radio, number = response.json()["data"]
    assert text["envelopeItemId"] == item_id and text["page"] == 2
    assert text["fieldMeta"] == {"type": "text", "label": "Job Title", "required": False,
                                 "readOnly": False, "text": "Engineer",
                                 "characterLimit": 40}  # fmt: skip
    assert radio["fieldMeta"]["values"] == [
        {"id": 1, "checked": False, "value": "Yes"},
        {"id": 2, "checked": True, "value": "No"},
    ]
    assert (number["fieldMeta"]["minValue"], number["fieldMeta"]["maxValue"]) == (1, 9)

    moved = await post(
        client,
        key,
        "envelope/field/update-many",
        {"envelopeId": envelope_id, "data": [{"id": text["id"], "type": "TEXT",
                                               "positionY": 85, "width": 10}]},
    )  # fmt: skip
    assert moved.status_code == 200, moved.text
    [after] = moved.json()["data"]
    assert (after["positionY"], after["width"], after["positionX"]) == ("85", "10", "10")
    assert after["fieldMeta"]["label"] == "Job Title"

    off_page = await post(
        client,
        key,
        "envelope/field/update-many",
        {"envelopeId": envelope_id, "data": [{"id": text["id"], "type": "TEXT", "page": 9}]},
    )
    assert_error(off_page, 400, "INVALID_BODY", "page")
    got = await client.get(f"{BASE}/envelope/field/{text['id']}", headers=key)
    assert got.json()["page"] == 2  # nothing half-written

    deleted = await post(client, key, "envelope/field/delete", {"fieldId": radio["id"]})
    assert deleted.status_code == 200 and deleted.json() == {"success": True}
    gone = await client.get(f"{BASE}/envelope/field/{radio['id']}", headers=key)
    assert_error(gone, 404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("change", "phrase"),
    [
        ({"type": "SMILEY"}, "type"),
        ({"positionX": 101}, "positionX"),
        ({"width": 0}, "width"),
        ({"page": 0}, "page"),
        ({"page": None}, "page"),
        ({"positionX": 90, "width": 20}, "100"),
        ({"placeholder": "{{signature, r1}}"}, "placeholder"),
        ({"recipientId": 123456789}, "recipient"),
        ({"type": "CHECKBOX", "fieldMeta": {"type": "checkbox", "values": [
            {"id": 1, "checked": False, "value": "a"}, {"id": 2, "checked": False,
                                                         "value": "b"}]}}, "one box"),
        ({"type": "DROPDOWN", "fieldMeta": {"type": "dropdown", "values": [{"value": "a"}]}},
         "options"),
        ({"fieldMeta": {"type": "text"}}, "fieldMeta"),
        ({"envelopeItemId": "doc_nope"}, "document"),
    ],
)  # fmt: skip
async def test_field_rules_store_nothing(
    client: httpx.AsyncClient,
    runtime: Runtime,
    key: dict[str, str],
    change: dict[str, Any],
    phrase: str,
) -> None:
    envelope_id, recipient_id, _ = await _one_recipient(client, key)
    before = await count_rows(runtime, "envelope_fields")
    item = {"type": "SIGNATURE", "recipientId": recipient_id, "page": 1, "positionX": 10,
            "positionY": 10, "width": 10, "height": 5, **change}  # fmt: skip
    item = {k: v for k, v in item.items() if v is not None}
    response = await post(
        client, key, "envelope/field/create-many", {"envelopeId": envelope_id, "data": [item]}
    )
    code = "NOT_FOUND" if change.get("recipientId") else "INVALID_BODY"
    assert_error(response, 404 if code == "NOT_FOUND" else 400, code, phrase)
    assert await count_rows(runtime, "envelope_fields") == before


async def test_edits_after_distribute_are_refused(
    client: httpx.AsyncClient, runtime: Runtime, key: dict[str, str]
) -> None:
    body = await sent(client, key)
    envelope_id = body["id"]
    recipient_id = body["recipients"][0]["id"]
    field_id = (await envelope(client, key, envelope_id))["fields"][0]["id"]
    calls: list[tuple[str, dict[str, Any]]] = [
        ("envelope/recipient/create-many", {"envelopeId": envelope_id, "data": [
            {"email": "x@example.com", "name": "X", "role": "SIGNER"}]}),
        ("envelope/recipient/update-many", {"envelopeId": envelope_id, "data": [
            {"id": recipient_id, "name": "Y"}]}),
        ("envelope/recipient/delete", {"recipientId": recipient_id}),
        ("envelope/field/create-many", {"envelopeId": envelope_id, "data": [
            {"type": "NAME", "recipientId": recipient_id, "page": 1, "positionX": 1,
             "positionY": 1, "width": 5, "height": 5}]}),
        ("envelope/field/update-many", {"envelopeId": envelope_id, "data": [
            {"id": field_id, "type": "SIGNATURE", "positionY": 50}]}),
        ("envelope/field/delete", {"fieldId": field_id}),
    ]  # fmt: skip
    for path, payload in calls:
        assert_error(await post(client, key, path, payload), 400, "INVALID_REQUEST", "PENDING")
    await post(client, key, "envelope/cancel", {"envelopeId": envelope_id})
    cancelled = await post(client, key, "envelope/field/delete", {"fieldId": field_id})
    assert_error(cancelled, 400, "INVALID_REQUEST", "CANCELLED")
    assert await count_rows(runtime, "envelope_fields") == 2


async def test_another_organisations_ids_are_404(
    client: httpx.AsyncClient, runtime: Runtime, key: dict[str, str]
) -> None:
    envelope_id, recipient_id, _ = await _one_recipient(client, key)
    field_id = (await envelope(client, key, envelope_id))["fields"][0]["id"]
    _, secret = await create_org_with_key(runtime, "Other")
    other = {"Authorization": secret}
    calls: list[tuple[str, dict[str, Any]]] = [
        ("envelope/update", {"envelopeId": envelope_id, "data": {"title": "Mine"}}),
        ("envelope/recipient/create-many", {"envelopeId": envelope_id, "data": [
            {"email": "x@example.com", "name": "X", "role": "SIGNER"}]}),
        ("envelope/recipient/delete", {"recipientId": recipient_id}),
        ("envelope/field/delete", {"fieldId": field_id}),
        ("envelope/redistribute", {"envelopeId": envelope_id, "recipients": [recipient_id]}),
        (f"envelope/recipient/{recipient_id}/reject", {"envelopeId": envelope_id,
                                                        "reason": "No"}),
    ]  # fmt: skip
    for path, payload in calls:
        assert_error(await post(client, other, path, payload), 404, "NOT_FOUND")
    assert (await envelope(client, key, envelope_id))["title"] == "Service Agreement"
