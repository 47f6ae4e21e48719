"""iDIN through the Registered E-mail dialect, at the API: the organisation's identification
default applies to every registered e-mail sent here, the extension fields declare what is
compared, and what cannot be honoured is answered in the dialect's own shape, storing nothing.
(The sign-in itself, in Chromium against a real OpenID provider: ``test_idin_browser.py``.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tabellion.config import Settings
from tabellion.db import transaction
from tabellion.models.message import Delivery
from tabellion.models.organization import Organization
from tabellion.runtime import Runtime
from tests.compat.registered_email.helpers import (
    SEND,
    STATUS,
    active_sender,
    app_with,
    send_body,
    valid_xml,
)
from tests.compat.registered_email.test_endpoints import assert_error
from tests.conftest import count_rows, make_settings

# Never contacted here: the API only checks the organisation's default against them.
IDIN = {
    "idin": {
        "preset": "idin",
        "discovery_url": "https://broker.example.test/.well-known/openid-configuration",
        "client_id": "tabellion",
        "client_secret": "secret",
    }
}
ALL = ["first_name", "last_name", "birth_date"]
NAMED = {
    "recipient_first_name": "Zoë",
    "recipient_last_name": "Dupont-Durand",
    "recipient_birth_date": "1980-04-27",
}


@pytest.fixture
def settings(data_dir: Path, database_url: str) -> Settings:
    return make_settings(data_dir, database_url, identity_providers=IDIN)


async def turn_on_idin(
    client: httpx.AsyncClient, auth: dict[str, str], match: list[str]
) -> dict[str, Any]:
    """The organisation's default, as its admin sets it once: iDIN for every letter."""
    asked = {"level": "substantial", "providers": ["idin"], "match": match}
    answer = await client.patch("/v1/organization", json={"identification": asked}, headers=auth)
    assert answer.status_code == 200, answer.text
    assert answer.json()["identification"] == asked
    return asked


async def test_the_default_applies_and_the_status_shows_it(
    client: httpx.AsyncClient, auth: dict[str, str], org_key: tuple[str, str], runtime: Runtime
) -> None:
    await active_sender(runtime, org_key[0])
    asked = await turn_on_idin(client, auth, ALL)
    sent = await client.post(SEND, json=send_body(**NAMED), headers=auth)
    assert sent.status_code == 200, sent.text
    delivery_id = sent.json()["ticket_token"].split(".")[0]
    view = (await client.get(f"/v1/deliveries/{delivery_id}", headers=auth)).json()
    message = (await client.get(f"/v1/messages/{view['message_id']}", headers=auth)).json()
    assert message["identification"] == asked
    assert message["recipients"][0]["first_name"] == "Zoë"
    async with runtime.sessions() as session:
        delivery = await session.get(Delivery, delivery_id)
        assert delivery is not None and delivery.identification is not None
        # What the bank's answer will be compared with.
        assert delivery.identification["declared"] == {
            "first_name": "Zoë",
            "last_name": "Dupont-Durand",
            "birth_date": "1980-04-27",
        }

    document = valid_xml(
        await client.get(STATUS, params={"ticket_token": sent.json()["ticket_token"]}, headers=auth)
    )
    [node] = document.findall("ticket/identification")
    assert node.get("status") == "waiting" and node.get("level") == "substantial"
    assert [p.text for p in node.findall("provider")] == ["idin"]
    assert [m.text for m in node.findall("match")] == ALL
    assert node.find("identified") is None


async def test_without_a_default_nothing_is_asked(
    client: httpx.AsyncClient, auth: dict[str, str], org_key: tuple[str, str], runtime: Runtime
) -> None:
    await active_sender(runtime, org_key[0])
    sent = await client.post(SEND, json=send_body(**NAMED), headers=auth)
    assert sent.status_code == 200, sent.text
    document = valid_xml(
        await client.get(STATUS, params={"ticket_token": sent.json()["ticket_token"]}, headers=auth)
    )
    assert document.find("ticket/identification") is None


async def test_no_matching_needs_no_names(
    client: httpx.AsyncClient, auth: dict[str, str], org_key: tuple[str, str], runtime: Runtime
) -> None:
    """The original's own fields know the recipient by address only: with ``match: []`` the
    bank's identity is recorded, not compared."""
    await active_sender(runtime, org_key[0])
    await turn_on_idin(client, auth, [])
    sent = await client.post(SEND, json=send_body(), headers=auth)
    assert sent.status_code == 200, sent.text


@pytest.mark.parametrize(
    ("leave_out", "field"),
    [
        ("recipient_first_name", "recipient_first_name"),
        ("recipient_last_name", "recipient_last_name"),
        ("recipient_birth_date", "recipient_birth_date"),
    ],
)
async def test_an_attribute_the_default_compares_is_required(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    org_key: tuple[str, str],
    runtime: Runtime,
    leave_out: str,
    field: str,
) -> None:
    await active_sender(runtime, org_key[0])
    await turn_on_idin(client, auth, ALL)
    body = send_body(**{k: v for k, v in NAMED.items() if k != leave_out})
    answer = await client.post(SEND, json=body, headers=auth)
    error = assert_error(answer, 400, field)
    assert field in error["errors"][field][0]
    assert await count_rows(runtime, "messages") == 0


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"recipient_birth_date": "27-04-1980"}, "recipient_birth_date"),
        ({"recipient_birth_date": 19800427}, "recipient_birth_date"),
        ({"recipient_first_name": 1}, "recipient_first_name"),
        ({"recipient_last_name": "x" * 256}, "recipient_last_name"),
    ],
)
async def test_bad_extension_fields_are_400(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    org_key: tuple[str, str],
    runtime: Runtime,
    extra: dict[str, Any],
    field: str,
) -> None:
    await active_sender(runtime, org_key[0])
    answer = await client.post(SEND, json=send_body(**{**NAMED, **extra}), headers=auth)
    assert_error(answer, 400, field)
    assert await count_rows(runtime, "messages") == 0


async def test_idin_asked_but_not_configured_is_412(
    data_dir: Path, database_url: str, runtime: Runtime, org_key: tuple[str, str]
) -> None:
    """The organisation turned iDIN on; the operator has since removed the provider."""
    await active_sender(runtime, org_key[0])
    async with transaction(runtime.sessions) as session:
        organization = await session.get(Organization, org_key[0])
        assert organization is not None
        organization.identification = {"level": "substantial", "providers": ["idin"], "match": []}
    auth = {"Authorization": f"Bearer {org_key[1]}"}
    async with app_with(data_dir, database_url, identity_providers={}) as (bare, client):
        answer = await client.post(SEND, json=send_body(), headers=auth)
        error = assert_error(answer, 412, "identification")
        assert error["code"] == "identification-unavailable"
        assert "iDIN" in error["message"] and "'idin'" in error["message"]
        assert await count_rows(bare, "messages") == 0
        assert await count_rows(bare, "attachments") == 0
