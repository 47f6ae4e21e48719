"""Shared steps of the accounts tests."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx

from tests.fixtures.factories import message_body


async def proof(client: httpx.AsyncClient, auth: dict[str, str], evidence_id: str) -> Any:
    """The content of a sealed JSON proof (the JWS payload)."""
    response = await client.get(f"/v1/evidence/{evidence_id}", headers=auth)
    assert response.status_code == 200, response.text
    payload = response.json()["payload"]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


async def key_id_of(client: httpx.AsyncClient, auth: dict[str, str]) -> str:
    [key] = (await client.get("/v1/api-keys", headers=auth)).json()["data"]
    return str(key["id"])


async def send(client: httpx.AsyncClient, auth: dict[str, str], **extra: object) -> dict:
    created = await client.post("/v1/messages", json=message_body(**extra), headers=auth)
    assert created.status_code == 201, created.text
    dispatched = await client.post(f"/v1/messages/{created.json()['id']}/dispatch", headers=auth)
    assert dispatched.status_code == 202, dispatched.text
    return dict(dispatched.json())
