"""Every STAMPEE error, and bad input of each field: its ``{message, code}`` shape, nothing
stored; scoped keys keep their scopes; another organisation's ids answer 404."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tabellion.runtime import Runtime
from tests.compat.stampee.helpers import BASE, assert_error, bulk_send, letter, token
from tests.conftest import count_rows, make_settings
from tests.fixtures.factories import create_key, create_org_with_key

SEND = f"{BASE}/messages/bulk_send"


async def assert_nothing_stored(runtime: Runtime) -> None:
    for table in ("messages", "deliveries", "compat_ids"):
        assert await count_rows(runtime, table) == 0, table


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-API-TOKEN": "tbl_wrong"}, {"Authorization": "Bearer tbl_wrong"}, {"X-API-TOKEN": ""}],
)
async def test_unauthorized(
    client: httpx.AsyncClient, runtime: Runtime, headers: dict[str, str]
) -> None:
    for response in (
        await client.post(SEND, json=letter(), headers=headers),
        await client.get(f"{BASE}/messages/123456789012", headers=headers),
        await client.get(f"{BASE}/customers", headers=headers),
    ):
        assert assert_error(response, 401, "unauthorized") == "Unauthorized access"
    await assert_nothing_stored(runtime)


async def test_native_bearer_is_not_the_stampee_credential(
    client: httpx.AsyncClient, org_key: tuple[str, str]
) -> None:
    response = await client.get(
        f"{BASE}/customers", headers={"Authorization": f"Bearer {org_key[1]}"}
    )
    assert_error(response, 401, "unauthorized")


BAD_CONTACTS = [
    ([{"email": "a@example.test", "firstname": "A"}], "recipients[0]: a natural person needs"),
    ([{"email": "a@example.test", "lastname": "A"}], "needs firstname and lastname"),
    ([{"email": "not-an-address", "firstname": "A", "lastname": "B"}], "recipients[0].email"),
    ([{"firstname": "A", "lastname": "B"}], "recipients[0].email"),
    ([{"email": "a@example.test", "company": "Acme"}], "needs both company and companySiren"),
    ([{"email": "a@example.test", "company": "Acme", "companySiren": "12345"}], "companySiren"),
    (
        [
            {"email": "a@example.test", "firstname": "A", "lastname": "B"},
            {"email": "b@example.test", "firstname": "A", "company": "Acme"},
        ],
        "recipients[1]",
    ),
    ([], "recipients"),
    ("nobody", "recipients"),
    ([{"email": "a@example.test", "firstname": "A\x00", "lastname": "B"}], "firstname"),
]


@pytest.mark.parametrize(("recipients", "field"), BAD_CONTACTS)
async def test_bad_contacts(
    client: httpx.AsyncClient,
    org_key: tuple[str, str],
    runtime: Runtime,
    recipients: object,
    field: str,
) -> None:
    response = await client.post(
        SEND, json=letter(recipients=recipients), headers=token(org_key[1])
    )
    message = assert_error(response, 422, "message-bad-contacts")
    assert message.startswith("Some recipients are incomplete or incorrect: ")
    assert field in message
    await assert_nothing_stored(runtime)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (letter(type="LRX"), "type"),
        ({k: v for k, v in letter().items() if k != "type"}, "type"),
        (letter(body=""), "body"),
        ({k: v for k, v in letter().items() if k != "body"}, "body"),
        (letter(customerReference="x" * 256), "customerReference"),
        (letter(body="<p>" + "x" * (1024 * 1024 + 1) + "</p>"), "body"),
    ],
)
async def test_bad_fields(
    client: httpx.AsyncClient,
    org_key: tuple[str, str],
    runtime: Runtime,
    body: dict[str, object],
    field: str,
) -> None:
    response = await client.post(SEND, json=body, headers=token(org_key[1]))
    assert assert_error(response, 422, "validation-failed").startswith(f"{field}: ")
    await assert_nothing_stored(runtime)


async def test_not_json_and_unknown_fields(
    client: httpx.AsyncClient, org_key: tuple[str, str], runtime: Runtime
) -> None:
    headers = {**token(org_key[1]), "Content-Type": "application/json"}
    assert_error(
        await client.post(SEND, content=b"{nope", headers=headers), 422, "validation-failed"
    )
    assert_error(await client.post(SEND, content=b"[]", headers=headers), 422, "validation-failed")
    text = await client.post(
        SEND, content=b"type=LS", headers={**token(org_key[1]), "Content-Type": "text/plain"}
    )
    assert_error(text, 415, "unsupported-media-type")
    await assert_nothing_stored(runtime)
    # Unknown fields are ignored, as the original does.
    await bulk_send(client, org_key[1], letter(priority="high", tags=["x"]))


async def test_multipart_recipients_not_json(
    client: httpx.AsyncClient, org_key: tuple[str, str], runtime: Runtime
) -> None:
    response = await client.post(
        SEND,
        headers=token(org_key[1]),
        data={"type": "LS", "body": "<p>x</p>", "recipients": "[{oops"},
        files=[("attachments", ("a.pdf", b"%PDF-1.4\n", "application/pdf"))],
    )
    assert "recipients" in assert_error(response, 422, "message-bad-contacts")
    await assert_nothing_stored(runtime)


async def test_customer_not_found(client: httpx.AsyncClient, org_key: tuple[str, str]) -> None:
    for sender in ("550e8400-e29b-41d4-a716-446655440000", "org_nope"):
        response = await client.post(SEND, json=letter(sender=sender), headers=token(org_key[1]))
        assert assert_error(response, 422, "customer-not-found").startswith("Customer not found")


async def test_customers_bad_input(client: httpx.AsyncClient, org_key: tuple[str, str]) -> None:
    store = f"{BASE}/customers/bulk_store"
    for body, field in (
        ({"customers": []}, "customers"),
        ({"customers": [{"name": "A"}]}, "customers[0].email"),
        ({"customers": [{"name": "A", "email": "nope"}]}, "customers[0].email"),
        ({"customers": [{"email": "a@example.test"}]}, "customers[0].name"),
        (
            {"customers": [{"name": "A", "email": "a@example.test", "isPaying": "maybe"}]},
            "isPaying",
        ),
    ):
        response = await client.post(store, json=body, headers=token(org_key[1]))
        assert field in assert_error(response, 422, "validation-failed"), body
    listed = await client.get(f"{BASE}/customers?state=LOST", headers=token(org_key[1]))
    assert "state" in assert_error(listed, 422, "validation-failed")
    assert (await client.get(f"{BASE}/customers", headers=token(org_key[1]))).json() == {
        "customers": []
    }


async def test_not_found_and_method(client: httpx.AsyncClient, org_key: tuple[str, str]) -> None:
    headers = token(org_key[1])
    assert_error(
        await client.get(f"{BASE}/messages/123456789012", headers=headers), 404, "message-not-found"
    )
    assert_error(
        await client.get(f"{BASE}/messages/x'; --", headers=headers), 404, "message-not-found"
    )
    assert_error(await client.get(f"{BASE}/nowhere", headers=headers), 404, "not-found")
    assert_error(
        await client.delete(f"{BASE}/messages/bulk_send", headers=headers),
        405,
        "method-not-allowed",
    )
    [sent] = await bulk_send(client, org_key[1], letter())
    missing = await client.get(f"{BASE}/messages/{sent}/evidences/ACCEPTED", headers=headers)
    assert_error(missing, 404, "evidence-not-found")
    unknown = await client.get(f"{BASE}/messages/{sent}/evidences/OPENED", headers=headers)
    assert_error(unknown, 422, "validation-failed")


async def test_scoped_keys_keep_their_scopes(
    client: httpx.AsyncClient, org_key: tuple[str, str], runtime: Runtime
) -> None:
    org, admin = org_key
    [sent] = await bulk_send(client, admin, letter())
    reader = await create_key(runtime, org, ["messages:read"])
    read = await client.get(f"{BASE}/messages/{sent}", headers=token(reader))
    assert read.status_code == 200 and read.json()["id"] == sent
    refused = await client.post(SEND, json=letter(), headers=token(reader))
    assert "messages:write" in assert_error(refused, 403, "insufficient-scope")
    assert_error(
        await client.get(f"{BASE}/customers", headers=token(reader)), 403, "insufficient-scope"
    )
    writer = await create_key(runtime, org, ["messages:write"])
    await bulk_send(client, writer, letter())
    reseller = await create_key(runtime, org, ["customers"])
    assert (await client.get(f"{BASE}/customers", headers=token(reseller))).status_code == 200
    assert_error(
        await client.post(SEND, json=letter(), headers=token(reseller)), 403, "insufficient-scope"
    )


async def test_another_organisations_ids_answer_404(
    client: httpx.AsyncClient, org_key: tuple[str, str], runtime: Runtime
) -> None:
    [sent] = await bulk_send(client, org_key[1], letter())
    _, other = await create_org_with_key(runtime, name="Other")
    headers = token(other)
    for path in (f"/messages/{sent}", f"/messages/{sent}/evidences/SENT"):
        assert_error(await client.get(BASE + path, headers=headers), 404, "message-not-found")
    created = await client.post(
        f"{BASE}/customers/bulk_store",
        json={"customers": [{"name": "Mine", "email": "mine@example.test"}]},
        headers=token(org_key[1]),
    )
    customer = created.json()["customers"][0]["id"]
    assert (await client.get(f"{BASE}/customers", headers=headers)).json() == {"customers": []}
    foreign = await client.post(SEND, json=letter(sender=customer), headers=headers)
    assert_error(foreign, 422, "customer-not-found")


async def test_attachment_over_the_limit(data_dir: Path, database_url: str) -> None:
    from tabellion.app import create_app

    runtime = Runtime.build(make_settings(data_dir, database_url, max_attachment_bytes=64))
    try:
        _, secret = await create_org_with_key(runtime)
        transport = httpx.ASGITransport(app=create_app(runtime=runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://tabellion.test") as c:
            response = await c.post(
                SEND,
                headers=token(secret),
                data={
                    "type": "LS",
                    "body": "<p>x</p>",
                    "recipients": json.dumps(letter()["recipients"]),
                },
                files=[("attachments", ("big.pdf", b"%PDF" + b"x" * 100, "application/pdf"))],
            )
        assert_error(response, 413, "attachment-too-large")
        await assert_nothing_stored(runtime)
    finally:
        await runtime.close()
