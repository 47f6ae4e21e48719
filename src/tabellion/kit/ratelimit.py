"""Throttles against guessing and flooding, shared by the native API, the pages and dialects.

Built on ``limits`` (moving windows): counters live in memory, so per process, unless
``TABELLION_REDIS_URL`` names a Redis server, where every process of a deployment shares them.
A rule is a name such as ``code-check.ip`` and one or more limits (``"5/minute;20/hour"``);
defaults are in ``RULES`` and ``TABELLION_RATE_LIMITS`` overrides them by name.

Two ways in: ``rate_limited("verify")`` is a FastAPI dependency counting the caller's IP, and
``limiter.enforce("code-request", ip=..., address=...)`` counts the IP and an address that is
only known once the form is read. Both raise ``RateLimited``, a TabellionError, so each API
renders it in its own shape with a ``Retry-After`` header.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from tabellion.errors import TabellionError

log = logging.getLogger("tabellion.ratelimit")

# name -> limits. ".ip" rules count the client address, ".address" rules an e-mail address.
RULES: dict[str, str] = {
    # Asking for a one-time code sends an e-mail: a flood is spam sent in our name.
    "code-request.ip": "10/minute;60/hour",
    "code-request.address": "5/hour",
    # Wrong codes only. Below the 5 tries a code allows, so one client is stopped before it
    # can lock the code of the address's owner (docs/security.md, vault lockout).
    "code-check.ip": "4/15minutes",
    "code-check.address": "30/hour",
    # Starting a sign-in with an identity provider stores a request and sends the browser
    # away; a flood fills the table and wears the operator's provider quota.
    "identity-start.ip": "10/minute;60/hour",
    "identity-start.address": "20/hour",
    "sign-in.ip": "10/minute;100/hour",
    "sign-in.address": "10/15minutes",
    # Wrong authenticator codes after a right password (a code is 6 digits, 3 are valid at a
    # time): fewer tries than passwords, per client and per user.
    "sign-in-code.ip": "10/15minutes;50/day",
    "sign-in-code.address": "5/15minutes;20/day",
    "activation.ip": "10/minute;60/hour",
    "password-reset.ip": "5/minute;30/hour",
    "password-reset.address": "5/hour",
    # The public verify endpoint hashes an upload of up to 50 MiB.
    "verify.ip": "30/minute;300/hour",
    # The e-mailed way back into a locked vault.
    "vault-recovery.address": "3/day",
    # Each credential (API key, client key) calling a foreign dialect.
    "dialect.credential": "600/minute;20000/hour",
}


class RateLimited(TabellionError):
    status = 429
    code = "rate-limited"
    title = "Too many requests"

    def __init__(self, retry_after: int, detail: str | None = None) -> None:
        super().__init__(
            detail or f"Too many requests; retry in {retry_after} seconds.",
            headers={"Retry-After": str(retry_after)},
        )
        self.retry_after = retry_after


def storage_uri(redis_url: str | None) -> str:
    if not redis_url:
        return "async+memory://"
    scheme, sep, rest = redis_url.partition("://")
    if not sep or scheme not in ("redis", "rediss"):
        raise ValueError(f"TABELLION_REDIS_URL must start with redis:// or rediss://: {scheme!r}")
    return f"async+{scheme}://{rest}"


class RateLimiter:
    """The process's limiter (``Runtime.limiter``)."""

    def __init__(
        self, *, redis_url: str | None = None, overrides: Mapping[str, str] | None = None
    ) -> None:
        self.storage: Storage
        if redis_url:
            # redis-py rather than limits' default coredis: one Redis client library to run.
            self.storage = RedisStorage(storage_uri(redis_url), implementation="redispy")
        else:
            self.storage = MemoryStorage()
        self.strategy = MovingWindowRateLimiter(self.storage)
        unknown = set(overrides or {}) - set(RULES)
        if unknown:
            raise ValueError(f"unknown rate limit rules: {', '.join(sorted(unknown))}")
        self.rules: dict[str, list[RateLimitItem]] = {
            name: parse_many(value) for name, value in {**RULES, **(overrides or {})}.items()
        }

    async def _retry_after(self, items: list[RateLimitItem], rule: str, key: str) -> int:
        stats = [await self.strategy.get_window_stats(item, rule, key) for item in items]
        return max(1, math.ceil(max(s.reset_time for s in stats) - time.time()))

    async def hit(self, rule: str, key: str) -> int | None:
        """Count one hit of ``key`` on ``rule``: ``None`` if allowed, else the seconds to wait."""
        return await self._step(self.strategy.hit, rule, key)

    async def peek(self, rule: str, key: str) -> int | None:
        """As ``hit`` without counting: is ``key`` already over the rule?"""
        return await self._step(self.strategy.test, rule, key)

    async def _step(self, step: Callable[..., Awaitable[bool]], rule: str, key: str) -> int | None:
        items = self.rules[rule]
        for item in items:
            if not await step(item, rule, key):
                return await self._retry_after(items, rule, key)
        return None

    async def enforce(
        self,
        name: str,
        *,
        ip: str | None = None,
        address: str | None = None,
        credential: str | None = None,
        count: bool = True,
    ) -> None:
        """Count (or with ``count=False`` only check) the IP, the address and the credential
        on the rules ``name.ip``, ``name.address`` and ``name.credential``; raise RateLimited
        when one is exhausted."""
        step = self.hit if count else self.peek
        for kind, key in (("ip", ip), ("address", address), ("credential", credential)):
            rule = f"{name}.{kind}"
            if key is None or rule not in self.rules:
                continue
            wait = await step(rule, key.lower())
            if wait is not None:
                log.warning("rate limit %s reached by %s", rule, _loggable(kind, key))
                raise RateLimited(wait)

    async def record(self, name: str, *, ip: str | None = None, address: str | None = None) -> None:
        """Count a failure (a wrong code or password) on ``name``'s rules, never raising:
        the next ``enforce(..., count=False)`` refuses once a rule is exhausted."""
        for kind, key in (("ip", ip), ("address", address)):
            rule = f"{name}.{kind}"
            if key is not None and rule in self.rules:
                await self.hit(rule, key.lower())

    async def clear(self) -> None:
        await self.storage.reset()

    async def close(self) -> None:
        if isinstance(self.storage, RedisStorage):
            # The redis-py client under limits' bridge holds the connection pool.
            client: Any = getattr(self.storage.bridge, "storage", None)
            if client is not None:
                await client.aclose()


def _loggable(kind: str, key: str) -> str:
    # An address is personal data: the log names its domain only.
    return key if kind == "ip" else "*@" + key.rpartition("@")[2]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def limiter_of(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.runtime.limiter
    return limiter


async def limit_credential(request: Request, credential_id: str) -> None:
    """Count one call of a foreign dialect by this credential (``dialect.credential``)."""
    await limiter_of(request).enforce("dialect", credential=credential_id)


def rate_limited(name: str) -> Callable[[Request], Awaitable[None]]:
    """A dependency counting the caller's IP on the rule ``name.ip``."""

    async def dependency(request: Request) -> None:
        await limiter_of(request).enforce(name, ip=client_ip(request))

    return dependency


def document_dialect_limits(app: FastAPI, prefix: str = "/compat/") -> None:
    """List the 429 of ``dialect.credential`` (and the 503 of an unavailable database) among
    the responses of every dialect operation, in the dialect's own error shape: the one its
    401 is documented with, since every dialect call authenticates first."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()
        for path, operations in document.get("paths", {}).items():
            if not path.startswith(prefix):
                continue
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                shape = {k: v for k, v in responses.get("401", {}).items() if k == "content"}
                responses.setdefault(
                    "429",
                    {
                        "description": "Too many calls with this credential; retry after "
                        "`Retry-After` seconds (the dialect's error shape)",
                        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                        **shape,
                    },
                )
                responses.setdefault(
                    "503",
                    {
                        "description": "The database is unavailable; retry after "
                        "`Retry-After` seconds (the dialect's error shape)",
                        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                        **shape,
                    },
                )
        return document

    app.openapi = openapi  # type: ignore[method-assign]
