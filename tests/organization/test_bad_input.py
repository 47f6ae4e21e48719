"""Bad input on every accounts endpoint: an RFC 9457 problem naming the field, never a 500.

Run on PostgreSQL too: it refuses NUL characters that SQLite stores, so ids, cursors and
names carrying one must be turned away before any query.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import httpx
import pytest

from tabellion.kit.pagination import encode_cursor
from tests.message.test_endpoints import assert_problem

NUL = "a\x00b"
USR = "usr_01jd0000000000000000000000"


def cursor(value: object) -> str:
    return encode_cursor([value])


@dataclass(frozen=True)
class Bad:
    method: str
    path: str
    body: object = None
    raw: bytes | None = None
    field: str | None = None  # None: a domain error without a field
    error: str = "invalid"  # the field error's code
    status: int = 422
    code: str = "validation-failed"


CASES = [
    # users
    Bad("POST", "/v1/users", {"email": "nope"}, field="email"),
    Bad("POST", "/v1/users", {}, field="email", error="required"),
    Bad(
        "POST",
        "/v1/users",
        {"email": "a@b.test", "role": "owner"},
        field="role",
        error="invalid-choice",
    ),
    Bad("POST", "/v1/users", {"email": "a@b.test", "name": NUL}, field="name"),
    Bad("POST", "/v1/users", {"email": "a@b.test", "name": "a\r\nBcc: x"}, field="name"),
    Bad(
        "POST",
        "/v1/users",
        {"email": "a@b.test", "name": "x" * 256},
        field="name",
        error="too-long",
    ),
    Bad("POST", "/v1/users", {"email": "x" * 400 + "@b.test"}, field="email", error="too-long"),
    Bad(
        "POST", "/v1/users", {"email": "a@b.test", "nick": "x"}, field="nick", error="unknown-field"
    ),
    Bad("POST", "/v1/users", ["a@b.test"], field="body", error="model-attributes-type"),
    Bad("POST", "/v1/users", {"email": 42}, field="email", error="string-type"),
    Bad("POST", "/v1/users", raw=b"{not json", error="invalid-json"),
    Bad("PATCH", f"/v1/users/{USR}", {"role": "owner"}, field="role", error="invalid-choice"),
    Bad("PATCH", f"/v1/users/{USR}", {"name": NUL}, field="name"),
    Bad("PATCH", f"/v1/users/{USR}", {"email": "x@y.test"}, field="email", error="unknown-field"),
    Bad("GET", "/v1/users?limit=0", field="limit", error="out-of-range"),
    Bad("GET", "/v1/users?limit=201", field="limit", error="out-of-range"),
    Bad("GET", "/v1/users?limit=ten", field="limit", error="int-parsing"),
    Bad("GET", "/v1/users?cursor=%25%25", field="cursor"),
    Bad("GET", f"/v1/users?cursor={cursor(NUL)}", field="cursor"),
    Bad("GET", f"/v1/users?cursor={cursor(None)}", field="cursor"),
    Bad("GET", f"/v1/users?cursor={cursor({'id': 1})}", field="cursor"),
    Bad("GET", "/v1/users/a%00b", status=404, code="user-not-found"),
    Bad("GET", "/v1/users/" + "x" * 2000, status=404, code="user-not-found"),
    Bad("PATCH", "/v1/users/a%00b", {"role": "viewer"}, status=404, code="user-not-found"),
    Bad("POST", "/v1/users/a%00b/deactivate", status=404, code="user-not-found"),
    Bad("POST", "/v1/users/a%00b/resend-activation", status=404, code="user-not-found"),
    # customers
    Bad("POST", "/v1/customers", {"customers": []}, field="customers", error="too-few"),
    Bad("POST", "/v1/customers", {}, field="customers", error="required"),
    Bad(
        "POST", "/v1/customers", {"customers": {"name": "X"}}, field="customers", error="list-type"
    ),
    Bad(
        "POST",
        "/v1/customers",
        {"customers": [{"name": "X", "email": "bad"}]},
        field="customers[0].email",
    ),
    Bad(
        "POST",
        "/v1/customers",
        {"customers": [{"email": "a@b.test"}]},
        field="customers[0].name",
        error="required",
    ),
    Bad(
        "POST",
        "/v1/customers",
        {"customers": [{"name": NUL, "email": "a@b.test"}]},
        field="customers[0].name",
    ),
    Bad(
        "POST",
        "/v1/customers",
        {"customers": [{"name": "", "email": "a@b.test"}]},
        field="customers[0].name",
        error="too-short",
    ),
    Bad(
        "POST",
        "/v1/customers",
        {"customers": [{"name": "X", "email": "a@b.test", "is_paying": "maybe"}]},
        field="customers[0].is_paying",
        error="bool-parsing",
    ),
    Bad(
        "POST",
        "/v1/customers",
        {"customers": [{"name": "X", "email": "a@b.test", "vat": "FR1"}]},
        field="customers[0].vat",
        error="unknown-field",
    ),
    Bad(
        "POST",
        "/v1/customers",
        {"customers": [{"name": "X", "email": "a@b.test"}] * 101},
        field="customers",
        error="too-many",
    ),
    Bad("GET", "/v1/customers?state=accepted", field="state", error="invalid-choice"),
    Bad("GET", f"/v1/customers?cursor={cursor(NUL)}", field="cursor"),
    Bad("GET", "/v1/customers/a%00b", status=404, code="customer-not-found"),
    Bad("POST", "/v1/customers/a%00b/cancel", status=404, code="customer-not-found"),
    # API keys
    Bad(
        "POST",
        "/v1/api-keys",
        {"name": "x", "scopes": ["messages:delete"]},
        field="scopes[0]",
        error="invalid-choice",
    ),
    Bad("POST", "/v1/api-keys", {"name": "x", "scopes": []}, field="scopes", error="too-few"),
    Bad(
        "POST", "/v1/api-keys", {"name": "x", "scopes": "admin"}, field="scopes", error="list-type"
    ),
    Bad("POST", "/v1/api-keys", {"scopes": ["admin"]}, field="name", error="required"),
    Bad(
        "POST",
        "/v1/api-keys",
        {"name": "   ", "scopes": ["admin"]},
        field="name",
        error="too-short",
    ),
    Bad("POST", "/v1/api-keys", {"name": NUL, "scopes": ["admin"]}, field="name"),
    Bad(
        "POST",
        "/v1/api-keys",
        {"name": "x" * 256, "scopes": ["admin"]},
        field="name",
        error="too-long",
    ),
    Bad(
        "POST",
        "/v1/api-keys",
        {"name": "x", "scopes": ["admin"], "owner": "me"},
        field="owner",
        error="unknown-field",
    ),
    Bad(
        "POST",
        "/v1/api-keys",
        {"name": "x", "scopes": ["admin"], "expires_at": "2030-01-01T00:00:00"},
        field="expires_at",
    ),
    Bad(
        "POST",
        "/v1/api-keys",
        {"name": "x", "scopes": ["admin"], "expires_at": "2001-01-01T00:00:00Z"},
        field="expires_at",
    ),
    Bad(
        "POST",
        "/v1/api-keys",
        {"name": "x", "scopes": ["admin"], "expires_at": "soon"},
        field="expires_at",
        error="datetime-from-date-parsing",
    ),
    Bad("GET", f"/v1/api-keys?cursor={cursor(NUL)}", field="cursor"),
    Bad("DELETE", "/v1/api-keys/a%00b", status=404, code="api-key-not-found"),
]


def case_id(case: Bad) -> str:
    shown = case.raw.decode() if case.raw is not None else json.dumps(case.body)[:40]
    return f"{case.method} {case.path[:50]} {shown}"


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
async def test_bad_input(client: httpx.AsyncClient, auth: dict[str, str], case: Bad) -> None:
    headers = dict(auth)
    kwargs: dict[str, object] = {}
    if case.raw is not None:
        kwargs["content"] = case.raw
        headers["Content-Type"] = "application/json"
    elif case.body is not None:
        kwargs["json"] = case.body
    response = await client.request(case.method, case.path, headers=headers, **kwargs)  # type: ignore[arg-type]
    problem = assert_problem(response, case.status, case.code)
    errors = problem["errors"]
    assert isinstance(errors, list)
    if case.status != 422:
        assert errors == []
        return
    assert errors, problem
    first = errors[0]
    assert first["code"] == case.error, problem
    if case.field is not None:
        assert [e["field"] for e in errors] == [case.field], problem
    assert first["message"]


async def test_a_failed_request_leaves_nothing(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """A batch with one bad customer registers none of them."""
    batch = [{"name": "Good", "email": "good@x.test"}, {"name": NUL, "email": "bad@x.test"}]
    response = await client.post("/v1/customers", json={"customers": batch}, headers=auth)
    assert_problem(response, 422, "validation-failed")
    assert (await client.get("/v1/customers", headers=auth)).json()["data"] == []


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/account/sign-in", {"email": NUL, "password": "x" * 12}),
        ("/account/sign-in", {"email": "not an address", "password": "x" * 12}),
        ("/account/sign-in", {"email": "nobody@acme.test", "password": NUL}),
    ],
)
async def test_sign_in_with_nonsense_is_401(
    client: httpx.AsyncClient, path: str, data: dict[str, str]
) -> None:
    from tests.organization.test_users import csrf_of

    csrf = csrf_of((await client.get(path)).text)
    response = await client.post(path, data={**data, "csrf_token": csrf})
    assert response.status_code == 401
    assert "The address or the password is not right." in response.text


@pytest.mark.parametrize("token", ["a%00b", "x" * 2000, "forged"])
@pytest.mark.parametrize("page", ["/account/activate/", "/customers/consent/"])
async def test_nonsense_links_are_410(client: httpx.AsyncClient, page: str, token: str) -> None:
    response = await client.get(page + token)
    assert response.status_code == 410
    assert "This link is no longer valid" in response.text
