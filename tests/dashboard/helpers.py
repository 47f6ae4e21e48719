"""Steps of the dashboard tests: users of each role, signed in; letters sent through the API."""

from __future__ import annotations

import httpx

from tabellion.runtime import Runtime
from tests.organization.test_activation_smtp import csrf_of
from tests.organization.test_users import token_of

PASSWORD = "correct horse battery staple"
ROLES = ("viewer", "sender", "admin")


async def signed_in_user(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, role: str
) -> str:
    """A user of ``role`` activated and signed in on ``client``; returns their address."""
    email = f"{role}@acme.test"
    created = await client.post(
        "/v1/users", json={"email": email, "name": role.title(), "role": role}, headers=auth
    )
    assert created.status_code == 201, created.text
    path = f"/account/activate/{await token_of(runtime, created.json()['id'])}"
    form = await client.get(path)
    done = await client.post(
        path, data={"password": PASSWORD, "confirm": PASSWORD, "csrf_token": csrf_of(form.text)}
    )
    assert done.status_code == 200, done.text
    sign_in = await client.get("/account/sign-in")
    signed = await client.post(
        "/account/sign-in",
        data={"email": email, "password": PASSWORD, "csrf_token": csrf_of(sign_in.text)},
    )
    assert signed.status_code == 303, signed.text
    return email
