"""The dashboard's webhooks (admins): create an endpoint (its secret shown once), send a test
ping that a real HTTP receiver gets (signed with that secret) and that the attempts log shows,
redeliver an attempt (the same webhook-id again), disable, enable and delete; bad input named
by its field with nothing created; another organisation's endpoints never seen or touched."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tabellion.config import Settings
from tabellion.jobs.worker import Worker
from tabellion.runtime import Runtime
from tabellion.webhook.signing import sign
from tests.conftest import count_rows, make_settings
from tests.dashboard.helpers import signed_in_user
from tests.dashboard.test_pages import text_of
from tests.fixtures.factories import create_org_with_key
from tests.fixtures.receiver import Receiver, running_receiver
from tests.organization.test_activation_smtp import csrf_of

PAGE = "/app/settings/webhooks"


@pytest.fixture
def settings(data_dir: Path, database_url: str) -> Settings:
    # The receiver listens on loopback, which the SSRF guard refuses unless allowed.
    return make_settings(data_dir, database_url, webhook_allowed_hosts="127.0.0.1")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as r:
        yield r


def secret_of(page: httpx.Response) -> str:
    match = re.search(r'id="secret" type="text" readonly value="(whsec_[^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


async def run_jobs(runtime: Runtime) -> None:
    await Worker(runtime, poll_interval=0.05).run_until_idle(timeout=20)


async def create(client: httpx.AsyncClient, url: str, **fields: object) -> httpx.Response:
    page = await client.get(PAGE)
    data: dict[str, object] = {"csrf_token": csrf_of(page.text), "url": url, "events": ["*"]}
    data.update(fields)
    return await client.post(PAGE, data=data)


async def test_create_test_ping_attempts_and_redeliver(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, receiver: Receiver
) -> None:
    await signed_in_user(client, auth, runtime, "admin")
    created = await create(
        client,
        receiver.url,
        events=["delivery.accepted", "envelope.completed"],
        format="standard",
        description="CRM",
    )
    assert created.status_code == 201, created.text
    secret = secret_of(created)
    assert "shown once" in text_of(created)
    [endpoint] = (await client.get("/v1/webhook-endpoints", headers=auth)).json()["data"]
    assert endpoint["url"] == receiver.url and endpoint["description"] == "CRM"
    assert endpoint["events"] == ["delivery.accepted", "envelope.completed"]
    listing = await client.get(PAGE)
    assert secret not in listing.text  # never again
    assert f'href="{PAGE}/{endpoint["id"]}"' in listing.text
    detail_path = f"{PAGE}/{endpoint['id']}"
    detail = await client.get(detail_path)
    assert detail.status_code == 200 and 'id="no-attempts"' in detail.text
    assert secret not in detail.text

    # A test ping: queued by the page, sent by the real worker to the real receiver.
    tested = await client.post(f"{detail_path}/test", data={"csrf_token": csrf_of(detail.text)})
    assert tested.status_code == 303 and tested.headers["location"] == f"{detail_path}?done=test"
    await run_jobs(runtime)
    [ping] = await receiver.wait_for(1)
    body = json.loads(ping.body)
    assert body["type"] == "webhook.test" and body["data"]["endpoint_id"] == endpoint["id"]
    expected = sign(secret, ping.headers["webhook-id"], int(ping.headers["webhook-timestamp"]),
                    ping.body)  # fmt: skip
    assert ping.headers["webhook-signature"] == expected  # signed with the secret shown
    logged = await client.get(detail_path)
    attempts = re.findall(r'<li id="attempt-(\d+)">', logged.text)
    assert len(attempts) == 1
    text = text_of(logged)
    assert "webhook.test" in text and ping.headers["webhook-id"] in text
    assert "succeeded" in text and "HTTP 200" in text
    api = await client.get(f"/v1/webhook-endpoints/{endpoint['id']}/attempts", headers=auth)
    assert [a["id"] for a in api.json()["data"]] == [int(attempts[0])]

    # Redeliver that attempt: the same event (same webhook-id) reaches the receiver again.
    again = await client.post(
        f"{detail_path}/attempts/{attempts[0]}/redeliver",
        data={"csrf_token": csrf_of(logged.text)},
    )
    assert again.headers["location"] == f"{detail_path}?done=redelivered"
    await run_jobs(runtime)
    first, second = await receiver.wait_for(2)
    assert second.headers["webhook-id"] == first.headers["webhook-id"]
    assert json.loads(second.body) == body
    relogged = await client.get(detail_path)
    assert len(re.findall(r'<li id="attempt-(\d+)">', relogged.text)) == 2
    assert "The event will be sent again" in text_of(await client.get(again.headers["location"]))


async def test_disable_enable_and_delete(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, receiver: Receiver
) -> None:
    await signed_in_user(client, auth, runtime, "admin")
    assert (await create(client, receiver.url)).status_code == 201
    [endpoint] = (await client.get("/v1/webhook-endpoints", headers=auth)).json()["data"]
    path = f"{PAGE}/{endpoint['id']}"
    token = csrf_of((await client.get(path)).text)
    off = await client.post(f"{path}/disable", data={"csrf_token": token})
    assert off.headers["location"] == f"{path}?done=disabled"
    api = (await client.get(f"/v1/webhook-endpoints/{endpoint['id']}", headers=auth)).json()
    assert api["enabled"] is False
    # A disabled endpoint gets no ping: the page says why, nothing queued.
    refused = await client.post(f"{path}/test", data={"csrf_token": token})
    assert refused.status_code == 409 and "enable it" in text_of(refused)
    await run_jobs(runtime)
    assert receiver.received == []
    on = await client.post(f"{path}/enable", data={"csrf_token": token})
    assert on.headers["location"] == f"{path}?done=enabled"
    api = (await client.get(f"/v1/webhook-endpoints/{endpoint['id']}", headers=auth)).json()
    assert api["enabled"] is True
    gone = await client.post(f"{path}/delete", data={"csrf_token": token})
    assert gone.headers["location"] == f"{PAGE}?done=deleted"
    assert (await client.get("/v1/webhook-endpoints", headers=auth)).json()["data"] == []
    assert (await client.get(path)).status_code == 404
    unknown = await client.post(f"{path}/reset", data={"csrf_token": token})
    assert unknown.status_code == 404


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"url": ""}, "url", "An http(s) URL"),
        ({"url": "ftp://example.test/hooks"}, "url", "The URL is refused"),
        ({"url": "http://10.0.0.8/hooks"}, "url", "The URL is refused"),
        ({"url": "http://169.254.169.254/latest"}, "url", "The URL is refused"),
        ({"events": []}, "events", "Choose at least one event"),
        ({"events": ["delivery.nothing"]}, "events", "Unknown event type"),
        ({"format": "xml"}, "format", "One of standard"),
        ({"description": "d" * 501}, "description", "At most 500 characters"),
    ],
)
async def test_bad_input_is_named_and_nothing_is_created(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
    receiver: Receiver,
    fields: dict[str, object],
    field: str,
    message: str,
) -> None:
    await signed_in_user(client, auth, runtime, "admin")
    answer = await create(client, str(fields.pop("url", receiver.url)), **fields)
    assert answer.status_code == 422, answer.text
    assert f'id="{field}-error"' in answer.text and message in text_of(answer)
    assert 'id="secret"' not in answer.text
    assert await count_rows(runtime, "webhook_endpoints") == 0


async def test_forms_need_their_token(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, receiver: Receiver
) -> None:
    await signed_in_user(client, auth, runtime, "admin")
    made = await client.post(PAGE, data={"url": receiver.url, "events": ["*"]})
    assert made.status_code == 403
    assert await count_rows(runtime, "webhook_endpoints") == 0


async def test_another_organisations_endpoints_are_never_seen_or_touched(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, receiver: Receiver
) -> None:
    _, other_key = await create_org_with_key(runtime, "Other")
    other = {"Authorization": f"Bearer {other_key}"}
    made = await client.post(
        "/v1/webhook-endpoints", json={"url": receiver.url, "events": ["*"]}, headers=other
    )
    theirs = made.json()["id"]
    tested = await client.post(f"/v1/webhook-endpoints/{theirs}/test", headers=other)
    assert tested.status_code == 202
    await run_jobs(runtime)
    [attempt] = (
        await client.get(f"/v1/webhook-endpoints/{theirs}/attempts", headers=other)
    ).json()["data"]
    await signed_in_user(client, auth, runtime, "admin")
    listing = await client.get(PAGE)
    assert theirs not in listing.text and receiver.url not in listing.text
    token = csrf_of(listing.text)
    assert (await client.get(f"{PAGE}/{theirs}")).status_code == 404
    for action in ("test", "disable", "delete", f"attempts/{attempt['id']}/redeliver"):
        answer = await client.post(f"{PAGE}/{theirs}/{action}", data={"csrf_token": token})
        assert answer.status_code == 404, action
    # Their attempt through one of ours: not found either.
    assert (await create(client, receiver.url)).status_code == 201
    [ours] = (await client.get("/v1/webhook-endpoints", headers=auth)).json()["data"]
    crossed = await client.post(
        f"{PAGE}/{ours['id']}/attempts/{attempt['id']}/redeliver", data={"csrf_token": token}
    )
    assert crossed.status_code == 404 and "No attempt" in text_of(crossed)
    await run_jobs(runtime)
    assert len(receiver.received) == 1  # only their own ping, nothing more
    api = (await client.get(f"/v1/webhook-endpoints/{theirs}", headers=other)).json()
    assert api["enabled"] is True
