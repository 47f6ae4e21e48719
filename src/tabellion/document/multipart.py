"""A streaming ``multipart/form-data`` reader: parts are read one after another, each part's
body as an async iterator of chunks, so files flow to storage without being held whole."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from python_multipart.multipart import MultipartParser, parse_options_header

from tabellion.document.encryption import put_for
from tabellion.document.storage import BlobStore, StoredBlob
from tabellion.errors import TabellionError


class MalformedMultipart(TabellionError):
    status = 400
    code = "malformed-multipart"
    title = "Malformed multipart body"


# An empty file is refused everywhere (document.sniff.EmptyFile).
BINARY: dict[str, Any] = {"type": "string", "format": "binary", "minLength": 1}


def multipart_schema(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    """The OpenAPI media type of a multipart body with these parts."""
    return {"schema": {"type": "object", "required": required, "properties": properties}}


def multipart_body_doc(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    """The OpenAPI request body of a route that reads its multipart body as a stream (so
    FastAPI cannot describe it)."""
    content = {"multipart/form-data": multipart_schema(properties, required)}
    return {"requestBody": {"required": True, "content": content}}


def upload_body_doc(raw_type: str, description: str) -> dict[str, Any]:
    """The OpenAPI request body of an upload: a raw body, or multipart with a `file` part."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                # OpenAPI has no description on a media type: it goes in the schema.
                raw_type: {
                    "schema": {**BINARY, "description": description},
                },
                "multipart/form-data": multipart_schema({"file": BINARY}, ["file"]),
            },
        }
    }


@dataclass
class PartHeaders:
    name: str
    filename: str | None
    content_type: str | None


def boundary_of(content_type: str) -> bytes:
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise MalformedMultipart("Expected multipart/form-data with a boundary.")
    return boundary


class MultipartReader:
    def __init__(self, stream: AsyncIterator[bytes], boundary: bytes) -> None:
        self._stream = stream
        # What the parser saw, in order, consumed by ``next_part`` and ``data``. One chunk
        # often holds several parts, so each part's headers travel with their event: the
        # parser may already be filling in the next part's while this one is being read.
        self._events: deque[tuple[str, bytes]] = deque()
        self._part_headers: deque[dict[bytes, bytes]] = deque()
        self._headers: dict[bytes, bytes] = {}
        self._header_name = b""
        self._header_value = b""
        self._finished = False
        self._parser = MultipartParser(
            boundary,
            callbacks={
                "on_part_begin": self._on_part_begin,
                "on_part_data": self._on_data,
                "on_part_end": lambda: self._events.append(("end", b"")),
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_end": self._on_end,
            },
        )

    def _on_part_begin(self) -> None:
        self._headers = {}
        self._header_name = self._header_value = b""

    def _on_headers_finished(self) -> None:
        self._part_headers.append(self._headers)
        self._events.append(("headers", b""))

    def _on_data(self, data: bytes, start: int, end: int) -> None:
        self._events.append(("data", bytes(data[start:end])))

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        self._headers[self._header_name.lower()] = self._header_value
        self._header_name = self._header_value = b""

    def _on_end(self) -> None:
        self._finished = True
        self._events.append(("finish", b""))

    async def _next_event(self) -> tuple[str, bytes]:
        while not self._events:
            try:
                chunk = await anext(self._stream)
            except StopAsyncIteration:
                raise MalformedMultipart(
                    "The multipart body ended before its last boundary."
                ) from None
            if chunk:
                try:
                    self._parser.write(chunk)
                except Exception as exc:  # the parser raises its own error types
                    raise MalformedMultipart(f"Malformed multipart body: {exc}") from exc
        return self._events.popleft()

    async def next_part(self) -> PartHeaders | None:
        """The next part's headers, or None after the last part."""
        while True:
            kind, _ = await self._next_event()
            if kind == "finish":
                return None
            if kind == "headers":
                return self._parse_headers(self._part_headers.popleft())

    def _parse_headers(self, headers: dict[bytes, bytes]) -> PartHeaders:
        disposition = headers.get(b"content-disposition", b"")
        _, options = parse_options_header(disposition)
        name = options.get(b"name")
        if name is None:
            raise MalformedMultipart("A part has no name in its Content-Disposition.")
        filename = options.get(b"filename")
        content_type = headers.get(b"content-type")
        return PartHeaders(
            name=name.decode("utf-8", "replace"),
            filename=filename.decode("utf-8", "replace") if filename is not None else None,
            content_type=content_type.decode("latin-1") if content_type else None,
        )

    async def data(self) -> AsyncIterator[bytes]:
        """The current part's body; must be consumed before ``next_part``."""
        while True:
            kind, payload = await self._next_event()
            if kind == "data":
                if payload:
                    yield payload
            elif kind == "end":
                return
            else:
                raise MalformedMultipart("Unexpected structure in the multipart body.")

    async def read_all(self, *, limit: int) -> bytes:
        buffer = bytearray()
        async for chunk in self.data():
            buffer += chunk
            if len(buffer) > limit:
                raise MalformedMultipart(f"A form field is larger than {limit} bytes.")
        return bytes(buffer)


@dataclass
class StoredForm:
    """A multipart form read to its end: its kept text fields, and its files in storage."""

    fields: dict[str, bytes] = field(default_factory=dict)
    files: list[tuple[StoredBlob, str, str | None]] = field(default_factory=list)


async def store_form(
    reader: MultipartReader,
    storage: BlobStore,
    *,
    text_fields: Collection[str],
    file_field: str,
    max_bytes: int,
    max_files: int,
    too_many: Callable[[], Exception],
    field_limit: int,
    organization_id: str | None,
) -> StoredForm:
    """Read a whole form: each ``file_field`` part streamed into storage (never held whole,
    under ``organization_id``'s key when the store encrypts), the named text fields kept (each
    up to ``field_limit`` bytes), every other part skipped."""
    form = StoredForm()
    while (part := await reader.next_part()) is not None:
        if part.name in text_fields and part.filename is None:
            form.fields[part.name] = await reader.read_all(limit=field_limit)
        elif part.name == file_field:
            if len(form.files) >= max_files:
                raise too_many()
            blob = await put_for(
                storage, reader.data(), organization_id=organization_id, max_bytes=max_bytes
            )
            form.files.append((blob, part.filename or "attachment", part.content_type))
        else:
            async for _ in reader.data():
                pass
    return form
