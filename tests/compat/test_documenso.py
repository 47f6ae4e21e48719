"""The Documenso v2 dialect: the reference's examples as written, its errors, its auth."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tabellion.app import create_app
from tabellion.envelope.service import token_hash
from tabellion.models.envelope import EnvelopeRecipient
from tabellion.runtime import Runtime
from tests.conftest import count_rows, make_settings
from tests.envelope.helpers import pdf_bytes
from tests.fixtures.factories import create_key, create_org_with_key

BASE = "/compat/documenso/api/v2"

# Reference 004, "Create Document", the payload of its cURL example verbatim.
CREATE_PAYLOAD: dict[str, Any] = {
    "type": "DOCUMENT",
    "title": "Service Agreement",
    "externalId": "contract-2025-001",
    "recipients": [
        {
            "email": "signer@example.com",
            "name": "John Smith",
            "role": "SIGNER",
            "fields": [
                {
                    "identifier": 0,
                    "type": "SIGNATURE",
                    "page": 1,
                    "positionX": 10,
                    "positionY": 80,
                    "width": 30,
                    "height": 5,
                },
                {
                    "identifier": 0,
                    "type": "DATE",
                    "page": 1,
                    "positionX": 50,
                    "positionY": 80,
                    "width": 20,
                    "height": 3,
                },
            ],
        }
    ],
    "meta": {
        "subject": "Please sign this agreement",
        "message": "Hi John, please review and sign the attached agreement.",
        "redirectUrl": "https://example.com/thank-you",
    },
}


SIGNATURE = CREATE_PAYLOAD["recipients"][0]["fields"][0]


def documenso(auth: dict[str, str]) -> dict[str, str]:
    """Documenso clients send the bare key: ``Authorization: api_xxx``."""
    return {"Authorization": auth["Authorization"].removeprefix("Bearer ")}


@pytest.fixture
def key(auth: dict[str, str]) -> dict[str, str]:
    return documenso(auth)


def assert_error(response: httpx.Response, status: int, code: str, *phrases: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"message", "code", "issues"} and body["code"] == code, body
    for phrase in phrases:
        assert phrase in body["message"] or phrase in json.dumps(body["issues"]), body
    return body


async def create(
    client: httpx.AsyncClient,
    key: dict[str, str],
    payload: dict[str, Any] | None = None,
    files: list[tuple[str, tuple[str, bytes, str]]] | None = None,
) -> httpx.Response:
    parts = (
        files
        if files is not None
        else [("files", ("contract.pdf", pdf_bytes(2), "application/pdf"))]
    )
    return await client.post(
        f"{BASE}/envelope/create",
        data={"payload": json.dumps(payload or CREATE_PAYLOAD)},
        files=parts,
        headers=key,
    )


async def created(client: httpx.AsyncClient, key: dict[str, str], **kw: Any) -> str:
    response = await create(client, key, **kw)
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"id"}
    return str(response.json()["id"])


async def test_create_example_then_get_it(client: httpx.AsyncClient, key: dict[str, str]) -> None:
    envelope_id = await created(client, key)
    got = await client.get(f"{BASE}/envelope/{envelope_id}", headers=key)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["id"] == envelope_id and body["type"] == "DOCUMENT"
    assert body["status"] == "DRAFT" and body["title"] == "Service Agreement"
    assert body["externalId"] == "contract-2025-001"
    assert body["createdAt"].endswith("Z")
    (recipient,) = body["recipients"]
    assert isinstance(recipient["id"], int) and 100_000_000 <= recipient["id"] < 1_000_000_000
    assert recipient["email"] == "signer@example.com" and recipient["name"] == "John Smith"
    assert recipient["role"] == "SIGNER" and recipient["signingStatus"] == "NOT_SIGNED"
    assert recipient["readStatus"] == "NOT_OPENED" and recipient["sendStatus"] == "NOT_SENT"
    (item,) = body["envelopeItems"]
    assert item["title"] == "contract.pdf" and item["order"] == 1
    assert item["envelopeId"] == envelope_id
    signature, date = sorted(body["fields"], key=lambda f: f["type"], reverse=True)
    assert signature["type"] == "SIGNATURE" and date["type"] == "DATE"
    assert signature["recipientId"] == recipient["id"]
    assert signature["envelopeItemId"] == item["id"] and signature["page"] == 1
    assert (signature["positionX"], signature["positionY"]) == ("10", "80")
    assert (signature["width"], signature["height"]) == ("30", "5")
    assert isinstance(signature["id"], int) and signature["id"] != date["id"]
    assert body["documentMeta"]["message"].startswith("Hi John")


async def test_bearer_works_too(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    assert (await client.get(f"{BASE}/envelope", headers=auth)).status_code == 200


@pytest.mark.parametrize(
    ("header", "phrase"),
    [
        (None, "Send your API key in the `Authorization` header."),
        ("", "Send your API key in the `Authorization` header."),
        ("Bearer ", "Send your API key in the `Authorization` header."),
        ("api_wrong", "The API key is not valid, has expired or was revoked."),
        ("Bearer api_wrong", "The API key is not valid, has expired or was revoked."),
        ("Basic abc", "The API key is not valid, has expired or was revoked."),
    ],
)
async def test_missing_or_wrong_key_is_401(
    client: httpx.AsyncClient, header: str | None, phrase: str
) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = await client.get(f"{BASE}/envelope", headers=headers)
    # A missing key and a wrong one are told apart: the client knows which to fix.
    assert assert_error(response, 401, "UNAUTHORIZED")["message"] == phrase


async def test_bearer_tolerates_extra_spaces(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    spaced = {"Authorization": auth["Authorization"].replace("Bearer ", "Bearer   ") + "  "}
    assert (await client.get(f"{BASE}/envelope", headers=spaced)).status_code == 200


async def test_each_key_is_rate_limited_on_its_own(data_dir: Path, database_url: str) -> None:
    settings = make_settings(data_dir, database_url, rate_limits={"dialect.credential": "2/minute"})
    runtime = Runtime.build(settings)
    try:
        _, secret = await create_org_with_key(runtime)
        _, other_secret = await create_org_with_key(runtime, "Other")
        transport = httpx.ASGITransport(app=create_app(runtime=runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            key, other = {"Authorization": secret}, {"Authorization": other_secret}
            for _ in range(2):
                assert (await client.get(f"{BASE}/envelope", headers=key)).status_code == 200
            assert_error(
                await client.get(f"{BASE}/envelope", headers=key), 429, "TOO_MANY_REQUESTS"
            )
            # Another key of another organisation is counted apart.
            assert (await client.get(f"{BASE}/envelope", headers=other)).status_code == 200
    finally:
        await runtime.close()


async def test_a_key_without_the_scope_is_403(client: httpx.AsyncClient, runtime: Runtime) -> None:
    organization_id, _ = await create_org_with_key(runtime, "Readers")
    reader = {"Authorization": await create_key(runtime, organization_id, ["messages:read"])}
    assert_error(await create(client, reader), 403, "FORBIDDEN")
    assert (await client.get(f"{BASE}/envelope", headers=reader)).status_code == 200


async def test_identifier_by_file_name(client: httpx.AsyncClient, key: dict[str, str]) -> None:
    payload = json.loads(json.dumps(CREATE_PAYLOAD))
    for field in payload["recipients"][0]["fields"]:
        field["identifier"] = "annex.pdf"
    files = [
        ("files", ("contract.pdf", pdf_bytes(1), "application/pdf")),
        ("files", ("annex.pdf", pdf_bytes(1), "application/pdf")),
    ]
    envelope_id = await created(client, key, payload=payload, files=files)
    body = (await client.get(f"{BASE}/envelope/{envelope_id}", headers=key)).json()
    contract, annex = body["envelopeItems"]
    assert (contract["title"], annex["title"]) == ("contract.pdf", "annex.pdf")
    assert {f["envelopeItemId"] for f in body["fields"]} == {annex["id"]}


@pytest.mark.parametrize(
    ("change", "phrase"),
    [
        ({"title": ""}, "title"),
        ({"type": "NOPE"}, "type"),
        ({"recipients": [{"email": "x@example.com", "role": "BOSS"}]}, "role"),
        ({"recipients": [{"email": "x@example.com", "fields": [{**SIGNATURE, "identifier": 5}]}]},
         "identifier"),
    ],
)  # fmt: skip
async def test_bad_payload_is_400_invalid_body_and_stores_nothing(
    client: httpx.AsyncClient,
    runtime: Runtime,
    key: dict[str, str],
    change: dict[str, Any],
    phrase: str,
) -> None:
    response = await create(client, key, payload={**CREATE_PAYLOAD, **change})
    assert_error(response, 400, "INVALID_BODY", phrase)
    assert await count_rows(runtime, "envelopes") == 0


async def test_payload_that_is_not_json_is_400(
    client: httpx.AsyncClient, key: dict[str, str]
) -> None:
    response = await client.post(
        f"{BASE}/envelope/create", data={"payload": "{nope"}, files=[], headers=key
    )
    assert_error(response, 400, "INVALID_BODY", "payload")


async def test_list_paginates_and_filters(client: httpx.AsyncClient, key: dict[str, str]) -> None:
    ids = [await created(client, key) for _ in range(3)]
    response = await client.get(f"{BASE}/envelope?page=1&perPage=2", headers=key)
    assert response.status_code == 200, response.text
    page = response.json()
    assert [e["id"] for e in page["data"]] == ids[::-1][:2]
    assert (page["count"], page["currentPage"], page["perPage"], page["totalPages"]) == (3, 1, 2, 2)
    assert page["pagination"] == {"page": 1, "perPage": 2, "totalPages": 2, "totalItems": 3}
    second = (await client.get(f"{BASE}/envelope?page=2&perPage=2", headers=key)).json()
    assert [e["id"] for e in second["data"]] == [ids[0]]
    pending = await client.get(f"{BASE}/envelope?status=PENDING&page=1&perPage=20", headers=key)
    assert pending.json()["data"] == [] and pending.json()["count"] == 0
    documents = (await client.get(f"{BASE}/envelope?type=DOCUMENT", headers=key)).json()
    assert documents["count"] == 3
    bad = await client.get(f"{BASE}/envelope?perPage=101", headers=key)
    assert_error(bad, 400, "INVALID_BODY", "perPage")


async def test_distribute_answers_signing_urls(
    client: httpx.AsyncClient, runtime: Runtime, key: dict[str, str]
) -> None:
    envelope_id = await created(client, key)
    response = await client.post(
        f"{BASE}/envelope/distribute", json={"envelopeId": envelope_id}, headers=key
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True and body["id"] == envelope_id
    (recipient,) = body["recipients"]
    assert recipient["email"] == "signer@example.com" and recipient["role"] == "SIGNER"
    assert recipient["signingUrl"] == f"{runtime.settings.base_url}/s/{recipient['token']}"
    assert recipient["sendStatus"] == "SENT"
    # The signing page is the envelope domain's (another branch): the token is the one it checks.
    async with runtime.sessions() as session:
        stored = await session.scalar(select(EnvelopeRecipient.token_hash))
    assert stored == token_hash(recipient["token"])
    got = (await client.get(f"{BASE}/envelope/{envelope_id}", headers=key)).json()
    assert got["status"] == "PENDING" and got["recipients"][0]["id"] == recipient["id"]
    again = await client.post(
        f"{BASE}/envelope/distribute", json={"envelopeId": envelope_id}, headers=key
    )
    assert_error(again, 400, "INVALID_REQUEST", "PENDING")


async def test_cancel_then_delete(client: httpx.AsyncClient, key: dict[str, str]) -> None:
    sent, draft = await created(client, key), await created(client, key)
    await client.post(f"{BASE}/envelope/distribute", json={"envelopeId": sent}, headers=key)
    cancelled = await client.post(
        f"{BASE}/envelope/cancel",
        json={"envelopeId": sent, "reason": "The agreement is no longer needed."},
        headers=key,
    )
    assert cancelled.status_code == 200 and cancelled.json() == {"success": True}
    got = (await client.get(f"{BASE}/envelope/{sent}", headers=key)).json()
    assert got["status"] == "CANCELLED"
    deleted = await client.post(f"{BASE}/envelope/delete", json={"envelopeId": draft}, headers=key)
    assert deleted.status_code == 200 and deleted.json() == {"success": True}
    assert_error(await client.get(f"{BASE}/envelope/{draft}", headers=key), 404, "NOT_FOUND")
    refused = await client.post(f"{BASE}/envelope/delete", json={"envelopeId": sent}, headers=key)
    assert_error(refused, 400, "INVALID_REQUEST")
    missing = await client.post(f"{BASE}/envelope/cancel", json={}, headers=key)
    assert_error(missing, 400, "INVALID_BODY", "envelopeId")


async def test_another_organisation_gets_404(
    client: httpx.AsyncClient, runtime: Runtime, key: dict[str, str]
) -> None:
    envelope_id = await created(client, key)
    _, secret = await create_org_with_key(runtime, "Other")
    other = {"Authorization": secret}
    assert_error(
        await client.get(f"{BASE}/envelope/{envelope_id}", headers=other), 404, "NOT_FOUND"
    )
    for action in ("distribute", "delete", "cancel"):
        response = await client.post(
            f"{BASE}/envelope/{action}", json={"envelopeId": envelope_id}, headers=other
        )
        assert_error(response, 404, "NOT_FOUND")
    assert (await client.get(f"{BASE}/envelope", headers=other)).json()["count"] == 0


async def test_unknown_path_and_method_in_documenso_shape(
    client: httpx.AsyncClient, key: dict[str, str]
) -> None:
    assert_error(await client.get(f"{BASE}/nowhere", headers=key), 404, "NOT_FOUND")
    assert_error(await client.delete(f"{BASE}/envelope", headers=key), 405, "INVALID_REQUEST")


async def test_recipient_and_field_by_numeric_id(
    client: httpx.AsyncClient, runtime: Runtime, key: dict[str, str]
) -> None:
    envelope_id = await created(client, key)
    envelope = (await client.get(f"{BASE}/envelope/{envelope_id}", headers=key)).json()
    (recipient,) = envelope["recipients"]
    got = await client.get(f"{BASE}/envelope/recipient/{recipient['id']}", headers=key)
    assert got.status_code == 200
    assert got.json() == {**recipient, "fields": [f for f in envelope["fields"]]}
    for field in envelope["fields"]:
        one = await client.get(f"{BASE}/envelope/field/{field['id']}", headers=key)
        assert one.status_code == 200 and one.json() == field
    _, secret = await create_org_with_key(runtime, "Other")
    other = {"Authorization": secret}
    for path in (f"recipient/{recipient['id']}", f"field/{envelope['fields'][0]['id']}"):
        assert_error(await client.get(f"{BASE}/envelope/{path}", headers=other), 404, "NOT_FOUND")
    assert_error(await client.get(f"{BASE}/envelope/recipient/1", headers=key), 404, "NOT_FOUND")
    bad = await client.get(f"{BASE}/envelope/field/abc", headers=key)
    assert_error(bad, 400, "INVALID_BODY", "fieldId")


async def test_a_file_that_is_not_a_pdf_is_400_and_stores_nothing(
    client: httpx.AsyncClient, runtime: Runtime, key: dict[str, str]
) -> None:
    files = [("files", ("contract.pdf", b"not a pdf at all", "application/pdf"))]
    assert_error(await create(client, key, files=files), 400, "INVALID_BODY")
    assert await count_rows(runtime, "envelopes") == 0


async def test_openapi_lists_the_dialect_under_its_tag(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    create_doc = paths[f"{BASE}/envelope/create"]["post"]
    assert create_doc["tags"] == ["documenso"]
    assert "multipart/form-data" in create_doc["requestBody"]["content"]
    assert {"400", "401", "403"} <= set(create_doc["responses"])
    assert paths[f"{BASE}/envelope/{{envelopeId}}"]["get"]["tags"] == ["documenso"]
    recipients = paths[f"{BASE}/envelope/recipient/create-many"]["post"]["requestBody"]
    schema = recipients["content"]["application/json"]["schema"]
    assert set(schema["required"]) == {"envelopeId", "data"}
    fields = paths[f"{BASE}/envelope/field/create-many"]["post"]["requestBody"]
    assert "guide" not in json.dumps(fields)
    download = paths[f"{BASE}/envelope/item/{{envelopeItemId}}/download"]["get"]
    assert "application/pdf" in download["responses"]["200"]["content"]
