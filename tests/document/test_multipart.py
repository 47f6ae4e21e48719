"""The streaming multipart reader, whatever way the body is cut into chunks."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tabellion.document.multipart import MalformedMultipart, MultipartReader, boundary_of
from tests.fixtures.factories import message_body

BOUNDARY = b"----b0undary"
FILE = b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\r\n--not-the-boundary\r\n%%EOF\n"


def form(*parts: tuple[str, str | None, str | None, bytes]) -> bytes:
    body = b""
    for name, filename, content_type, data in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        body += b"--" + BOUNDARY + b"\r\nContent-Disposition: " + disposition.encode()
        if content_type:
            body += b"\r\nContent-Type: " + content_type.encode()
        body += b"\r\n\r\n" + data + b"\r\n"
    return body + b"--" + BOUNDARY + b"--\r\n"


BODY = form(
    ("message", None, None, b'{"subject": "x"}'),
    ("attachments", "contract.pdf", "application/pdf", FILE),
    ("note", None, None, b"skipped"),
    ("attachments", "empty.txt", "text/plain", b""),
)


async def cut(body: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


async def parts(reader: MultipartReader) -> list[tuple[str, str | None, str | None, bytes]]:
    found = []
    while (part := await reader.next_part()) is not None:
        found.append(
            (part.name, part.filename, part.content_type, await reader.read_all(limit=1 << 20))
        )
    return found


@pytest.mark.parametrize("size", [len(BODY), 1, 2, 7, 64, 1000, 4096])
async def test_parts_whatever_the_chunking(size: int) -> None:
    reader = MultipartReader(cut(BODY, size), BOUNDARY)
    assert await parts(reader) == [
        ("message", None, None, b'{"subject": "x"}'),
        ("attachments", "contract.pdf", "application/pdf", FILE),
        ("note", None, None, b"skipped"),
        ("attachments", "empty.txt", "text/plain", b""),
    ]


async def test_data_streams_in_pieces() -> None:
    big = bytes(range(256)) * 8192  # 2 MiB
    reader = MultipartReader(cut(form(("file", "a.bin", None, big)), 65536), BOUNDARY)
    part = await reader.next_part()
    assert part is not None and part.filename == "a.bin"
    pieces = [chunk async for chunk in reader.data()]
    assert b"".join(pieces) == big
    assert max(len(p) for p in pieces) <= 65536
    assert await reader.next_part() is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (form(("file", "a.txt", None, b"x"))[:-10], "ended before its last boundary"),
        (
            b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; filename="a"\r\n\r\nx\r\n',
            "no name",
        ),
        (b"not multipart at all", "Malformed multipart body"),
    ],
)
async def test_malformed_bodies(body: bytes, message: str) -> None:
    reader = MultipartReader(cut(body, 5), BOUNDARY)
    with pytest.raises(MalformedMultipart, match=message):
        await parts(reader)


async def test_form_field_limit() -> None:
    reader = MultipartReader(cut(form(("message", None, None, b"x" * 100)), 10), BOUNDARY)
    assert await reader.next_part() is not None
    with pytest.raises(MalformedMultipart, match="larger than 50 bytes"):
        await reader.read_all(limit=50)


@pytest.mark.parametrize(
    "content_type", ["application/json", "multipart/form-data", "multipart/mixed; boundary=x"]
)
def test_boundary_is_required(content_type: str) -> None:
    with pytest.raises(MalformedMultipart):
        boundary_of(content_type)
    assert boundary_of(f"multipart/form-data; boundary={BOUNDARY.decode()}") == BOUNDARY


async def test_api_reads_a_form_sent_in_one_piece(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """What curl and most clients do for small forms: every part in the first read."""
    import json

    body = form(
        ("message", None, "application/json", json.dumps(message_body()).encode()),
        ("attachments", "contract.pdf", "application/pdf", FILE),
        ("attachments", "notes.txt", "text/plain", b"notes"),
    )
    response = await client.post(
        "/v1/messages",
        content=body,
        headers={**auth, "Content-Type": f"multipart/form-data; boundary={BOUNDARY.decode()}"},
    )
    assert response.status_code == 201, response.text
    attachments = response.json()["attachments"]
    assert [(a["filename"], a["size"]) for a in attachments] == [
        ("contract.pdf", len(FILE)),
        ("notes.txt", 5),
    ]
