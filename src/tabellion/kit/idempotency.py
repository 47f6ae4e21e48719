"""``Idempotency-Key`` on every authenticated POST.

The first 2xx response is stored in the same transaction as the change it reports, so a
replay returns exactly what the first call returned, and a crash leaves neither. The
fingerprint covers method, path, query and body; the same key with another request is
refused (409 ``idempotency-key-reused``). Streamed bodies are hashed as the handler reads
them, so uploads keep streaming. A ``multipart/form-data`` body is fingerprinted by its parts
(their headers and the SHA-256 of their content), not its bytes: a client draws a new random
boundary for each send (httpx does), so the bytes of a retry differ from the first try's.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
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


class _PartsHash:
    """The SHA-256 of a multipart body's parts, fed chunk by chunk like ``hashlib``'s.

    Each part adds its headers (names lower-cased, ``Content-Disposition`` reduced to its
    parameters, sorted) and the SHA-256 of its content, each length-prefixed, so no two part
    lists give the same input. A body the parser refuses is hashed as raw bytes: the handler
    refuses it too, so no response was stored under it.
    """

    def __init__(self, boundary: bytes) -> None:
        self._whole = hashlib.sha256()
        self._raw = hashlib.sha256()
        self._broken = False
        self._headers: list[bytes] = []
        self._name = bytearray()
        self._value = bytearray()
        self._content = hashlib.sha256()
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._begin,
                "on_header_field": lambda data, start, end: self._name.extend(data[start:end]),
                "on_header_value": lambda data, start, end: self._value.extend(data[start:end]),
                "on_header_end": self._header_end,
                "on_part_data": lambda data, start, end: self._content.update(data[start:end]),
                "on_part_end": self._part_end,
            },
        )

    def _begin(self) -> None:
        self._headers = []
        self._content = hashlib.sha256()

    def _header_end(self) -> None:
        name = bytes(self._name).strip().lower()
        value = bytes(self._value).strip()
        if name == b"content-disposition":
            kind, params = parse_options_header(value)
            value = b";".join([kind.lower(), *(k + b"=" + v for k, v in sorted(params.items()))])
        elif name == b"content-type":
            value = value.lower()
        self._headers.append(name + b":" + value)
        self._name.clear()
        self._value.clear()

    def _part_end(self) -> None:
        headers = b"\n".join(sorted(self._headers))
        self._whole.update(len(headers).to_bytes(8, "big") + headers + self._content.digest())

    def update(self, chunk: bytes) -> None:
        self._raw.update(chunk)
        if not self._broken:
            try:
                self._parser.write(chunk)
            except MultipartParseError:
                self._broken = True

    def digest(self) -> bytes:
        if self._broken:
            return b"raw" + self._raw.digest()
        return self._whole.digest()


def _content_type(request: Request) -> tuple[str, Any]:
    """The content type as fingerprinted, and the hash its body is fed to.

    A multipart body's boundary is left out of both: it changes from one send to the next.
    """
    header = request.headers.get("content-type", "")
    kind, params = parse_options_header(header)
    boundary = params.pop(b"boundary", b"")
    if kind.lower() != b"multipart/form-data" or not boundary:
        return header, hashlib.sha256()
    others = [name + b"=" + value for name, value in sorted(params.items())]
    return b";".join([b"multipart/form-data", *others]).decode("latin-1"), _PartsHash(boundary)


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
    if request.method != "POST":
        return  # first: looking up a header a request lacks raises and catches a KeyError
    key = request.headers.get(HEADER)
    if key is None:
        return
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isprintable():
        raise ValidationFailed.field(
            "header.Idempotency-Key", f"Must be 1 to {MAX_KEY_LENGTH} printable characters."
        )
    content_type, body_hash = _content_type(request)
    prefix = "\n".join([request.method, request.url.path, request.url.query, content_type])
    pending = Pending(
        organization_id=organization_id, key=key, prefix=prefix.encode(), body_hash=body_hash
    )
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
