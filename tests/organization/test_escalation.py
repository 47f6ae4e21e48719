"""Scopes cannot be escalated: a key grants users and keys only the rights it holds."""

from __future__ import annotations

import httpx
import pytest

from tabellion.auth.subjects import ROLE_SCOPES, ApiKeySubject, ScopeEscalation
from tabellion.runtime import Runtime
from tests.conftest import count_rows
from tests.fixtures.factories import bearer, create_key
from tests.message.test_endpoints import assert_problem


async def key_with(runtime: Runtime, org_key: tuple[str, str], *scopes: str) -> dict[str, str]:
    return bearer(await create_key(runtime, org_key[0], list(scopes)))


@pytest.mark.parametrize(
    ("scopes", "role", "allowed"),
    [
        (("users",), "viewer", False),
        (("users",), "sender", False),
        (("users",), "admin", False),
        (("users", "messages:read"), "viewer", True),
        (("users", "messages:read"), "sender", False),
        (("users", "messages:write"), "viewer", True),  # writing implies reading
        (("users", "messages:write"), "sender", True),
        (("users", "messages:write"), "admin", False),
        (("admin",), "admin", True),
    ],
)
async def test_creating_a_user_needs_the_scopes_of_its_role(
    client: httpx.AsyncClient,
    runtime: Runtime,
    org_key: tuple[str, str],
    scopes: tuple[str, ...],
    role: str,
    allowed: bool,
) -> None:
    headers = await key_with(runtime, org_key, *scopes)
    body = {"email": "sam@acme.test", "role": role}
    response = await client.post("/v1/users", json=body, headers=headers)
    if allowed:
        assert response.status_code == 201, response.text
        assert response.json()["role"] == role
    else:
        problem = assert_problem(response, 403, "scope-escalation")
        assert ROLE_SCOPES[role][0] in str(problem["detail"])
        assert await count_rows(runtime, "users") == 0


async def test_changing_a_role_needs_the_scopes_of_both(
    client: httpx.AsyncClient, runtime: Runtime, org_key: tuple[str, str], auth: dict[str, str]
) -> None:
    admin_user = await client.post(
        "/v1/users", json={"email": "boss@acme.test", "role": "admin"}, headers=auth
    )
    viewer = await client.post(
        "/v1/users", json={"email": "v@acme.test", "role": "viewer"}, headers=auth
    )
    headers = await key_with(runtime, org_key, "users", "messages:write")
    promote = await client.patch(
        f"/v1/users/{viewer.json()['id']}", json={"role": "admin"}, headers=headers
    )
    assert_problem(promote, 403, "scope-escalation")
    demote = await client.patch(
        f"/v1/users/{admin_user.json()['id']}", json={"role": "viewer"}, headers=headers
    )
    assert_problem(demote, 403, "scope-escalation")
    ok = await client.patch(
        f"/v1/users/{viewer.json()['id']}", json={"role": "sender"}, headers=headers
    )
    assert ok.status_code == 200 and ok.json()["role"] == "sender"
    roles = {
        u["email"]: u["role"] for u in (await client.get("/v1/users", headers=auth)).json()["data"]
    }
    assert roles == {"boss@acme.test": "admin", "v@acme.test": "sender"}


async def test_a_key_gets_only_scopes_its_creator_holds(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, org_key: tuple[str, str]
) -> None:
    # Only admin keys manage keys today; the rule holds at the service for any later scope.
    created = await client.post(
        "/v1/api-keys", json={"name": "all", "scopes": ["admin", "users"]}, headers=auth
    )
    assert created.status_code == 201
    subject = ApiKeySubject("org", "key", frozenset({"users", "messages:write"}))
    subject.require_to_grant(["messages:read", "users"], what="a key")
    with pytest.raises(ScopeEscalation, match="admin, webhooks"):
        subject.require_to_grant(["webhooks", "admin", "users"], what="a key")
    refused = await client.post(
        "/v1/api-keys",
        json={"name": "x", "scopes": ["webhooks"]},
        headers=await key_with(runtime, org_key, "users"),
    )
    assert_problem(refused, 403, "insufficient-scope")
