"""``Idempotency-Key`` on every authenticated POST.

The first 2xx response is stored in the same transaction as the change it reports, so a
replay returns exactly what the first call returned, and a crash leaves neither. The
fingerprint covers method, path, query and body; the same key with another request is
refused (409 ``idempotency-key-reused``). Streamed bodies are hashed as the handler reads
them, so uploads keep streaming.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message

from tabellion.errors import IdempotencyKeyReused, ValidationFailed
from tabellion.kit.time import utcnow
from tabellion.models.idempotency import IdempotencyRecord

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
RETENTION = timedelta(hours=24)
_BUFFERED_TYPES = ("application/json", "application/problem+json", "")


class IdempotentReplay(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__("replay")
        self.response = response


@dataclass
class Pending:
    organization_id: str
    key: str
    prefix: bytes
    body_hash: Any = field(default_factory=hashlib.sha256)

    def fingerprint(self) -> str:
        return hashlib.sha256(self.prefix + self.body_hash.digest()).hexdigest()


def _is_buffered(request: Request) -> bool:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return content_type in _BUFFERED_TYPES


def _hash_receive(request: Request, pending: Pending) -> None:
    """Wrap the ASGI receive channel so every body chunk also feeds the fingerprint."""
    receive = request._receive

    async def hashing_receive() -> Message:
        message = await receive()
        if message["type"] == "http.request":
            pending.body_hash.update(message.get("body", b""))
        return message

    request._receive = hashing_receive


async def check(request: Request, session: AsyncSession, organization_id: str) -> None:
    """Replay a stored response, refuse a reused key, or remember the key for ``record``."""
    key = request.headers.get(HEADER)
    if key is None or request.method != "POST":
        return
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isprintable():
        raise ValidationFailed.field(
            "header.Idempotency-Key", f"Must be 1 to {MAX_KEY_LENGTH} printable characters."
        )
    prefix = "\n".join(
        [
            request.method,
            request.url.path,
            request.url.query,
            request.headers.get("content-type", ""),
        ]
    ).encode()
    pending = Pending(organization_id=organization_id, key=key, prefix=prefix)
    record = await session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.organization_id == organization_id, IdempotencyRecord.key == key
        )
    )
    if record is not None and record.created_at < utcnow() - RETENTION:
        await session.delete(record)
        await session.flush()
        record = None
    if _is_buffered(request) or record is not None:
        if _is_buffered(request):
            pending.body_hash.update(await request.body())
        else:
            async for chunk in request.stream():
                pending.body_hash.update(chunk)
        if record is not None:
            if record.fingerprint != pending.fingerprint():
                raise IdempotencyKeyReused(
                    "This Idempotency-Key was used with a different request; use a new key."
                )
            raise IdempotentReplay(
                Response(
                    content=record.body,
                    status_code=record.status_code,
                    media_type=record.content_type,
                    headers={"Idempotent-Replayed": "true"},
                )
            )
    else:
        _hash_receive(request, pending)
    request.state.idempotency = pending


def record(request: Request, session: AsyncSession, response: Response) -> None:
    """Store a successful first response in the request's transaction."""
    pending: Pending | None = getattr(request.state, "idempotency", None)
    if pending is None or not 200 <= response.status_code < 300:
        return
    session.add(
        IdempotencyRecord(
            organization_id=pending.organization_id,
            key=pending.key,
            fingerprint=pending.fingerprint(),
            status_code=response.status_code,
            content_type=response.media_type or "application/json",
            body=bytes(response.body),
            created_at=utcnow(),
        )
    )


async def purge_expired(session: AsyncSession) -> int:
    result = await session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.created_at < utcnow() - RETENTION)
    )
    return int(getattr(result, "rowcount", 0) or 0)
