"""PATCH /v1/messages/{id} takes what POST takes for a draft (but its mode), under the same rules
(``identification`` is tested with the identity domain, tests/identity/test_endpoints.py)."""

from __future__ import annotations

import httpx
import pytest

from tests.message.test_endpoints import assert_problem, create, fields

SAM = "sam@acme.test"


async def _user(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    made = await client.post("/v1/users", json={"email": SAM, "name": "Sam Sender"}, headers=auth)
    assert made.status_code == 201, made.text


async def test_sender_guid_and_options_change_like_at_creation(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    await _user(client, auth)
    message = await create(client, auth)
    url = f"/v1/messages/{message['id']}"
    changed = await client.patch(
        url,
        json={
            "sender": {"email": SAM},
            "guid": "8c1e-42",
            "notify_sender": True,
            "copy_to_mailbox_after_acceptance": True,
        },
        headers=auth,
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["sender"] == {"email": SAM, "name": "Sam Sender"}
    assert (body["guid"], body["notify_sender"], body["copy_to_mailbox_after_acceptance"]) == (
        "8c1e-42",
        True,
        True,
    )
    # Without a sender there is nobody to notify.
    orphaned = await client.patch(url, json={"sender": None}, headers=auth)
    assert fields(assert_problem(orphaned, 422, "validation-failed")) == ["sender"]
    cleared = await client.patch(
        url, json={"sender": None, "notify_sender": False, "guid": None}, headers=auth
    )
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["sender"] == {"email": None, "name": None}
    assert cleared.json()["guid"] is None


@pytest.mark.parametrize(
    ("mode", "patch", "status", "code", "field"),
    [
        ("registered", {"notify_sender": True}, 422, "validation-failed", "notify_sender"),
        ("registered", {"notify_sender": None}, 422, "validation-failed", "notify_sender"),
        (
            "secure",
            {"copy_to_mailbox_after_acceptance": True},
            422,
            "validation-failed",
            "copy_to_mailbox_after_acceptance",
        ),
        (
            "registered",
            {"sender": {"email": "stranger@else.test"}},
            422,
            "sender-not-registered",
            "sender.email",
        ),
        # A registered letter names its recipients, on creation and on change alike.
        (
            "registered",
            {"recipients": [{"email": "who@example.test"}]},
            422,
            "validation-failed",
            "recipients[0]",
        ),
    ],
)
async def test_bad_changes_are_refused_and_change_nothing(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    mode: str,
    patch: dict[str, object],
    status: int,
    code: str,
    field: str,
) -> None:
    message = await create(client, auth, mode=mode)
    response = await client.patch(f"/v1/messages/{message['id']}", json=patch, headers=auth)
    assert fields(assert_problem(response, status, code)) == [field]
    read = (await client.get(f"/v1/messages/{message['id']}", headers=auth)).json()
    assert read["updated_at"] == message["updated_at"]
    assert read["recipients"] == message["recipients"]
