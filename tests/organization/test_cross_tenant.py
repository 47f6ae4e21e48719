"""Every accounts endpoint, called by another organisation: 404, empty lists, nothing changed.

"Another organisation" is both a stranger and the reseller's own customer: being related by
delegation gives no access to the other side's users, keys or customers.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest

from tabellion.runtime import Runtime
from tests.fixtures.factories import bearer, create_key, create_org_with_key
from tests.message.test_endpoints import assert_problem
from tests.organization.test_customers import answer, register_customer


@dataclass
class Tenant:
    auth: dict[str, str]
    user_id: str
    key_id: str
    customer_id: str


@pytest.fixture
async def owner(client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime) -> Tenant:
    """An organisation with a user, a second API key and a customer that accepted."""
    user = await client.post("/v1/users", json={"email": "sam@acme.test"}, headers=auth)
    key = await client.post(
        "/v1/api-keys", json={"name": "CRM", "scopes": ["messages:write"]}, headers=auth
    )
    customer = await register_customer(client, auth)
    await answer(client, runtime, customer["id"], "accept")
    return Tenant(auth, user.json()["id"], key.json()["id"], customer["id"])


async def outsider(runtime: Runtime, kind: str, tenant: Tenant) -> dict[str, str]:
    if kind == "stranger":
        _, secret = await create_org_with_key(runtime, "Rival")
        return bearer(secret)
    return bearer(await create_key(runtime, tenant.customer_id, ["admin"]))


ITEMS = [
    ("GET", "/v1/users/{user}", None, "user-not-found"),
    ("PATCH", "/v1/users/{user}", {"role": "admin"}, "user-not-found"),
    ("POST", "/v1/users/{user}/deactivate", None, "user-not-found"),
    ("POST", "/v1/users/{user}/resend-activation", None, "user-not-found"),
    ("DELETE", "/v1/api-keys/{key}", None, "api-key-not-found"),
    ("GET", "/v1/customers/{customer}", None, "customer-not-found"),
    ("POST", "/v1/customers/{customer}/cancel", None, "customer-not-found"),
]


@pytest.mark.parametrize("kind", ["stranger", "customer"])
@pytest.mark.parametrize(("method", "path", "body", "code"), ITEMS)
async def test_another_organisation_gets_404(
    client: httpx.AsyncClient,
    runtime: Runtime,
    owner: Tenant,
    kind: str,
    method: str,
    path: str,
    body: dict | None,
    code: str,
) -> None:
    other = await outsider(runtime, kind, owner)
    url = path.format(user=owner.user_id, key=owner.key_id, customer=owner.customer_id)
    response = await client.request(method, url, json=body, headers=other)
    assert_problem(response, 404, code)

    # Nothing changed for the owner.
    user = (await client.get(f"/v1/users/{owner.user_id}", headers=owner.auth)).json()
    assert (user["role"], user["status"]) == ("sender", "invited")
    keys = (await client.get("/v1/api-keys", headers=owner.auth)).json()["data"]
    assert next(k for k in keys if k["id"] == owner.key_id)["revoked_at"] is None
    customer = (await client.get(f"/v1/customers/{owner.customer_id}", headers=owner.auth)).json()
    assert customer["state"] == "ACCEPTED"


@pytest.mark.parametrize("kind", ["stranger", "customer"])
async def test_lists_show_only_ones_own(
    client: httpx.AsyncClient, runtime: Runtime, owner: Tenant, kind: str
) -> None:
    other = await outsider(runtime, kind, owner)
    assert (await client.get("/v1/users", headers=other)).json()["data"] == []
    assert (await client.get("/v1/customers", headers=other)).json()["data"] == []
    keys = (await client.get("/v1/api-keys", headers=other)).json()["data"]
    assert [k["name"] for k in keys] == (["default"] if kind == "stranger" else ["scoped"])
    org = (await client.get("/v1/organization", headers=other)).json()
    assert org["id"] != (await client.get("/v1/organization", headers=owner.auth)).json()["id"]
    # The owner's lists hold exactly what it made.
    assert [
        u["id"] for u in (await client.get("/v1/users", headers=owner.auth)).json()["data"]
    ] == [owner.user_id]
    customers = (await client.get("/v1/customers", headers=owner.auth)).json()["data"]
    assert [c["id"] for c in customers] == [owner.customer_id]


async def test_revoking_acts_on_ones_own_organisation_only(
    client: httpx.AsyncClient, runtime: Runtime, owner: Tenant
) -> None:
    """A stranger (or the reseller) calling revoke-reseller cannot end someone else's consent."""
    stranger = await outsider(runtime, "stranger", owner)
    for headers in (stranger, owner.auth):
        assert_problem(
            await client.post("/v1/organization/revoke-reseller", headers=headers),
            409,
            "customer-state-conflict",
        )
    customer = (await client.get(f"/v1/customers/{owner.customer_id}", headers=owner.auth)).json()
    assert customer["state"] == "ACCEPTED"
