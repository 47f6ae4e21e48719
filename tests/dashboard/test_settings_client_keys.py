"""The dashboard's client keys (admins): register a PEM public key (the page names its issuer,
and JWTs it signs work at once with its scopes), revoke it (its JWTs refused from then on);
bad input named by its field with nothing stored (a private key never echoed); another
organisation's keys neither listed nor revocable."""

from __future__ import annotations

import re
from functools import cache

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tabellion.runtime import Runtime
from tests.conftest import count_rows
from tests.dashboard.helpers import signed_in_user
from tests.dashboard.test_pages import text_of
from tests.fixtures.factories import create_org_with_key
from tests.fixtures.jwt import key_pair, make_jwt, register_key
from tests.organization.test_activation_smtp import csrf_of

PAGE = "/app/settings/client-keys"


@cache
def weak_rsa_pem() -> str:
    """An RSA public key too short to be accepted."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
    return (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def issuer_of(page: httpx.Response) -> str:
    match = re.search(r'id="issuer" type="text" readonly value="([0-9A-Za-z]{32})"', page.text)
    assert match, page.text
    return match.group(1)


async def test_an_admin_registers_and_revokes_a_client_key(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    await signed_in_user(client, auth, runtime, "admin")
    page = await client.get(PAGE)
    assert page.status_code == 200 and 'id="no-keys"' in page.text
    pair = key_pair("EC", 7)
    created = await client.post(
        PAGE,
        data={
            "csrf_token": csrf_of(page.text),
            "name": "Documentd client",
            "public_key_pem": pair.public_pem,
            "scopes": ["messages:read"],
        },
    )
    assert created.status_code == 201, created.text
    issuer = issuer_of(created)
    assert "ES256" in text_of(created) and "Documentd client" in created.text
    # A JWT signed by the key authenticates at once, with exactly the scopes chosen.
    bearer = {"Authorization": f"Bearer {make_jwt(pair, issuer)}"}
    assert (await client.get("/v1/messages", headers=bearer)).status_code == 200
    assert (await client.post("/v1/messages", json={}, headers=bearer)).status_code == 403
    [listed] = (await client.get("/v1/client-keys", headers=auth)).json()["data"]
    assert listed["issuer"] == issuer and listed["scopes"] == ["messages:read"]
    assert listed["name"] == "Documentd client"
    listing = await client.get(PAGE)
    assert f'id="ckey-{listed["id"]}"' in listing.text and issuer in listing.text
    assert listed["thumbprint"] in listing.text

    revoked = await client.post(
        f"{PAGE}/{listed['id']}/revoke", data={"csrf_token": csrf_of(listing.text)}
    )
    assert revoked.status_code == 303 and revoked.headers["location"] == f"{PAGE}?done=revoked"
    fresh = {"Authorization": f"Bearer {make_jwt(pair, issuer)}"}
    assert (await client.get("/v1/messages", headers=fresh)).status_code == 401
    after = await client.get(revoked.headers["location"])
    assert "The client key was revoked" in text_of(after)
    assert f'action="{PAGE}/{listed["id"]}/revoke"' not in after.text
    [again] = (await client.get("/v1/client-keys", headers=auth)).json()["data"]
    assert again["revoked_at"] is not None


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"name": "", "public_key_pem": "PEM"}, "name", "A name of 1 to 255 characters"),
        ({"name": "x" * 256, "public_key_pem": "PEM"}, "name", "A name of 1 to 255 characters"),
        ({"name": "CRM", "public_key_pem": ""}, "public_key_pem", "A PEM public key"),
        ({"name": "CRM", "public_key_pem": "not a key"}, "public_key_pem", "Not a PEM public key"),
        ({"name": "CRM", "public_key_pem": "PEM", "scopes": []}, "scopes", "at least one scope"),
        (
            {"name": "CRM", "public_key_pem": "PEM", "scopes": ["everything"]},
            "scopes",
            "at least one scope",
        ),
        ({"name": "CRM", "public_key_pem": "RSA1024"}, "public_key_pem", "at least 2048 bits"),
        ({"name": "CRM", "public_key_pem": "PRIVATE"}, "public_key_pem", "never a private key"),
    ],
)
async def test_bad_input_is_named_and_nothing_is_stored(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
    form: dict[str, object],
    field: str,
    message: str,
) -> None:
    await signed_in_user(client, auth, runtime, "admin")
    page = await client.get(PAGE)
    pem = {
        "PEM": key_pair("EC", 8).public_pem,
        "RSA1024": weak_rsa_pem(),
        "PRIVATE": key_pair("EC", 8).private_pem.decode(),
    }
    data = {"csrf_token": csrf_of(page.text), "scopes": ["messages:write"], **form}
    data["public_key_pem"] = pem.get(str(data["public_key_pem"]), data["public_key_pem"])
    answer = await client.post(PAGE, data=data)
    assert answer.status_code == 422, answer.text
    assert f'id="{field}-error"' in answer.text and message in text_of(answer)
    assert 'id="issuer"' not in answer.text
    assert "PRIVATE KEY" not in answer.text  # a pasted private key is not shown back
    assert await count_rows(runtime, "client_keys") == 0


async def test_forms_need_their_token(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    await signed_in_user(client, auth, runtime, "admin")
    made = await client.post(
        PAGE, data={"name": "CRM", "public_key_pem": key_pair("EC", 8).public_pem}
    )
    assert made.status_code == 403
    issuer = await register_key(client, auth, key_pair("EC", 8))
    [key] = (await client.get("/v1/client-keys", headers=auth)).json()["data"]
    refused = await client.post(f"{PAGE}/{key['id']}/revoke", data={"csrf_token": "forged"})
    assert refused.status_code == 403
    [still] = (await client.get("/v1/client-keys", headers=auth)).json()["data"]
    assert still["issuer"] == issuer and still["revoked_at"] is None


async def test_another_organisations_keys_are_neither_listed_nor_revocable(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    _, other_key = await create_org_with_key(runtime, "Other")
    other = {"Authorization": f"Bearer {other_key}"}
    theirs_issuer = await register_key(client, other, key_pair("EC", 9))
    [theirs] = (await client.get("/v1/client-keys", headers=other)).json()["data"]
    await signed_in_user(client, auth, runtime, "admin")
    page = await client.get(PAGE)
    assert theirs["id"] not in page.text and theirs_issuer not in page.text
    refused = await client.post(
        f"{PAGE}/{theirs['id']}/revoke", data={"csrf_token": csrf_of(page.text)}
    )
    assert refused.status_code == 404
    [still] = (await client.get("/v1/client-keys", headers=other)).json()["data"]
    assert still["revoked_at"] is None
