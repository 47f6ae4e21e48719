"""The scope matrix: every scope against every endpoint of the native API, allowed or 403.

An allowed call must get past authorisation and reach the handler: it answers the
handler's own result (201, 200, or a domain 404/409/422 for an id that does not exist).
A refused call answers 403 ``insufficient-scope`` naming the scope it lacks. A last test
holds the table against the OpenAPI document, so a new endpoint cannot escape the matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest

from tabellion.app import create_app
from tabellion.auth.subjects import SCOPES
from tabellion.runtime import Runtime
from tests.fixtures.factories import bearer, create_key, message_body
from tests.fixtures.jwt import key_pair
from tests.message.test_endpoints import assert_problem

MSG = "msg_01jd0000000000000000000000"
DLV = "dlv_01jd0000000000000000000000"
EVD = "evd_01jd0000000000000000000000"
WHK = "whk_01jd0000000000000000000000"
EVT = "evt_01jd0000000000000000000000"
ORG = "org_01jd0000000000000000000000"
USR = "usr_01jd0000000000000000000000"
KEY = "key_01jd0000000000000000000000"
CKEY = "ckey_01jd0000000000000000000000"
EC_PEM = key_pair("EC").public_pem
RPL = "rpl_01jd0000000000000000000000"
RCP = "rcp_01jd0000000000000000000000"
ATT = "att_01jd0000000000000000000000"
ENV = "env_01jd0000000000000000000000"
DOC = "doc_01jd0000000000000000000000"
RCP = "rcp_01jd0000000000000000000000"
ANY = ""  # any valid key, whatever its scopes


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    scope: str  # the scope that allows it
    status: int  # what an allowed call answers
    code: str | None = None  # the problem code of an allowed call that fails in its handler
    json: object = None
    content: bytes | None = None
    content_type: str = "application/pdf"
    # Scopes that pass authorisation but may not grant what is asked (403 scope-escalation).
    escalating: tuple[str, ...] = ()

    @property
    def route(self) -> tuple[str, str]:
        """(method, OpenAPI path template) of this call."""
        path = self.path.split("?")[0]
        for fake, name in [
            (MSG, "{message_id}"),
            (DLV, "{delivery_id}"),
            (EVD, "{evidence_id}"),
            (WHK, "{endpoint_id}"),
            (EVT, "{event_id}"),
            (ORG, "{customer_id}"),
            (USR, "{user_id}"),
            (CKEY, "{client_key_id}"),
            (KEY, "{key_id}"),
            (RPL, "{reply_id}"),
            (ATT, "{file_id}"),
            (ENV, "{envelope_id}"),
            (DOC, "{document_id}"),
            (RCP, "{recipient_id}"),
        ]:
            path = path.replace(fake, name)
        return self.method, path


FAMILIES: dict[str, list[Call]] = {
    "messages": [
        Call("POST", "/v1/messages", "messages:write", 201, json=message_body()),
        Call("GET", "/v1/messages", "messages:read", 200),
        Call("GET", f"/v1/messages/{MSG}", "messages:read", 404, "message-not-found"),
        Call("DELETE", f"/v1/messages/{MSG}", "messages:write", 404, "message-not-found"),
        Call(
            "PATCH",
            f"/v1/messages/{MSG}",
            "messages:write",
            404,
            "message-not-found",
            json={"subject": "S"},
        ),
        Call("POST", f"/v1/messages/{MSG}/dispatch", "messages:write", 404, "message-not-found"),
        Call("POST", f"/v1/messages/{MSG}/legal-hold", "messages:write", 404, "message-not-found"),
        Call(
            "DELETE", f"/v1/messages/{MSG}/legal-hold", "messages:write", 404, "message-not-found"
        ),
    ],
    "attachments": [
        Call(
            "POST",
            f"/v1/messages/{MSG}/attachments?filename=a.pdf",
            "messages:write",
            404,
            "message-not-found",
            content=b"%PDF-1.4\n%%EOF\n",
        ),
    ],
    "deliveries": [
        Call("GET", "/v1/deliveries", "messages:read", 200),
        Call("GET", f"/v1/deliveries/{DLV}", "messages:read", 404, "delivery-not-found"),
        Call("GET", f"/v1/deliveries/{DLV}/replies", "messages:read", 404, "delivery-not-found"),
        Call(
            "POST",
            f"/v1/deliveries/{DLV}/resend-notice",
            "messages:write",
            404,
            "delivery-not-found",
        ),
        Call(
            "GET",
            f"/v1/deliveries/{DLV}/replies/{RPL}/files/{ATT}",
            "messages:read",
            404,
            "delivery-not-found",
        ),
        Call(
            "POST",
            f"/v1/deliveries/{DLV}/replies",
            "messages:write",
            404,
            "delivery-not-found",
            json={"body_html": "<p>Thanks</p>"},
        ),
    ],
    "envelopes": [
        Call(
            "POST",
            "/v1/envelopes",
            "messages:write",
            201,
            json={
                "title": "Agreement",
                "recipients": [{"email": "sam@example.test", "name": "Sam", "role": "signer"}],
            },
        ),
        Call("GET", "/v1/envelopes", "messages:read", 200),
        Call("GET", f"/v1/envelopes/{ENV}", "messages:read", 404, "envelope-not-found"),
        Call("DELETE", f"/v1/envelopes/{ENV}", "messages:write", 404, "envelope-not-found"),
        Call(
            "POST", f"/v1/envelopes/{ENV}/legal-hold", "messages:write", 404, "envelope-not-found"
        ),
        Call(
            "DELETE", f"/v1/envelopes/{ENV}/legal-hold", "messages:write", 404, "envelope-not-found"
        ),
        Call(
            "POST",
            f"/v1/envelopes/{ENV}/documents?filename=a.pdf",
            "messages:write",
            404,
            "envelope-not-found",
            content=b"%PDF-1.4\n%%EOF\n",
        ),
        Call(
            "POST",
            f"/v1/envelopes/{ENV}/fields",
            "messages:write",
            404,
            "envelope-not-found",
            json={
                "fields": [
                    {
                        "recipient_id": "rcp_01jd0000000000000000000000",
                        "document_id": DOC,
                        "type": "signature",
                        "page": 1,
                        "x": 10,
                        "y": 10,
                        "width": 20,
                        "height": 5,
                    }
                ]
            },
        ),
        *(
            Call(
                "POST", f"/v1/envelopes/{ENV}/{action}", "messages:write", 404, "envelope-not-found"
            )
            for action in ("send", "cancel", "remind")
        ),
        Call(
            "GET",
            f"/v1/envelopes/{ENV}/documents/{DOC}/signed",
            "messages:read",
            404,
            "envelope-not-found",
        ),
        Call("GET", f"/v1/envelopes/{ENV}/certificate", "messages:read", 404, "envelope-not-found"),
        Call("GET", f"/v1/envelopes/{ENV}/evidence", "messages:read", 404, "envelope-not-found"),
        Call(
            "POST",
            f"/v1/envelopes/{ENV}/recipients/{RCP}/reassign",
            "messages:write",
            404,
            "envelope-not-found",
            json={"email": "kim@example.test", "name": "Kim"},
        ),
        Call(
            "POST",
            f"/v1/envelopes/{ENV}/bulk-send",
            "messages:write",
            404,
            "envelope-not-found",
            content=b"email,name\nkim@example.test,Kim\n",
            content_type="text/csv",
        ),
    ],
    "evidence": [
        Call("GET", f"/v1/evidence/{EVD}", "messages:read", 404, "evidence-not-found"),
        Call("GET", f"/v1/evidence/{EVD}/pdf", "messages:read", 404, "evidence-not-found"),
        Call(
            "GET", f"/v1/deliveries/{DLV}/evidence.zip", "messages:read", 404, "delivery-not-found"
        ),
    ],
    "webhook-endpoints": [
        Call("POST", "/v1/webhook-endpoints", "webhooks", 422, "validation-failed", json={}),
        Call("GET", "/v1/webhook-endpoints", "webhooks", 200),
        Call("GET", f"/v1/webhook-endpoints/{WHK}", "webhooks", 404, "webhook-endpoint-not-found"),
        Call(
            "PATCH",
            f"/v1/webhook-endpoints/{WHK}",
            "webhooks",
            404,
            "webhook-endpoint-not-found",
            json={},
        ),
        Call(
            "DELETE", f"/v1/webhook-endpoints/{WHK}", "webhooks", 404, "webhook-endpoint-not-found"
        ),
        *[
            Call(
                "POST",
                f"/v1/webhook-endpoints/{WHK}/{action}",
                "webhooks",
                404,
                "webhook-endpoint-not-found",
            )
            for action in ("disable", "enable", "rotate-secret", "test")
        ],
        Call(
            "GET",
            f"/v1/webhook-endpoints/{WHK}/attempts",
            "webhooks",
            404,
            "webhook-endpoint-not-found",
        ),
    ],
    "events": [
        Call("GET", "/v1/events", "webhooks", 200),
        Call("GET", f"/v1/events/{EVT}", "webhooks", 404, "event-not-found"),
        Call("POST", f"/v1/events/{EVT}/redeliver", "webhooks", 404, "event-not-found"),
    ],
    "customers": [
        Call(
            "POST",
            "/v1/customers",
            "customers",
            201,
            json={"customers": [{"name": "Bakery", "email": "boss@bakery.test"}]},
        ),
        Call("GET", "/v1/customers", "customers", 200),
        Call("GET", f"/v1/customers/{ORG}", "customers", 404, "customer-not-found"),
        Call("POST", f"/v1/customers/{ORG}/cancel", "customers", 404, "customer-not-found"),
        # The customer's side: withdrawing its reseller's right is an admin act of its own.
        Call("POST", "/v1/organization/revoke-reseller", "admin", 409, "customer-state-conflict"),
    ],
    "retention": [
        # Nothing held about the address: an empty erasure report, an export with no delivery.
        Call("POST", "/v1/erasures", "admin", 200, json={"email": "nobody@example.test"}),
        Call("POST", "/v1/exports", "messages:read", 200, json={"email": "nobody@example.test"}),
    ],
    "users": [
        Call(
            "POST",
            "/v1/users",
            "users",
            201,
            json={"email": "sam@acme.test"},
            escalating=("users",),
        ),
        Call("GET", "/v1/users", "users", 200),
        Call("GET", f"/v1/users/{USR}", "users", 404, "user-not-found"),
        Call("PATCH", f"/v1/users/{USR}", "users", 404, "user-not-found", json={"name": "S"}),
        Call("POST", f"/v1/users/{USR}/deactivate", "users", 404, "user-not-found"),
        Call("POST", f"/v1/users/{USR}/resend-activation", "users", 404, "user-not-found"),
        Call("POST", f"/v1/users/{USR}/totp", "users", 404, "user-not-found"),
        Call(
            "POST",
            f"/v1/users/{USR}/totp/confirm",
            "users",
            404,
            "user-not-found",
            json={"code": "123456"},
        ),
    ],
    "api-keys": [
        Call("POST", "/v1/api-keys", "admin", 201, json={"name": "CRM", "scopes": ["webhooks"]}),
        Call("GET", "/v1/api-keys", "admin", 200),
        Call("DELETE", f"/v1/api-keys/{KEY}", "admin", 404, "api-key-not-found"),
    ],
    "client-keys": [
        Call(
            "POST", "/v1/client-keys", "admin", 201, json={"name": "CRM", "public_key_pem": EC_PEM}
        ),
        Call("GET", "/v1/client-keys", "admin", 200),
        Call("DELETE", f"/v1/client-keys/{CKEY}", "admin", 404, "client-key-not-found"),
    ],
    "organization": [
        Call("GET", "/v1/organization", ANY, 200),
        Call("PATCH", "/v1/organization", "admin", 200, json={"legal_name": "Acme SAS"}),
        # An empty body reaches the handler, which refuses it (no half-set logo).
        Call("PUT", "/v1/organization/logo", "admin", 422, "logo-invalid", content=b""),
        Call("DELETE", "/v1/organization/logo", "admin", 200),
    ],
}

# Answer without an API key: health, the transparency log, and verification.
PUBLIC = {
    ("GET", "/health"),
    ("GET", "/v1/transparency/tree-head"),
    ("GET", "/v1/transparency/consistency"),
    ("GET", "/v1/transparency/inclusion"),
    ("GET", "/v1/transparency/checkpoint"),
    ("GET", "/v1/transparency/checkpoint/key"),
    ("POST", "/v1/verify"),
}


def allows(held: str, needed: str) -> bool:
    """The documented rule (docs/accounts.md), written out independently of the code."""
    if needed == ANY or held in (needed, "admin"):
        return True
    return held == "messages:write" and needed == "messages:read"


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("family", sorted(FAMILIES))
async def test_scope_matrix(
    client: httpx.AsyncClient,
    runtime: Runtime,
    org_key: tuple[str, str],
    family: str,
    scope: str,
) -> None:
    headers = bearer(await create_key(runtime, org_key[0], [scope]))
    for call in FAMILIES[family]:
        extra: dict[str, object] = {"json": call.json} if call.json is not None else {}
        sent = headers
        if call.content is not None:
            extra = {"content": call.content}
            sent = {**headers, "Content-Type": call.content_type}
        response = await client.request(call.method, call.path, headers=sent, **extra)  # type: ignore[arg-type]
        where = f"{scope} {call.method} {call.path}"
        if scope in call.escalating:
            assert_problem(response, 403, "scope-escalation")
        elif allows(scope, call.scope):
            assert response.status_code == call.status, (where, response.text)
            if call.code is not None:
                assert_problem(response, call.status, call.code)
        else:
            problem = assert_problem(response, 403, "insufficient-scope")
            assert f"`{call.scope}`" in str(problem["detail"]), where
            assert scope in str(problem["detail"]), where


def test_the_matrix_covers_every_endpoint() -> None:
    documented = {
        (method.upper(), path)
        for path, operations in create_app().openapi()["paths"].items()
        for method in operations
        # The dialects answer in their own shapes; each checks its scopes in its own tests.
        if not path.startswith("/compat/")
    }
    in_matrix = [call.route for calls in FAMILIES.values() for call in calls]
    assert len(in_matrix) == len(set(in_matrix)), "a route is listed twice"
    assert documented - PUBLIC == set(in_matrix)


def test_the_rule_matches_the_scopes_known_to_the_code() -> None:
    assert set(SCOPES) == {
        "messages:write",
        "messages:read",
        "webhooks",
        "customers",
        "users",
        "admin",
    }
    needed = {call.scope for calls in FAMILIES.values() for call in calls}
    assert needed == set(SCOPES) | {ANY}, "each scope guards at least one endpoint"
