"""Concurrent guesses at a one-time code: the fifth try locks it, however many arrive at once.

Before tries were counted by one conditional ``UPDATE``, 40 wrong guesses sent together on
PostgreSQL were each counted from the same stale value, and the right code was accepted next.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tabellion.config import Settings
from tabellion.kit.sessions import CODE_MAX_ATTEMPTS
from tabellion.models.portal import OneTimeCode
from tabellion.runtime import Runtime
from tests.conftest import make_settings
from tests.fixtures.database import race_on_writes
from tests.portal.helpers import code_sent, csrf, dispatch, latest_code, notify

GUESSES = 40


@pytest.fixture
def settings(data_dir: Path, database_url: str) -> Settings:
    # The per-IP and per-address limits (tests/kit/test_ratelimit.py) would stop most guesses
    # before they reach the code: here the code's own count of tries is under test.
    relaxed = {
        f"{name}.{kind}": "1000/minute"
        for name in ("code-check", "code-request", "sign-in")
        for kind in ("ip", "address")
    }
    return make_settings(data_dir, database_url, rate_limits=relaxed)


def wrong_for(right: str) -> str:
    return "000000" if right != "000000" else "111111"


async def attempts_recorded(runtime: Runtime, subject: str) -> int:
    async with runtime.sessions() as session:
        from sqlalchemy import select

        row = await session.scalar(select(OneTimeCode).where(OneTimeCode.subject == subject))
    assert row is not None and row.consumed_at is None
    return row.attempts


async def test_concurrent_wrong_guesses_lock_the_letters_code(
    served: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    sent = await code_sent(served, auth, runtime)
    link, token, right = sent.link, sent.token, sent.code
    guesses = await asyncio.gather(
        *(
            served.post(f"{link}/verify", data={"code": wrong_for(right), "csrf_token": token})
            for _ in range(GUESSES)
        )
    )
    assert all(r.status_code == 200 for r in guesses)
    locked = sum("Too many wrong codes" in r.text for r in guesses)
    assert locked == GUESSES - (CODE_MAX_ATTEMPTS - 1)
    assert await attempts_recorded(runtime, sent.delivery_id) == CODE_MAX_ATTEMPTS
    after = await served.post(f"{link}/verify", data={"code": right, "csrf_token": token})
    assert after.status_code == 200 and "Too many wrong codes" in after.text
    assert "Accept the letter" not in (await served.get(link)).text


async def test_concurrent_wrong_guesses_lock_the_vault_code(
    served: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    delivery = await dispatch(served, auth, mode="deliver")
    await notify(runtime, delivery["id"])
    email = delivery["recipient"]["email"]
    page = await served.get("/vault")
    token = csrf(page.text)
    sent = await served.post("/vault/code", data={"email": email, "csrf_token": token})
    assert sent.status_code == 303
    right = await latest_code(runtime, email)
    guesses = await asyncio.gather(
        *(
            served.post(
                "/vault/verify",
                data={"email": email, "code": wrong_for(right), "csrf_token": token},
            )
            for _ in range(GUESSES)
        )
    )
    assert sum("Too many wrong codes" in r.text for r in guesses) == GUESSES - 4
    assert await attempts_recorded(runtime, email) == CODE_MAX_ATTEMPTS
    after = await served.post(
        "/vault/verify", data={"email": email, "code": right, "csrf_token": token}
    )
    assert after.status_code == 200 and "Too many wrong codes" in after.text
    assert "tbl_vault=" not in after.headers.get("set-cookie", "")


async def test_concurrent_code_requests_send_one_code(
    served: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    from sqlalchemy import func, select

    delivery = await dispatch(served, auth)
    link = await notify(runtime, delivery["id"])
    token = csrf((await served.get(link)).text)
    asked = await race_on_writes(
        runtime,
        "one_time_codes",
        (served.post(f"{link}/code", data={"csrf_token": token}) for _ in range(GUESSES // 2)),
    )
    assert sorted(r.status_code for r in asked) == [303] + [429] * (GUESSES // 2 - 1)
    async with runtime.sessions() as session:
        codes = await session.scalar(
            select(func.count()).where(OneTimeCode.subject == delivery["id"])
        )
    assert codes == 1
