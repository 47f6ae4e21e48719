"""Recipient authentication on the signing page: a code by e-mail before the documents show
(access) or before signing (action), and the account password of a recipient who is a user."""

from __future__ import annotations

import re
from typing import Any

import httpx
from argon2 import PasswordHasher
from sqlalchemy import select, update

from tabellion.db import transaction
from tabellion.kit.ids import new_id
from tabellion.kit.time import utcnow
from tabellion.models.envelope import Envelope, EnvelopeRecipient
from tabellion.models.portal import OneTimeCode
from tabellion.models.user import User
from tabellion.runtime import Runtime
from tests.envelope.helpers import outbox, ready_draft
from tests.envelope.test_pages import UA, _token
from tests.message.test_endpoints import assert_problem, fields
from tests.portal.helpers import csrf

SIGNER = {"email": "sam@example.test", "name": "Sam Signer", "role": "signer"}
PASSWORD = "correct horse battery staple"


async def _sent(
    client: httpx.AsyncClient, auth: dict[str, str], **recipient: Any
) -> tuple[dict[str, Any], str]:
    envelope, _ = await ready_draft(client, auth, recipients=[SIGNER | recipient])
    response = await client.post(f"/v1/envelopes/{envelope['id']}/send", headers=auth)
    assert response.status_code == 202, response.text
    sent = response.json()
    return sent, sent["recipients"][0]["id"]


async def _form(client: httpx.AsyncClient, token: str, path: str, data: dict[str, str]) -> Any:
    page = await client.get(f"/s/{token}", headers=UA)
    return await client.post(
        f"/s/{token}/{path}", data={"csrf_token": csrf(page.text), **data}, headers=UA
    )


async def _code(client: httpx.AsyncClient, runtime: Runtime, token: str, step: str) -> str:
    response = await _form(client, token, "code", {"step": step})
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/s/{token}?sent={step}"
    mails = await outbox(runtime, ".code@")
    assert mails and mails[-1]["To"] == SIGNER["email"]
    text = mails[-1].get_body(("plain",))
    assert text is not None
    [code] = re.findall(r"\b\d{6}\b", text.get_content())
    return code


async def _trail(runtime: Runtime, recipient_id: str) -> dict[str, Any]:
    async with runtime.sessions() as session:
        recipient = await session.get(EnvelopeRecipient, recipient_id)
        assert recipient is not None
        return dict(recipient.trail or {})


async def _sign(client: httpx.AsyncClient, token: str, envelope: dict[str, Any]) -> Any:
    [signature] = [f["id"] for f in envelope["fields"]]
    return await _form(client, token, "sign", {f"typed_{signature}": "Sam", "consent": "yes"})


async def test_access_code_before_the_documents_show(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str]
) -> None:
    envelope, sam = await _sent(client, auth, access_auth=["email_otp"])
    token = await _token(runtime, sam)
    document = envelope["documents"][0]["id"]

    page = await client.get(f"/s/{token}", headers=UA)
    assert page.status_code == 200
    assert "Confirm your identity to open the documents" in page.text
    assert "/pages/1.png" not in page.text and 'action="/s/' + token + '/sign"' not in page.text
    image = await client.get(f"/s/{token}/documents/{document}/pages/1.png", headers=UA)
    assert image.status_code == 404
    assert (await client.get(f"/v1/envelopes/{envelope['id']}", headers=auth)).json()["recipients"][
        0
    ]["status"] == "sent"
    # Signing without the code is refused, and nothing is recorded.
    refused = await _sign(client, token, envelope)
    assert refused.status_code == 403
    assert "Confirm your identity to open the documents." in refused.text

    code = await _code(client, runtime, token, "access")
    wrong = "000000" if code != "000000" else "111111"
    response = await _form(
        client, token, "verify", {"step": "access", "method": "email_otp", "code": wrong}
    )
    assert response.status_code == 200
    assert "That code is not right. 4 tries left." in response.text
    response = await _form(
        client, token, "verify", {"step": "access", "method": "email_otp", "code": code}
    )
    assert response.status_code == 303, response.text
    assert "tbl_envelope=" in response.headers["set-cookie"]

    page = await client.get(f"/s/{token}", headers=UA)
    assert "/pages/1.png" in page.text and f'action="/s/{token}/sign"' in page.text
    image = await client.get(f"/s/{token}/documents/{document}/pages/1.png", headers=UA)
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert (await _trail(runtime, sam))["opened"]["access_auth"] == "email_otp"

    signed = await _sign(client, token, envelope)
    assert signed.status_code == 303, signed.text
    trail = await _trail(runtime, sam)
    assert trail["signed"]["access_auth"] == "email_otp"
    assert "action_auth" not in trail["signed"]


async def test_a_code_is_single_use_and_belongs_to_its_step(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str]
) -> None:
    _, sam = await _sent(client, auth, access_auth=["email_otp"])
    token = await _token(runtime, sam)
    code = await _code(client, runtime, token, "access")
    # No action authentication is asked of this recipient: the form does nothing.
    response = await _form(
        client, token, "verify", {"step": "action", "method": "email_otp", "code": code}
    )
    assert response.status_code == 303 and "set-cookie" not in response.headers
    # A second code within a minute is refused, the first one stays good.
    again = await _form(client, token, "code", {"step": "access"})
    assert again.status_code == 429
    assert "A code was sent less than a minute ago" in again.text
    ok = await _form(
        client, token, "verify", {"step": "access", "method": "email_otp", "code": code}
    )
    assert ok.status_code == 303
    fresh = httpx.AsyncClient(transport=client._transport, base_url=client.base_url)
    async with fresh:
        reused = await _form(
            fresh, token, "verify", {"step": "access", "method": "email_otp", "code": code}
        )
    assert reused.status_code == 200
    assert "This code has expired or was replaced" in reused.text


async def test_wrong_codes_are_counted_and_throttled(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str]
) -> None:
    _, sam = await _sent(client, auth, access_auth=["email_otp"])
    token = await _token(runtime, sam)
    code = await _code(client, runtime, token, "access")
    wrong = "000000" if code != "000000" else "111111"
    for left in (4, 3, 2, 1):
        response = await _form(
            client, token, "verify", {"step": "access", "method": "email_otp", "code": wrong}
        )
        assert response.status_code == 200, response.text
        assert f"That code is not right. {left} tries left." in response.text
    # The IP has used its 4 wrong guesses per 15 minutes: refused before the code is tried.
    response = await _form(
        client, token, "verify", {"step": "access", "method": "email_otp", "code": code}
    )
    assert response.status_code == 429
    async with runtime.sessions() as session:
        [row] = await session.scalars(select(OneTimeCode).where(OneTimeCode.subject == sam))
        assert row.attempts == 4 and row.consumed_at is None
    page = await client.get(f"/s/{token}", headers=UA)
    assert "/pages/1.png" not in page.text


async def test_action_code_before_signing(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str]
) -> None:
    envelope, sam = await _sent(client, auth, action_auth=["email_otp"])
    token = await _token(runtime, sam)
    page = await client.get(f"/s/{token}", headers=UA)
    assert "/pages/1.png" in page.text  # no access authentication: the documents show
    assert "Confirm your identity before you sign" in page.text
    assert f'action="/s/{token}/sign"' not in page.text

    refused = await _sign(client, token, envelope)
    assert refused.status_code == 403
    assert "Confirm your identity before you sign." in refused.text

    code = await _code(client, runtime, token, "action")
    response = await _form(
        client, token, "verify", {"step": "action", "method": "email_otp", "code": code}
    )
    assert response.status_code == 303
    page = await client.get(f"/s/{token}", headers=UA)
    assert f'action="/s/{token}/sign"' in page.text
    signed = await _sign(client, token, envelope)
    assert signed.status_code == 303, signed.text
    trail = await _trail(runtime, sam)
    assert trail["signed"]["action_auth"] == "email_otp"
    state = (await client.get(f"/v1/envelopes/{envelope['id']}", headers=auth)).json()
    assert state["status"] == "completed"


async def _active_user(runtime: Runtime, organization_id: str, email: str) -> None:
    now = utcnow()
    async with runtime.sessions() as session, session.begin():
        session.add(
            User(
                id=new_id("usr"),
                organization_id=organization_id,
                email=email,
                name="Sam",
                role="sender",
                status="active",
                password_hash=PasswordHasher().hash(PASSWORD),
                activated_at=now,
                created_at=now,
                updated_at=now,
            )
        )


async def test_password_needs_a_user_of_the_organisation(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    envelope, _ = await ready_draft(
        client, auth, recipients=[SIGNER | {"action_auth": ["password"]}]
    )
    response = await client.post(f"/v1/envelopes/{envelope['id']}/send", headers=auth)
    problem = assert_problem(response, 422, "recipient-not-a-user")
    assert fields(problem) == ["recipients[0].action_auth"]
    again = (await client.get(f"/v1/envelopes/{envelope['id']}", headers=auth)).json()
    assert again["status"] == "draft"


async def test_password_before_signing(
    client: httpx.AsyncClient,
    runtime: Runtime,
    auth: dict[str, str],
    org_key: tuple[str, str],
) -> None:
    await _active_user(runtime, org_key[0], SIGNER["email"])
    envelope, sam = await _sent(client, auth, action_auth=["password", "email_otp"])
    token = await _token(runtime, sam)
    page = await client.get(f"/s/{token}", headers=UA)
    assert "Your Tabellion account password" in page.text
    assert "Send me a code by e-mail" in page.text  # either method will do

    wrong = await _form(
        client, token, "verify", {"step": "action", "method": "password", "password": "nope"}
    )
    assert wrong.status_code == 422
    assert "That password is not right." in wrong.text
    right = await _form(
        client, token, "verify", {"step": "action", "method": "password", "password": PASSWORD}
    )
    assert right.status_code == 303
    signed = await _sign(client, token, envelope)
    assert signed.status_code == 303, signed.text
    assert (await _trail(runtime, sam))["signed"]["action_auth"] == "password"


async def test_passkey_needs_the_access_code_first(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str]
) -> None:
    envelope, _ = await ready_draft(
        client, auth, recipients=[SIGNER | {"action_auth": ["passkey"]}]
    )
    response = await client.post(f"/v1/envelopes/{envelope['id']}/send", headers=auth)
    problem = assert_problem(response, 422, "passkey-needs-access-code")
    assert problem["errors"] == [
        {
            "field": "recipients[0].access_auth",
            "code": "passkey-needs-access-code",
            "message": "A passkey is created at the first signature, once an e-mailed code has "
            'proven the address: add "email_otp" to access_auth.',
        }
    ]

    _, sam = await _sent(client, auth, access_auth=["email_otp"], action_auth=["passkey"])
    token = await _token(runtime, sam)
    # Before the access code, no WebAuthn options.
    response = await _form(client, token, "passkey/options", {})
    assert response.status_code == 403 and response.json() == {
        "error": "Confirm your identity first."
    }
    code = await _code(client, runtime, token, "access")
    await _form(client, token, "verify", {"step": "access", "method": "email_otp", "code": code})
    page = await client.get(f"/s/{token}", headers=UA)
    assert 'id="passkey"' in page.text and f'action="/s/{token}/sign"' not in page.text
    response = await _form(client, token, "passkey/options", {})
    assert response.status_code == 200
    answer = response.json()
    assert answer["mode"] == "register"  # no passkey for this address yet
    assert answer["options"]["rp"] == {"id": "tabellion.test", "name": "Tabellion"}
    assert answer["options"]["user"]["name"] == SIGNER["email"]
    # A forged or unreadable answer is refused, and nothing is opened.
    for credential in ("not json", '{"id": "x", "response": {"clientDataJSON": "e30"}}'):
        response = await _form(client, token, "passkey/verify", {"credential": credential})
        assert response.status_code == 422
        assert response.json()["error"] in (
            "The passkey answer is not readable.",
            "This passkey request has expired; try again.",
        )
    page = await client.get(f"/s/{token}", headers=UA)
    assert f'action="/s/{token}/sign"' not in page.text


async def test_a_method_this_release_does_not_support_is_refused_at_send(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str]
) -> None:
    """A recipient row written by a later release (its schemas admit more methods): this one
    refuses to send rather than let the recipient through without the method asked for."""
    envelope, _ = await ready_draft(client, auth)
    draft = (await client.get(f"/v1/envelopes/{envelope['id']}", headers=auth)).json()
    [(index, sam)] = [
        (i, r["id"]) for i, r in enumerate(draft["recipients"]) if r["role"] == "signer"
    ]
    assert index != 0  # the field names the recipient's place among the others

    async def stored_as(access_auth: list[str], action_auth: list[str]) -> None:
        async with transaction(runtime.sessions) as session:
            await session.execute(
                update(EnvelopeRecipient)
                .where(EnvelopeRecipient.id == sam)
                .values(access_auth=access_auth, action_auth=action_auth)
            )

    async def refusal(code: str) -> dict[str, Any]:
        response = await client.post(f"/v1/envelopes/{envelope['id']}/send", headers=auth)
        problem = assert_problem(response, 422, code)
        errors = problem["errors"]
        assert isinstance(errors, list) and len(errors) == 1
        async with runtime.sessions() as session:
            stored = await session.get(Envelope, envelope["id"])
            assert stored is not None and stored.status == "draft" and stored.sent_at is None
        return dict(errors[0])

    await stored_as([], ["email_otp", "sms", "id_card"])
    assert await refusal("action-auth-unavailable") == {
        "field": f"recipients[{index}].action_auth",
        "code": "action-auth-unavailable",
        "message": "id_card, sms is not available yet; remove it or wait for a release that "
        "supports it.",
    }
    await stored_as(["email_otp", "sms"], ["email_otp"])
    assert await refusal("access-auth-unavailable") == {
        "field": f"recipients[{index}].access_auth",
        "code": "access-auth-unavailable",
        "message": "sms is not available yet; remove it or wait for a release that supports it.",
    }
    # Supported methods only: it goes.
    await stored_as(["email_otp"], ["email_otp"])
    response = await client.post(f"/v1/envelopes/{envelope['id']}/send", headers=auth)
    assert response.status_code == 202, response.text
