"""Sending webhooks: the SSRF guard runs at connect time, on the addresses connected to."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from tabellion.webhook.ssrf import resolve_public

TIMEOUT_SECONDS = 10.0
USER_AGENT = "Tabellion-Webhooks/1"
# Read from an answer before its connection is given up rather than kept alive.
MAX_ANSWER_BYTES = 65_536
# Concurrent requests (and kept-alive connections) per process, over all endpoints.
MAX_CONNECTIONS = 100


class GuardedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, allowed: Collection[str]) -> None:
        self._allowed = allowed
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await resolve_public(host, port, allowed=self._allowed)
        error: Exception | None = None
        for address in addresses:
            try:
                # TLS still uses the URL's host name for SNI and certificate checks.
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not webhook destinations")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a pool whose every new connection passes the guard.

    A kept-alive connection stays bound to the address that was checked when it opened, so
    reusing it cannot be turned towards another address by a later DNS answer; a new
    connection resolves and checks again.

    Requests enter the pool one at a time: httpcore hands an idle connection to every request
    that arrives before the first of them starts using it, and all but one then retry, so a
    burst of k requests (a batch of jobs starting together) costs about k² pool rounds. The
    gate opens again at the request's first trace event, once its connection is taken.
    """

    def __init__(self, allowed: Collection[str], *, max_connections: int = MAX_CONNECTIONS) -> None:
        # Not super().__init__(): it would build a pool (and load the CA bundle) for nothing.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=30.0,
            network_backend=GuardedBackend(allowed),
        )
        self._gate = asyncio.Lock()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        gate = self._gate
        inner = request.extensions.get("trace")
        entered = False

        async def trace(name: str, info: dict[str, Any]) -> None:
            nonlocal entered
            if not entered:
                entered = True
                gate.release()
                # httpcore reads the extensions afresh for each step: stop tracing.
                if inner is None:
                    del extensions["trace"]
                else:
                    extensions["trace"] = inner
            if inner is not None:
                await inner(name, info)

        await gate.acquire()
        extensions = request.extensions = {**request.extensions, "trace": trace}
        try:
            return await super().handle_async_request(request)
        finally:
            if not entered:
                gate.release()


@dataclass(frozen=True, slots=True)
class Answer:
    status_code: int
    headers: httpx.Headers


class WebhookHttp:
    """The process's one way out for webhooks: a guarded pool and as many slots as connections.

    Sends go to the transport directly, not through an ``httpx.AsyncClient``: the client's
    layers (cookies shared between endpoints, auth, redirects, event hooks) are unwanted here
    and cost about a tenth of each request. Sends wait for a slot rather than in the pool's
    own queue, which costs far more per request; the worker may run more jobs than there are
    connections.
    """

    def __init__(
        self,
        allowed: Collection[str],
        *,
        connections: int = MAX_CONNECTIONS,
        timeout: float = TIMEOUT_SECONDS,
    ) -> None:
        self._transport = GuardedTransport(allowed, max_connections=connections)
        self._slots = asyncio.Semaphore(connections)
        self.timeout = timeout
        self._extensions = {"timeout": dict.fromkeys(("connect", "read", "write", "pool"), timeout)}
        self._urls: dict[str, httpx.URL] = {}

    async def post(self, url: str, *, body: bytes, headers: list[tuple[str, str]]) -> Answer:
        """POST and read (at most 64 KiB of) the answer; redirects are not followed.

        Raises ``TimeoutError`` after the timeout in all, httpx's errors for the network, and
        ForbiddenDestination when the guard refuses the address.
        """
        request = httpx.Request(
            "POST",
            self._url(url),
            headers=[*headers, ("user-agent", USER_AGENT)],
            content=body,
            extensions=self._extensions,
        )
        async with self._slots, asyncio.timeout(self.timeout):
            response = await self._transport.handle_async_request(request)
            try:
                await _drain(response)
            finally:
                await response.aclose()
        return Answer(response.status_code, response.headers)

    async def aclose(self) -> None:
        await self._transport.aclose()

    def _url(self, url: str) -> httpx.URL:
        parsed = self._urls.get(url)
        if parsed is None:
            if len(self._urls) >= 10_000:
                self._urls.clear()
            parsed = self._urls[url] = httpx.URL(url)
        return parsed


async def _drain(response: httpx.Response) -> None:
    """Read the answer so the connection can be reused; a huge one closes it instead."""
    assert isinstance(response.stream, httpx.AsyncByteStream)
    size = 0
    async for chunk in response.stream:
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            break
