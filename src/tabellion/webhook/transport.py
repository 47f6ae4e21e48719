"""Sending webhooks: a small HTTP/1.1 client whose SSRF guard runs on the addresses connected to.

Webhooks need one thing from HTTP: POST a small body, read the status and a few headers, keep
the connection for the next send. httpx's stack (client, transport, httpcore's pool, anyio)
spent about twice the time of everything else a delivery does; here a request is h11 over an
asyncio stream, with a plain pool of kept-alive connections per origin.

- The guard: a new connection resolves the host and checks every address before connecting.
  A kept-alive connection stays bound to the address that was checked when it opened, so a
  later DNS answer cannot turn it towards another address; a new connection checks again.
- At most ``connections`` requests are in flight and at most as many connections open, over
  all endpoints; an idle connection of another origin is closed to make room.
- Redirects are not followed; at most 64 KiB of an answer is read, past that the connection
  is dropped rather than kept; one timeout covers connecting, sending and reading.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import quote, urlsplit

import h11

from tabellion.kit.deadlines import Deadlines
from tabellion.webhook.ssrf import resolve_public

TIMEOUT_SECONDS = 10.0
USER_AGENT = "Tabellion-Webhooks/1"
# Read from an answer before its connection is given up rather than kept alive.
MAX_ANSWER_BYTES = 65_536
# Concurrent requests (and open connections) per process, over all endpoints.
MAX_CONNECTIONS = 100
# An idle connection older than this is closed rather than reused.
KEEPALIVE_SECONDS = 30.0
READ_CHUNK = 65_536


class SendError(Exception):
    """The request failed on the network, or the answer was not HTTP/1.1."""


class _Stale(Exception):
    """A kept-alive connection was closed by the server before it answered anything."""


class Answer(NamedTuple):
    status_code: int
    raw_headers: Sequence[tuple[bytes, bytes]]  # h11's, names in lower case

    @property
    def headers(self) -> dict[str, str]:
        """Lower-case names; the last of repeated headers. Decoded when asked: a send looks
        at them only on a 429 or 503 (``Retry-After``)."""
        return {name.decode("latin-1"): value.decode("latin-1") for name, value in self.raw_headers}


@dataclass(frozen=True, slots=True)
class _Target:
    origin: tuple[str, str, int]  # scheme, host, port
    host_header: str
    path: bytes


class _Connection:
    __slots__ = ("h11", "idle_since", "origin", "reader", "writer")

    def __init__(
        self,
        origin: tuple[str, str, int],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.origin = origin
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_ANSWER_BYTES)
        self.idle_since = 0.0

    def usable(self, now: float) -> bool:
        return (
            now - self.idle_since < KEEPALIVE_SECONDS
            and not self.reader.at_eof()
            and not self.writer.is_closing()
        )

    def close(self) -> None:
        self.writer.close()

    async def exchange(self, request: h11.Request, body: bytes, *, reused: bool) -> Answer:
        """Send the request and read the answer (h11 checks both, headers included)."""
        conn = self.h11
        try:
            self.writer.write(
                conn.send(request) + conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage())
            )
            await self.writer.drain()
            response: h11.Response | None = None
            size = 0
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    data = await self.reader.read(READ_CHUNK)
                    if not data and response is None:
                        if reused:
                            raise _Stale
                        raise SendError("RemoteProtocolError: the server closed the connection")
                    conn.receive_data(data)
                elif isinstance(event, h11.Response):
                    response = event
                elif isinstance(event, h11.Data):
                    size += len(event.data)
                    if size > MAX_ANSWER_BYTES:
                        raise _TooLarge(_answer(response))
                elif isinstance(event, h11.EndOfMessage):
                    return _answer(response)
                elif isinstance(event, h11.ConnectionClosed):
                    raise SendError("RemoteProtocolError: the server closed the connection")
                # h11.InformationalResponse (1xx): wait for the final answer.
        except (ConnectionError, ssl.SSLError) as exc:
            if (
                reused
                and self.h11.their_state is h11.SEND_RESPONSE
                and isinstance(exc, ConnectionResetError | BrokenPipeError)
            ):
                raise _Stale from exc
            raise SendError(f"{type(exc).__name__}: {exc}") from exc
        except h11.ProtocolError as exc:
            raise SendError(f"RemoteProtocolError: {exc}") from exc

    def reusable(self) -> bool:
        if self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE:
            self.h11.start_next_cycle()
            return True
        return False


class _TooLarge(Exception):
    def __init__(self, answer: Answer) -> None:
        self.answer = answer


def _answer(response: h11.Response | None) -> Answer:
    assert response is not None
    return Answer(response.status_code, response.headers)


class WebhookHttp:
    """The process's one way out for webhooks: guarded connections, as many slots as connections."""

    def __init__(
        self,
        allowed: Collection[str],
        *,
        connections: int = MAX_CONNECTIONS,
        timeout: float = TIMEOUT_SECONDS,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        """``tls`` replaces the default context (certifi's CA bundle) to trust a private CA."""
        self._allowed = allowed
        self._max = connections
        self._slots = asyncio.Semaphore(connections)
        self.timeout = timeout
        self._deadlines = Deadlines()
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._open = 0
        self._targets: dict[str, _Target] = {}
        self._tls = tls

    async def post(self, url: str, *, body: bytes, headers: list[tuple[str, str]]) -> Answer:
        """POST and read (at most 64 KiB of) the answer; redirects are not followed.

        Raises ``TimeoutError`` after the timeout in all, SendError for the network, and
        ForbiddenDestination when the guard refuses the address.
        """
        target = self._target(url)
        request = h11.Request(
            method="POST",
            target=target.path,
            headers=[
                ("host", target.host_header),
                ("content-length", str(len(body))),
                *headers,
                ("user-agent", USER_AGENT),
            ],
        )
        async with self._slots, self._deadlines.within(self.timeout):
            connection = self._take_idle(target.origin)
            if connection is not None:
                try:
                    return await self._exchange(connection, request, body, reused=True)
                except _Stale:
                    pass  # closed while idle: nothing was answered, send on a new one
            connection = await self._connect(target)
            return await self._exchange(connection, request, body, reused=False)

    async def aclose(self) -> None:
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()
        self._open = 0

    # ---- connections ----------------------------------------------------------------------

    async def _exchange(
        self, connection: _Connection, request: h11.Request, body: bytes, *, reused: bool
    ) -> Answer:
        keep = False
        try:
            answer = await connection.exchange(request, body, reused=reused)
            keep = connection.reusable()
            return answer
        except _TooLarge as too_large:
            return too_large.answer
        finally:
            # Also on timeout or cancellation: a connection in an unknown state is not reused.
            if keep:
                connection.idle_since = time.monotonic()
                self._idle.setdefault(connection.origin, []).append(connection)
            else:
                connection.close()
                self._open -= 1

    def _take_idle(self, origin: tuple[str, str, int]) -> _Connection | None:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            connection = idle.pop()  # the most recently used: the likeliest to be alive
            if connection.usable(now):
                return connection
            connection.close()
            self._open -= 1
        return None

    def _make_room(self) -> None:
        """Close the idle connection unused the longest, so open connections stay ≤ max."""
        oldest: list[_Connection] | None = None
        for idle in self._idle.values():
            if idle and (oldest is None or idle[0].idle_since < oldest[0].idle_since):
                oldest = idle
        if oldest is not None:
            oldest.pop(0).close()
            self._open -= 1

    async def _connect(self, target: _Target) -> _Connection:
        scheme, host, port = target.origin
        if self._open >= self._max:
            self._make_room()
        addresses = await resolve_public(host, port, allowed=self._allowed)
        tls = self._tls_context() if scheme == "https" else None
        error: OSError | None = None
        for address in addresses:
            try:
                # TLS still checks the certificate against the URL's host name.
                reader, writer = await asyncio.open_connection(
                    address, port, ssl=tls, server_hostname=host if tls else None
                )
            except OSError as exc:
                error = exc
                continue
            self._open += 1
            return _Connection(target.origin, reader, writer)
        raise SendError(f"ConnectError: {error}") from error

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            import httpx  # its CA bundle (certifi), as for every other outgoing request

            self._tls = httpx.create_ssl_context()
        return self._tls

    def _target(self, url: str) -> _Target:
        target = self._targets.get(url)
        if target is None:
            if len(self._targets) >= 10_000:
                self._targets.clear()
            parts = urlsplit(url)
            scheme = parts.scheme.lower()
            host = _ascii_host(parts.hostname or "")
            port = parts.port or (443 if scheme == "https" else 80)
            default = port == (443 if scheme == "https" else 80)
            shown = f"[{host}]" if ":" in host else host
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            target = self._targets[url] = _Target(
                (scheme, host, port),
                shown if default else f"{shown}:{port}",
                quote(path, safe="/?&=%:@!$'()*+,;~-._").encode("ascii"),
            )
        return target


def _ascii_host(host: str) -> str:
    try:
        return host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return host.lower()
