"""Sending on behalf of a customer: who is the sender, who submitted, who sees what."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tabellion.config import Settings
from tabellion.jobs.worker import Worker
from tabellion.runtime import Runtime
from tests.fixtures.factories import bearer, create_key, create_org_with_key, message_body
from tests.fixtures.smtp import SmtpServer
from tests.message.test_endpoints import assert_problem, fields
from tests.organization.helpers import key_id_of, proof, send
from tests.organization.test_customers import act, answer, register_customer


@pytest.fixture
def settings(data_dir: Path, database_url: str, smtp_server: SmtpServer) -> Settings:
    return smtp_server.settings(data_dir, database_url)


async def accepted_customer(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> tuple[dict[str, Any], dict[str, str]]:
    """A customer that accepted, and an admin key of its own."""
    customer = await register_customer(client, auth)
    assert (await answer(client, runtime, customer["id"], "accept")).status_code == 200
    return customer, bearer(await create_key(runtime, customer["id"], ["admin"]))


async def test_the_customer_is_the_sender_and_the_reseller_the_submitter(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    org_key: tuple[str, str],
    runtime: Runtime,
    smtp_server: SmtpServer,
) -> None:
    reseller_id = org_key[0]
    customer, _ = await accepted_customer(client, auth, runtime)
    message = await send(
        client, auth, mode="simple", subject="Your invoice", on_behalf_of=customer["id"]
    )
    assert message["on_behalf_of"] == customer["id"]
    assert message["submitted_by"] == reseller_id

    await Worker(runtime, concurrency=4).run_until_idle(timeout=60)
    [mail] = [m for m in await smtp_server.wait_for(1) if m.rcpt_tos == ["jane0@example.test"]]
    assert mail.message["Subject"] == "Bakery Dupont sent you a document: Your invoice"
    assert "Bakery Dupont sent you \u201cYour invoice\u201d." in mail.text
    assert "Acme" not in mail.text and "Acme" not in mail.html

    [evidence] = message["deliveries"][0]["evidence"]
    content = await proof(client, auth, evidence["id"])
    assert content["type"] == "SENT"
    assert content["organization_id"] == customer["id"]
    assert content["sender"]["organization"] == {"id": customer["id"], "name": "Bakery Dupont"}
    assert content["sender"]["name"] == "Bakery Dupont"
    assert content["sender"]["authentication"] == {
        "method": "api-key",
        "api_key_id": await key_id_of(client, auth),
        "submitted_by_organization_id": reseller_id,
        "vouched_by_organization": False,
    }


async def test_a_named_sender_on_behalf_is_a_user_of_the_customer(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    customer, customer_auth = await accepted_customer(client, auth, runtime)
    reseller_user = await client.post("/v1/users", json={"email": "ann@acme.test"}, headers=auth)
    assert reseller_user.status_code == 201
    wrong = await client.post(
        "/v1/messages",
        json=message_body(on_behalf_of=customer["id"], sender={"email": "ann@acme.test"}),
        headers=auth,
    )
    assert fields(assert_problem(wrong, 422, "sender-not-registered")) == ["sender.email"]

    clerk = await client.post(
        "/v1/users",
        json={"email": "clerk@dupont.test", "name": "Claire Clerk"},
        headers=customer_auth,
    )
    assert clerk.status_code == 201, clerk.text
    message = await send(
        client, auth, on_behalf_of=customer["id"], sender={"email": "clerk@dupont.test"}
    )
    assert message["sender"] == {"email": "clerk@dupont.test", "name": "Claire Clerk"}
    content = await proof(client, auth, message["deliveries"][0]["evidence"][0]["id"])
    assert content["sender"]["user_id"] == clerk.json()["id"]
    assert content["sender"]["email"] == "clerk@dupont.test"
    assert content["sender"]["name"] == "Claire Clerk"
    assert content["sender"]["authentication"]["api_key_id"] == await key_id_of(client, auth)
    assert content["sender"]["authentication"]["vouched_by_organization"] is True


@pytest.mark.parametrize("state", ["PENDING", "REFUSED", "REVOKED", "CANCELLED"])
async def test_no_sending_unless_accepted(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, state: str
) -> None:
    from tests.organization.test_customers import PATHS

    customer = await register_customer(client, auth)
    for step in PATHS[state]:
        assert (await act(client, auth, runtime, customer["id"], step)).status_code == 200
    response = await client.post(
        "/v1/messages", json=message_body(on_behalf_of=customer["id"]), headers=auth
    )
    problem = assert_problem(response, 422, "customer-not-registered")
    assert fields(problem) == ["on_behalf_of"]
    assert state in str(problem["detail"])


@pytest.mark.parametrize(
    "on_behalf_of",
    ["org_01jd0000000000000000000000", "not an id", "org_\x00", "x" * 300, "SELF"],
)
async def test_unknown_customers(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    org_key: tuple[str, str],
    on_behalf_of: str,
) -> None:
    target = org_key[0] if on_behalf_of == "SELF" else on_behalf_of
    response = await client.post(
        "/v1/messages", json=message_body(on_behalf_of=target), headers=auth
    )
    if len(target) > 64 or "\x00" in target:
        assert response.status_code == 422  # the message schema bounds the field, refuses NUL
        assert fields(response.json()) == ["on_behalf_of"]
        return
    problem = assert_problem(response, 422, "customer-not-found")
    assert fields(problem) == ["on_behalf_of"]


async def test_who_sees_what(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    """Reseller R sends for customer C; each also sends its own. Reads, writes and events."""
    reseller = auth
    customer, own = await accepted_customer(client, auth, runtime)
    for_customer = await send(client, reseller, reference="R-for-C", on_behalf_of=customer["id"])
    reseller_own = await send(client, reseller, reference="R-own")
    customer_own = await send(client, own, reference="C-own")
    draft = await client.post(
        "/v1/messages", json=message_body(on_behalf_of=customer["id"]), headers=reseller
    )
    messages = {
        "R-for-C": for_customer,
        "R-own": reseller_own,
        "C-own": customer_own,
    }
    sees = {"R": {"R-for-C", "R-own"}, "C": {"R-for-C", "C-own"}}
    keys = {"R": reseller, "C": own}
    for who, headers in keys.items():
        listed = (await client.get("/v1/messages?limit=200", headers=headers)).json()["data"]
        expected = {messages[r]["id"] for r in sees[who]}
        expected.add(draft.json()["id"])  # a draft on behalf: both see it
        assert {m["id"] for m in listed} == expected, who
        deliveries = (await client.get("/v1/deliveries", headers=headers)).json()["data"]
        assert {d["message_id"] for d in deliveries} == {messages[r]["id"] for r in sees[who]}
        feed = (await client.get("/v1/events", headers=headers)).json()["data"]
        heard = [e for e in feed if not e["type"].startswith("customer.")]
        about = {
            e["data"]["delivery"]["message_id"]
            if e["type"].startswith("delivery.")
            else e["data"]["message"]["id"]
            for e in heard
        }
        assert about == {messages[r]["id"] for r in sees[who]}, who
        assert {e["type"] for e in heard} == {"message.dispatched", "delivery.sent"}
        customer_events = [e["type"] for e in feed if e["type"].startswith("customer.")]
        assert customer_events == (["customer.accepted"] if who == "R" else [])
        for reference, message in messages.items():
            delivery = message["deliveries"][0]
            evidence_id = delivery["evidence"][0]["id"]
            reads = [
                await client.get(f"/v1/messages/{message['id']}", headers=headers),
                await client.get(f"/v1/deliveries/{delivery['id']}", headers=headers),
                await client.get(f"/v1/evidence/{evidence_id}", headers=headers),
            ]
            if reference in sees[who]:
                assert [r.status_code for r in reads] == [200, 200, 200], (who, reference)
            else:
                codes = [r.json()["code"] for r in reads]
                assert codes == ["message-not-found", "delivery-not-found", "evidence-not-found"]

    # Only the reseller changes what it submitted; the customer reads it.
    draft_id = draft.json()["id"]
    for method, path in [
        ("DELETE", f"/v1/messages/{draft_id}"),
        ("POST", f"/v1/messages/{draft_id}/dispatch"),
    ]:
        response = await client.request(method, path, headers=own)
        assert_problem(response, 404, "message-not-found")
    # The reseller cannot change the customer's own messages either.
    customer_draft = await client.post("/v1/messages", json=message_body(), headers=own)
    assert_problem(
        await client.delete(f"/v1/messages/{customer_draft.json()['id']}", headers=reseller),
        404,
        "message-not-found",
    )

    # After a revocation, the history stays readable to both; nothing new can be sent.
    assert (await client.post("/v1/organization/revoke-reseller", headers=own)).is_success
    assert (await client.get(f"/v1/messages/{for_customer['id']}", headers=reseller)).is_success
    assert (await client.get(f"/v1/messages/{for_customer['id']}", headers=own)).is_success
    assert_problem(
        await client.post(f"/v1/messages/{draft_id}/dispatch", headers=reseller),
        422,
        "customer-not-registered",
    )


async def test_another_reseller_cannot_use_my_customer(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    customer, _ = await accepted_customer(client, auth, runtime)
    _, rival_key = await create_org_with_key(runtime, "Rival")
    response = await client.post(
        "/v1/messages",
        json=message_body(on_behalf_of=customer["id"]),
        headers=bearer(rival_key),
    )
    assert_problem(response, 422, "customer-not-found")


async def test_the_account_page_lists_what_each_side_may_read(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    from tests.organization.test_users import add_user, csrf_of, token_of

    customer, own = await accepted_customer(client, auth, runtime)
    await send(client, auth, subject="Sent for Dupont", on_behalf_of=customer["id"])
    await send(client, auth, subject="Acme's own letter")
    await send(client, own, subject="Dupont's own letter")
    password = "correct horse battery"
    pages = {}
    for headers, email in ((auth, "ann@acme.test"), (own, "clerk@dupont.test")):
        user = await add_user(client, headers, email)
        url = f"/account/activate/{await token_of(runtime, user['id'])}"
        csrf = csrf_of((await client.get(url)).text)
        await client.post(url, data={"password": password, "confirm": password, "csrf_token": csrf})
        signed = await client.post(
            "/account/sign-in", data={"email": email, "password": password, "csrf_token": csrf}
        )
        assert signed.status_code == 303
        pages[email] = (await client.get("/account")).text
        await client.post("/account/sign-out", data={"csrf_token": csrf_of(pages[email])})
    reseller_page, customer_page = pages["ann@acme.test"], pages["clerk@dupont.test"]
    assert "Sent for Dupont" in reseller_page and "Acme&#39;s own letter" in reseller_page
    assert "Dupont&#39;s own letter" not in reseller_page
    assert "Sent for Dupont" in customer_page and "Dupont&#39;s own letter" in customer_page
    assert "Acme&#39;s own letter" not in customer_page
