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


@pytest.mark.parametrize(
    ("steps", "last_ok"),
    [
        (["customer:accept", "customer:revoke"], True),
        (["customer:refuse"], True),
        (["reseller:cancel"], True),
        (["customer:accept", "reseller:cancel"], True),
        (["customer:refuse", "customer:accept"], False),
        (["customer:accept", "customer:accept"], False),
        (["customer:revoke"], False),
        (["customer:refuse", "reseller:cancel"], False),
        (["reseller:cancel", "customer:accept"], False),
        (["customer:accept", "customer:revoke", "customer:accept"], False),
    ],
)
async def test_delegation_state_machine(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
    steps: list[str],
    last_ok: bool,
) -> None:
    customer = await register_customer(client, auth)
    for index, step in enumerate(steps):
        actor, action = step.split(":")
        if actor == "customer":
            response = await answer(client, runtime, customer["id"], action)
            ok = response.status_code == 200
        else:
            response = await client.post(f"/v1/customers/{customer['id']}/cancel", headers=auth)
            ok = response.status_code == 200
            if not ok:
                assert_problem(response, 409, "customer-state-conflict")
        if index < len(steps) - 1:
            assert ok, step
        else:
            assert ok is last_ok, (step, response.text)


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


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"customers": []}, "customers"),
        ({"customers": [{"name": "X", "email": "bad"}]}, "customers[0].email"),
        ({"customers": [{"email": "a@b.test"}]}, "customers[0].name"),
    ],
)
async def test_bad_customer_requests(
    client: httpx.AsyncClient, auth: dict[str, str], body: dict, field: str
) -> None:
    problem = assert_problem(
        await client.post("/v1/customers", json=body, headers=auth), 422, "validation-failed"
    )
    assert fields(problem) == [field]
