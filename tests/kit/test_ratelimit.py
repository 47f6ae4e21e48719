"""Rate limits: the limiter itself, each throttled route, and Redis shared by two processes."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tabellion.app import create_app
from tabellion.config import Settings
from tabellion.kit.ratelimit import RULES, RateLimiter, storage_uri
from tabellion.runtime import Runtime
from tests.conftest import make_settings
from tests.fixtures.server import client_from
from tests.portal.helpers import csrf

REDIS_URL = "redis://127.0.0.1:6379/0"
SMALL = {"verify.ip": "2/minute", "activation.ip": "2/minute", "code-request.ip": "3/minute"}


@pytest.fixture
def settings(data_dir: Path, database_url: str) -> Settings:
    return make_settings(data_dir, database_url, rate_limits=SMALL)


def assert_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert 0 < int(response.headers["retry-after"]) <= 3600
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "rate-limited"


async def test_hit_peek_and_retry_after() -> None:
    limiter = RateLimiter(overrides={"sign-in.ip": "2/minute"})
    assert await limiter.peek("sign-in.ip", "1.2.3.4") is None
    assert await limiter.hit("sign-in.ip", "1.2.3.4") is None
    assert await limiter.hit("sign-in.ip", "1.2.3.4") is None
    wait = await limiter.peek("sign-in.ip", "1.2.3.4")
    assert wait is not None and 55 <= wait <= 60
    assert await limiter.hit("sign-in.ip", "5.6.7.8") is None  # keys are apart
    await limiter.clear()
    assert await limiter.peek("sign-in.ip", "1.2.3.4") is None


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="unknown rate limit rules: nope"):
        RateLimiter(overrides={"nope": "1/minute"})
    with pytest.raises(ValueError):
        RateLimiter(overrides={"verify.ip": "many"})
    assert storage_uri(None) == "async+memory://"
    assert storage_uri(REDIS_URL) == "async+redis://127.0.0.1:6379/0"
    with pytest.raises(ValueError, match="redis://"):
        storage_uri("http://127.0.0.1:6379")
    assert all(name.rpartition(".")[2] in ("ip", "address") for name in RULES)


async def test_public_verify_per_ip(client: httpx.AsyncClient) -> None:
    files = {"file": ("x.txt", b"not a proof", "text/plain")}
    for _ in range(2):
        response = await client.post("/v1/verify", files=files)
        assert response.status_code == 200 and response.json()["result"] == "not-found"
    assert_limited(await client.post("/v1/verify", files=files))
    async with client_from(client, "198.51.100.7") as other:
        assert (await other.post("/v1/verify", files=files)).status_code == 200
    document = (await client.get("/openapi.json")).json()
    assert "429" in document["paths"]["/v1/verify"]["post"]["responses"]


async def test_activation_per_ip(client: httpx.AsyncClient) -> None:
    for _ in range(2):
        page = await client.post("/account/activate/unknown-token", data={"password": "x"})
        assert page.status_code == 403  # no CSRF token: refused, and counted
    assert_limited(await client.post("/account/activate/unknown-token", data={"password": "x"}))


async def test_vault_code_requests_per_ip_and_per_address(client: httpx.AsyncClient) -> None:
    form = csrf((await client.get("/vault")).text)
    for n in range(3):
        sent = await client.post("/vault/code", data={"email": f"a{n}@x.test", "csrf_token": form})
        assert sent.status_code == 303
    assert_limited(await client.post("/vault/code", data={"email": "b@x.test", "csrf_token": form}))
    # The address rule (5 an hour) holds whatever the client's address.
    for n in range(5):
        async with client_from(client, f"198.51.100.{n}") as other:
            sent = await other.post("/vault/code", data={"email": "c@x.test", "csrf_token": form})
            assert sent.status_code == 303
    async with client_from(client, "198.51.100.99") as other:
        refused = await other.post("/vault/code", data={"email": "c@x.test", "csrf_token": form})
    assert_limited(refused)


async def wrong_sign_ins(client: httpx.AsyncClient, email: str, times: int) -> None:
    form = csrf((await client.get("/account/sign-in")).text)
    for _ in range(times):
        response = await client.post(
            "/account/sign-in", data={"email": email, "password": "wrong", "csrf_token": form}
        )
        assert response.status_code == 401, response.text


async def sign_in_status(client: httpx.AsyncClient, email: str) -> httpx.Response:
    form = csrf((await client.get("/account/sign-in")).text)
    return await client.post(
        "/account/sign-in", data={"email": email, "password": "wrong", "csrf_token": form}
    )


async def test_account_sign_in_counts_wrong_passwords(client: httpx.AsyncClient) -> None:
    await wrong_sign_ins(client, "sam@acme.test", 10)
    assert_limited(await sign_in_status(client, "sam@acme.test"))
    assert_limited(await sign_in_status(client, "other@acme.test"))  # the client's IP
    async with client_from(client, "198.51.100.7") as other:
        assert_limited(await sign_in_status(other, "sam@acme.test"))  # the address
        assert (await sign_in_status(other, "other@acme.test")).status_code == 401


@pytest.fixture
async def redis_apps(data_dir: Path, database_url: str) -> AsyncIterator[list[httpx.AsyncClient]]:
    """Two processes' worth of app (two runtimes) sharing the Redis at 127.0.0.1:6379."""
    settings = make_settings(data_dir, database_url, redis_url=REDIS_URL)
    runtimes = [Runtime.build(settings, pool_size=2) for _ in range(2)]
    # Counters outlive the test in Redis: a client address of this run's own.
    ip = f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"
    clients = [
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(runtime=rt), client=(ip, 50000)),
            base_url="http://tabellion.test",
        )
        for rt in runtimes
    ]
    try:
        yield clients
    finally:
        for c in clients:
            await c.aclose()
        for rt in runtimes:
            await rt.close()


async def test_two_instances_share_limits_through_redis(
    redis_apps: list[httpx.AsyncClient],
) -> None:
    first, second = redis_apps
    email = f"{uuid.uuid4().hex}@acme.test"  # a key of its own in the shared Redis
    await wrong_sign_ins(first, email, 6)
    await wrong_sign_ins(second, email, 4)
    assert_limited(await sign_in_status(first, email))
    assert_limited(await sign_in_status(second, email))
