"""Shared steps of the STAMPEE dialect tests: its credential header, its calls, its errors."""

from __future__ import annotations

import re

import httpx

from tabellion.compat import ids
from tabellion.runtime import Runtime

BASE = "/compat/stampee"
# The fields of STAMPEE's answers, in the reference's order.
BULK_SEND_FIELDS = ["body", "createdAt", "type", "customerReference", "fileReference", "messages"]
CUSTOMER_FIELDS = ["id", "name", "email", "isPaying", "willSendLre", "state", "createdAt"]
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def token(secret: str) -> dict[str, str]:
    return {"X-API-TOKEN": secret}


def assert_error(response: httpx.Response, status: int, code: str) -> str:
    """A STAMPEE error: exactly ``{"message", "code"}``, never problem+json; its message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"message", "code"}, body
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    return str(body["message"])


async def bulk_send(client: httpx.AsyncClient, secret: str, body: dict[str, object]) -> list[str]:
    """Send, expect 201, the 12-digit ids of the letters."""
    response = await client.post(f"{BASE}/messages/bulk_send", json=body, headers=token(secret))
    assert response.status_code == 201, response.text
    found = [m["id"] for m in response.json()["messages"]]
    assert all(re.fullmatch(r"[1-9]\d{11}", i) for i in found), found
    return found


async def delivery_of(runtime: Runtime, organization_id: str, foreign_id: str) -> str:
    async with runtime.sessions() as session:
        native = await ids.native_of(
            session,
            dialect="stampee",
            kind="message",
            foreign_id=foreign_id,
            organization_id=organization_id,
        )
    assert native is not None
    return native


def letter(kind: str = "LS", **extra: object) -> dict[str, object]:
    return {
        "type": kind,
        "body": "<p>Dear John,</p>",
        "recipients": [{"email": "john.doe@example.test", "firstname": "John", "lastname": "Doe"}],
        **extra,
    }
