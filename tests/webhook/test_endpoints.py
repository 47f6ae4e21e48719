"""Webhook endpoint management through the API."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from tabellion.models.webhook import WebhookEndpoint
from tabellion.runtime import Runtime
from tests.conftest import make_settings
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
    assert "secret" not in listed["data"][0]
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


@pytest.fixture
async def unexempt_client(
    data_dir: Path, database_url: str, client: httpx.AsyncClient
) -> AsyncIterator[httpx.AsyncClient]:
    """The API of a server run without ``TABELLION_WEBHOOK_ALLOWED_HOSTS``, on the same data."""
    from tabellion.app import create_app

    runtime = Runtime.build(make_settings(data_dir, database_url), pool_size=2)
    transport = httpx.ASGITransport(app=create_app(runtime=runtime))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://tabellion.test") as c:
            yield c
    finally:
        await runtime.close()


@pytest.mark.parametrize(
    ("url", "exempt"),
    [
        ("http://127.0.0.1:8080/hooks", True),
        ("http://2130706433/hooks", True),  # 127.0.0.1 as one number
        ("http://0x7f.1/hooks", True),  # and in hexadecimal
        ("http://localhost/hooks", False),
        ("http://LocalHost./hooks", False),
        ("http://0.0.0.0/hooks", False),
        ("http://10.20.30.40/hooks", False),
        ("http://[::ffff:169.254.169.254]/hooks", False),
    ],
)
async def test_loopback_is_refused_unless_the_operator_allows_it(
    client: httpx.AsyncClient,
    unexempt_client: httpx.AsyncClient,
    auth: dict[str, str],
    url: str,
    exempt: bool,
) -> None:
    body = {"url": url, "events": ["*"]}
    response = await unexempt_client.post("/v1/webhook-endpoints", json=body, headers=auth)
    problem = assert_problem(response, 422, "webhook-url-refused")
    assert fields(problem) == ["url"]
    # The tests' server exempts 127.0.0.1 (TABELLION_WEBHOOK_ALLOWED_HOSTS), whatever its spelling.
    response = await client.post("/v1/webhook-endpoints", json=body, headers=auth)
    if exempt:
        assert response.status_code == 201, response.text
    elif "localhost" not in url.lower():  # it may resolve to ::1 too, or not: the machine's
        assert_problem(response, 422, "webhook-url-refused")


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1:9/x\r\nX-Injected: 1", "control characters"),
        ("http://127.0.0.1:9/a b", "spaces"),
        ("http://a..b/hooks", "not a valid host name"),
        ("http://" + "a" * 70 + ".example/hooks", "not a valid host name"),
        ("http://no-such-host.invalid/hooks", "does not resolve"),
        ("http://[::1/hooks", "not a valid URL"),
        ("javascript:alert(1)//", "https:// or http://"),
    ],
)
async def test_malformed_urls_are_refused_by_field(
    client: httpx.AsyncClient, auth: dict[str, str], url: str, why: str
) -> None:
    response = await client.post(
        "/v1/webhook-endpoints", json={"url": url, "events": ["*"]}, headers=auth
    )
    problem = assert_problem(response, 422, "webhook-url-refused")
    assert fields(problem) == ["url"]
    assert why in str(problem["detail"])


async def test_update_rechecks_the_url_and_changes_nothing_when_refused(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    created = await register(client, auth, "http://127.0.0.1:9/hooks")
    url = f"/v1/webhook-endpoints/{created['id']}"
    refused = await client.patch(
        url, json={"url": "http://169.254.169.254/", "events": ["delivery.sent"]}, headers=auth
    )
    assert fields(assert_problem(refused, 422, "webhook-url-refused")) == ["url"]
    unchanged = (await client.get(url, headers=auth)).json()
    assert (unchanged["url"], unchanged["events"]) == ("http://127.0.0.1:9/hooks", ["*"])
    moved = await client.patch(url, json={"url": "http://127.0.0.1:10/new"}, headers=auth)
    assert moved.json()["url"] == "http://127.0.0.1:10/new"
    assert "secret" not in moved.json()
    off = (await client.patch(url, json={"enabled": False}, headers=auth)).json()
    assert (off["enabled"], off["disabled_reason"]) == (False, "disabled through the API")
    on = (await client.patch(url, json={"enabled": True}, headers=auth)).json()
    assert (on["enabled"], on["disabled_reason"]) == (True, None)


async def test_openapi_documents_the_webhook_errors(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    create = paths["/v1/webhook-endpoints"]["post"]["responses"]
    assert "webhook-url-refused" in create["422"]["description"]
    redeliver = paths["/v1/events/{event_id}/redeliver"]["post"]["responses"]
    assert "webhook-endpoint-disabled" in redeliver["409"]["description"]
    assert "webhook-endpoint-not-found" in redeliver["404"]["description"]


LOCAL = "http://127.0.0.1:9/"
BAD_CURSOR = "WzEwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDBd"  # [10**30]


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "", {"url": LOCAL, "events": []}, "events"),
        ("POST", "", {"url": LOCAL, "events": [1]}, "events[0]"),
        ("POST", "", {"url": LOCAL, "events": ["*"], "x": 1}, "x"),
        ("POST", "", {"events": ["*"]}, "url"),
        ("POST", "", {"url": LOCAL + "a" * 2048, "events": ["*"]}, "url"),
        ("POST", "", {"url": LOCAL, "events": ["*"], "description": "d" * 501}, "description"),
        ("PATCH", "/{id}", {"events": []}, "events"),
        ("PATCH", "/{id}", {"events": ["delivery.eaten"]}, "events[0]"),
        ("PATCH", "/{id}", {"enabled": "maybe"}, "enabled"),
        ("POST", "/{id}/rotate-secret", {"overlap_hours": 1000}, "overlap_hours"),
        ("POST", "/{id}/rotate-secret", {"overlap_hours": -1}, "overlap_hours"),
        ("GET", "?cursor=nonsense", None, "cursor"),
        ("GET", "?limit=500", None, "limit"),
        ("GET", "/{id}/attempts?cursor=WyJhYmMiXQ", None, "cursor"),  # ["abc"]
        ("GET", "/{id}/attempts?cursor=" + BAD_CURSOR, None, "cursor"),
        ("GET", "/{id}/attempts?cursor=WzEsMl0", None, "cursor"),  # [1,2]
    ],
)
async def test_bad_input_is_a_problem_naming_the_field(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    method: str,
    path: str,
    body: dict | None,
    field: str,
) -> None:
    created = await register(client, auth, "http://127.0.0.1:9/hooks")
    url = "/v1/webhook-endpoints" + path.format(id=created["id"])
    response = await client.request(method, url, json=body, headers=auth)
    assert fields(assert_problem(response, 422, "validation-failed")) == [field]


async def test_concurrent_rotations_keep_every_secret_they_showed(
    served: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:

    from tabellion.kit import crypto
    from tests.fixtures.database import race_on_row

    created = await register(served, auth, "http://127.0.0.1:9/hooks")
    url = f"/v1/webhook-endpoints/{created['id']}/rotate-secret"
    rotated = await race_on_row(
        runtime,
        "webhook_endpoints",
        created["id"],
        (served.post(url, headers=auth) for _ in range(10)),
    )
    assert [r.status_code for r in rotated] == [200] * 10
    async with runtime.sessions() as session:
        row = await session.scalar(select(WebhookEndpoint))
    assert row is not None
    stored = {crypto.decrypt(runtime.settings.signing_keys, s["value"]) for s in row.secrets}
    shown = {created["secret"], *(r.json()["secret"] for r in rotated)}
    assert stored == shown
    assert [s["expires_at"] is None for s in row.secrets].count(True) == 1
