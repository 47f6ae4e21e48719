"""Webhook endpoint management through the API."""

from __future__ import annotations

import base64

import httpx
import pytest
from sqlalchemy import select

from tabellion.models.webhook import WebhookEndpoint
from tabellion.runtime import Runtime
from tests.fixtures.factories import create_org_with_key
from tests.message.test_endpoints import assert_problem, fields


async def register(
    client: httpx.AsyncClient, auth: dict[str, str], url: str, events: list[str] | None = None
) -> dict:
    response = await client.post(
        "/v1/webhook-endpoints",
        json={"url": url, "events": events or ["*"], "description": "CRM"},
        headers=auth,
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_create_shows_secret_once_and_stores_it_encrypted(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    created = await register(client, auth, "http://127.0.0.1:9/hooks", ["delivery.accepted"])
    assert created["id"].startswith("whk_")
    assert created["events"] == ["delivery.accepted"]
    assert created["enabled"] is True
    secret = created["secret"]
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    fetched = (await client.get(f"/v1/webhook-endpoints/{created['id']}", headers=auth)).json()
    assert "secret" not in fetched
    listed = (await client.get("/v1/webhook-endpoints", headers=auth)).json()
    assert [e["id"] for e in listed["data"]] == [created["id"]]
    async with runtime.sessions() as session:
        row = await session.scalar(select(WebhookEndpoint))
    assert row is not None
    assert secret not in str(row.secrets)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.2/hooks",
        "http://10.0.0.8/hooks",
        "http://192.168.1.1/hooks",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hooks",
        "http://[::ffff:10.0.0.1]/hooks",
        "ftp://example.test/hooks",
        "http://user:pw@example.com/hooks",
    ],
)
async def test_ssrf_guard_refuses_private_destinations(
    client: httpx.AsyncClient, auth: dict[str, str], url: str
) -> None:
    response = await client.post(
        "/v1/webhook-endpoints", json={"url": url, "events": ["*"]}, headers=auth
    )
    problem = assert_problem(response, 422, "webhook-url-refused")
    assert fields(problem) == ["url"]


async def test_a_name_resolving_to_a_private_address_is_refused(
    client: httpx.AsyncClient, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio
    import socket

    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo

    async def fake_dns(host: str, *args: object, **kwargs: object) -> list:
        if host == "intranet.example.com":  # the machine has no DNS; answer as a resolver would
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", 443))]
        return await real(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(loop, "getaddrinfo", fake_dns)
    response = await client.post(
        "/v1/webhook-endpoints",
        json={"url": "https://intranet.example.com/hooks", "events": ["*"]},
        headers=auth,
    )
    problem = assert_problem(response, 422, "webhook-url-refused")
    assert "10.1.2.3" in problem["detail"]  # type: ignore[operator]


async def test_unknown_event_type_is_named(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    response = await client.post(
        "/v1/webhook-endpoints",
        json={"url": "http://127.0.0.1:9/h", "events": ["delivery.accepted", "delivery.eaten"]},
        headers=auth,
    )
    problem = assert_problem(response, 422, "validation-failed")
    assert fields(problem) == ["events[1]"]


async def test_update_disable_enable_delete(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    created = await register(client, auth, "http://127.0.0.1:9/hooks")
    url = f"/v1/webhook-endpoints/{created['id']}"
    patched = await client.patch(
        url, json={"events": ["delivery.refused"], "description": None}, headers=auth
    )
    assert patched.json()["events"] == ["delivery.refused"]
    assert patched.json()["description"] is None
    disabled = (await client.post(f"{url}/disable", headers=auth)).json()
    assert disabled["enabled"] is False and disabled["disabled_reason"]
    enabled = (await client.post(f"{url}/enable", headers=auth)).json()
    assert enabled["enabled"] is True and enabled["disabled_reason"] is None
    assert (await client.delete(url, headers=auth)).status_code == 204
    assert_problem(await client.get(url, headers=auth), 404, "webhook-endpoint-not-found")


async def test_other_organisation_gets_404(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    created = await register(client, auth, "http://127.0.0.1:9/hooks")
    _, key = await create_org_with_key(runtime, "Other")
    other = {"Authorization": f"Bearer {key}"}
    url = f"/v1/webhook-endpoints/{created['id']}"
    for method, path in [
        ("GET", url),
        ("PATCH", url),
        ("DELETE", url),
        ("POST", f"{url}/disable"),
        ("POST", f"{url}/rotate-secret"),
        ("POST", f"{url}/test"),
        ("GET", f"{url}/attempts"),
    ]:
        response = await client.request(
            method, path, headers=other, json={} if method == "PATCH" else None
        )
        assert_problem(response, 404, "webhook-endpoint-not-found")
    assert (await client.get("/v1/webhook-endpoints", headers=other)).json()["data"] == []
