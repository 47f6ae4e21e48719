"""What Documenso features Tabellion does not have (teams, folders, templates, ...) answer:
Documenso's error shape, never a 500 (docs/compat/documenso.md, "Known differences")."""

from __future__ import annotations

import copy

import httpx
import pytest

from tabellion.runtime import Runtime
from tests.compat.documenso.helpers import BASE, assert_error
from tests.compat.test_documenso import CREATE_PAYLOAD, create
from tests.conftest import count_rows


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "template", 404, "NOT_FOUND"),
        ("POST", "template/create", 404, "NOT_FOUND"),
        ("POST", "template/use", 404, "NOT_FOUND"),
        ("GET", "folder", 404, "NOT_FOUND"),
        ("POST", "folder/create", 404, "NOT_FOUND"),
        ("GET", "team", 404, "NOT_FOUND"),
        ("POST", "envelope/item/create-many", 404, "NOT_FOUND"),
        ("POST", "envelope/attachment/create", 404, "NOT_FOUND"),
        # The path of a supported GET (`/envelope/{envelopeId}`) with another method.
        ("POST", "envelope/use", 405, "INVALID_REQUEST"),
        ("POST", "envelope/duplicate", 405, "INVALID_REQUEST"),
    ],
)
async def test_unsupported_routes(
    client: httpx.AsyncClient, key: dict[str, str], method: str, path: str, status: int, code: str
) -> None:
    response = await client.request(method, f"{BASE}/{path}", headers=key, json={})
    assert_error(response, status, code)


async def test_templates(client: httpx.AsyncClient, runtime: Runtime, key: dict[str, str]) -> None:
    await create(client, key)  # a document: listed, but not as a template or in a folder
    for query in ("type=TEMPLATE", "source=TEMPLATE", "source=TEMPLATE_DIRECT_LINK", "folderId=f1"):
        listed = await client.get(f"{BASE}/envelope?{query}", headers=key)
        assert listed.status_code == 200, listed.text
        assert listed.json()["data"] == [] and listed.json()["count"] == 0, query
    listed = await client.get(
        f"{BASE}/envelope?source=DOCUMENT&orderByColumn=createdAt", headers=key
    )
    assert listed.json()["count"] == 1
    wrong = await client.get(f"{BASE}/envelope?orderByColumn=title", headers=key)
    assert assert_error(wrong, 400, "INVALID_BODY")["issues"][0]["path"][-1] == "orderByColumn"
    payload = copy.deepcopy(CREATE_PAYLOAD) | {"type": "TEMPLATE"}
    body = assert_error(await create(client, key, payload), 400, "INVALID_BODY", "DOCUMENT")
    assert body["issues"][0]["path"] == ["payload", "type"]
    assert await count_rows(runtime, "envelopes") == 1
