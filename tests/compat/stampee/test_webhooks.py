"""Webhooks in STAMPEE's format: Standard Webhooks signatures, ``{type, timestamp, data}``
with STAMPEE's event names, verified with the ``standardwebhooks`` library."""

from __future__ import annotations

import httpx
from standardwebhooks.webhooks import Webhook

from tabellion.runtime import Runtime
from tests.compat.stampee.helpers import (
    BASE,
    CUSTOMER_FIELDS,
    ISO_MS,
    bulk_send,
    delivery_of,
    letter,
    token,
)
from tests.compat.stampee.test_round_trip import answer_in_portal
from tests.fixtures.factories import bearer
from tests.fixtures.receiver import Receiver
from tests.organization.helpers import send
from tests.organization.test_customers import answer
from tests.webhook.test_delivery import run_jobs


async def endpoint(
    client: httpx.AsyncClient, secret: str, url: str, **extra: object
) -> dict[str, str]:
    created = await client.post(
        "/v1/webhook-endpoints", json={"url": url, "events": ["*"], **extra}, headers=bearer(secret)
    )
    assert created.status_code == 201, created.text
    return dict(created.json())


async def test_stampee_format(
    client: httpx.AsyncClient, org_key: tuple[str, str], runtime: Runtime, receiver: Receiver
) -> None:
    org, secret = org_key
    stampee = await endpoint(client, secret, receiver.url + "/stampee", format="stampee")
    standard = await endpoint(client, secret, receiver.url + "/standard")
    assert (stampee["format"], standard["format"]) == ("stampee", "standard")

    accepted, refused = await bulk_send(
        client,
        secret,
        letter(
            "LRE",
            recipients=[
                {"email": "a@example.test", "firstname": "Anne", "lastname": "Martin"},
                {"email": "b@example.test", "firstname": "Bert", "lastname": "Durand"},
            ],
        ),
    )
    await answer_in_portal(client, runtime, await delivery_of(runtime, org, accepted), "accept")
    await answer_in_portal(client, runtime, await delivery_of(runtime, org, refused), "refuse")
    # A letter sent through the native API has no STAMPEE id: not told in STAMPEE's format.
    await send(client, bearer(secret))
    for name, action in (("Yes Ltd", "accept"), ("No Ltd", "refuse")):
        created = await client.post(
            f"{BASE}/customers/bulk_store",
            json={"customers": [{"name": name, "email": f"{action}@example.test"}]},
            headers=token(secret),
        )
        customer_id = created.json()["customers"][0]["id"]
        assert (await answer(client, runtime, customer_id, action)).status_code == 200
    await run_jobs(runtime)

    got: dict[str, list[dict]] = {"/hooks/stampee": [], "/hooks/standard": []}
    for request in receiver.received:
        key = stampee["secret"] if request.path.endswith("stampee") else standard["secret"]
        got[request.path].append(Webhook(key).verify(request.body, request.headers))
    assert {p["type"] for p in got["/hooks/standard"]} >= {"delivery.accepted", "customer.refused"}

    events = got["/hooks/stampee"]
    for payload in events:
        assert list(payload) == ["type", "timestamp", "data"] and ISO_MS.match(payload["timestamp"])
    messages = sorted(
        (p["data"]["id"], p["type"], p["data"]["eventType"], p["data"]["status"])
        for p in events
        if p["type"].startswith("message_")
    )
    assert {m[0] for m in messages} == {accepted, refused}
    assert ("message_accepted", "ACCEPTED") in {(m[1], m[2]) for m in messages if m[0] == accepted}
    assert ("message_refused", "REFUSED") in {(m[1], m[2]) for m in messages if m[0] == refused}
    assert {m[1] for m in messages} >= {"message_sent", "message_notified"}
    letter_event = next(p for p in events if p["type"] == "message_accepted")
    data = letter_event["data"]
    assert list(data) == ["id", "type", "status", "eventType", "createdAt", "url"]
    assert data["type"] == "LRE" and ISO_MS.match(data["createdAt"])
    assert (await client.get(data["url"])).content.startswith(b"%PDF")
    customers = {p["type"]: p["data"] for p in events if p["type"].startswith("customer_")}
    assert set(customers) == {"customer_accepted", "customer_refused"}
    assert customers["customer_accepted"]["name"] == "Yes Ltd"
    assert customers["customer_refused"]["state"] == "REFUSED"
    assert list(customers["customer_refused"]) == CUSTOMER_FIELDS


async def test_format_is_checked_and_changeable(
    client: httpx.AsyncClient, org_key: tuple[str, str], receiver: Receiver
) -> None:
    auth = bearer(org_key[1])
    refused = await client.post(
        "/v1/webhook-endpoints",
        json={"url": receiver.url, "events": ["*"], "format": "carrier-pigeon"},
        headers=auth,
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "format"
    created = await endpoint(client, org_key[1], receiver.url)
    changed = await client.patch(
        f"/v1/webhook-endpoints/{created['id']}", json={"format": "stampee"}, headers=auth
    )
    assert changed.json()["format"] == "stampee"
