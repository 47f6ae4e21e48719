"""Uploads over a real socket: a client that disconnects or sends less than it declared
leaves nothing behind, and memory does not grow with the file size."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import httpx
import pytest

from tabellion.runtime import Runtime
from tests.conftest import count_rows
from tests.fixtures.factories import message_body
from tests.fixtures.server import live_server


def stored_files(data_dir: Path) -> list[Path]:
    return [p for p in (data_dir / "blobs").rglob("*") if p.is_file()]


async def eventually_empty(runtime: Runtime, data_dir: Path) -> None:
    for _ in range(100):
        if not stored_files(data_dir) and await count_rows(runtime, "attachments") == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"left behind: {stored_files(data_dir)}")


async def raw_request(base: str, path: str, headers: dict[str, str], body: bytes) -> None:
    """Send a request whose body is shorter than its Content-Length, then hang up."""
    host, port = base.removeprefix("http://").split(":")
    _reader, writer = await asyncio.open_connection(host, int(port))
    head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items()
    )
    writer.write(head.encode() + b"\r\n" + body)
    await writer.drain()
    await asyncio.sleep(0.2)  # the server is now streaming the body to storage
    writer.close()
    await writer.wait_closed()


async def test_disconnect_mid_upload_stores_nothing(
    runtime: Runtime, auth: dict[str, str], data_dir: Path
) -> None:
    async with live_server(runtime) as base:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            created = await client.post("/v1/messages", json=message_body(), headers=auth)
            message_id = created.json()["id"]
        await raw_request(
            base,
            f"/v1/messages/{message_id}/attachments?filename=a.bin",
            {**auth, "Content-Type": "application/octet-stream", "Content-Length": "10000000"},
            b"x" * 300_000,
        )
        await eventually_empty(runtime, data_dir)
        # A multipart upload cut short inside its file part leaves nothing either.
        boundary = "b0undary"
        part = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n'
                "Content-Type: application/pdf\r\n\r\n"
            ).encode()
            + b"%PDF"
            + b"y" * 300_000
        )
        await raw_request(
            base,
            f"/v1/messages/{message_id}/attachments",
            {
                **auth,
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Content-Length": "5000000",
            },
            part,
        )
        await eventually_empty(runtime, data_dir)
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            ok = await client.post(
                f"/v1/messages/{message_id}/attachments?filename=a.txt",
                content=b"complete",
                headers=auth,
            )
        assert ok.status_code == 201, ok.text
        assert await count_rows(runtime, "attachments") == 1


async def test_truncated_multipart_is_400(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, data_dir: Path
) -> None:
    created = await client.post("/v1/messages", json=message_body(), headers=auth)
    body = (
        b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\n'
        b"no closing boundary"
    )
    response = await client.post(
        f"/v1/messages/{created.json()['id']}/attachments",
        content=body,
        headers={**auth, "Content-Type": "multipart/form-data; boundary=xyz"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "malformed-multipart"
    await eventually_empty(runtime, data_dir)


async def test_upload_memory_does_not_grow_with_file_size(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    import tracemalloc

    created = await client.post("/v1/messages", json=message_body(), headers=auth)
    block = b"z" * (256 * 1024)
    total = 64 * 1024 * 1024

    async def body():
        for _ in range(total // len(block)):
            yield block

    tracemalloc.start()
    try:
        response = await client.post(
            f"/v1/messages/{created.json()['id']}/attachments?filename=big.bin",
            content=body(),
            headers=auth,
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 201, response.text
    assert response.json()["size"] == total
    assert peak < 16 * 1024 * 1024, f"peak traced memory {peak / 2**20:.1f} MiB"


async def test_disconnect_is_logged_in_one_line(
    runtime: Runtime, auth: dict[str, str], data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with live_server(runtime) as base:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            created = await client.post("/v1/messages", json=message_body(), headers=auth)
            message_id = created.json()["id"]
        path = f"/v1/messages/{message_id}/attachments?filename=a.bin"
        with caplog.at_level(logging.INFO):
            await raw_request(
                base,
                path,
                {**auth, "Content-Type": "application/octet-stream", "Content-Length": "10000000"},
                b"x" * 300_000,
            )
            await eventually_empty(runtime, data_dir)
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert problems == []
    lines = [r.getMessage() for r in caplog.records if "disconnected" in r.getMessage()]
    assert lines == [f"client disconnected before the end of POST {path.split('?')[0]}"]
