"""Users: creation, activation through the page, sender identity, deactivation."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from tabellion.db import transaction
from tabellion.models.job import Job
from tabellion.models.user import User
from tabellion.organization.accounts import activation_token, verify_password
from tabellion.runtime import Runtime
from tests.fixtures.factories import bearer, create_org_with_key, message_body
from tests.message.test_endpoints import assert_problem, fields
from tests.organization.helpers import proof, send


async def add_user(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    email: str = "sam@acme.test",
    role: str = "sender",
) -> dict:
    response = await client.post(
        "/v1/users", json={"email": email, "name": "Sam Sender", "role": role}, headers=auth
    )
    assert response.status_code == 201, response.text
    return response.json()


async def token_of(runtime: Runtime, user_id: str) -> str:
    async with runtime.sessions() as session:
        user = await session.get(User, user_id)
    assert user is not None
    return activation_token(runtime.settings.signing_key, user)


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


async def test_create_user_sends_activation(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    user = await add_user(client, auth)
    assert user["id"].startswith("usr_")
    assert user["status"] == "invited"
    assert user["role"] == "sender"
    assert user["activation_expires_at"] is not None
    async with runtime.sessions() as session:
        jobs = await session.scalars(select(Job).where(Job.kind == "accounts.send_activation"))
        assert [j.payload for j in jobs] == [{"user_id": user["id"]}]


async def test_duplicate_user_is_409(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    await add_user(client, auth)
    response = await client.post("/v1/users", json={"email": "sam@acme.test"}, headers=auth)
    assert_problem(response, 409, "user-exists")


async def test_activation_page_flow(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    user = await add_user(client, auth)
    token = await token_of(runtime, user["id"])
    url = f"/account/activate/{token}"
    form = await client.get(url)
    assert form.status_code == 200
    assert form.headers["x-frame-options"] == "DENY"
    assert form.headers["referrer-policy"] == "no-referrer"
    assert "script-src 'self'" in form.headers["content-security-policy"]
    assert "sam@acme.test" in form.text
    csrf = csrf_of(form.text)

    no_csrf = await client.post(url, data={"password": "x" * 12, "confirm": "x" * 12})
    assert no_csrf.status_code == 403
    short = await client.post(
        url, data={"password": "short", "confirm": "short", "csrf_token": csrf}
    )
    assert short.status_code == 422 and "12 characters" in short.text
    differ = await client.post(
        url, data={"password": "a" * 12, "confirm": "b" * 12, "csrf_token": csrf}
    )
    assert differ.status_code == 422 and "differ" in differ.text
    done = await client.post(
        url,
        data={
            "password": "correct horse battery",
            "confirm": "correct horse battery",
            "csrf_token": csrf,
        },
    )
    assert done.status_code == 200 and "active" in done.text
    async with runtime.sessions() as session:
        row = await session.get(User, user["id"])
    assert row is not None
    assert row.status == "active"
    assert row.password_hash and row.password_hash.startswith("$argon2id$")
    assert verify_password(row, "correct horse battery")
    assert not verify_password(row, "wrong horse battery")
    reused = await client.get(url)
    assert reused.status_code == 410


async def test_expired_wrong_and_replaced_links(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    user = await add_user(client, auth)
    old = await token_of(runtime, user["id"])
    assert (await client.get("/account/activate/forged-token")).status_code == 410
    resent = await client.post(f"/v1/users/{user['id']}/resend-activation", headers=auth)
    assert resent.status_code == 200
    assert (await client.get(f"/account/activate/{old}")).status_code == 410
    new = await token_of(runtime, user["id"])
    assert (await client.get(f"/account/activate/{new}")).status_code == 200
    async with transaction(runtime.sessions) as session:
        row = await session.get(User, user["id"])
        assert row is not None and row.activation_expires_at is not None
        row.activation_expires_at -= timedelta(days=8)
    # The token encodes its expiry, so an edited expiry also breaks the link.
    assert (await client.get(f"/account/activate/{new}")).status_code == 410


async def test_sender_must_be_a_user(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    body = message_body(sender={"email": "legal@acme.test", "name": "Acme Legal"})
    response = await client.post("/v1/messages", json=body, headers=auth)
    problem = assert_problem(response, 422, "sender-not-registered")
    assert fields(problem) == ["sender.email"]
    user = await add_user(client, auth, "legal@acme.test")
    created = await client.post("/v1/messages", json=body, headers=auth)
    assert created.status_code == 201, created.text
    assert created.json()["sender"] == {"email": "legal@acme.test", "name": "Acme Legal"}
    dispatched = await client.post(f"/v1/messages/{created.json()['id']}/dispatch", headers=auth)
    evidence = dispatched.json()["deliveries"][0]["evidence"][0]
    assert evidence["type"] == "SENT"
    deactivated = await client.post(f"/v1/users/{user['id']}/deactivate", headers=auth)
    assert deactivated.json()["status"] == "deactivated"
    again = await client.post("/v1/messages", json=body, headers=auth)
    assert_problem(again, 422, "sender-not-registered")


async def test_update_role_and_cross_tenant(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    user = await add_user(client, auth)
    patched = await client.patch(f"/v1/users/{user['id']}", json={"role": "viewer"}, headers=auth)
    assert patched.json()["role"] == "viewer"
    _, key = await create_org_with_key(runtime, "Other")
    other = bearer(key)
    for method, path in [
        ("GET", f"/v1/users/{user['id']}"),
        ("PATCH", f"/v1/users/{user['id']}"),
        ("POST", f"/v1/users/{user['id']}/deactivate"),
        ("POST", f"/v1/users/{user['id']}/resend-activation"),
    ]:
        response = await client.request(
            method, path, headers=other, json={} if method == "PATCH" else None
        )
        assert_problem(response, 404, "user-not-found")
    assert (await client.get("/v1/users", headers=other)).json()["data"] == []
    body = message_body(sender={"email": "sam@acme.test"})
    assert_problem(
        await client.post("/v1/messages", json=body, headers=other), 422, "sender-not-registered"
    )


async def test_activated_user_signs_in_and_out(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    user = await add_user(client, auth)
    url = f"/account/activate/{await token_of(runtime, user['id'])}"
    csrf = csrf_of((await client.get(url)).text)
    password = "a long enough passphrase"
    await client.post(url, data={"password": password, "confirm": password, "csrf_token": csrf})
    assert (await client.get("/account")).headers["location"] == "/account/sign-in"
    form = await client.get("/account/sign-in")
    csrf = csrf_of(form.text)
    wrong = await client.post(
        "/account/sign-in", data={"email": "sam@acme.test", "password": "nope", "csrf_token": csrf}
    )
    assert wrong.status_code == 401 and "not right" in wrong.text
    ok = await client.post(
        "/account/sign-in",
        data={"email": "sam@acme.test", "password": password, "csrf_token": csrf},
    )
    assert ok.status_code == 303
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    page = await client.get("/account")
    assert page.status_code == 200 and "Acme" in page.text and "sender" in page.text
    out = await client.post("/account/sign-out", data={"csrf_token": csrf_of(page.text)})
    assert out.status_code == 303
    assert (await client.get("/account")).status_code == 303
    deactivated = await client.post(f"/v1/users/{user['id']}/deactivate", headers=auth)
    assert deactivated.status_code == 200
    refused = await client.post(
        "/account/sign-in",
        data={"email": "sam@acme.test", "password": password, "csrf_token": csrf},
    )
    assert refused.status_code == 401


async def test_a_link_expires_after_seven_days(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user = await add_user(client, auth)
    created = datetime.fromisoformat(user["created_at"])
    assert datetime.fromisoformat(user["activation_expires_at"]) == created + timedelta(days=7)
    url = f"/account/activate/{await token_of(runtime, user['id'])}"
    csrf = csrf_of((await client.get(url)).text)

    almost = created + timedelta(days=7) - timedelta(seconds=1)
    monkeypatch.setattr("tabellion.organization.accounts.utcnow", lambda: almost)
    assert (await client.get(url)).status_code == 200

    late = created + timedelta(days=7)
    monkeypatch.setattr("tabellion.organization.accounts.utcnow", lambda: late)
    assert (await client.get(url)).status_code == 410
    password = "correct horse battery"
    refused = await client.post(
        url, data={"password": password, "confirm": password, "csrf_token": csrf}
    )
    assert refused.status_code == 410 and "no longer valid" in refused.text
    got = (await client.get(f"/v1/users/{user['id']}", headers=auth)).json()
    assert got["status"] == "invited"

    # A new link, seven days from the resend.
    resent = await client.post(f"/v1/users/{user['id']}/resend-activation", headers=auth)
    assert datetime.fromisoformat(resent.json()["activation_expires_at"]) == late + timedelta(
        days=7
    )
    fresh = f"/account/activate/{await token_of(runtime, user['id'])}"
    assert (await client.get(fresh)).status_code == 200


async def test_resend_only_while_invited_and_deactivation_voids_the_link(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    invited = await add_user(client, auth, "kim@acme.test")
    url = f"/account/activate/{await token_of(runtime, invited['id'])}"
    await client.post(f"/v1/users/{invited['id']}/deactivate", headers=auth)
    assert (await client.get(url)).status_code == 410
    problem = assert_problem(
        await client.post(f"/v1/users/{invited['id']}/resend-activation", headers=auth),
        409,
        "user-not-activatable",
    )
    assert "deactivated" in str(problem["detail"])

    active = await add_user(client, auth, "lee@acme.test")
    url = f"/account/activate/{await token_of(runtime, active['id'])}"
    csrf = csrf_of((await client.get(url)).text)
    password = "correct horse battery"
    await client.post(url, data={"password": password, "confirm": password, "csrf_token": csrf})
    assert_problem(
        await client.post(f"/v1/users/{active['id']}/resend-activation", headers=auth),
        409,
        "user-not-activatable",
    )
    # Deactivating twice keeps the first time.
    first = (await client.post(f"/v1/users/{active['id']}/deactivate", headers=auth)).json()
    again = (await client.post(f"/v1/users/{active['id']}/deactivate", headers=auth)).json()
    assert first["deactivated_at"] == again["deactivated_at"] is not None


@pytest.mark.parametrize(
    ("role", "may_send"), [("admin", True), ("sender", True), ("viewer", False)]
)
async def test_viewers_do_not_send(
    client: httpx.AsyncClient, auth: dict[str, str], role: str, may_send: bool
) -> None:
    await add_user(client, auth, "pat@acme.test", role=role)
    response = await client.post(
        "/v1/messages", json=message_body(sender={"email": "pat@acme.test"}), headers=auth
    )
    if may_send:
        assert response.status_code == 201, response.text
        assert response.json()["sender"] == {"email": "pat@acme.test", "name": "Sam Sender"}
    else:
        problem = assert_problem(response, 422, "sender-not-registered")
        assert fields(problem) == ["sender.email"]
        assert "viewer" in str(problem["detail"])


async def test_addresses_match_whatever_their_case(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    user = await add_user(client, auth, "Sam.Legal@Acme.test")
    assert user["email"] == "Sam.Legal@acme.test"
    assert_problem(
        await client.post("/v1/users", json={"email": "sam.legal@ACME.test"}, headers=auth),
        409,
        "user-exists",
    )
    created = await client.post(
        "/v1/messages", json=message_body(sender={"email": "sam.legal@acme.test"}), headers=auth
    )
    assert created.status_code == 201, created.text
    url = f"/account/activate/{await token_of(runtime, user['id'])}"
    csrf = csrf_of((await client.get(url)).text)
    password = "correct horse battery"
    await client.post(url, data={"password": password, "confirm": password, "csrf_token": csrf})
    signed = await client.post(
        "/account/sign-in",
        data={"email": "SAM.LEGAL@acme.test", "password": password, "csrf_token": csrf},
    )
    assert signed.status_code == 303


async def test_evidence_names_the_key_and_the_user(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    user = await add_user(client, auth, "legal@acme.test")
    scoped = (
        await client.post(
            "/v1/api-keys", json={"name": "CRM", "scopes": ["messages:write"]}, headers=auth
        )
    ).json()
    message = await send(
        client, bearer(scoped["key"]), sender={"email": "legal@acme.test", "name": "Acme Legal"}
    )
    content = await proof(client, auth, message["deliveries"][0]["evidence"][0]["id"])
    assert content["sender"]["user_id"] == user["id"]
    assert content["sender"]["email"] == "legal@acme.test"
    assert content["sender"]["name"] == "Acme Legal"
    assert content["sender"]["authentication"] == {
        "method": "api-key",
        "api_key_id": scoped["id"],
        "submitted_by_organization_id": None,
        "vouched_by_organization": True,
    }
    # Without a named sender, the organisation is the sender, still with the key recorded.
    plain = await send(client, auth)
    content = await proof(client, auth, plain["deliveries"][0]["evidence"][0]["id"])
    assert content["sender"]["user_id"] is None
    assert content["sender"]["name"] == "Acme"
    assert content["sender"]["authentication"]["api_key_id"] != scoped["id"]
    assert content["sender"]["authentication"]["vouched_by_organization"] is False


async def test_update_name_and_role(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    user = await add_user(client, auth)
    renamed = await client.patch(f"/v1/users/{user['id']}", json={"name": "Samuel"}, headers=auth)
    assert renamed.json()["name"] == "Samuel" and renamed.json()["role"] == "sender"
    promoted = await client.patch(f"/v1/users/{user['id']}", json={"role": "admin"}, headers=auth)
    assert promoted.json()["name"] == "Samuel" and promoted.json()["role"] == "admin"
    cleared = await client.patch(f"/v1/users/{user['id']}", json={"name": None}, headers=auth)
    assert cleared.json()["name"] is None and cleared.json()["role"] == "admin"
    got = (await client.get(f"/v1/users/{user['id']}", headers=auth)).json()
    assert got == cleared.json()
