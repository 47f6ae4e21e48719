"""Shared steps of the Documenso dialect's tests."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from tabellion.envelope.service import signing_token
from tabellion.models.envelope import EnvelopeRecipient
from tabellion.runtime import Runtime
from tests.compat.test_documenso import BASE, assert_error, created

__all__ = ["BASE", "assert_error", "created", "envelope", "post", "sent", "token_of"]


async def post(
    client: httpx.AsyncClient, key: dict[str, str], path: str, body: dict[str, Any]
) -> httpx.Response:
    return await client.post(f"{BASE}/{path}", json=body, headers=key)


async def envelope(client: httpx.AsyncClient, key: dict[str, str], envelope_id: str) -> Any:
    response = await client.get(f"{BASE}/envelope/{envelope_id}", headers=key)
    assert response.status_code == 200, response.text
    return response.json()


async def sent(client: httpx.AsyncClient, key: dict[str, str], **kw: Any) -> dict[str, Any]:
    """The reference's envelope, distributed; answers the distribute body."""
    envelope_id = await created(client, key, **kw)
    response = await post(client, key, "envelope/distribute", {"envelopeId": envelope_id})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def token_of(runtime: Runtime, email: str) -> str:
    async with runtime.sessions() as session:
        recipient = await session.scalar(
            select(EnvelopeRecipient).where(EnvelopeRecipient.email == email)
        )
        assert recipient is not None
    return signing_token(runtime.settings.signing_key, recipient.id, recipient.token_salt)
