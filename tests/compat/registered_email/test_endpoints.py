"""The Registered E-mail API: the reference's calls, its return codes and its shapes."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from tabellion.db import transaction
from tabellion.models.message import Attachment, Message
from tabellion.models.user import User
from tabellion.runtime import Runtime
from tests.cli.test_keys import acli, created
from tests.compat.registered_email.helpers import (
    PDF,
    SEND,
    SENDER,
    STATUS,
    USERS,
    active_sender,
    app_with,
    basic,
    send_body,
    valid_xml,
)
from tests.conftest import count_rows
from tests.fixtures.factories import bearer, create_key, create_org_with_key
from tests.organization.helpers import key_id_of


def assert_error(response: httpx.Response, status: int, field: str | None = None) -> dict:
    """The dialect's error: JSON with a message, and the field at fault named."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["message"] and body["message"] != "OK"
    assert body["detail"] == body["message"]
    if field is not None:
        assert field in body["errors"], body
        assert field in body["message"] or body["errors"][field]
    return dict(body)


# ---- credentials ------------------------------------------------------------------------------


async def test_basic_from_the_command_line_and_bearer(
    client: httpx.AsyncClient,
    org_key: tuple[str, str],
    runtime: Runtime,
    data_dir: Path,
    database_url: str,
) -> None:
    await active_sender(runtime, org_key[0])
    made = await acli(data_dir, database_url, "key", "create", org_key[0], "--basic")
    key_id, secret = created(made)
    header = re.search(r"^Authorization: (Basic \S+)$", made.output, re.M)
    assert header, made.output
    assert f"Basic user name: {key_id}" in made.output
    assert header.group(1) == basic(key_id, secret)["Authorization"]

    by_basic = await client.post(SEND, json=send_body(), headers={"Authorization": header.group(1)})
    assert by_basic.status_code == 200, by_basic.text
    by_bearer = await client.post(SEND, json=send_body(), headers=bearer(secret))
    assert by_bearer.status_code == 200, by_bearer.text
    assert by_basic.json()["ticket_token"] != by_bearer.json()["ticket_token"]


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Basic " + base64.b64encode(b"key_wrong:tbl_" + b"x" * 40).decode(),
        "Basic not-base64!",
        "Bearer tbl_nope",
        "Token abc",
    ],
)
async def test_wrong_credentials_are_401(
    client: httpx.AsyncClient, org_key: tuple[str, str], header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    response = await client.post(SEND, json=send_body(), headers=headers)
    assert_error(response, 401)
    assert response.headers["www-authenticate"].startswith("Basic realm=")
    status = await client.get(STATUS, params={"ticket_token": "x"}, headers=headers)
    assert status.status_code == 401
    assert b"<error_response" in status.content
    valid_xml(status)


async def test_basic_with_another_keys_id_is_401(
    client: httpx.AsyncClient, auth: dict[str, str], org_key: tuple[str, str], runtime: Runtime
) -> None:
    await active_sender(runtime, org_key[0])
    _, other_secret = await create_org_with_key(runtime, "Other")
    key_id = await key_id_of(client, auth)
    response = await client.post(SEND, json=send_body(), headers=basic(key_id, other_secret))
    assert_error(response, 401)
    # A client that keeps its old web-service user name only changes its password.
    kept = await client.post(SEND, json=send_body(), headers=basic("jane", org_key[1]))
    assert kept.status_code == 200, kept.text
    empty = await client.post(SEND, json=send_body(), headers=basic("", org_key[1]))
    assert empty.status_code == 200, empty.text


async def test_the_authorization_header_is_read_strictly(
    client: httpx.AsyncClient, org_key: tuple[str, str], runtime: Runtime
) -> None:
    await active_sender(runtime, org_key[0])
    secret = org_key[1]
    token = base64.b64encode(f"jane:{secret}".encode()).decode()
    # Schemes in any case; spaces around the credentials do not matter.
    for header in (f"BEARER   {secret}  ", f"basic {token}", f"  Basic   {token} "):
        accepted = await client.post(SEND, json=send_body(), headers={"Authorization": header})
        assert accepted.status_code == 200, (header, accepted.text)
    refused = [
        # A character outside base64's alphabet is refused, not skipped over.
        f"Basic {token[:8]}*{token[8:]}",
        # The password is everything after the first colon (RFC 7617): here not the key.
        "Basic " + base64.b64encode(f"jane:x:{secret}".encode()).decode(),
        # Not UTF-8.
        "Basic " + base64.b64encode(b"\xff\xfe:" + secret.encode()).decode(),
        # No colon at all: no password.
        "Basic " + base64.b64encode(secret.encode()).decode(),
    ]
    for header in refused:
        response = await client.post(SEND, json=send_body(), headers={"Authorization": header})
        assert_error(response, 401)
        assert response.headers["www-authenticate"].startswith("Basic realm="), header


async def test_a_key_without_the_scope_is_403(
    client: httpx.AsyncClient, org_key: tuple[str, str], runtime: Runtime
) -> None:
    reader = await create_key(runtime, org_key[0], ["messages:read"])
    body = assert_error(await client.post(SEND, json=send_body(), headers=bearer(reader)), 403)
    assert body["code"] == "insufficient-scope"
    created_user = await client.post(
        USERS, json={"email_address": "a@b.test"}, headers=bearer(reader)
    )
    assert_error(created_user, 403)
    writer = await create_key(runtime, org_key[0], ["messages:write"])  # implies reading
    status = await client.get(STATUS, params={"x-own-id": "x"}, headers=bearer(writer))
    assert status.status_code == 200
    webhooks = await create_key(runtime, org_key[0], ["webhooks"])
    refused = await client.get(STATUS, params={"x-own-id": "x"}, headers=bearer(webhooks))
    assert refused.status_code == 403
    assert valid_xml(refused).get("code") == "insufficient-scope"


# ---- users ------------------------------------------------------------------------------------


async def test_create_user_as_the_reference_shows(
    client: httpx.AsyncClient, auth: dict[str, str], org_key: tuple[str, str], runtime: Runtime
) -> None:
    # The reference's example, verbatim: its address was left out of the published page.
    verbatim = await client.post(USERS, content=b'{\n  "email_address": "",\n}', headers=auth)
    assert_error(verbatim, 400, "body")
    empty = await client.post(USERS, json={"email_address": ""}, headers=auth)
    assert_error(empty, 400, "email_address")

    response = await client.post(USERS, json={"email_address": "New.User@Acme.test"}, headers=auth)
    assert response.status_code == 201, response.text
    user_id = response.json()["id"]
    assert isinstance(user_id, int) and 100_000_000 <= user_id <= 999_999_999
    async with runtime.sessions() as session:
        [user] = (await session.scalars(select(User))).all()
    assert user.email == "New.User@acme.test" and user.role == "sender"
    assert user.status == "invited" and user.organization_id == org_key[0]
    assert await count_rows(runtime, "jobs") >= 1  # the activation e-mail

    no_slash = await client.post(
        USERS.rstrip("/"), json={"email_address": "other@acme.test"}, headers=auth
    )
    assert no_slash.status_code == 201, no_slash.text
    again = await client.post(USERS, json={"email_address": "new.user@acme.test"}, headers=auth)
    body = assert_error(again, 400, "email_address")
    assert body["code"] == "user-exists"
    assert body["errors"]["email_address"] == ["A user with this e-mail address already exists."]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "email_address"),
        ({"email_address": 154}, "email_address"),
        ({"email_address": "not an address"}, "email_address"),
        ([], "body"),
    ],
)
async def test_create_user_bad_input(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, body: object, field: str
) -> None:
    assert_error(await client.post(USERS, json=body, headers=auth), 400, field)
    assert await count_rows(runtime, "users") == 0


# ---- sending ----------------------------------------------------------------------------------


async def test_send_records_a_registered_letter(
    client: httpx.AsyncClient, auth: dict[str, str], org_key: tuple[str, str], runtime: Runtime
) -> None:
    await active_sender(runtime, org_key[0])
    response = await client.post(SEND, json=send_body(recipient_language="NL-nl"), headers=auth)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert set(answer) == {"ticket_token", "ticket_url", "message"}
    assert answer["ticket_url"] == f"http://tabellion.test/track/{answer['ticket_token']}"
    secret = answer["ticket_token"].split(".", 1)[1]
    assert len(base64.urlsafe_b64decode(secret + "=")) * 8 >= 128
    [message] = (await client.get("/v1/messages", headers=auth)).json()["data"]
    assert message["mode"] == "registered" and message["status"] == "dispatched"
    assert message["subject"] == "this is the subject"
    assert message["body_text"] == "this is the e‑mail body"
    assert message["sender"] == {"email": SENDER, "name": "Jane Doe"}
    assert message["recipients"] == [
        {
            "email": "recipient@example.test",
            "language": "nl",
            "first_name": None,
            "last_name": None,
            "company": None,
            "siren": None,
        }
    ]
    assert (message["reference"], message["guid"], message["campaign"]) == (
        "id",
        "guid",
        "campaign code",
    )
    assert message["copy_to_mailbox_after_acceptance"] is True
    assert message["notify_sender"] is True
    [attachment] = message["attachments"]
    assert attachment["filename"] == "attachment.pdf"
    assert attachment["content_type"] == "application/pdf"
    assert attachment["size"] == len(PDF)


VERBATIM = {
    "message_body": "this is the e‑mail body",
    "sender_email": "",
    "sender_real_name": "Jane Doe",
    "subject": "this is the subject",
    "x-own-id": "id",
    "x-own-guid": "guid",
    "x-own-campaign": "campaign code",
    "recipient_email": "",
    "recipient_language": "en",
    "attachments": [
        {
            "attachment": "BAse64E=",
            "attachment_name": "attachment.pdf",
            "attachment_type": "application/pdf",
        }
    ],
}


@pytest.mark.parametrize("credential", ["basic", "bearer"])
async def test_the_reference_examples_verbatim(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    org_key: tuple[str, str],
    runtime: Runtime,
    credential: str,
) -> None:
    """As published, the addresses left out of the page: both empty addresses are named, and
    nothing is stored. Filled in, the same example sends (its BAse64E= is valid base64)."""
    headers = auth
    if credential == "basic":
        headers = basic(await key_id_of(client, auth), org_key[1])
    body = assert_error(await client.post(SEND, json=VERBATIM, headers=headers), 400)
    assert set(body["errors"]) == {"sender_email", "recipient_email"}
    assert await count_rows(runtime, "messages") == 0
    user = await client.post(USERS, json={"email_address": ""}, headers=headers)
    assert set(assert_error(user, 400)["errors"]) == {"email_address"}

    await active_sender(runtime, org_key[0])
    filled = {**VERBATIM, "sender_email": SENDER, "recipient_email": "john@example.test"}
    sent = await client.post(SEND, json=filled, headers=headers)
    assert sent.status_code == 200, sent.text
    assert sent.json()["message"] == "OK"
    created_user = await client.post(
        USERS, json={"email_address": "new@acme.test"}, headers=headers
    )
    assert created_user.status_code == 201


async def test_an_unknown_or_inactive_sender(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    unknown = await client.post(SEND, json=send_body(), headers=auth)
    assert assert_error(unknown, 400, "sender_email")["code"] == "sender-not-registered"
    invited = await client.post(USERS, json={"email_address": SENDER}, headers=auth)
    assert invited.status_code == 201
    not_active = await client.post(SEND, json=send_body(), headers=auth)
    body = assert_error(not_active, 412)
    assert body["code"] == "sender-not-activated"
    assert SENDER in body["message"]
    assert await count_rows(runtime, "messages") == 0


def _with_attachment(value: object, **extra: object) -> dict:
    return send_body(attachments=[{"attachment": value, "attachment_name": "a.pdf", **extra}])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (send_body(subject=None), "subject"),
        ({k: v for k, v in send_body().items() if k != "message_body"}, "message_body"),
        ({k: v for k, v in send_body().items() if k != "recipient_email"}, "recipient_email"),
        (send_body(subject=12), "subject"),
        (send_body(recipient_language="xx"), "recipient_language"),
        (send_body(recipient_language=["en"]), "recipient_language"),
        (send_body(recipient_email="nobody"), "recipient_email"),
        (send_body(attachments="file"), "attachments"),
        (send_body(attachments=["file"]), "attachments[0]"),
        (_with_attachment("not base64!"), "attachments[0].attachment"),
        (_with_attachment("QUJD=RA=="), "attachments[0].attachment"),
        (_with_attachment("QUJDR"), "attachments[0].attachment"),
        (_with_attachment(123), "attachments[0].attachment"),
        (send_body(attachments=[{"attachment": "QUJD"}]), "attachments[0].attachment_name"),
        (send_body(**{"x-own-id": 5}), "x-own-id"),
        (send_body(subject="nul\x00byte"), "subject"),
        (send_body(message_body="<p>\x00</p>"), "message_body"),
    ],
)
async def test_bad_input_is_400_naming_the_field(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    org_key: tuple[str, str],
    runtime: Runtime,
    body: dict,
    field: str,
) -> None:
    await active_sender(runtime, org_key[0])
    assert_error(await client.post(SEND, json=body, headers=auth), 400, field)
    assert await count_rows(runtime, "messages") == 0


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b'{"subject": "x"', b'{"subject" "x"}', b"[1]", b'{"a": 1} trailing', b"nul"],
)
async def test_not_json_is_400(client: httpx.AsyncClient, auth: dict[str, str], raw: bytes) -> None:
    response = await client.post(
        SEND, content=raw, headers={**auth, "Content-Type": "application/json"}
    )
    assert_error(response, 400, "body")


async def test_base64_variants_decode_alike(
    client: httpx.AsyncClient, auth: dict[str, str], org_key: tuple[str, str], runtime: Runtime
) -> None:
    """Escaped slashes (PHP), MIME line breaks and dropped padding: the same bytes."""
    await active_sender(runtime, org_key[0])
    data = bytes(range(256)) * 3 + b"xy"
    encoded = base64.b64encode(data).decode()
    wrapped = "\r\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))

    raw = json.dumps(_with_attachment(wrapped)).replace("/", "\\/").encode()
    assert b"\\/" in raw and b"\\r\\n" in raw
    for content in (raw, json.dumps(_with_attachment(encoded.rstrip("="))).encode()):
        response = await client.post(
            SEND, content=content, headers={**auth, "Content-Type": "application/json"}
        )
        assert response.status_code == 200, response.text
    async with runtime.sessions() as session:
        rows = (await session.scalars(select(Attachment))).all()

    assert {r.sha256 for r in rows} == {hashlib.sha256(data).hexdigest()}
    assert {r.size for r in rows} == {len(data)}


async def test_a_huge_attachment_is_413(
    org_key: tuple[str, str], data_dir: Path, database_url: str
) -> None:
    async with app_with(data_dir, database_url, max_attachment_bytes=1000) as (runtime, c):
        await active_sender(runtime, org_key[0])
        auth = bearer(org_key[1])
        big = _with_attachment(base64.b64encode(b"x" * 1001).decode())
        body = assert_error(await c.post(SEND, json=big, headers=auth), 413)
        assert "attachments[0].attachment" in body["message"]
        fits = _with_attachment(base64.b64encode(b"x" * 1000).decode())
        assert (await c.post(SEND, json=fits, headers=auth)).status_code == 200
        declared = await c.post(
            SEND,
            content=b"{}",
            headers={**auth, "Content-Type": "application/json", "Content-Length": str(10**12)},
        )
        assert declared.status_code == 413
        huge_text = send_body(message_body="x" * (5 * 1024 * 1024))
        assert_error(await c.post(SEND, json=huge_text, headers=auth), 413)
        assert await count_rows(runtime, "attachments") == 1


async def test_a_repeated_attachments_key_counts_once(
    client: httpx.AsyncClient, auth: dict[str, str], org_key: tuple[str, str], runtime: Runtime
) -> None:
    await active_sender(runtime, org_key[0])
    one = json.dumps(send_body()["attachments"])
    raw = json.dumps(send_body(attachments=[])).replace(
        '"attachments": []', f'"attachments": {one}, "attachments": {one}'
    )
    response = await client.post(
        SEND, content=raw.encode(), headers={**auth, "Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text
    assert await count_rows(runtime, "attachments") == 1


async def test_an_unexpected_error_is_500_in_the_dialects_shape(
    runtime: Runtime, org_key: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tabellion.app import create_app
    from tabellion.compat.registered_email import endpoints

    async def broken(*_: object, **__: object) -> None:
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr(endpoints.messages, "create_message", broken)
    await active_sender(runtime, org_key[0])
    transport = httpx.ASGITransport(app=create_app(runtime=runtime), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://tabellion.test") as c:
        response = await c.post(SEND, json=send_body(), headers=bearer(org_key[1]))
    body = assert_error(response, 500)
    assert body["code"] == "internal-error"
    assert "hunter2" not in response.text


async def test_unknown_paths_and_methods(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    missing = await client.get("/compat/registered-email/api/nothing", headers=auth)
    assert_error(missing, 404)
    wrong = await client.get(SEND, headers=auth)
    assert_error(wrong, 405)
    text = await client.post(SEND, content=b"x", headers={**auth, "Content-Type": "text/plain"})
    assert_error(text, 400)


# ---- status -----------------------------------------------------------------------------------


async def test_status_by_ticket_and_by_references(
    client: httpx.AsyncClient, auth: dict[str, str], org_key: tuple[str, str], runtime: Runtime
) -> None:
    await active_sender(runtime, org_key[0])
    first = (await client.post(SEND, json=send_body(), headers=auth)).json()
    second = (
        await client.post(
            SEND, json=send_body(**{"x-own-id": "id2", "x-own-guid": "g2"}), headers=auth
        )
    ).json()
    one = valid_xml(
        await client.get(STATUS, params={"ticket_token": first["ticket_token"]}, headers=auth)
    )
    [ticket] = one.findall("ticket")
    assert ticket.findtext("ticket_url") == first["ticket_url"]
    assert ticket.findtext("status") == "queued"
    assert ticket.findtext("x-own-guid") == "guid"
    [attachment] = ticket.findall("attachments/attachment")

    assert attachment.get("sha256") == hashlib.sha256(PDF).hexdigest()
    [event] = ticket.findall("events/event")
    assert event.get("type") == "SENT" and event.get("proof_pdf", "").startswith("http://")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", event.get("at", ""))

    campaign = valid_xml(
        await client.get(STATUS, params={"x-own-campaign": "campaign code"}, headers=auth)
    )
    assert [t.findtext("ticket_token") for t in campaign.findall("ticket")] == [
        first["ticket_token"],
        second["ticket_token"],
    ]
    by_guid = valid_xml(await client.get(STATUS, params={"x-own-guid": "g2"}, headers=auth))
    assert [t.findtext("x-own-id") for t in by_guid.findall("ticket")] == ["id2"]
    by_id = valid_xml(await client.get(STATUS, params={"x-own-id": "id"}, headers=auth))
    assert len(by_id.findall("ticket")) == 1
    later = valid_xml(
        await client.get(
            STATUS,
            params={"x-own-campaign": "campaign code", "since": "2999-01-01T00:00:00Z"},
            headers=auth,
        )
    )
    assert later.findall("ticket") == []
    # Empty filters filter nothing: everything changed since a time, oldest change first.
    since = valid_xml(
        await client.get(
            STATUS, params={"x-own-campaign": "", "since": "2000-01-01T00:00:00"}, headers=auth
        )
    )
    assert len(since.findall("ticket")) == 2

    none = await client.get(STATUS, headers=auth)
    assert none.status_code == 400
    assert valid_xml(none).get("code") == "validation-failed"
    wrong = await client.get(
        STATUS, params={"ticket_token": first["ticket_token"][:-2] + "xx"}, headers=auth
    )
    assert wrong.status_code == 404
    assert valid_xml(wrong).findtext("message") == "No registered e-mail has this ticket token."
    bad_since = await client.get(
        STATUS, params={"x-own-id": "id", "since": "yesterday"}, headers=auth
    )
    assert bad_since.status_code == 400
    valid_xml(bad_since)


async def test_another_organisation_sees_nothing(
    client: httpx.AsyncClient, auth: dict[str, str], org_key: tuple[str, str], runtime: Runtime
) -> None:
    await active_sender(runtime, org_key[0])
    mine = (await client.post(SEND, json=send_body(), headers=auth)).json()
    _, other_secret = await create_org_with_key(runtime, "Other")
    other = bearer(other_secret)
    by_ticket = await client.get(
        STATUS, params={"ticket_token": mine["ticket_token"]}, headers=other
    )
    assert by_ticket.status_code == 404
    by_campaign = valid_xml(
        await client.get(STATUS, params={"x-own-campaign": "campaign code"}, headers=other)
    )
    assert by_campaign.findall("ticket") == []
    # Its own user of the same address is its own: the address is free there.
    assert (
        await client.post(USERS, json={"email_address": SENDER}, headers=other)
    ).status_code == 201
    # And the sender of the first organisation is no sender of the other.
    refused = await client.post(SEND, json=send_body(), headers=other)
    assert_error(refused, 412)
    async with transaction(runtime.sessions) as session:
        messages = (await session.scalars(select(Message))).all()
    assert [m.organization_id for m in messages] == [org_key[0]]


async def test_a_large_attachment_streams_through_in_flat_memory(
    client: httpx.AsyncClient, auth: dict[str, str], org_key: tuple[str, str], runtime: Runtime
) -> None:
    """16 MiB of base64 sent in 64 KiB pieces: the whole request peaks far below its size."""
    import tracemalloc

    await active_sender(runtime, org_key[0])
    block = base64.b64encode(bytes(range(256)) * 192)  # 48 KiB → 64 KiB of text
    count = 256
    head = json.dumps(send_body(attachments=[])).removesuffix("[]}").encode()

    async def body() -> AsyncIterator[bytes]:
        yield head + b'[{"attachment_name": "big.bin", "attachment": "'
        for _ in range(count):
            yield block
        yield b'"}]}'

    warm = await client.post(SEND, json=send_body(), headers=auth)  # caches filled first
    assert warm.status_code == 200
    tracemalloc.start()
    try:
        response = await client.post(
            SEND, content=body(), headers={**auth, "Content-Type": "application/json"}
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 200, response.text
    async with runtime.sessions() as session:
        attachment = await session.scalar(
            select(Attachment).where(Attachment.filename == "big.bin")
        )
    assert attachment is not None and attachment.size == count * 48 * 1024
    assert attachment.sha256 == hashlib.sha256(bytes(range(256)) * 192 * count).hexdigest()
    assert peak < 3 * 1024 * 1024, f"peak {peak / 1024 / 1024:.1f} MiB"
