"""``identification`` on the message API: each rule answers 422 naming the field; drafts
change it; the organisation's default applies; deliveries keep what was declared."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tabellion.db import transaction
from tabellion.message.service.lifecycle import (
    Actor,
    IdentityNotConfirmed,
    answer,
    confirm_identity,
)
from tabellion.models.message import Delivery
from tabellion.models.organization import Organization
from tabellion.runtime import Runtime
from tests.fixtures.factories import message_body, natural_recipient
from tests.message.test_endpoints import assert_problem, fields
from tests.portal.helpers import notify

JANE = natural_recipient(0, birth_date="1980-04-27")
ASKED = {"level": "substantial", "providers": ["bank"], "match": ["last_name", "birth_date"]}


def body(**extra: Any) -> dict[str, Any]:
    return message_body(**{"recipients": [JANE], "identification": ASKED, **extra})


async def test_a_message_asks_for_identification(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    created = await client.post("/v1/messages", json=body(), headers=auth)
    assert created.status_code == 201, created.text
    assert created.json()["identification"] == ASKED
    # The declared birth date is the sender's, not shown back in the recipient list.
    assert "birth_date" not in created.json()["recipients"][0]
    dispatched = await client.post(f"/v1/messages/{created.json()['id']}/dispatch", headers=auth)
    delivery_id = dispatched.json()["deliveries"][0]["id"]
    async with runtime.sessions() as session:
        delivery = await session.get(Delivery, delivery_id)
        assert delivery is not None
        assert delivery.identification == {
            **ASKED,
            "declared": {"last_name": "Doe 0", "birth_date": "1980-04-27"},
        }


async def test_defaults(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    recipient = natural_recipient(0)
    created = await client.post(
        "/v1/messages", json=message_body(recipients=[recipient], identification={}), headers=auth
    )
    assert created.status_code == 201, created.text
    assert created.json()["identification"] == {
        "level": "substantial",
        "providers": [],
        "match": ["first_name", "last_name"],
    }
    plain = await client.post("/v1/messages", json=message_body(), headers=auth)
    assert plain.json()["identification"] is None


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        (
            {"identification": {**ASKED, "providers": ["nope"]}},
            "identification.providers[0]",
            "unknown-provider",
        ),
        (
            {"identification": {**ASKED, "providers": ["fc"]}},
            "identification.providers[0]",
            "level-too-low",
        ),
        (
            {"identification": {**ASKED, "providers": [], "level": "high"}},
            "identification.level",
            "no-provider",
        ),
        ({"recipients": [natural_recipient(0)]}, "recipients[0].birth_date", "missing-attribute"),
        ({"mode": "simple"}, "identification", "invalid"),
    ],
)
async def test_rules(
    client: httpx.AsyncClient, auth: dict[str, str], change: dict[str, Any], field: str, code: str
) -> None:
    problem = assert_problem(
        await client.post("/v1/messages", json={**body(), **change}, headers=auth),
        422,
        "validation-failed",
    )
    assert fields(problem) == [field]
    assert problem["errors"][0]["code"] == code  # type: ignore[index]


@pytest.mark.parametrize(
    ("identification", "field"),
    [
        ({"level": "medium"}, "identification.level"),
        ({"match": ["shoe_size"]}, "identification.match[0]"),
        ({"match": ["last_name", "last_name"]}, "identification.match"),
        ({"providers": ["bank"] * 11}, "identification.providers"),
        ({"extra": 1}, "identification.extra"),
    ],
)
async def test_shape(
    client: httpx.AsyncClient, auth: dict[str, str], identification: dict[str, Any], field: str
) -> None:
    problem = assert_problem(
        await client.post("/v1/messages", json=body(identification=identification), headers=auth),
        422,
        "validation-failed",
    )
    assert any(f.startswith(field) for f in fields(problem)), fields(problem)


@pytest.mark.parametrize("value", ["27/04/1980", "1980-4-27", "2999-01-01", "1800-01-01", 1980])
async def test_birth_date_must_be_a_past_iso_date(
    client: httpx.AsyncClient, auth: dict[str, str], value: object
) -> None:
    recipient = {**JANE, "birth_date": value}
    problem = assert_problem(
        await client.post("/v1/messages", json=body(recipients=[recipient]), headers=auth),
        422,
        "validation-failed",
    )
    assert fields(problem) == ["recipients[0].birth_date"]


async def test_a_draft_changes_its_identification(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    created = (await client.post("/v1/messages", json=message_body(), headers=auth)).json()
    url = f"/v1/messages/{created['id']}"
    wanted = {"level": "low", "providers": ["fc"], "match": ["last_name"]}
    changed = await client.patch(url, json={"identification": wanted}, headers=auth)
    assert changed.status_code == 200, changed.text
    assert changed.json()["identification"] == wanted
    # New recipients must still declare what is matched.
    problem = assert_problem(
        await client.patch(
            url,
            json={
                "recipients": [{"email": "x@example.test", "company": "Acme", "siren": "732829320"}]
            },
            headers=auth,
        ),
        422,
        "validation-failed",
    )
    assert fields(problem) == ["recipients[0].last_name"]
    cleared = await client.patch(url, json={"identification": None}, headers=auth)
    assert cleared.json()["identification"] is None


async def test_the_organisation_default_applies_unless_the_message_says(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, org_key: tuple[str, str]
) -> None:
    default = {"level": "low", "providers": [], "match": ["last_name"]}
    problem = assert_problem(
        await client.patch(
            "/v1/organization",
            json={"identification": {**default, "providers": ["nope"]}},
            headers=auth,
        ),
        422,
        "validation-failed",
    )
    assert fields(problem) == ["identification.providers[0]"]
    changed = await client.patch("/v1/organization", json={"identification": default}, headers=auth)
    assert changed.status_code == 200, changed.text
    assert changed.json()["identification"] == default
    async with runtime.sessions() as session:
        organization = await session.get(Organization, org_key[0])
        assert organization is not None and organization.identification == default
    inherited = await client.post("/v1/messages", json=message_body(), headers=auth)
    assert inherited.json()["identification"] == default
    opted_out = await client.post(
        "/v1/messages", json=message_body(identification=None), headers=auth
    )
    assert opted_out.json()["identification"] is None
    simple = await client.post("/v1/messages", json=message_body(mode="simple"), headers=auth)
    assert simple.status_code == 201 and simple.json()["identification"] is None
    cleared = await client.patch("/v1/organization", json={"identification": None}, headers=auth)
    assert cleared.json()["identification"] is None
    plain = await client.post("/v1/messages", json=message_body(), headers=auth)
    assert plain.json()["identification"] is None


async def test_an_email_code_does_not_stand_in_for_identification(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    created = (await client.post("/v1/messages?dispatch=true", json=body(), headers=auth)).json()
    delivery_id = created["deliveries"][0]["id"]
    link = await notify(runtime, delivery_id)
    actor = Actor(method="email-otp", ip="127.0.0.1", user_agent="test")
    async with transaction(runtime.sessions) as session:
        delivery = await session.get(Delivery, delivery_id)
        assert delivery is not None
        await confirm_identity(session, delivery, actor=actor)
    async with runtime.sessions() as session:
        delivery = await session.get(Delivery, delivery_id)
        assert delivery is not None
        with pytest.raises(IdentityNotConfirmed, match="identity provider"):
            await answer(session, delivery, accept=True, actor=actor)
    # The page offers the providers, not a code.
    page = (await client.get(link)).text
    assert 'data-provider="bank"' in page and 'action="' + link + '/code"' not in page
