"""Client keys: registration, listing, revocation, and JWTs they sign on the native API."""

from __future__ import annotations

import time
from datetime import timedelta

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from sqlalchemy import update

from tabellion.db import transaction
from tabellion.kit.time import utcnow
from tabellion.models.organization import ClientKey
from tabellion.organization.client_keys import MAX_TOKEN_CHARS
from tabellion.runtime import Runtime
from tests.fixtures.factories import bearer, create_org_with_key, message_body
from tests.fixtures.jwt import (
    ATTACKS,
    REASONS,
    Client,
    attack,
    forged_jwt,
    key_pair,
    make_jwt,
    register_key,
    sized_jwt,
)
from tests.organization.helpers import proof, send


def _public_pem(
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey,
) -> str:
    return (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def signed(client: Client, **claims: object) -> dict[str, str]:
    return bearer(make_jwt(client.pair, client.issuer, **claims))  # type: ignore[arg-type]


@pytest.fixture
async def rsa_client(client: httpx.AsyncClient, auth: dict[str, str]) -> Client:
    return Client(key_pair("RSA"), await register_key(client, auth, key_pair("RSA")))


@pytest.fixture
async def other_client(client: httpx.AsyncClient, runtime: Runtime) -> Client:
    _, secret = await create_org_with_key(runtime, name="Other")
    pair = key_pair("RSA", n=1)
    return Client(pair, await register_key(client, bearer(secret), pair))


async def test_register_list_and_use(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    created = await client.post(
        "/v1/client-keys",
        json={"name": "CRM", "public_key_pem": key_pair("EC").public_pem},
        headers=auth,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert set(body) == {"id", "issuer"}
    assert body["id"].startswith("ckey_") and len(body["issuer"]) == 32

    organization = await client.get(
        "/v1/organization", headers=bearer(make_jwt(key_pair("EC"), body["issuer"]))
    )
    assert organization.status_code == 200, organization.text
    assert organization.json()["name"] == "Acme"

    [listed] = (await client.get("/v1/client-keys", headers=auth)).json()["data"]
    assert listed["id"] == body["id"] and listed["issuer"] == body["issuer"]
    assert listed["name"] == "CRM" and listed["key_type"] == "EC"
    assert listed["algorithms"] == ["ES256"] and listed["scopes"] == ["messages:write"]
    assert listed["public_key_pem"] == key_pair("EC").public_pem
    assert listed["last_used_at"] is not None and listed["revoked_at"] is None
    assert len(listed["thumbprint"]) == 43  # SHA-256, base64url without padding


@pytest.mark.parametrize("alg", ["RS256", "PS256"])
async def test_rsa_algorithms(client: httpx.AsyncClient, rsa_client: Client, alg: str) -> None:
    created = await client.post(
        "/v1/messages", json=message_body(mode="deliver"), headers=signed(rsa_client, alg=alg)
    )
    assert created.status_code == 201, created.text
    assert created.json()["mode"] == "deliver"


async def test_evidence_names_the_client_key(
    client: httpx.AsyncClient, auth: dict[str, str], rsa_client: Client
) -> None:
    [key] = (await client.get("/v1/client-keys", headers=auth)).json()["data"]
    sent = await send(client, signed(rsa_client), mode="deliver")
    [evidence] = sent["deliveries"][0]["evidence"]
    content = await proof(client, auth, evidence["id"])
    assert content["sender"]["authentication"]["method"] == "client-key-jwt"
    assert content["sender"]["authentication"]["api_key_id"] == key["id"]
    # The submission itself records how its caller authenticated.
    assert content["details"]["submitted_by"] == {
        "api_key_id": key["id"],
        "organization_id": content["sender"]["organization"]["id"],
        "authentication": "client-key-jwt",
    }


async def test_scopes_as_api_keys(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    pair = key_pair("EC", n=2)
    reader = Client(pair, await register_key(client, auth, pair, "messages:read"))
    assert (await client.get("/v1/messages", headers=signed(reader))).status_code == 200
    refused = await client.post("/v1/messages", json=message_body(), headers=signed(reader))
    assert refused.status_code == 403 and refused.json()["code"] == "insufficient-scope"
    # A JWT with messages:write cannot manage keys: that needs admin.
    writer = Client(key_pair("RSA"), await register_key(client, auth, key_pair("RSA")))
    keys = await client.get("/v1/client-keys", headers=signed(writer))
    assert keys.status_code == 403 and keys.json()["code"] == "insufficient-scope"


async def test_revoke(client: httpx.AsyncClient, auth: dict[str, str], rsa_client: Client) -> None:
    [key] = (await client.get("/v1/client-keys", headers=auth)).json()["data"]
    assert (await client.delete(f"/v1/client-keys/{key['id']}", headers=auth)).status_code == 204
    again = await client.delete(f"/v1/client-keys/{key['id']}", headers=auth)
    assert again.status_code == 204  # revoking again changes nothing
    [listed] = (await client.get("/v1/client-keys", headers=auth)).json()["data"]
    assert listed["revoked_at"] is not None
    refused = await client.get("/v1/organization", headers=signed(rsa_client))
    assert refused.status_code == 401 and refused.json()["code"] == "unauthorized"


async def test_other_organisation_key_cannot_be_revoked(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    _, secret = await create_org_with_key(runtime, name="Other")
    await register_key(client, bearer(secret), key_pair("EC", n=3))
    [theirs] = (await client.get("/v1/client-keys", headers=bearer(secret))).json()["data"]
    gone = await client.delete(f"/v1/client-keys/{theirs['id']}", headers=auth)
    assert gone.status_code == 404
    [still] = (await client.get("/v1/client-keys", headers=bearer(secret))).json()["data"]
    assert still["revoked_at"] is None
    assert (await client.get("/v1/client-keys", headers=auth)).json()["data"] == []
    for key_id in ("ckey_01jd00000000000000000000aa", "ckey_%00"):
        gone = await client.delete(f"/v1/client-keys/{key_id}", headers=auth)
        assert gone.status_code == 404 and gone.json()["code"] == "client-key-not-found"


@pytest.mark.parametrize(
    ("pem", "message"),
    [
        (_public_pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)), "2048"),  # noqa: S505 (refused)
        (_public_pem(ec.generate_private_key(ec.SECP384R1())), "P-256"),
        (_public_pem(ed25519.Ed25519PrivateKey.generate()), "Only RSA"),
        ("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "Not a PEM"),
        (key_pair("EC").private_pem.decode(), "never a private key"),
    ],
    ids=["rsa-1024", "ec-p384", "ed25519", "garbage", "private-key"],
)
async def test_refused_keys(
    client: httpx.AsyncClient, auth: dict[str, str], pem: str, message: str
) -> None:
    refused = await client.post(
        "/v1/client-keys", json={"name": "bad", "public_key_pem": pem}, headers=auth
    )
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert problem["code"] == "invalid-public-key"
    assert problem["errors"][0]["field"] == "public_key_pem"
    assert message in problem["errors"][0]["message"]
    assert (await client.get("/v1/client-keys", headers=auth)).json()["data"] == []


NOT_VALID_NOW = "The token is not valid now: "  # then joserfc's words
NOT_VERIFIED = (
    "The token's signature does not verify with the registered key (RS256 or PS256 only)."
)
NO_KEY = "No client key is registered for this issuer, or it was revoked."
# The 401's whole message per attack, where it is Tabellion's own.
DETAILS = {
    "exp-too-far": "The token's `exp` is more than one hour ahead; make short-lived tokens.",
    "wrong-issuer": NOT_VERIFIED,
    "unknown-issuer": NO_KEY,
    "header-and-iss-disagree": "The token's `iss` is not the company API id of the request.",
    "unknown-key": NOT_VERIFIED,
    "revoked-key": NO_KEY,
    "alg-none": NOT_VERIFIED,
    "hs256-with-public-key": NOT_VERIFIED,
    "key-of-another-organisation": NOT_VERIFIED,
    "garbage": "The bearer token is not a JWT with an `iss` claim.",
}


@pytest.mark.parametrize("name", ATTACKS)
async def test_attacks_refused(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    rsa_client: Client,
    other_client: Client,
    name: str,
) -> None:
    if name == "revoked-key":
        [key] = (await client.get("/v1/client-keys", headers=auth)).json()["data"]
        await client.delete(f"/v1/client-keys/{key['id']}", headers=auth)
    token, issuer = attack(name, rsa_client, other_client)
    # Natively the header is optional, but checked when sent.
    variants = [{"SP-Company-Api-Id": issuer}, {}]
    if name == "header-and-iss-disagree":
        variants.pop()  # without the header it is the other client's valid token
    for headers in variants:
        refused = await client.get("/v1/messages", headers={**bearer(token), **headers})
        assert refused.status_code == 401, (name, headers, refused.text)
        assert refused.json()["code"] == "unauthorized"
        assert REASONS[name] in refused.json()["detail"]
        assert refused.json()["detail"].startswith(DETAILS.get(name, NOT_VALID_NOW)), name
    if name != "revoked-key":  # the same request with a good token passes
        assert (await client.get("/v1/messages", headers=signed(rsa_client))).status_code == 200


async def test_a_token_up_to_the_length_limit_is_read_as_a_jwt(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    pair = key_pair("EC", n=4)
    issuer = await register_key(client, auth, pair)
    longest = sized_jwt(pair, issuer, MAX_TOKEN_CHARS)
    accepted = await client.get("/v1/organization", headers=bearer(longest))
    assert accepted.status_code == 200, accepted.text
    # One character longer and it is not read as a JWT at all: an API key that is not valid.
    longer = await client.get(
        "/v1/organization", headers=bearer(sized_jwt(pair, issuer, MAX_TOKEN_CHARS + 1))
    )
    assert longer.status_code == 401 and "API key is not valid" in longer.json()["detail"]


def _unsigned(claims: object) -> str:
    """A token whose payload is these claims (the signature is never reached)."""
    return forged_jwt({"alg": "ES256", "typ": "JWT"}, claims, b"not-checked")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "token",
    [
        _unsigned(["iss", "x"]),  # claims that are not an object
        _unsigned({"iss": 12345, "exp": 1}),  # an issuer that is not a string
        "eyJhbGciOiJFUzI1NiJ9.bm90IGpzb24.c2ln",  # a payload that is not JSON
        "eyJhbGciOiJFUzI1NiJ9.e30.c2ln",  # no iss
    ],
    ids=["claims-a-list", "iss-a-number", "payload-not-json", "no-iss"],
)
async def test_a_token_without_a_readable_issuer_is_401(
    client: httpx.AsyncClient, auth: dict[str, str], token: str
) -> None:
    refused = await client.get("/v1/organization", headers=bearer(token))
    assert refused.status_code == 401, refused.text
    assert refused.json()["detail"] == "The bearer token is not a JWT with an `iss` claim."


@pytest.mark.parametrize("issuer", ["", "\x00", "é" * 8, "x" * 65])
async def test_an_issuer_that_cannot_be_an_id_has_no_key(
    client: httpx.AsyncClient, rsa_client: Client, issuer: str
) -> None:
    token = make_jwt(rsa_client.pair, issuer)
    refused = await client.get("/v1/organization", headers=bearer(token))
    assert refused.status_code == 401, refused.text
    assert refused.json()["detail"] == NO_KEY


async def test_the_clock_skew_is_allowed_and_no_more(
    client: httpx.AsyncClient, rsa_client: Client
) -> None:
    now = int(time.time())
    # 60 s of skew either way: just expired, not quite valid yet, just over the hour.
    allowed = [
        {"iat": now - 600, "exp": now - 20},
        {"nbf": now + 20},
        {"lifetime": 3600 + 20},
    ]
    for claims in allowed:
        accepted = await client.get("/v1/organization", headers=signed(rsa_client, **claims))
        assert accepted.status_code == 200, (claims, accepted.text)
    refused = [
        ({"iat": now - 600, "exp": now - 200}, "expired"),
        ({"nbf": now + 200}, "not yet valid"),
        ({"lifetime": 3600 + 200}, "more than one hour ahead"),
    ]
    for claims, reason in refused:
        answer = await client.get("/v1/organization", headers=signed(rsa_client, **claims))
        assert answer.status_code == 401 and reason in answer.json()["detail"], claims
    assert answer.json()["detail"] == (
        "The token's `exp` is more than one hour ahead; make short-lived tokens."
    )


async def test_last_use_is_written_at_most_once_a_minute(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, rsa_client: Client
) -> None:
    async def last_used() -> object:
        [key] = (await client.get("/v1/client-keys", headers=auth)).json()["data"]
        return key["last_used_at"]

    assert await last_used() is None
    assert (await client.get("/v1/organization", headers=signed(rsa_client))).status_code == 200
    first = await last_used()
    assert first is not None
    assert (await client.get("/v1/organization", headers=signed(rsa_client))).status_code == 200
    assert await last_used() == first  # within the minute: not written again
    async with transaction(runtime.sessions) as session:
        await session.execute(
            update(ClientKey).values(last_used_at=utcnow() - timedelta(minutes=2))
        )
    assert (await client.get("/v1/organization", headers=signed(rsa_client))).status_code == 200
    assert await last_used() != first
