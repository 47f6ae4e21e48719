"""The webhook HTTP client against a raw TCP server: keep-alive, stale connections, limits."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tabellion.webhook.ssrf import ForbiddenDestination
from tabellion.webhook.transport import MAX_ANSWER_BYTES, SendError, WebhookHttp

Answerer = Callable[[int, bytes], Awaitable[bytes | None]]


@dataclass
class RawServer:
    """Reads each request (headers and Content-Length body), answers what ``answer`` returns.

    ``answer(connection number, request bytes)`` returns the raw answer, or None to close the
    connection without one.
    """

    answer: Answerer
    connections: int = 0
    open_now: int = 0
    most_open: int = 0
    requests: list[bytes] = field(default_factory=list)
    url: str = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                answer = await self.answer(number, request)
                if answer is None:
                    return
                writer.write(answer)
                await writer.drain()
                if b"connection: close" in answer.lower():
                    return
        finally:
            self.open_now -= 1
            writer.close()


@asynccontextmanager
async def raw_server(answer: Answerer) -> AsyncIterator[RawServer]:
    server = RawServer(answer)
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    server.url = f"http://127.0.0.1:{port}/hooks?x=1"
    try:
        yield server
    finally:
        listener.close()


def ok(body: bytes = b"ok", extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n%s\r\n%s" % (len(body), extra, body)


async def always_ok(number: int, request: bytes) -> bytes:
    return ok()


@pytest.fixture
async def http() -> AsyncIterator[WebhookHttp]:
    client = WebhookHttp(frozenset({"127.0.0.1"}), connections=2, timeout=2)
    yield client
    await client.aclose()


async def post(http: WebhookHttp, url: str) -> int:
    answer = await http.post(url, body=b'{"a":1}', headers=[("webhook-id", "evt_1")])
    return answer.status_code


async def test_request_is_well_formed_and_connection_kept(http: WebhookHttp) -> None:
    async with raw_server(always_ok) as server:
        assert [await post(http, server.url) for _ in range(3)] == [200, 200, 200]
    assert server.connections == 1
    head, body = server.requests[0].split(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /hooks?x=1 HTTP/1.1"
    assert b"host: 127.0.0.1:%d" % int(server.url.split(":")[2].split("/")[0]) in lines
    assert b"webhook-id: evt_1" in lines
    assert b"user-agent: Tabellion-Webhooks/1" in lines
    assert body == b'{"a":1}'


async def test_connection_closed_while_idle_is_replaced(http: WebhookHttp) -> None:
    async def close_after_one(number: int, request: bytes) -> bytes | None:
        # The first connection answers once, then the server drops it on the next request.
        return ok() if number > 1 or len(server.requests) == 1 else None

    async with raw_server(close_after_one) as server:
        assert await post(http, server.url) == 200
        assert await post(http, server.url) == 200
    assert server.connections == 2
    assert len(server.requests) == 3  # the one the dropped connection never answered, again


async def test_chunked_answer_is_read_and_connection_kept(http: WebhookHttp) -> None:
    async def chunked(number: int, request: bytes) -> bytes:
        return b"HTTP/1.1 202 Accepted\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"

    async with raw_server(chunked) as server:
        assert [await post(http, server.url) for _ in range(2)] == [202, 202]
    assert server.connections == 1


async def test_huge_answer_is_not_read_and_connection_dropped(http: WebhookHttp) -> None:
    async def huge(number: int, request: bytes) -> bytes:
        return ok(b"x" * (MAX_ANSWER_BYTES * 4))

    async with raw_server(huge) as server:
        assert [await post(http, server.url) for _ in range(2)] == [200, 200]
    assert server.connections == 2


async def test_answer_without_length_ends_with_the_connection(http: WebhookHttp) -> None:
    async def until_close(number: int, request: bytes) -> bytes | None:
        return b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nbye"

    async with raw_server(until_close) as server:
        assert [await post(http, server.url) for _ in range(2)] == [200, 200]
    assert server.connections == 2


async def test_garbage_and_no_answer_are_errors(http: WebhookHttp) -> None:
    async def garbage(number: int, request: bytes) -> bytes:
        return b"SMTP ready\r\n\r\n"

    async with raw_server(garbage) as server:
        with pytest.raises(SendError, match="RemoteProtocolError"):
            await post(http, server.url)

    async def hang_up(number: int, request: bytes) -> None:
        return None

    async with raw_server(hang_up) as server:
        with pytest.raises(SendError, match="closed the connection"):
            await post(http, server.url)


async def test_timeout_drops_the_connection(http: WebhookHttp) -> None:
    slow = asyncio.Event()

    async def first_slow(number: int, request: bytes) -> bytes:
        if not slow.is_set():
            slow.set()
            await asyncio.sleep(5)
        return ok()

    http.timeout = 0.3
    async with raw_server(first_slow) as server:
        with pytest.raises(TimeoutError):
            await post(http, server.url)
        assert await post(http, server.url) == 200
    assert server.connections == 2


async def test_connection_refused_is_a_connect_error(http: WebhookHttp) -> None:
    with pytest.raises(SendError, match="ConnectError"):
        await post(http, "http://127.0.0.1:1/")


async def test_no_more_connections_than_allowed(http: WebhookHttp) -> None:
    async def slowish(number: int, request: bytes) -> bytes:
        await asyncio.sleep(0.05)
        return ok()

    async with raw_server(slowish) as server:
        codes = await asyncio.gather(*(post(http, server.url) for _ in range(8)))
    assert codes == [200] * 8
    assert server.most_open == 2


async def test_guard_refuses_before_connecting() -> None:
    guarded = WebhookHttp(frozenset(), connections=2)
    async with raw_server(always_ok) as server:
        with pytest.raises(ForbiddenDestination):
            await post(guarded, server.url)
    assert server.connections == 0
    await guarded.aclose()


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by its own key: (certificate, key) PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "webhook test receiver")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@asynccontextmanager
async def tls_server(directory: Path) -> AsyncIterator[tuple[RawServer, Path]]:
    cert_file, key_file = _self_signed(directory)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    server = RawServer(always_ok)
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0, ssl=context)
    port = listener.sockets[0].getsockname()[1]
    server.url = f"https://127.0.0.1:{port}/hooks"
    try:
        yield server, cert_file
    finally:
        listener.close()


async def test_https_with_a_trusted_certificate_keeps_the_connection(tmp_path: Path) -> None:
    async with tls_server(tmp_path) as (server, cert_file):
        trusting = WebhookHttp(
            frozenset({"127.0.0.1"}),
            connections=2,
            timeout=5,
            tls=ssl.create_default_context(cafile=str(cert_file)),
        )
        try:
            assert [await post(trusting, server.url) for _ in range(2)] == [200, 200]
        finally:
            await trusting.aclose()
    assert server.connections == 1
    assert server.requests[0].startswith(b"POST /hooks HTTP/1.1\r\n")


async def test_https_with_an_unknown_certificate_is_refused(tmp_path: Path) -> None:
    async with tls_server(tmp_path) as (server, _):
        default = WebhookHttp(frozenset({"127.0.0.1"}), connections=2, timeout=5)
        try:
            with pytest.raises(SendError, match="CERTIFICATE_VERIFY_FAILED"):
                await post(default, server.url)
        finally:
            await default.aclose()
    assert server.requests == []
