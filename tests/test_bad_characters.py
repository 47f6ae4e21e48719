"""Text a database cannot store, anywhere in an API request: never a 500, the same answer on
SQLite and PostgreSQL (which refuses NUL characters that SQLite stores).

A path id holding one cannot name anything (the resource's 404); a query parameter or a body
field holding one is a 422 ``invalid-characters`` naming it; a stray database NUL error is a 422
too, and nothing of the request is left behind.
"""

from __future__ import annotations

import json
import re
from urllib.parse import quote

import httpx
import pytest
from fastapi import APIRouter
from sqlalchemy import text
from sqlalchemy.exc import DataError

from tabellion.db import DbSession, SessionRoute
from tabellion.kit.pagination import encode_cursor
from tabellion.organization.service import create_organization
from tabellion.runtime import Runtime
from tests.conftest import count_rows
from tests.fixtures.factories import message_body, natural_recipient
from tests.message.test_endpoints import PDF, assert_problem, create, fields

NUL = "a\x00b"
Q_NUL = "a%00b"
# Well-formed ids that name nothing: the routes' own lookups answer for them.
FAKE = "xyz_01jd0000000000000000000000"
PG_NUL_MESSAGE = "PostgreSQL text fields cannot contain NUL (0x00) bytes"


def assert_invalid_characters(response: httpx.Response, *names: str) -> dict[str, object]:
    problem = assert_problem(response, 422, "validation-failed")
    errors = problem["errors"]
    assert isinstance(errors, list)
    assert [(e["field"], e["code"]) for e in errors] == [(n, "invalid-characters") for n in names]
    assert all("NUL" in e["message"] for e in errors)
    assert "\x00" not in response.text
    return problem


def api_operations() -> list[tuple[str, str, list[str], list[str]]]:
    """Every /v1 operation: method, path, its path parameters, its query parameters."""
    from tabellion.app import create_app

    out = []
    for path, operations in create_app().openapi()["paths"].items():
        if not path.startswith("/v1"):
            continue
        for method, operation in operations.items():
            params = operation.get("parameters", [])
            out.append(
                (
                    method.upper(),
                    path,
                    [p["name"] for p in params if p["in"] == "path"],
                    [p["name"] for p in params if p["in"] == "query"],
                )
            )
    return out


OPERATIONS = api_operations()


# ---- ids in the path ----------------


@pytest.mark.parametrize(
    ("method", "path", "code"),
    [
        ("GET", "/v1/messages/{}", "message-not-found"),
        ("DELETE", "/v1/messages/{}", "message-not-found"),
        ("POST", "/v1/messages/{}/dispatch", "message-not-found"),
        ("POST", "/v1/messages/{}/attachments", "message-not-found"),
        ("GET", "/v1/deliveries/{}", "delivery-not-found"),
        ("GET", "/v1/deliveries/{}/replies", "delivery-not-found"),
        ("POST", "/v1/deliveries/{}/replies", "delivery-not-found"),
        ("GET", "/v1/deliveries/{}/evidence.zip", "delivery-not-found"),
        ("GET", "/v1/evidence/{}", "evidence-not-found"),
        ("GET", "/v1/evidence/{}/pdf", "evidence-not-found"),
        ("GET", "/v1/webhook-endpoints/{}", "webhook-endpoint-not-found"),
        ("PATCH", "/v1/webhook-endpoints/{}", "webhook-endpoint-not-found"),
        ("DELETE", "/v1/webhook-endpoints/{}", "webhook-endpoint-not-found"),
        ("GET", "/v1/webhook-endpoints/{}/attempts", "webhook-endpoint-not-found"),
        ("GET", "/v1/events/{}", "event-not-found"),
    ],
)
@pytest.mark.parametrize("bad_id", [Q_NUL, "%00", "msg_%01x", "whk_%0A", "x" * 100])
async def test_an_impossible_id_is_the_resources_404(
    client: httpx.AsyncClient, auth: dict[str, str], method: str, path: str, code: str, bad_id: str
) -> None:
    body = {"body_html": "<p>Hi</p>"} if path.endswith("/replies") and method == "POST" else None
    response = await client.request(method, path.format(bad_id), json=body, headers=auth)
    problem = assert_problem(response, 404, code)
    assert problem["errors"] == []
    assert "\x00" not in response.text


@pytest.mark.parametrize(
    ("method", "path", "path_params"),
    [(m, p, pp) for m, p, pp, _ in OPERATIONS if pp],
    ids=[f"{m} {p}" for m, p, pp, _ in OPERATIONS if pp],
)
async def test_every_path_id_of_the_api_is_covered(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    method: str,
    path: str,
    path_params: list[str],
) -> None:
    """A NUL in any path parameter: that resource's own 404, never the generic one."""
    for name in path_params:
        url = path
        for other in path_params:
            url = url.replace("{" + other + "}", Q_NUL if other == name else FAKE)
        response = await client.request(method, url, headers=auth)
        problem = assert_problem(response, 404, str(response.json().get("code")))
        assert re.fullmatch(r"[a-z-]+-not-found", str(problem["code"])), problem
        assert problem["code"] != "not-found", f"{name} has no 404 of its own"


async def test_an_impossible_id_is_404_even_before_authentication(
    client: httpx.AsyncClient,
) -> None:
    """As an unknown path is: the answer depends on the URL alone."""
    assert_problem(await client.get(f"/v1/messages/{Q_NUL}"), 404, "message-not-found")
    assert_problem(await client.get(f"/v1/messages/{FAKE}"), 401, "unauthorized")


async def test_a_signed_evidence_link_with_a_nul_id_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/v1/evidence/{Q_NUL}?expires=1&signature=x")
    assert_problem(response, 404, "evidence-not-found")


async def test_evidence_bundle_of_an_unknown_delivery_is_delivery_not_found(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.get(
        "/v1/deliveries/dlv_01jd0000000000000000000000/evidence.zip", headers=auth
    )
    problem = assert_problem(response, 404, "delivery-not-found")
    assert problem["detail"] == "No delivery dlv_01jd0000000000000000000000."


# ---- query parameters ----------------


@pytest.mark.parametrize(
    ("method", "path", "query_params"),
    [(m, p, q) for m, p, _, q in OPERATIONS if q],
    ids=[f"{m} {p}" for m, p, _, q in OPERATIONS if q],
)
async def test_every_query_parameter_of_the_api_refuses_nul(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    method: str,
    path: str,
    query_params: list[str],
) -> None:
    url = re.sub(r"\{[a-z_]+\}", FAKE, path)
    for name in query_params:
        response = await client.request(method, f"{url}?{name}={Q_NUL}", headers=auth)
        assert_invalid_characters(response, name)


@pytest.mark.parametrize(
    "query",
    [
        "reference=a%00b",
        "campaign=%00",
        "status=draft&reference=x%00",
        "cursor=a%00b",
    ],
)
async def test_message_filters_with_nul_are_422(
    client: httpx.AsyncClient, auth: dict[str, str], query: str
) -> None:
    await create(client, auth)
    response = await client.get(f"/v1/messages?{query}", headers=auth)
    name = [part.split("=")[0] for part in query.split("&") if "%00" in part]
    assert_invalid_characters(response, *name)


async def test_several_bad_query_parameters_are_all_named(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.get(
        f"/v1/deliveries?message_id={Q_NUL}&status={Q_NUL}&limit=5", headers=auth
    )
    problem = assert_invalid_characters(response, "message_id", "status")
    assert problem["detail"] == "message_id: must not contain a NUL character"


async def test_a_repeated_query_parameter_is_checked_every_time(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.get(f"/v1/events?type=delivery.sent&type={Q_NUL}", headers=auth)
    assert_invalid_characters(response, "type")


async def test_an_attachment_filename_with_nul_is_422_and_stores_nothing(
    runtime: Runtime, client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    message = await create(client, auth)
    response = await client.post(
        f"/v1/messages/{message['id']}/attachments?filename=contract{quote(chr(0))}.pdf",
        content=PDF,
        headers={**auth, "Content-Type": "application/pdf"},
    )
    assert_invalid_characters(response, "filename")
    assert await count_rows(runtime, "attachments") == 0


@pytest.mark.parametrize(
    ("path", "cursor"),
    [
        ("/v1/messages", encode_cursor([NUL])),
        ("/v1/deliveries", encode_cursor([NUL])),
        ("/v1/deliveries?updated_after=2026-01-01T00:00:00Z", encode_cursor([NUL, "dlv_x"])),
        ("/v1/deliveries?updated_after=2026-01-01T00:00:00Z", encode_cursor(["not a time", "x"])),
        ("/v1/webhook-endpoints", encode_cursor([NUL])),
    ],
)
async def test_a_cursor_carrying_nul_is_refused(
    client: httpx.AsyncClient, auth: dict[str, str], path: str, cursor: str
) -> None:
    joiner = "&" if "?" in path else "?"
    response = await client.get(f"{path}{joiner}cursor={cursor}", headers=auth)
    problem = assert_problem(response, 422, "validation-failed")
    assert fields(problem) == ["cursor"]


# ---- JSON and multipart bodies ----------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"subject": NUL}, "subject"),
        ({"reference": NUL}, "reference"),
        ({"campaign": "\x00"}, "campaign"),
        ({"body_html": f"<p>{NUL}</p>"}, "body_html"),
        ({"body_text": NUL}, "body_text"),
        ({"sender": {"email": "legal@acme.test", "name": NUL}}, "sender.name"),
        ({"on_behalf_of": "org_\x00"}, "on_behalf_of"),
        (
            {
                "recipients": [natural_recipient(n) for n in range(3)]
                + [natural_recipient(3, first_name=NUL)]
            },
            "recipients[3].first_name",
        ),
        (
            {"recipients": [{"email": "b@corp.test", "company": NUL, "siren": "732829320"}]},
            "recipients[0].company",
        ),
        ({"recipients": [natural_recipient(email="jane\x00@example.test")]}, "recipients[0].email"),
    ],
)
async def test_a_message_field_with_nul_is_named(
    runtime: Runtime,
    client: httpx.AsyncClient,
    auth: dict[str, str],
    change: dict[str, object],
    field: str,
) -> None:
    response = await client.post("/v1/messages", json=message_body(**change), headers=auth)
    assert_invalid_characters(response, field)
    assert await count_rows(runtime, "messages") == 0


async def test_every_bad_field_is_named_with_the_other_errors(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    body = message_body(subject=NUL, mode="fax", reference=NUL)
    response = await client.post("/v1/messages", json=body, headers=auth)
    problem = assert_problem(response, 422, "validation-failed")
    errors = problem["errors"]
    assert isinstance(errors, list)
    assert sorted((e["field"], e["code"]) for e in errors) == [
        ("mode", "invalid-choice"),
        ("reference", "invalid-characters"),
        ("subject", "invalid-characters"),
    ]


async def test_a_multipart_message_part_with_nul_is_named_and_leaves_nothing(
    runtime: Runtime, client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    body = message_body(
        mode="deliver", recipients=[natural_recipient(), natural_recipient(1, last_name=NUL)]
    )
    response = await client.post(
        "/v1/messages?dispatch=true",
        data={"message": json.dumps(body)},
        files=[("attachments", ("a.pdf", PDF, "application/pdf"))],
        headers=auth,
    )
    assert_invalid_characters(response, "message.recipients[1].last_name")
    for table in ("messages", "attachments", "deliveries", "jobs"):
        assert await count_rows(runtime, table) == 0


async def test_a_multipart_attachment_named_with_nul_is_cleaned(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """A part's file name and type are not API fields: they are cleaned like any other."""
    boundary = "b0undary"
    raw = b"".join(
        [
            f"--{boundary}\r\n".encode(),
            b'Content-Disposition: form-data; name="message"\r\n\r\n',
            json.dumps(message_body(mode="deliver")).encode(),
            f"\r\n--{boundary}\r\n".encode(),
            b'Content-Disposition: form-data; name="attachments"; filename="con\x00tract.pdf"\r\n',
            b"Content-Type: application/\x00pdf\r\n\r\n",
            b"hello",
            f"\r\n--{boundary}--\r\n".encode(),
        ]
    )
    response = await client.post(
        "/v1/messages",
        content=raw,
        headers={**auth, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 201, response.text
    attachment = response.json()["attachments"][0]
    assert attachment["filename"] == "contract.pdf"
    assert "\x00" not in attachment["content_type"]


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        (
            "POST",
            "/v1/webhook-endpoints",
            {"url": "http://127.0.0.1:9/x", "events": ["delivery.sent", NUL]},
            "events[1]",
        ),
        (
            "POST",
            "/v1/webhook-endpoints",
            {"url": "http://127.0.0.1:9/x", "events": ["*"], "description": NUL},
            "description",
        ),
        (
            "PATCH",
            f"/v1/webhook-endpoints/{FAKE}",
            {"url": "http://127.0.0.1:9/\x00"},
            "url",
        ),
        ("POST", f"/v1/deliveries/{FAKE}/replies", {"body_html": NUL}, "body_html"),
    ],
)
async def test_nul_in_other_bodies_is_named(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    method: str,
    path: str,
    body: dict[str, object],
    field: str,
) -> None:
    response = await client.request(method, path, json=body, headers=auth)
    assert_invalid_characters(response, field)


async def test_a_lone_surrogate_is_refused_too(  # no database stores one as UTF-8
    runtime: Runtime, client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    raw = b'{"url": "http://127.0.0.1:9/x", "events": ["*"], "description": "a\\ud800b"}'
    response = await client.post(
        "/v1/webhook-endpoints", content=raw, headers={**auth, "Content-Type": "application/json"}
    )
    problem = assert_problem(response, 422, "validation-failed")
    errors = problem["errors"]
    assert isinstance(errors, list)
    assert [(e["field"], e["code"]) for e in errors] == [("description", "string-unicode")]
    assert await count_rows(runtime, "webhook_endpoints") == 0


@pytest.mark.parametrize(
    "path", ["/v1/messages", "/v1/webhook-endpoints", f"/v1/deliveries/{FAKE}/replies"]
)
async def test_a_body_that_is_not_json_names_the_body(
    client: httpx.AsyncClient, auth: dict[str, str], path: str
) -> None:
    response = await client.post(
        path, content=b'{"subject": ', headers={**auth, "Content-Type": "application/json"}
    )
    problem = assert_problem(response, 422, "validation-failed")
    errors = problem["errors"]
    assert isinstance(errors, list)
    assert [(e["field"], e["code"]) for e in errors] == [("body", "invalid-json")]
    assert str(errors[0]["message"]).startswith("The body is not valid JSON")


# ---- the safety net ----------------


async def probe_client(runtime: Runtime, router: APIRouter) -> httpx.AsyncClient:
    from tabellion.app import create_app

    app = create_app(runtime=runtime)
    app.include_router(router)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://tabellion.test")


async def test_a_nul_error_from_the_database_is_422_and_rolls_back(runtime: Runtime) -> None:
    """Should a NUL slip past the checks, PostgreSQL's refusal is a 422, and the request's
    earlier writes are undone (SQLite stores NUL: there the refusal is simulated)."""
    router = APIRouter(route_class=SessionRoute)

    @router.post("/nul-probe")
    async def probe(session: DbSession) -> dict[str, str]:
        await create_organization(session, name="Half written")
        await session.flush()
        await session.execute(text("SELECT :value"), {"value": NUL})
        if session.get_bind().dialect.name == "sqlite":
            raise DataError("SELECT :value", {"value": NUL}, Exception(PG_NUL_MESSAGE))
        return {}

    async with await probe_client(runtime, router) as client:
        response = await client.post("/nul-probe")
        assert_invalid_characters(response, "body")
        response = await client.post(f"/nul-probe?note={Q_NUL}")
        assert_invalid_characters(response, "note")  # the request guard does not cover it
    assert await count_rows(runtime, "organizations") == 0


async def test_other_database_data_errors_stay_500(runtime: Runtime) -> None:
    router = APIRouter(route_class=SessionRoute)

    @router.get("/data-probe")
    async def probe(session: DbSession) -> None:
        raise DataError("SELECT 1", {}, Exception("numeric field overflow"))

    async with await probe_client(runtime, router) as client:
        response = await client.get("/data-probe")
    problem = assert_problem(response, 500, "internal-error")
    assert "overflow" not in str(problem)
