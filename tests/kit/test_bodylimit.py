"""Bodies are bounded before they are read; anonymous writes are refused unread."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from tabellion.kit.bodylimit import MESSAGE_JSON_BYTES
from tests.portal.helpers import csrf

MiB = 1024 * 1024


@dataclass
class Flood:
    """A chunked JSON body of ``total`` bytes that counts how much of it was read."""

    total: int
    chunk: int = 64 * 1024
    sent: int = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b'{"email": "'
        while self.sent < self.total:
            self.sent += self.chunk
            yield b"a" * self.chunk


def assert_problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code


@pytest.mark.parametrize("path", ["/v1/users", "/v1/webhook-endpoints"])
async def test_600_mib_without_credentials_is_refused_unread(
    client: httpx.AsyncClient, path: str
) -> None:
    flood = Flood(600 * MiB)
    response = await client.post(path, content=flood, headers={"Content-Type": "application/json"})
    assert_problem(response, 401, "unauthorized")
    assert flood.sent == 0


@pytest.mark.parametrize("path", ["/v1/users", "/v1/webhook-endpoints"])
async def test_600_mib_with_credentials_is_cut_at_the_json_limit(
    client: httpx.AsyncClient, auth: dict[str, str], path: str
) -> None:
    flood = Flood(600 * MiB)
    headers = {**auth, "Content-Type": "application/json"}
    response = await client.post(path, content=flood, headers=headers)
    assert_problem(response, 413, "body-too-large")
    assert flood.sent <= MiB + flood.chunk


async def test_declared_length_over_the_limit_is_refused_at_the_headers(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    flood = Flood(2 * MiB)
    headers = {**auth, "Content-Type": "application/json", "Content-Length": str(2 * MiB + 11)}
    response = await client.post("/v1/users", content=flood, headers=headers)
    assert_problem(response, 413, "body-too-large")
    assert flood.sent == 0
    assert "1048576 bytes" in response.json()["detail"]


async def test_a_get_is_bounded_when_it_declares_a_body_and_passes_when_it_has_none(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """A GET without Content-Length or Transfer-Encoding has no body: it goes straight to
    its route. One that declares a body over the limit is refused, as a POST would be."""
    assert (await client.get("/v1/users", headers=auth)).status_code == 200
    flood = Flood(2 * MiB)
    headers = {**auth, "Content-Length": str(2 * MiB + 11)}
    response = await client.request("GET", "/v1/users", content=flood, headers=headers)
    assert_problem(response, 413, "body-too-large")
    assert flood.sent == 0


async def test_forms_are_json_sized_and_uploads_stream_past_it(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    form = csrf((await client.get("/vault")).text)
    big = await client.post("/vault/code", data={"email": "a" * (2 * MiB), "csrf_token": form})
    assert_problem(big, 413, "body-too-large")
    # The verify endpoint takes files up to its own 50 MiB.
    files = {"file": ("big.bin", b"\0" * (3 * MiB), "application/octet-stream")}
    verified = await client.post("/v1/verify", files=files)
    assert verified.status_code == 200 and verified.json()["result"] == "not-found"
    # A message in JSON may be larger than other JSON (10,000 recipients).
    assert MESSAGE_JSON_BYTES > 10_000 * 1024
    huge = await client.post(
        "/v1/messages",
        content=Flood(600 * MiB),
        headers={**auth, "Content-Type": "application/json"},
    )
    assert_problem(huge, 413, "body-too-large")


async def test_the_document_lists_the_413_of_every_body(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    with_body = [
        (path, method, operation["responses"])
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if "requestBody" in operation
    ]
    assert ("/v1/users", "post") in {(path, method) for path, method, _ in with_body}
    for path, method, answers in with_body:
        assert "`body-too-large`" in answers["413"]["description"], (path, method)
