"""Rate limits: the limiter itself, each throttled route, and Redis shared by two processes."""

from __future__ import annotations

import asyncio
import html
import random
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tabellion.app import create_app
from tabellion.config import Settings
from tabellion.kit.ratelimit import RULES, RateLimited, RateLimiter, storage_uri
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
    """An API's 429: problem+json."""
    assert response.status_code == 429, response.text
    assert 0 < int(response.headers["retry-after"]) <= 3600
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "rate-limited"


# The 429 page's title and the units of a wait under an hour, in each language.
PAGE_WORDS = {
    "en": ("Too many attempts", ("second", "minute")),
    "fr": ("Trop de tentatives", ("seconde", "minute")),
    "nl": ("Te veel pogingen", ("seconde", "minu")),
    "de": ("Zu viele Versuche", ("Sekunde", "Minute")),
}


def assert_limited_page(response: httpx.Response, language: str = "en", back: str = "") -> None:
    """A page's 429: HTML in the visitor's language saying how long to wait."""
    assert response.status_code == 429, response.text
    wait = int(response.headers["retry-after"])
    assert 0 < wait <= 3600
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    title, units = PAGE_WORDS[language]
    page = html.unescape(response.text)
    assert f'<html lang="{language}">' in page
    assert f"<h1>{title}</h1>" in page
    # "in 59 seconds", "dans 15 minutes", "over 59 seconden", "in 15 Minuten"
    assert re.search(rf"\d+\s({'|'.join(units)})", page), page
    if back:
        assert f'href="{back}"' in page


async def test_hit_peek_and_retry_after() -> None:
    limiter = RateLimiter(overrides={"sign-in.ip": "2/minute"})
    assert await limiter.peek("sign-in.ip", "1.2.3.4") is None
    assert await limiter.hit("sign-in.ip", "1.2.3.4") is None
    await asyncio.sleep(2.1)
    assert await limiter.hit("sign-in.ip", "1.2.3.4") is None
    # The wait runs until the first hit leaves the minute's window.
    assert await limiter.peek("sign-in.ip", "1.2.3.4") in (57, 58)
    assert await limiter.hit("sign-in.ip", "1.2.3.4") in (57, 58)
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
    assert all(name.rpartition(".")[2] in ("ip", "address", "credential") for name in RULES)


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
    refused = await client.post("/account/activate/unknown-token", data={"password": "x"})
    assert_limited_page(refused, back="/account/activate/unknown-token")


async def test_vault_code_requests_per_ip_and_per_address(client: httpx.AsyncClient) -> None:
    form = csrf((await client.get("/vault")).text)
    for n in range(3):
        sent = await client.post("/vault/code", data={"email": f"a{n}@x.test", "csrf_token": form})
        assert sent.status_code == 303
    refused = await client.post("/vault/code", data={"email": "b@x.test", "csrf_token": form})
    assert_limited_page(refused, back="/vault")
    # The address rule (5 an hour) holds whatever the client's address.
    for n in range(5):
        async with client_from(client, f"198.51.100.{n}") as other:
            sent = await other.post("/vault/code", data={"email": "c@x.test", "csrf_token": form})
            assert sent.status_code == 303
    async with client_from(client, "198.51.100.99") as other:
        refused = await other.post("/vault/code", data={"email": "c@x.test", "csrf_token": form})
    assert_limited_page(refused)


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
    assert_limited_page(await sign_in_status(client, "sam@acme.test"), back="/account/sign-in")
    assert_limited_page(await sign_in_status(client, "other@acme.test"))  # the client's IP
    async with client_from(client, "198.51.100.7") as other:
        assert_limited_page(await sign_in_status(other, "sam@acme.test"))  # the address
        assert (await sign_in_status(other, "other@acme.test")).status_code == 401


async def test_password_reset_rules_are_defined() -> None:
    # The reset pages' throttles (tests/organization/test_password_reset.py) are named,
    # documented (docs/security.md) and configurable, by IP and by address.
    assert RULES["password-reset.ip"] and RULES["password-reset.address"]
    limiter = RateLimiter(overrides={"password-reset.address": "1/hour"})
    await limiter.enforce("password-reset", ip="192.0.2.1", address="Sam@Acme.test")
    with pytest.raises(RateLimited):  # another client, the same address (case folded)
        await limiter.enforce("password-reset", ip="192.0.2.2", address="sam@acme.test")


@pytest.mark.parametrize("language", ["en", "fr", "nl", "de"])
async def test_a_throttled_page_says_how_long_to_wait_in_the_visitors_language(
    client: httpx.AsyncClient, language: str
) -> None:
    client.cookies.set("tbl_lang", language)
    form = csrf((await client.get("/vault")).text)
    for n in range(3):
        await client.post("/vault/code", data={"email": f"a{n}@x.test", "csrf_token": form})
    refused = await client.post("/vault/code", data={"email": "b@x.test", "csrf_token": form})
    assert_limited_page(refused, language, back="/vault")
    # The language links lead to the page the form was on, not to the form's target.
    assert "/vault?lang=" in refused.text and "/vault/code?lang=" not in refused.text


async def test_wrong_vault_codes_get_the_page(
    client: httpx.AsyncClient,
) -> None:
    form = csrf((await client.get("/vault")).text)
    data = {"email": "sam@x.test", "code": "000000", "csrf_token": form}
    for _ in range(4):  # code-check.ip: 4 wrong codes a quarter of an hour
        assert (await client.post("/vault/verify", data=data)).status_code == 200
    assert_limited_page(await client.post("/vault/verify", data=data), back="/vault")
    # (A letter's link: tests/portal/test_registered.py::test_wrong_code_five_times_locks_it.)


async def test_public_verify_page_and_api_share_the_limit_each_in_its_shape(
    client: httpx.AsyncClient,
) -> None:
    files = {"file": ("x.txt", b"not a proof", "text/plain")}
    for _ in range(2):  # verify.ip: 2 a minute here
        page = await client.post("/verify", files=files)
        assert page.status_code == 200, page.text
    client.cookies.set("tbl_lang", "de")
    assert_limited_page(await client.post("/verify", files=files), "de", back="/verify")
    assert_limited(await client.post("/v1/verify", files=files))  # the API: problem+json


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
    assert_limited_page(await sign_in_status(first, email))
    assert_limited_page(await sign_in_status(second, email))


async def test_each_dialect_credential_is_limited_in_the_dialect_shape(
    data_dir: Path, database_url: str
) -> None:
    from tests.compat.registered_email.helpers import STATUS
    from tests.fixtures.factories import create_org_with_key

    settings = make_settings(data_dir, database_url, rate_limits={"dialect.credential": "2/minute"})
    runtime = Runtime.build(settings)
    try:
        _, key = await create_org_with_key(runtime)
        _, other_key = await create_org_with_key(runtime, "Other")
        transport = httpx.ASGITransport(app=create_app(runtime=runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            url = f"{STATUS}?ticket_token=unknown"
            for _ in range(2):
                answer = await client.get(url, headers={"Authorization": f"Bearer {key}"})
                assert answer.status_code != 429
            limited = await client.get(url, headers={"Authorization": f"Bearer {key}"})
            assert limited.status_code == 429
            assert 0 < int(limited.headers["retry-after"]) <= 60
            # The dialect's own shape (XML on the status call), never problem+json.
            assert "problem+json" not in limited.headers["content-type"]
            other = await client.get(url, headers={"Authorization": f"Bearer {other_key}"})
            assert other.status_code != 429  # credentials are counted apart
    finally:
        await runtime.close()
