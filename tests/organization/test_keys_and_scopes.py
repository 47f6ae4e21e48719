"""API keys with scopes: creation, listing, revocation, expiry, and the scope matrix."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from tabellion.kit.time import isoformat_z, utcnow
from tabellion.runtime import Runtime
from tests.fixtures.factories import bearer, create_key, create_org_with_key, message_body
from tests.message.test_endpoints import assert_problem, fields


async def test_create_list_and_revoke_keys(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    created = await client.post(
        "/v1/api-keys", json={"name": "CRM", "scopes": ["messages:write"]}, headers=auth
    )
    assert created.status_code == 201, created.text
    key = created.json()
    assert key["key"].startswith("tbl_") and len(key["key"]) == 44
    assert key["scopes"] == ["messages:write"]
    assert key["key"].startswith(key["prefix"])
    listed = (await client.get("/v1/api-keys", headers=auth)).json()["data"]
    assert {k["name"] for k in listed} == {"default", "CRM"}
    assert all("key" not in k for k in listed)
    crm = bearer(key["key"])
    assert (await client.get("/v1/messages", headers=crm)).status_code == 200
    used = next(
        k
        for k in (await client.get("/v1/api-keys", headers=auth)).json()["data"]
        if k["id"] == key["id"]
    )
    assert used["last_used_at"] is not None
    assert (await client.delete(f"/v1/api-keys/{key['id']}", headers=auth)).status_code == 204
    assert_problem(await client.get("/v1/messages", headers=crm), 401, "unauthorized")


async def test_expired_key_is_401(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    soon = isoformat_z(utcnow() + timedelta(milliseconds=50))
    created = await client.post(
        "/v1/api-keys", json={"name": "t", "scopes": ["admin"], "expires_at": soon}, headers=auth
    )
    import asyncio

    await asyncio.sleep(0.1)
    assert_problem(
        await client.get("/v1/messages", headers=bearer(created.json()["key"])), 401, "unauthorized"
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "scopes": ["messages:delete"]}, "scopes[0]"),
        ({"name": "x", "scopes": []}, "scopes"),
        ({"scopes": ["admin"]}, "name"),
        ({"name": "x", "scopes": ["admin"], "expires_at": "2030-01-01T00:00:00"}, "expires_at"),
    ],
)
async def test_bad_key_requests(
    client: httpx.AsyncClient, auth: dict[str, str], body: dict, field: str
) -> None:
    problem = assert_problem(
        await client.post("/v1/api-keys", json=body, headers=auth), 422, "validation-failed"
    )
    assert fields(problem) == [field]


async def test_revoking_another_organisations_key_is_404(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    other_org, _ = await create_org_with_key(runtime, "Other")
    await create_key(runtime, other_org, ["admin"])
    other_keys = (
        await client.get(
            "/v1/api-keys", headers=bearer(await create_key(runtime, other_org, ["admin"]))
        )
    ).json()["data"]
    response = await client.delete(f"/v1/api-keys/{other_keys[0]['id']}", headers=auth)
    assert_problem(response, 404, "api-key-not-found")


# (method, path, body, scope that allows it)
FAMILIES = [
    ("POST", "/v1/messages", message_body(), "messages:write"),
    ("GET", "/v1/messages", None, "messages:read"),
    ("GET", "/v1/deliveries", None, "messages:read"),
    ("GET", "/v1/webhook-endpoints", None, "webhooks"),
    ("GET", "/v1/events", None, "webhooks"),
    ("GET", "/v1/customers", None, "customers"),
    ("GET", "/v1/users", None, "users"),
    ("GET", "/v1/api-keys", None, "admin"),
]
SCOPES = ["messages:write", "messages:read", "webhooks", "customers", "users", "admin"]


@pytest.mark.parametrize("scope", SCOPES)
async def test_scope_matrix(
    client: httpx.AsyncClient, runtime: Runtime, org_key: tuple[str, str], scope: str
) -> None:
    headers = bearer(await create_key(runtime, org_key[0], [scope]))
    for method, path, body, needed in FAMILIES:
        response = await client.request(method, path, json=body, headers=headers)
        allowed = scope in (needed, "admin") or (
            scope == "messages:write" and needed == "messages:read"
        )
        if allowed:
            assert response.status_code in (200, 201), (scope, path, response.text)
        else:
            problem = assert_problem(response, 403, "insufficient-scope")
            assert needed in problem["detail"]  # type: ignore[operator]


async def test_organization_endpoint(
    client: httpx.AsyncClient, auth: dict[str, str], org_key: tuple[str, str]
) -> None:
    org = (await client.get("/v1/organization", headers=auth)).json()
    assert org["id"] == org_key[0]
    assert org["name"] == "Acme"
    assert org["timezone"] == "Europe/Paris"
