"""The Documentd dialect: the reference's calls as written, its errors, its auth."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tabellion.organization.client_keys import MAX_TOKEN_CHARS
from tabellion.runtime import Runtime
from tests.conftest import count_rows
from tests.fixtures.factories import bearer, create_org_with_key
from tests.fixtures.jwt import (
    ATTACKS,
    REASONS,
    Client,
    attack,
    key_pair,
    make_jwt,
    register_key,
    sized_jwt,
)

BASE = "/compat/documentd/1.0/emails"
GUIDE = Path(__file__).parents[2] / "docs" / "compat" / "documentd.md"
SENDER = "sender@acme.test"
PDF = b"%PDF-1.4\n%%EOF\n"


def documentd(client: Client, **claims: object) -> dict[str, str]:
    """The original's credentials: the company API id and a JWT its key signed."""
    token = make_jwt(client.pair, client.issuer, **claims)  # type: ignore[arg-type]
    return {"SP-Company-Api-Id": client.issuer, "Authorization": f"Bearer {token}"}


async def add_sender(client: httpx.AsyncClient, auth: dict[str, str], email: str = SENDER) -> None:
    created = await client.post(
        "/v1/users", json={"email": email, "name": "Sam Sender", "role": "sender"}, headers=auth
    )
    assert created.status_code == 201, created.text


@pytest.fixture(params=["RSA", "EC"], ids=["RS256", "ES256"])
async def company(
    request: pytest.FixtureRequest, client: httpx.AsyncClient, auth: dict[str, str]
) -> Client:
    """A company with a sending user and a registered key of each kind."""
    await add_sender(client, auth)
    pair = key_pair(request.param)
    return Client(pair, await register_key(client, auth, pair))


def assert_failure(response: httpx.Response, status: int, code: str, *phrases: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["success"] is False and set(body) == {"success", "error"}
    assert body["error"]["code"] == code, body
    for phrase in phrases:
        assert phrase in body["error"]["message"], body
    return str(body["error"]["message"])


async def prepare(http: httpx.AsyncClient, company: Client, **fields: object) -> str:
    body = {"senderEmail": SENDER, "emailSubject": "Your documents", **fields}
    prepared = await http.post(f"{BASE}/prepare", json=body, headers=documentd(company))
    assert prepared.status_code == 200, prepared.text
    assert prepared.json()["success"] is True
    return str(prepared.json()["emailRef"])


async def attach(http: httpx.AsyncClient, company: Client, ref: str, name: str) -> None:
    uploaded = await http.post(
        f"{BASE}/{ref}/attachments/upload",
        files={"emailAttachment": (name, PDF, "application/pdf")},
        headers=documentd(company),
    )
    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.json() == {"success": True}


@pytest.mark.parametrize(("call", "mode"), [("deliver", "deliver"), ("send", "secure")])
async def test_reference_calls(
    client: httpx.AsyncClient, auth: dict[str, str], company: Client, call: str, mode: str
) -> None:
    ref = await prepare(client, company, emailBody="Dear customer,\n\nhere they are.")
    await attach(client, company, ref, "invoice.pdf")
    await attach(client, company, ref, "terms.pdf")
    sent = await client.post(
        f"{BASE}/{ref}/{call}",
        json={"emailToList": ["jane@example.test", "JOHN@Example.TEST"]},
        headers=documentd(company),
    )
    assert sent.status_code == 200, sent.text
    assert sent.json() == {"success": True}

    message = (await client.get(f"/v1/messages/{ref}", headers=auth)).json()
    assert message["mode"] == mode and message["status"] == "dispatched"
    assert message["subject"] == "Your documents"
    assert message["sender"] == {"email": SENDER, "name": "Sam Sender"}
    assert message["body_text"] == "Dear customer,\n\nhere they are."
    assert message["body_html"] == "<p>Dear customer,</p><p>here they are.</p>"
    assert [a["filename"] for a in message["attachments"]] == ["invoice.pdf", "terms.pdf"]
    assert [a["size"] for a in message["attachments"]] == [len(PDF), len(PDF)]
    recipients = [d["recipient"] for d in message["deliveries"]]
    assert [r["email"] for r in recipients] == ["jane@example.test", "JOHN@example.test"]
    assert all(r.get("first_name") is None for r in recipients)
    assert {d["mode"] for d in message["deliveries"]} == {mode}
    assert {d["status"] for d in message["deliveries"]} == {"pending"}


async def test_form_posts_and_defaults(
    client: httpx.AsyncClient, auth: dict[str, str], company: Client
) -> None:
    # cURL's -d posts forms: fields as form values, emailToList repeated or comma-separated.
    prepared = await client.post(
        f"{BASE}/prepare", data={"senderEmail": SENDER}, headers=documentd(company)
    )
    assert prepared.status_code == 200, prepared.text
    ref = prepared.json()["emailRef"]
    sent = await client.post(
        f"{BASE}/{ref}/send",
        data={"emailToList": "a@example.test, b@example.test", "unknownField": "ignored"},
        headers=documentd(company),
    )
    assert sent.status_code == 200, sent.text
    message = (await client.get(f"/v1/messages/{ref}", headers=auth)).json()
    assert message["subject"] == "Message from Acme"  # no emailSubject: the organisation
    assert [d["recipient"]["email"] for d in message["deliveries"]] == [
        "a@example.test",
        "b@example.test",
    ]


@pytest.mark.parametrize(
    ("body", "phrase"),
    [
        (None, "senderEmail: Field required"),
        ({"emailSubject": "x"}, "senderEmail: Field required"),
        ({"senderEmail": "not an address"}, "senderEmail: not a valid e-mail"),
        ({"senderEmail": "nobody@acme.test"}, "senderEmail: nobody@acme.test is not an active"),
        ({"senderEmail": SENDER, "emailSubject": "x" * 256}, "emailSubject: String should have"),
        ([1, 2], "body: The body must be a JSON object"),
    ],
    ids=["no-body", "no-sender", "bad-sender", "sender-not-a-user", "long-subject", "not-object"],
)
async def test_prepare_refused(
    client: httpx.AsyncClient, runtime: Runtime, company: Client, body: object, phrase: str
) -> None:
    refused = await client.post(f"{BASE}/prepare", json=body, headers=documentd(company))
    code = "sender-not-registered" if "not an active" in phrase else "validation-failed"
    assert_failure(refused, 400, code, phrase)
    assert await count_rows(runtime, "messages") == 0


@pytest.mark.parametrize(
    ("body", "phrase"),
    [
        ({}, "emailToList: Field required"),
        ({"emailToList": []}, "emailToList: Value should have at least 1 item"),
        ({"emailToList": ["a@example.test", "nope"]}, "emailToList[1]: not a valid"),
    ],
    ids=["missing", "empty", "bad-address"],
)
async def test_dispatch_refused(
    client: httpx.AsyncClient, auth: dict[str, str], company: Client, body: object, phrase: str
) -> None:
    ref = await prepare(client, company)
    for call in ("deliver", "send"):
        refused = await client.post(f"{BASE}/{ref}/{call}", json=body, headers=documentd(company))
        assert_failure(refused, 400, "validation-failed", phrase)
    message = (await client.get(f"/v1/messages/{ref}", headers=auth)).json()
    assert message["status"] == "draft" and message["recipients"] == []


async def test_upload_refused(client: httpx.AsyncClient, runtime: Runtime, company: Client) -> None:
    ref = await prepare(client, company)
    wrong_part = await client.post(
        f"{BASE}/{ref}/attachments/upload",
        files={"file": ("a.pdf", PDF, "application/pdf")},
        headers=documentd(company),
    )
    assert_failure(wrong_part, 400, "validation-failed", "emailAttachment: Send exactly one part")
    raw = await client.post(
        f"{BASE}/{ref}/attachments/upload", content=PDF, headers=documentd(company)
    )
    assert_failure(raw, 400, "validation-failed", "emailAttachment: Send the file as multipart")
    assert await count_rows(runtime, "attachments") == 0


async def test_after_dispatch(client: httpx.AsyncClient, company: Client) -> None:
    ref = await prepare(client, company)
    recipients = {"emailToList": ["jane@example.test"]}
    first = await client.post(f"{BASE}/{ref}/deliver", json=recipients, headers=documentd(company))
    assert first.status_code == 200, first.text
    for call in ("deliver", "send"):
        again = await client.post(
            f"{BASE}/{ref}/{call}", json=recipients, headers=documentd(company)
        )
        assert_failure(again, 409, "message-not-draft")
    late = await client.post(
        f"{BASE}/{ref}/attachments/upload",
        files={"emailAttachment": ("late.pdf", PDF, "application/pdf")},
        headers=documentd(company),
    )
    assert_failure(late, 409, "message-not-draft")


async def test_other_organisation_ref_not_found(
    client: httpx.AsyncClient, runtime: Runtime, company: Client
) -> None:
    _, secret = await create_org_with_key(runtime, name="Other")
    await add_sender(client, bearer(secret))
    pair = key_pair("EC", n=4)
    other = Client(pair, await register_key(client, bearer(secret), pair))
    ref = await prepare(client, other)
    for path, kwargs in [
        (f"{ref}/attachments/upload", {"files": {"emailAttachment": ("a.pdf", PDF)}}),
        (f"{ref}/deliver", {"json": {"emailToList": ["jane@example.test"]}}),
        (f"{ref}/send", {"json": {"emailToList": ["jane@example.test"]}}),
        ("msg_01jd0000000000000000000000/deliver", {"json": {"emailToList": ["j@example.test"]}}),
        ("msg_%00/send", {"json": {"emailToList": ["j@example.test"]}}),
    ]:
        missing = await client.post(f"{BASE}/{path}", headers=documentd(company), **kwargs)  # type: ignore[arg-type]
        assert_failure(missing, 404, "message-not-found")
    assert await count_rows(runtime, "attachments") == 0
    assert await count_rows(runtime, "deliveries") == 0


async def test_unknown_paths_and_methods(client: httpx.AsyncClient, company: Client) -> None:
    assert_failure(
        await client.get(f"{BASE}/prepare", headers=documentd(company)), 405, "method-not-allowed"
    )
    assert_failure(
        await client.post(f"{BASE}/nothing", headers=documentd(company)), 404, "not-found"
    )
    assert_failure(await client.post("/compat/documentd/2.0/emails/prepare"), 404, "not-found")


async def test_credentials_refused(
    client: httpx.AsyncClient, auth: dict[str, str], company: Client
) -> None:
    body = {"senderEmail": SENDER}
    token = documentd(company)["Authorization"]
    for headers, phrase in [
        ({}, "SP-Company-Api-Id"),
        ({"SP-Company-Api-Id": company.issuer}, "Authorization: Bearer"),
        ({"Authorization": token}, "SP-Company-Api-Id"),
        ({**auth, "SP-Company-Api-Id": company.issuer}, "not a JWT"),  # an API key is not enough
    ]:
        refused = await client.post(f"{BASE}/prepare", json=body, headers=headers)
        assert_failure(refused, 401, "unauthorized", phrase)
    # A key without messages:write is known, but may not send.
    pair = key_pair("RSA", n=5)
    reader = Client(pair, await register_key(client, auth, pair, "messages:read"))
    refused = await client.post(f"{BASE}/prepare", json=body, headers=documentd(reader))
    assert_failure(refused, 403, "insufficient-scope", "messages:write")


async def test_a_token_over_the_length_limit_is_refused_unread(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """Documentd takes every bearer token as a JWT: one longer than the limit is not parsed."""
    await add_sender(client, auth)
    pair = key_pair("EC", n=6)
    issuer = await register_key(client, auth, pair)
    body = {"senderEmail": SENDER, "emailSubject": "Your documents"}

    async def prepare_with(token: str) -> httpx.Response:
        headers = {"SP-Company-Api-Id": issuer, "Authorization": f"Bearer {token}"}
        return await client.post(f"{BASE}/prepare", json=body, headers=headers)

    accepted = await prepare_with(sized_jwt(pair, issuer, MAX_TOKEN_CHARS))
    assert accepted.status_code == 200, accepted.text
    refused = await prepare_with(sized_jwt(pair, issuer, MAX_TOKEN_CHARS + 1))
    message = assert_failure(refused, 401, "unauthorized")
    assert message == "The bearer token is not a JWT with an `iss` claim."


@pytest.mark.parametrize("name", ATTACKS)
async def test_attacks_refused(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
    company: Client,
    name: str,
) -> None:
    _, secret = await create_org_with_key(runtime, name="Other")
    other_pair = key_pair("RSA", n=1)
    other = Client(other_pair, await register_key(client, bearer(secret), other_pair))
    if name == "revoked-key":
        [key] = (await client.get("/v1/client-keys", headers=auth)).json()["data"]
        await client.delete(f"/v1/client-keys/{key['id']}", headers=auth)
    token, issuer = attack(name, company, other)
    refused = await client.post(
        f"{BASE}/prepare",
        json={"senderEmail": SENDER},
        headers={"SP-Company-Api-Id": issuer, "Authorization": f"Bearer {token}"},
    )
    assert_failure(refused, 401, "unauthorized", REASONS[name])
    assert await count_rows(runtime, "messages") == 0


def test_openapi_lists_the_dialect_under_its_tag() -> None:
    from tabellion.app import create_app

    document = create_app().openapi()
    paths = {p: ops for p, ops in document["paths"].items() if p.startswith("/compat/documentd/")}
    assert sorted(paths) == [
        "/compat/documentd/1.0/emails/prepare",
        "/compat/documentd/1.0/emails/{emailRef}/attachments/upload",
        "/compat/documentd/1.0/emails/{emailRef}/deliver",
        "/compat/documentd/1.0/emails/{emailRef}/send",
    ]
    for operations in paths.values():
        [operation] = operations.values()
        assert operation["tags"] == ["documentd"]
        failure = operation["responses"]["401"]["content"]["application/json"]["schema"]
        assert failure == {"$ref": "#/components/schemas/Failure"}
    assert set(document["components"]["schemas"]["Failure"]["properties"]) == {"success", "error"}


def guide_block(language: str, after: str) -> str:
    """The first ```language block after the heading ``after`` of docs/compat/documentd.md."""
    text = GUIDE.read_text()
    match = re.compile(rf"```{language}\n(.*?)```", re.S).search(text, text.index(after))
    assert match is not None, after
    return match.group(1)


async def test_the_guide_makes_a_key_pair_and_a_jwt_that_work(
    client: httpx.AsyncClient, auth: dict[str, str], tmp_path: Path
) -> None:
    await add_sender(client, auth)
    rsa_lines = guide_block("sh", "### 1. Make a key pair").splitlines()[1:3]
    for line in rsa_lines:  # the two RSA commands, as written
        subprocess.run(shlex.split(line), cwd=tmp_path, check=True, capture_output=True)
    pem = (tmp_path / "documentd-public.pem").read_text()
    created = await client.post(
        "/v1/client-keys", json={"name": "CRM", "public_key_pem": pem}, headers=auth
    )
    issuer = created.json()["issuer"]
    script = guide_block("python", "### 3. Make a JWT").replace(
        '"the issuer Tabellion gave"', repr(issuer)
    )
    made = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, check=True, capture_output=True, text=True
    )
    headers = {"SP-Company-Api-Id": issuer, "Authorization": f"Bearer {made.stdout.strip()}"}
    prepared = await client.post(f"{BASE}/prepare", json={"senderEmail": SENDER}, headers=headers)
    assert prepared.status_code == 200, prepared.text
