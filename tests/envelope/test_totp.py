"""``totp`` action authentication: a user enrols an authenticator app through the API
(``pyotp``), confirms it with a first code, and types its current code before signing."""

from __future__ import annotations

import time

import httpx
import pyotp
from sqlalchemy import select

from tabellion.models.evidence import Evidence
from tabellion.models.user import User
from tabellion.organization import totp
from tabellion.runtime import Runtime
from tests.envelope.test_auth import SIGNER, _active_user, _form, _sent, _sign, _trail
from tests.envelope.test_pages import UA, _token
from tests.fixtures.factories import bearer, create_org_with_key
from tests.message.test_endpoints import assert_problem, fields


async def _user_id(runtime: Runtime, email: str) -> str:
    async with runtime.sessions() as session:
        user_id = await session.scalar(select(User.id).where(User.email == email))
        assert user_id is not None
        return user_id


def _other_code(secret: str) -> str:
    right = pyotp.TOTP(secret).now()
    return "000000" if right != "000000" else "111111"


async def _enrolled(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str], organization_id: str
) -> tuple[str, str]:
    """An active user at the signer's address, with a confirmed secret: (user id, secret)."""
    await _active_user(runtime, organization_id, SIGNER["email"])
    user_id = await _user_id(runtime, SIGNER["email"])
    response = await client.post(f"/v1/users/{user_id}/totp", headers=auth)
    assert response.status_code == 201, response.text
    enrolment = response.json()
    secret = enrolment["secret"]
    assert enrolment["confirmed"] is False
    assert enrolment["otpauth_uri"].startswith("otpauth://totp/Tabellion:sam%40example.test?")
    # A code from the step before: confirming moves past it, so this one is not reused later.
    earlier = pyotp.TOTP(secret).at(time.time() - 30)
    response = await client.post(
        f"/v1/users/{user_id}/totp/confirm", json={"code": earlier}, headers=auth
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"confirmed": True}
    return user_id, secret


async def test_enrolment_is_confirmed_with_a_code(
    client: httpx.AsyncClient,
    runtime: Runtime,
    auth: dict[str, str],
    org_key: tuple[str, str],
) -> None:
    await _active_user(runtime, org_key[0], SIGNER["email"])
    user_id = await _user_id(runtime, SIGNER["email"])
    path = f"/v1/users/{user_id}/totp"
    assert_problem(
        await client.post(f"{path}/confirm", json={"code": "123456"}, headers=auth),
        409,
        "totp-not-enrolled",
    )
    secret = (await client.post(path, headers=auth)).json()["secret"]
    wrong = await client.post(f"{path}/confirm", json={"code": _other_code(secret)}, headers=auth)
    assert fields(assert_problem(wrong, 422, "wrong-totp-code")) == ["code"]
    bad = await client.post(f"{path}/confirm", json={"code": "12"}, headers=auth)
    assert fields(assert_problem(bad, 422, "validation-failed")) == ["code"]
    code = pyotp.TOTP(secret).now()
    ok = await client.post(f"{path}/confirm", json={"code": code}, headers=auth)
    assert ok.status_code == 200
    # The same code twice is refused: a code is good once.
    again = await client.post(f"{path}/confirm", json={"code": code}, headers=auth)
    assert_problem(again, 422, "wrong-totp-code")
    # Another organisation cannot enrol or confirm this user.
    _, other_secret = await create_org_with_key(runtime, name="Other")
    other = bearer(other_secret)
    assert_problem(await client.post(path, headers=other), 404, "user-not-found")
    # The row holds the secret encrypted, not the base32 an authenticator app needs.
    async with runtime.sessions() as session:
        user = await session.get(User, user_id)
        assert user is not None and user.totp_secret
        assert secret not in user.totp_secret and user.totp_secret.startswith("gAAAAA")
        assert totp.secret_of(user, runtime.settings.signing_keys) == secret


async def test_a_secret_stored_in_plain_before_still_works_and_is_then_encrypted(
    client: httpx.AsyncClient,
    runtime: Runtime,
    auth: dict[str, str],
    org_key: tuple[str, str],
) -> None:
    await _active_user(runtime, org_key[0], SIGNER["email"])
    user_id = await _user_id(runtime, SIGNER["email"])
    secret = pyotp.random_base32()
    async with runtime.sessions() as session, session.begin():
        user = await session.get(User, user_id)
        assert user is not None
        user.totp_secret = secret  # as rows were written before encryption at rest
    code = pyotp.TOTP(secret).now()
    response = await client.post(
        f"/v1/users/{user_id}/totp/confirm", json={"code": code}, headers=auth
    )
    assert response.status_code == 200, response.text
    async with runtime.sessions() as session:
        user = await session.get(User, user_id)
        assert user is not None and user.totp_secret and user.totp_confirmed_at
        assert secret not in user.totp_secret
        assert totp.secret_of(user, runtime.settings.signing_keys) == secret


async def test_an_unconfirmed_secret_does_not_allow_sending(
    client: httpx.AsyncClient,
    runtime: Runtime,
    auth: dict[str, str],
    org_key: tuple[str, str],
) -> None:
    from tests.envelope.helpers import ready_draft

    await _active_user(runtime, org_key[0], SIGNER["email"])
    user_id = await _user_id(runtime, SIGNER["email"])
    assert (await client.post(f"/v1/users/{user_id}/totp", headers=auth)).status_code == 201
    envelope, _ = await ready_draft(client, auth, recipients=[SIGNER | {"action_auth": ["totp"]}])
    response = await client.post(f"/v1/envelopes/{envelope['id']}/send", headers=auth)
    assert_problem(response, 422, "recipient-without-totp")


async def test_totp_before_signing(
    client: httpx.AsyncClient,
    runtime: Runtime,
    auth: dict[str, str],
    org_key: tuple[str, str],
) -> None:
    _, secret = await _enrolled(client, runtime, auth, org_key[0])
    envelope, sam = await _sent(client, auth, action_auth=["totp"])
    token = await _token(runtime, sam)
    page = await client.get(f"/s/{token}", headers=UA)
    assert "Code from your authenticator app" in page.text

    refused = await _sign(client, token, envelope)
    assert refused.status_code == 403
    wrong = await _form(
        client, token, "verify", {"step": "action", "method": "totp", "code": _other_code(secret)}
    )
    assert wrong.status_code == 422
    assert "That code is not right." in wrong.text
    code = pyotp.TOTP(secret).now()
    right = await _form(client, token, "verify", {"step": "action", "method": "totp", "code": code})
    assert right.status_code == 303, right.text
    signed = await _sign(client, token, envelope)
    assert signed.status_code == 303, signed.text
    assert (await _trail(runtime, sam))["signed"]["action_auth"] == "totp"
    async with runtime.sessions() as session:
        methods = list(
            await session.scalars(
                select(Evidence.details).where(
                    Evidence.envelope_id == envelope["id"],
                    Evidence.type == "ENVELOPE_AUTHENTICATED",
                )
            )
        )
    assert [(m["step"], m["method"]) for m in methods] == [("action", "totp")]


async def test_a_used_code_does_not_pass_twice(
    client: httpx.AsyncClient,
    runtime: Runtime,
    auth: dict[str, str],
    org_key: tuple[str, str],
) -> None:
    _, secret = await _enrolled(client, runtime, auth, org_key[0])
    _, sam = await _sent(client, auth, action_auth=["totp"])
    token = await _token(runtime, sam)
    code = pyotp.TOTP(secret).now()
    data = {"step": "action", "method": "totp", "code": code}
    assert (await _form(client, token, "verify", data)).status_code == 303
    client.cookies.clear()
    replay = await _form(client, token, "verify", data)
    assert replay.status_code == 422
    assert "That code is not right." in replay.text
