"""Retention settings and legal holds through the API: every bad value answers a documented 4xx
naming its field; another organisation's message is 404."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from tabellion.models.evidence import Evidence
from tabellion.runtime import Runtime
from tests.fixtures.factories import bearer, create_org_with_key, message_body
from tests.message.test_endpoints import assert_problem, fields


async def test_retention_settings_read_and_changed(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    initial = (await client.get("/v1/organization", headers=auth)).json()
    assert initial["content_retention_days"] is None
    assert initial["proof_retention_days"] == 3650
    changed = await client.patch(
        "/v1/organization",
        json={"content_retention_days": 365, "proof_retention_days": 4000},
        headers=auth,
    )
    assert changed.status_code == 200, changed.text
    read = (await client.get("/v1/organization", headers=auth)).json()
    assert (read["content_retention_days"], read["proof_retention_days"]) == (365, 4000)
    # Only the fields sent change; null clears the content period (keep forever).
    cleared = await client.patch(
        "/v1/organization", json={"content_retention_days": None}, headers=auth
    )
    assert cleared.json()["content_retention_days"] is None
    assert cleared.json()["proof_retention_days"] == 4000


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"content_retention_days": 0}, "content_retention_days", "validation-failed"),
        ({"content_retention_days": -5}, "content_retention_days", "validation-failed"),
        ({"content_retention_days": 36501}, "content_retention_days", "validation-failed"),
        ({"content_retention_days": "ten"}, "content_retention_days", "validation-failed"),
        ({"content_retention_days": 1.5}, "content_retention_days", "validation-failed"),
        ({"proof_retention_days": None}, "proof_retention_days", "validation-failed"),
        ({"proof_retention_days": 0}, "proof_retention_days", "validation-failed"),
        # Proofs outlive content: both sent, or one against the stored other.
        (
            {"content_retention_days": 30, "proof_retention_days": 10},
            "proof_retention_days",
            "validation-failed",
        ),
        ({"content_retention_days": 4000}, "content_retention_days", "validation-failed"),
    ],
)
async def test_bad_retention_values(
    client: httpx.AsyncClient, auth: dict[str, str], body: dict, field: str, code: str
) -> None:
    problem = assert_problem(
        await client.patch("/v1/organization", json=body, headers=auth), 422, code
    )
    assert fields(problem) == [field]
    read = (await client.get("/v1/organization", headers=auth)).json()
    assert (read["content_retention_days"], read["proof_retention_days"]) == (None, 3650)


async def test_proof_period_shorter_than_stored_content_period(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    await client.patch("/v1/organization", json={"content_retention_days": 100}, headers=auth)
    problem = assert_problem(
        await client.patch("/v1/organization", json={"proof_retention_days": 99}, headers=auth),
        422,
        "validation-failed",
    )
    assert problem["errors"] == [
        {
            "field": "proof_retention_days",
            "code": "proof-retention-too-short",
            "message": problem["errors"][0]["message"],
        }
    ]


async def test_retention_settings_need_the_admin_scope(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    created = await client.post(
        "/v1/api-keys", json={"name": "reader", "scopes": ["messages:read"]}, headers=auth
    )
    assert created.status_code == 201, created.text
    reader = bearer(created.json()["key"])
    assert_problem(
        await client.patch("/v1/organization", json={"content_retention_days": 1}, headers=reader),
        403,
        "insufficient-scope",
    )
    assert_problem(
        await client.post("/v1/erasures", json={"email": "a@b.test"}, headers=reader),
        403,
        "insufficient-scope",
    )


async def test_legal_hold_bad_input_and_other_tenants(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    draft = (await client.post("/v1/messages", json=message_body(), headers=auth)).json()
    other = bearer((await create_org_with_key(runtime, name="Other"))[1])
    for method in ("POST", "DELETE"):
        for message_id, headers in (
            ("msg_unknown", auth),
            (draft["id"], other),
        ):
            response = await client.request(
                method, f"/v1/messages/{message_id}/legal-hold", headers=headers
            )
            assert_problem(response, 404, "message-not-found")
        assert_problem(
            await client.request(method, f"/v1/messages/{draft['id']}/legal-hold"),
            401,
            "unauthorized",
        )
    too_long = await client.post(
        f"/v1/messages/{draft['id']}/legal-hold", json={"reason": "x" * 501}, headers=auth
    )
    assert fields(assert_problem(too_long, 422, "validation-failed")) == ["reason"]
    control = await client.post(
        f"/v1/messages/{draft['id']}/legal-hold", json={"reason": "a\x00b"}, headers=auth
    )
    assert fields(assert_problem(control, 422, "validation-failed")) == ["reason"]
    # Another organisation's hold changed nothing; the owner's is evidence with its reason.
    read = (await client.get(f"/v1/messages/{draft['id']}", headers=auth)).json()
    assert read["legal_hold"] is False
    placed = await client.post(
        f"/v1/messages/{draft['id']}/legal-hold", json={"reason": "Case 9"}, headers=auth
    )
    assert placed.status_code == 200 and placed.json()["legal_hold"] is True
    async with runtime.sessions() as session:
        [evidence] = await session.scalars(
            select(Evidence).where(Evidence.message_id == draft["id"])
        )
    assert evidence.type == "LEGAL_HOLD_PLACED" and evidence.details["reason"] == "Case 9"
    assert evidence.details["by"]["method"] == "api-key"
    # Its proof is the owner's alone.
    assert (await client.get(f"/v1/evidence/{evidence.id}", headers=auth)).status_code == 200
    assert_problem(
        await client.get(f"/v1/evidence/{evidence.id}", headers=other), 404, "evidence-not-found"
    )
