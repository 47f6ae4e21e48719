"""``envelope.created``: a new draft envelope is told to webhooks, written with the envelope."""

from __future__ import annotations

import json

import httpx
from standardwebhooks.webhooks import Webhook

from tabellion.runtime import Runtime
from tests.envelope.helpers import create_envelope
from tests.fixtures.receiver import Receiver
from tests.webhook.test_delivery import run_jobs, setup_endpoint


async def test_creating_an_envelope_sends_envelope_created(
    client: httpx.AsyncClient,
    runtime: Runtime,
    org_key: tuple[str, str],
    auth: dict[str, str],
    receiver: Receiver,
) -> None:
    _, secret = await setup_endpoint(runtime, org_key[0], receiver.url, ["envelope.created"])
    envelope = await create_envelope(client, auth)
    await run_jobs(runtime)
    [call] = receiver.received
    Webhook(secret).verify(call.body, call.headers)
    body = json.loads(call.body)
    assert body["type"] == "envelope.created"
    assert body["data"] == {
        "envelope_id": envelope["id"],
        "status": "draft",
        "title": "Service agreement",
        "reference": "CTR-7",
    }
    # The feed lists it too.
    feed = await client.get("/v1/events", params={"type": "envelope.created"}, headers=auth)
    assert feed.status_code == 200, feed.text
    assert [e["data"]["envelope_id"] for e in feed.json()["data"]] == [envelope["id"]]
