"""An HTTP client that runs the SSRF guard at connect time, on the addresses it connects to."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

import httpcore
import httpx

from tabellion.webhook.ssrf import resolve_public

TIMEOUT_SECONDS = 10.0


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
    def __init__(self, allowed: Collection[str], *, max_connections: int = 100) -> None:
        super().__init__()
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=max_connections,
            max_keepalive_connections=20,
            keepalive_expiry=30.0,
            network_backend=GuardedBackend(allowed),
        )


def guarded_client(allowed: Collection[str]) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=GuardedTransport(allowed),
        timeout=httpx.Timeout(TIMEOUT_SECONDS),
        follow_redirects=False,
        headers={"User-Agent": "Tabellion-Webhooks/1"},
    )
