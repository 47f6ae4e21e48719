"""Resellers: customers, the delegation state machine, sending on behalf, isolation."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from tabellion.models.job import Job
from tabellion.models.organization import Organization
from tabellion.organization.accounts import consent_token
from tabellion.runtime import Runtime
from tests.fixtures.factories import bearer, create_key, message_body
from tests.message.test_endpoints import assert_problem, fields
from tests.organization.test_users import csrf_of


async def register_customer(client: httpx.AsyncClient, auth: dict[str, str]) -> dict:
    response = await client.post(
        "/v1/customers",
        json={
            "customers": [
                {
                    "name": "Bakery Dupont",
                    "email": "boss@dupont.test",
                    "is_paying": True,
                    "will_send_registered": True,
                }
            ]
        },
        headers=auth,
    )
    assert response.status_code == 201, response.text
    return response.json()["customers"][0]


async def answer(
    client: httpx.AsyncClient, runtime: Runtime, customer_id: str, action: str
) -> httpx.Response:
    async with runtime.sessions() as session:
        customer = await session.get(Organization, customer_id)
    assert customer is not None
    url = f"/customers/consent/{consent_token(runtime.settings.signing_key, customer)}"
    page = await client.get(url)
    assert page.status_code == 200
    return await client.post(url, data={"action": action, "csrf_token": csrf_of(page.text)})


async def events(client: httpx.AsyncClient, auth: dict[str, str]) -> list[str]:
    return [e["type"] for e in (await client.get("/v1/events", headers=auth)).json()["data"]]


async def test_register_and_accept(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    customer = await register_customer(client, auth)
    assert customer["id"].startswith("org_")
    assert customer["state"] == "PENDING"
    assert customer["is_paying"] is True
    async with runtime.sessions() as session:
        jobs = await session.scalars(select(Job).where(Job.kind == "accounts.send_consent"))
        assert [j.payload for j in jobs] == [{"customer_id": customer["id"]}]
    page = await answer(client, runtime, customer["id"], "accept")
    assert page.status_code == 200 and "Accepted" in page.text
    got = (await client.get(f"/v1/customers/{customer['id']}", headers=auth)).json()
    assert got["state"] == "ACCEPTED"
    assert await events(client, auth) == ["customer.accepted"]
    listed = (await client.get("/v1/customers?state=ACCEPTED", headers=auth)).json()["data"]
    assert [c["id"] for c in listed] == [customer["id"]]
    assert (await client.get("/v1/customers?state=PENDING", headers=auth)).json()["data"] == []


async def test_send_on_behalf_before_and_after_acceptance_and_after_revocation(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    customer = await register_customer(client, auth)
    body = message_body(on_behalf_of=customer["id"])
    early = await client.post("/v1/messages", json=body, headers=auth)
    assert fields(assert_problem(early, 422, "customer-not-registered")) == ["on_behalf_of"]
    unknown = await client.post(
        "/v1/messages",
        json=message_body(on_behalf_of="org_01jd0000000000000000000000"),
        headers=auth,
    )
    assert_problem(unknown, 422, "customer-not-found")

    await answer(client, runtime, customer["id"], "accept")
    created = await client.post("/v1/messages", json=body, headers=auth)
    assert created.status_code == 201, created.text
    message = created.json()
    assert message["on_behalf_of"] == customer["id"]
    assert message["submitted_by"] is not None
    draft = (await client.post("/v1/messages", json=body, headers=auth)).json()
    dispatched = await client.post(f"/v1/messages/{message['id']}/dispatch", headers=auth)
    assert dispatched.status_code == 202
    delivery_id = dispatched.json()["deliveries"][0]["id"]

    # The reseller reads what it sent; the customer sees it too, with its own key.
    assert (await client.get(f"/v1/messages/{message['id']}", headers=auth)).status_code == 200
    assert (await client.get(f"/v1/deliveries/{delivery_id}", headers=auth)).status_code == 200
    customer_auth = bearer(await create_key(runtime, customer["id"], ["admin"]))
    seen = (await client.get("/v1/messages", headers=customer_auth)).json()["data"]
    assert {m["id"] for m in seen} == {message["id"], draft["id"]}
    assert (await client.get(f"/v1/deliveries/{delivery_id}", headers=customer_auth)).is_success
    # ...but only the reseller changes a message it submitted.
    assert_problem(
        await client.delete(f"/v1/messages/{draft['id']}", headers=customer_auth),
        404,
        "message-not-found",
    )
    # Both hear of it.
    assert "delivery.sent" in await events(client, customer_auth)
    assert "delivery.sent" in await events(client, auth)

    # The customer's own messages stay private from the reseller.
    own = (await client.post("/v1/messages", json=message_body(), headers=customer_auth)).json()
    assert_problem(
        await client.get(f"/v1/messages/{own['id']}", headers=auth), 404, "message-not-found"
    )
    assert own["id"] not in {
        m["id"] for m in (await client.get("/v1/messages", headers=auth)).json()["data"]
    }

    # Revocation from the customer's own API key ends the right to send and to dispatch drafts.
    revoked = await client.post("/v1/organization/revoke-reseller", headers=customer_auth)
    assert revoked.json()["customer_state"] == "REVOKED"
    late = await client.post("/v1/messages", json=body, headers=auth)
    assert_problem(late, 422, "customer-not-registered")
    stuck = await client.post(f"/v1/messages/{draft['id']}/dispatch", headers=auth)
    assert_problem(stuck, 422, "customer-not-registered")
    assert "customer.revoked" in await events(client, auth)


# How to bring a fresh customer into each state, by legal moves only.
PATHS = {
    "PENDING": [],
    "ACCEPTED": ["page:accept"],
    "REFUSED": ["page:refuse"],
    "REVOKED": ["page:accept", "page:revoke"],
    "CANCELLED": ["page:accept", "reseller:cancel"],
}
# Every move anyone can attempt: the consent page (the link in the customer's e-mail), the
# customer's own API key, and the reseller's API.
ACTIONS = ["page:accept", "page:refuse", "page:revoke", "key:revoke", "reseller:cancel"]
LEGAL = {
    ("PENDING", "page:accept"): "ACCEPTED",
    ("PENDING", "page:refuse"): "REFUSED",
    ("PENDING", "reseller:cancel"): "CANCELLED",
    ("ACCEPTED", "page:revoke"): "REVOKED",
    ("ACCEPTED", "key:revoke"): "REVOKED",
    ("ACCEPTED", "reseller:cancel"): "CANCELLED",
}


async def act(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
    customer_id: str,
    action: str,
) -> httpx.Response:
    actor, verb = action.split(":")
    if actor == "page":
        return await answer(client, runtime, customer_id, verb)
    if actor == "key":
        customer_key = bearer(await create_key(runtime, customer_id, ["admin"]))
        return await client.post("/v1/organization/revoke-reseller", headers=customer_key)
    return await client.post(f"/v1/customers/{customer_id}/cancel", headers=auth)


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("state", sorted(PATHS))
async def test_delegation_state_machine(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
    state: str,
    action: str,
) -> None:
    customer = await register_customer(client, auth)
    for step in PATHS[state]:
        assert (await act(client, auth, runtime, customer["id"], step)).status_code == 200, step
    got = (await client.get(f"/v1/customers/{customer['id']}", headers=auth)).json()
    assert got["state"] == state
    before = (await client.get("/v1/events", headers=auth)).json()["data"]

    response = await act(client, auth, runtime, customer["id"], action)
    after = (await client.get("/v1/events", headers=auth)).json()["data"]
    now = (await client.get(f"/v1/customers/{customer['id']}", headers=auth)).json()
    target = LEGAL.get((state, action))
    if target is None:
        if action.startswith("page:"):
            assert response.status_code == 409
            assert "That is no longer possible" in response.text
        else:
            problem = assert_problem(response, 409, "customer-state-conflict")
            assert state in str(problem["detail"])
        assert now["state"] == state
        assert now["state_changed_at"] == got["state_changed_at"]
        assert after == before
        return
    assert response.status_code == 200, response.text
    assert now["state"] == target
    assert now["state_changed_at"] >= got["state_changed_at"]
    [event] = after[len(before) :]
    assert event["type"] == f"customer.{target.lower()}"
    assert event["data"]["customer"]["id"] == customer["id"]
    assert event["data"]["customer"]["state"] == target
    if action == "key:revoke":
        assert response.json()["customer_state"] == "REVOKED"
    elif action == "reseller:cancel":
        assert response.json()["state"] == "CANCELLED"
    else:
        verb = action.split(":")[1]
        expected = {"accept": "Accepted.", "refuse": "Refused.", "revoke": "Withdrawn."}[verb]
        assert expected in response.text


async def test_only_the_right_party_moves(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    """A customer cannot cancel through the reseller's API; a plain org has nothing to revoke."""
    customer = await register_customer(client, auth)
    await answer(client, runtime, customer["id"], "accept")
    customer_key = bearer(await create_key(runtime, customer["id"], ["admin"]))
    assert_problem(
        await client.post(f"/v1/customers/{customer['id']}/cancel", headers=customer_key),
        404,
        "customer-not-found",
    )
    problem = assert_problem(
        await client.post("/v1/organization/revoke-reseller", headers=auth),
        409,
        "customer-state-conflict",
    )
    assert "has no reseller" in str(problem["detail"])
    got = (await client.get(f"/v1/customers/{customer['id']}", headers=auth)).json()
    assert got["state"] == "ACCEPTED"
    # An unknown action on the consent page changes nothing.
    async with runtime.sessions() as session:
        org = await session.get(Organization, customer["id"])
    assert org is not None
    url = f"/customers/consent/{consent_token(runtime.settings.signing_key, org)}"
    page = await client.get(url)
    odd = await client.post(url, data={"action": "cancel", "csrf_token": csrf_of(page.text)})
    assert odd.status_code == 410
    got = (await client.get(f"/v1/customers/{customer['id']}", headers=auth)).json()
    assert got["state"] == "ACCEPTED"


async def test_consent_page_needs_csrf_and_a_real_token(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    customer = await register_customer(client, auth)
    async with runtime.sessions() as session:
        org = await session.get(Organization, customer["id"])
    assert org is not None
    url = f"/customers/consent/{consent_token(runtime.settings.signing_key, org)}"
    assert (await client.post(url, data={"action": "accept"})).status_code == 403
    assert (await client.get("/customers/consent/forged")).status_code == 410
    got = (await client.get(f"/v1/customers/{customer['id']}", headers=auth)).json()
    assert got["state"] == "PENDING"


async def test_customers_are_scoped_to_their_reseller(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    from tests.fixtures.factories import create_org_with_key

    customer = await register_customer(client, auth)
    _, key = await create_org_with_key(runtime, "Rival")
    rival = bearer(key)
    assert_problem(
        await client.get(f"/v1/customers/{customer['id']}", headers=rival),
        404,
        "customer-not-found",
    )
    assert_problem(
        await client.post(f"/v1/customers/{customer['id']}/cancel", headers=rival),
        404,
        "customer-not-found",
    )
    assert (await client.get("/v1/customers", headers=rival)).json()["data"] == []
    await answer(client, runtime, customer["id"], "accept")
    stolen = await client.post(
        "/v1/messages", json=message_body(on_behalf_of=customer["id"]), headers=rival
    )
    assert_problem(stolen, 422, "customer-not-found")
