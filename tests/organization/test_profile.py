"""The organisation's profile: how recipients see the sender."""

from __future__ import annotations

import httpx
import pytest

from tabellion.runtime import Runtime
from tests.message.test_endpoints import assert_problem, fields
from tests.portal.helpers import dispatch


async def test_patch_changes_only_what_is_sent(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    before = (await client.get("/v1/organization", headers=auth)).json()
    assert before["identifiers"] == {"siren": None, "kvk": None, "vat": None}
    assert before["allow_executable_attachments"] is False
    changed = await client.patch(
        "/v1/organization",
        json={
            "name": "Acme",
            "legal_name": "Acme SAS",
            "identifiers": {"siren": "732 829 320", "vat": "FR40732829320"},
            "brand_color": "#1D4ED8",
            "allow_executable_attachments": True,
        },
        headers=auth,
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["name"], body["legal_name"], body["brand_color"]) == (
        "Acme",
        "Acme SAS",
        "#1d4ed8",
    )
    assert body["identifiers"] == {"siren": "732829320", "kvk": None, "vat": "FR40732829320"}
    assert body["allow_executable_attachments"] is True
    again = await client.patch(
        "/v1/organization", json={"identifiers": {"kvk": "69599084"}}, headers=auth
    )
    assert again.json()["identifiers"] == {
        "siren": "732829320",
        "kvk": "69599084",
        "vat": "FR40732829320",
    }
    assert (await client.get("/v1/organization", headers=auth)).json() == again.json()


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"name": None}, "name"),
        ({"name": ""}, "name"),
        ({"name": "Acme\nBcc: x@evil.test"}, "name"),
        ({"identifiers": {"siren": "123456789"}}, "identifiers.siren"),
        ({"identifiers": {"kvk": "1234"}}, "identifiers.kvk"),
        ({"identifiers": {"vat": "fr123"}}, "identifiers.vat"),
        ({"brand_color": "blue"}, "brand_color"),
        ({"logo": "x"}, "logo"),
    ],
)
async def test_bad_profile_values_are_422(
    client: httpx.AsyncClient, auth: dict[str, str], patch: dict[str, object], field: str
) -> None:
    problem = assert_problem(
        await client.patch("/v1/organization", json=patch, headers=auth), 422, "validation-failed"
    )
    assert fields(problem) == [field]


async def test_the_name_is_the_sender_recipients_see(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    from tabellion.db import transaction
    from tabellion.kit.time import utcnow
    from tabellion.message.service.delivery import load_for_notice
    from tabellion.notification.compose import compose_notice

    await client.patch("/v1/organization", json={"name": "Acme Lettings"}, headers=auth)
    delivery = await dispatch(client, auth, mode="secure")
    async with transaction(runtime.sessions) as session:
        loaded = await load_for_notice(session, delivery["id"])
        mail = compose_notice(runtime.settings, *loaded, at=utcnow()).message
    assert "Acme Lettings" in mail.get_body(("plain",)).get_content()
