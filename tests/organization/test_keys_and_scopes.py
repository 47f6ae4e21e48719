"""API keys with scopes: creation, listing, revocation, expiry, and the scope matrix."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from tabellion.db import transaction
from tabellion.kit.time import isoformat_z, utcnow
from tabellion.kit.tokens import sha256_hex
from tabellion.models.organization import ApiKey
from tabellion.organization.service import (
    KEY_RANDOM_CHARS,
    LOOKUP_CHARS,
    authenticate_api_key,
)
from tabellion.organization.service import _verified_keys as verified_keys
from tabellion.runtime import Runtime
from tests.fixtures.factories import bearer, create_key, create_org_with_key
from tests.message.test_endpoints import assert_problem


async def test_create_list_and_revoke_keys(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    created = await client.post(
        "/v1/api-keys", json={"name": "CRM", "scopes": ["messages:write"]}, headers=auth
    )
    assert created.status_code == 201, created.text
    key = created.json()
    assert key["key"].startswith("tbl_") and len(key["key"]) == 44
    assert key["scopes"] == ["messages:write"]
    assert key["key"].startswith(key["prefix"])
    listed = (await client.get("/v1/api-keys", headers=auth)).json()["data"]
    assert {k["name"] for k in listed} == {"default", "CRM"}
    assert all("key" not in k for k in listed)
    crm = bearer(key["key"])
    assert (await client.get("/v1/messages", headers=crm)).status_code == 200
    used = next(
        k
        for k in (await client.get("/v1/api-keys", headers=auth)).json()["data"]
        if k["id"] == key["id"]
    )
    assert used["last_used_at"] is not None
    assert (await client.delete(f"/v1/api-keys/{key['id']}", headers=auth)).status_code == 204
    assert_problem(await client.get("/v1/messages", headers=crm), 401, "unauthorized")


async def test_key_is_shown_once_and_stored_hashed(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    before = utcnow()
    expiry = (utcnow() + timedelta(days=90)).replace(microsecond=0)
    created = await client.post(
        "/v1/api-keys",
        json={"name": "Billing", "scopes": ["messages:read"], "expires_at": isoformat_z(expiry)},
        headers=auth,
    )
    assert created.status_code == 201, created.text
    key = created.json()
    secret = key["key"]
    assert key["name"] == "Billing"
    assert key["expires_at"] == isoformat_z(expiry)
    assert key["last_used_at"] is None and key["revoked_at"] is None
    assert before <= datetime.fromisoformat(key["created_at"]) <= utcnow()

    async with runtime.sessions() as session:
        row = await session.get(ApiKey, key["id"])
    assert row is not None
    assert row.key_hash == sha256_hex(secret)
    assert row.prefix == secret[:12] == key["prefix"]
    columns = [getattr(row, c.key) for c in ApiKey.__table__.columns]
    assert not any(secret in str(value) for value in columns)

    listed = {k["id"]: k for k in (await client.get("/v1/api-keys", headers=auth)).json()["data"]}
    assert "key" not in listed[key["id"]]
    assert secret not in (await client.get("/v1/api-keys", headers=auth)).text
    assert listed[key["id"]]["expires_at"] == isoformat_z(expiry)
    assert listed[key["id"]]["created_at"] == key["created_at"]


async def test_expired_key_is_401(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    expiry = utcnow() + timedelta(seconds=30)
    created = await client.post(
        "/v1/api-keys",
        json={"name": "t", "scopes": ["admin"], "expires_at": isoformat_z(expiry)},
        headers=auth,
    )
    key = bearer(created.json()["key"])
    assert (await client.get("/v1/messages", headers=key)).status_code == 200

    # A key just used is trusted for a few seconds without its row being read again; that
    # trust ends at the key's expiry all the same.
    later = expiry + timedelta(milliseconds=1)
    monkeypatch.setattr("tabellion.organization.service.utcnow", lambda: later)
    problem = assert_problem(await client.get("/v1/messages", headers=key), 401, "unauthorized")
    assert "expired" in str(problem["detail"])
    # The admin key without expiry still works at that time.
    assert (await client.get("/v1/messages", headers=auth)).status_code == 200


async def test_a_key_sharing_a_real_keys_prefix_is_refused(
    client: httpx.AsyncClient, runtime: Runtime, org_key: tuple[str, str]
) -> None:
    """The row is found by the first characters, stored in clear; the rest must match too."""
    _, secret = org_key
    lookalike = secret[:LOOKUP_CHARS] + ("A" if secret[-1] != "A" else "B") * (
        len(secret) - LOOKUP_CHARS
    )
    unknown = "tbl_" + "Z" * KEY_RANDOM_CHARS  # well formed, no row
    for presented in (lookalike, unknown):
        async with runtime.sessions() as session:
            assert await authenticate_api_key(session, presented) is None
        response = await client.get("/v1/organization", headers=bearer(presented))
        assert_problem(response, 401, "unauthorized")
    assert (await client.get("/v1/organization", headers=bearer(secret))).status_code == 200


async def test_the_last_use_is_stamped_at_most_once_a_minute(
    runtime: Runtime, org_key: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, secret = org_key
    start = utcnow()

    async def use_at(moment: datetime) -> datetime | None:
        verified_keys.clear()  # read the row, as another API process would
        monkeypatch.setattr("tabellion.organization.service.utcnow", lambda: moment)
        async with transaction(runtime.sessions) as session:
            assert await authenticate_api_key(session, secret) is not None
        async with runtime.sessions() as session:
            return await session.scalar(
                select(ApiKey.last_used_at).where(ApiKey.prefix == secret[:LOOKUP_CHARS])
            )

    assert await use_at(start) == start
    assert await use_at(start + timedelta(seconds=59)) == start  # not rewritten
    later = start + timedelta(seconds=61)
    assert await use_at(later) == later


async def test_a_revoked_key_shows_when_and_stops_working(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    created = (
        await client.post("/v1/api-keys", json={"name": "x", "scopes": ["admin"]}, headers=auth)
    ).json()
    assert (await client.delete(f"/v1/api-keys/{created['id']}", headers=auth)).status_code == 204
    # Revoking again is harmless; the first time is kept.
    listed = (await client.get("/v1/api-keys", headers=auth)).json()["data"]
    first = next(k for k in listed if k["id"] == created["id"])["revoked_at"]
    assert first is not None
    assert (await client.delete(f"/v1/api-keys/{created['id']}", headers=auth)).status_code == 204
    listed = (await client.get("/v1/api-keys", headers=auth)).json()["data"]
    assert next(k for k in listed if k["id"] == created["id"])["revoked_at"] == first
    assert_problem(
        await client.get("/v1/organization", headers=bearer(created["key"])), 401, "unauthorized"
    )
    assert_problem(
        await client.delete("/v1/api-keys/key_01jd0000000000000000000000", headers=auth),
        404,
        "api-key-not-found",
    )


async def test_a_key_in_use_stops_working_as_soon_as_it_is_revoked(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    # A key just used is trusted for a few seconds without its row being read again: its
    # revocation must end that at once.
    created = (
        await client.post("/v1/api-keys", json={"name": "x", "scopes": ["admin"]}, headers=auth)
    ).json()
    for _ in range(2):
        assert (await client.get("/v1/messages", headers=bearer(created["key"]))).status_code == 200
    assert (await client.delete(f"/v1/api-keys/{created['id']}", headers=auth)).status_code == 204
    assert_problem(
        await client.get("/v1/messages", headers=bearer(created["key"])), 401, "unauthorized"
    )


@pytest.mark.parametrize(
    "secret",
    [
        "tbl_" + "a" * 39 + "-",  # the right length, not base62
        "tbl_" + "a" * 39 + "\x00",  # NUL would upset PostgreSQL
        "tbl_" + "\x00" * 40,
        "tbl_short",
        "sk_" + "a" * 41,
        "",
    ],
)
async def test_malformed_keys_are_refused(
    client: httpx.AsyncClient, runtime: Runtime, secret: str
) -> None:
    async with runtime.sessions() as session:
        assert await authenticate_api_key(session, secret) is None
    if secret.isprintable():  # what an HTTP header can carry
        response = await client.get("/v1/organization", headers=bearer(secret))
        assert_problem(response, 401, "unauthorized")


async def test_revoking_another_organisations_key_is_404(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    other_org, _ = await create_org_with_key(runtime, "Other")
    await create_key(runtime, other_org, ["admin"])
    other_keys = (
        await client.get(
            "/v1/api-keys", headers=bearer(await create_key(runtime, other_org, ["admin"]))
        )
    ).json()["data"]
    response = await client.delete(f"/v1/api-keys/{other_keys[0]['id']}", headers=auth)
    assert_problem(response, 404, "api-key-not-found")


async def test_organization_endpoint(
    client: httpx.AsyncClient, auth: dict[str, str], org_key: tuple[str, str]
) -> None:
    org = (await client.get("/v1/organization", headers=auth)).json()
    assert org["id"] == org_key[0]
    assert org["name"] == "Acme"
    assert org["timezone"] == "Europe/Paris"
