# ruff: noqa: E501 (the reference's examples, verbatim)
"""Every example of the STAMPEE reference, sent as written, answered as documented.

The reference's e-mail addresses were mangled by its web page ("[email protected]"); they are
replaced by addresses of the same shape. Everything else is verbatim.
"""

from __future__ import annotations

import json

import httpx
from sqlalchemy import select

from tabellion.models.job import Job
from tabellion.models.message import Attachment, Delivery, Message
from tabellion.runtime import Runtime
from tests.compat.stampee.helpers import (
    BASE,
    BULK_SEND_FIELDS,
    CUSTOMER_FIELDS,
    ISO_MS,
    assert_error,
    bulk_send,
    delivery_of,
    token,
)
from tests.organization.test_customers import answer

QUICK_START = """{
"type": "LS",
"body": "<p>Dear John,</p><p>This is your first electronic letter via STAMPEE!</p><p>Best regards</p>",
"recipients": [
{
"email": "john.doe@example.test",
"firstname": "John",
"lastname": "Doe"
}
],
"customerReference": "TEST-001"
}"""
MULTIPLE = {
    "type": "LS",
    "body": "<p>Monthly newsletter content...</p>",
    "recipients": [
        {"email": "alice@example.test", "firstname": "Alice", "lastname": "Smith"},
        {"email": "bob@example.test", "firstname": "Bob", "lastname": "Johnson"},
    ],
}
COMPANY = {
    "type": "LS",
    "body": "<p>Dear Acme Corp,</p><p>Your invoice is attached.</p>",
    "recipients": [
        {"email": "billing@acme.test", "company": "Acme Corporation", "companySiren": "123456789"}
    ],
}
CUSTOMERS = """{
"customers": [
{
"name": "Acme Corporation",
"email": "contact@acme.test",
"isPaying": true,
"willSendLre": false
}
]
}"""


async def test_quick_start_send_track_and_get_evidence(
    client: httpx.AsyncClient, org_key: tuple[str, str], runtime: Runtime
) -> None:
    org, secret = org_key
    response = await client.post(
        f"{BASE}/messages/bulk_send",
        content=QUICK_START,
        headers={"X-API-TOKEN": secret, "Content-Type": "application/json"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert list(body) == BULK_SEND_FIELDS
    assert body["body"] == json.loads(QUICK_START)["body"]
    assert ISO_MS.match(body["createdAt"])
    assert (body["type"], body["customerReference"], body["fileReference"]) == (
        "LS",
        "TEST-001",
        None,
    )
    [message] = body["messages"]
    assert list(message) == ["id"] and len(message["id"]) == 12 and message["id"].isdigit()

    delivery_id = await delivery_of(runtime, org, message["id"])
    async with runtime.sessions() as session:
        delivery = await session.get(Delivery, delivery_id)
        assert delivery is not None
        native = await session.get(Message, delivery.message_id)
    assert native is not None
    assert (native.mode, native.reference, native.status) == ("simple", "TEST-001", "dispatched")
    assert (delivery.first_name, delivery.last_name, delivery.language) == ("John", "Doe", "fr")

    tracked = await client.get(f"{BASE}/messages/{message['id']}", headers=token(secret))
    assert tracked.status_code == 200, tracked.text
    state = tracked.json()
    assert (state["id"], state["status"], state["type"]) == (message["id"], "SENT", "LS")
    [sent] = state["evidences"]
    assert sent["eventType"] == "SENT" and ISO_MS.match(sent["createdAt"])
    # The URL works with no token at all.
    pdf = await client.get(sent["url"])
    assert pdf.status_code == 200, pdf.text
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")

    proof = await client.get(
        f"{BASE}/messages/{message['id']}/evidences/SENT", headers=token(secret)
    )
    assert proof.status_code == 200
    assert proof.content == pdf.content


async def test_multiple_recipients_each_get_their_own_message(
    client: httpx.AsyncClient, org_key: tuple[str, str], runtime: Runtime
) -> None:
    org, secret = org_key
    first, second = await bulk_send(client, secret, MULTIPLE)
    assert first != second
    deliveries = {await delivery_of(runtime, org, i) for i in (first, second)}
    assert len(deliveries) == 2


async def test_company_recipient(
    client: httpx.AsyncClient, org_key: tuple[str, str], runtime: Runtime
) -> None:
    org, secret = org_key
    # The reference's SIREN is a placeholder that fails INSEE's check digit: refused as any
    # invalid SIREN is (documented); a real one is sent.
    refused = await client.post(f"{BASE}/messages/bulk_send", json=COMPANY, headers=token(secret))
    assert "recipients[0].companySiren" in assert_error(refused, 422, "message-bad-contacts")
    recipient = {**COMPANY["recipients"][0], "companySiren": "732829320"}  # type: ignore[index]
    [sent] = await bulk_send(client, secret, {**COMPANY, "recipients": [recipient]})
    async with runtime.sessions() as session:
        delivery = await session.get(Delivery, await delivery_of(runtime, org, sent))
    assert delivery is not None
    assert (delivery.company, delivery.siren, delivery.first_name) == (
        "Acme Corporation",
        "732829320",
        None,
    )


async def test_multipart_with_attachments(
    client: httpx.AsyncClient, org_key: tuple[str, str], runtime: Runtime
) -> None:
    org, secret = org_key
    document, invoice = b"%PDF-1.4 document\n%%EOF\n", b"%PDF-1.4 invoice\n%%EOF\n"
    # What curl -F sends: form values without filename, files with theirs.
    response = await client.post(
        f"{BASE}/messages/bulk_send",
        headers={"X-API-TOKEN": secret},
        data={
            "type": "LS",
            "body": "<p>Please find the attached documents.</p>",
            "recipients": '[{"email":"john.doe@example.test","firstname":"John","lastname":"Doe"}]',
        },
        files=[
            ("attachments", ("document.pdf", document, "application/pdf")),
            ("attachments", ("invoice.pdf", invoice, "application/pdf")),
        ],
    )
    assert response.status_code == 201, response.text
    assert response.json()["body"] == "<p>Please find the attached documents.</p>"
    [message] = response.json()["messages"]
    async with runtime.sessions() as session:
        delivery = await session.get(Delivery, await delivery_of(runtime, org, message["id"]))
        assert delivery is not None
        files = (
            await session.scalars(
                select(Attachment)
                .where(Attachment.message_id == delivery.message_id)
                .order_by(Attachment.created_at, Attachment.filename)
            )
        ).all()
    assert sorted((f.filename, f.size, f.content_type) for f in files) == [
        ("document.pdf", len(document), "application/pdf"),
        ("invoice.pdf", len(invoice), "application/pdf"),
    ]


async def test_reseller_workflow(
    client: httpx.AsyncClient, org_key: tuple[str, str], runtime: Runtime
) -> None:
    org, secret = org_key
    created = await client.post(
        f"{BASE}/customers/bulk_store",
        content=CUSTOMERS,
        headers={"X-API-TOKEN": secret, "Content-Type": "application/json"},
    )
    assert created.status_code == 201, created.text
    [customer] = created.json()["customers"]
    assert list(customer) == CUSTOMER_FIELDS
    assert customer["name"] == "Acme Corporation" and customer["email"] == "contact@acme.test"
    assert (customer["isPaying"], customer["willSendLre"], customer["state"]) == (
        True,
        False,
        "PENDING",
    )
    assert ISO_MS.match(customer["createdAt"])
    async with runtime.sessions() as session:
        jobs = await session.scalars(select(Job).where(Job.kind == "accounts.send_consent"))
        assert [j.payload for j in jobs] == [{"customer_id": customer["id"]}]

    on_behalf = {
        "type": "LS",
        "sender": customer["id"],
        "body": "<p>Message sent on behalf of Acme Corporation.</p>",
        "recipients": [{"email": "jane@example.test", "firstname": "Jane", "lastname": "Smith"}],
    }
    early = await client.post(f"{BASE}/messages/bulk_send", json=on_behalf, headers=token(secret))
    assert assert_error(early, 422, "customer-not-registered").startswith(
        "Customer is not registered"
    )

    listed = await client.get(f"{BASE}/customers", headers=token(secret))
    assert [c["id"] for c in listed.json()["customers"]] == [customer["id"]]
    accepted = await client.get(f"{BASE}/customers?state=ACCEPTED", headers=token(secret))
    assert accepted.json() == {"customers": []}

    assert (await answer(client, runtime, customer["id"], "accept")).status_code == 200
    accepted = await client.get(f"{BASE}/customers?state=ACCEPTED", headers=token(secret))
    assert [c["state"] for c in accepted.json()["customers"]] == ["ACCEPTED"]

    [sent] = await bulk_send(client, secret, on_behalf)
    async with runtime.sessions() as session:
        delivery = await session.get(Delivery, await delivery_of(runtime, org, sent))
    assert delivery is not None
    assert (delivery.organization_id, delivery.submitted_by_organization_id) == (
        customer["id"],
        org,
    )
    state = await client.get(f"{BASE}/messages/{sent}", headers=token(secret))
    assert state.json()["status"] == "SENT"


async def test_openapi_lists_the_dialect_under_its_tag(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    paths = {p: v for p, v in spec["paths"].items() if p.startswith(BASE)}
    assert set(paths) == {
        f"{BASE}/messages/bulk_send",
        f"{BASE}/messages/{{message_id}}",
        f"{BASE}/messages/{{message_id}}/evidences/{{event_type}}",
        f"{BASE}/customers/bulk_store",
        f"{BASE}/customers",
    }
    for operations in paths.values():
        for operation in operations.values():
            assert operation["tags"] == ["STAMPEE"]
            assert operation["security"] == [{"APIKeyHeader": []}]
    assert "BulkSendOut" in spec["components"]["schemas"]
