"""One-time codes and browser sessions on their own (``kit.sessions``): how often a code may be
asked for, how it is checked and locked, what a session cookie is and how long it lasts.

The portal tests drive these through pages; here each rule is pinned against the database.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator
from datetime import timedelta
from http.cookies import SimpleCookie

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from tabellion.db import transaction
from tabellion.kit import sessions
from tabellion.kit.sessions import (
    CODE_MAX_ATTEMPTS,
    CODE_RESEND_INTERVAL,
    CODE_VALIDITY,
    CodeRefused,
    check_code,
    close_session,
    current_subject,
    derive_code,
    issue_code,
    open_session,
    purge_expired,
)
from tabellion.kit.time import utcnow
from tabellion.models.portal import OneTimeCode, WebSession
from tabellion.runtime import Runtime

KEY = b"k" * 32
SUBJECT = "jane@example.test"
REPLACED = "This code has expired or was replaced; ask for a new one."
LOCKED = "Too many wrong codes; ask for a new one."


@pytest.fixture
async def db(runtime: Runtime) -> AsyncIterator[AsyncSession]:
    async with transaction(runtime.sessions) as session:
        yield session


async def code_row(db: AsyncSession, code_id: str) -> OneTimeCode:
    row = await db.scalar(
        select(OneTimeCode)
        .where(OneTimeCode.id == code_id)
        .execution_options(populate_existing=True)
    )
    assert row is not None
    return row


async def age(db: AsyncSession, by: timedelta) -> None:
    """Move every code that far into the past (created and expiring)."""
    for row in await db.scalars(select(OneTimeCode)):
        row.created_at -= by
        row.expires_at -= by
    await db.flush()


async def refused(db: AsyncSession, code: str, subject: str = SUBJECT) -> CodeRefused:
    with pytest.raises(CodeRefused) as caught:
        await check_code(db, "vault", subject, code)
    return caught.value


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_a_code_is_six_digits_derived_from_the_key_and_its_id() -> None:
    digest = hmac.new(KEY, b"otp:otp_1", hashlib.sha256).digest()
    expected = f"{int.from_bytes(digest[:8], 'big') % 1_000_000:06d}"
    assert derive_code(KEY, "otp_1") == expected
    codes = {derive_code(KEY, f"otp_{n}") for n in range(50)}
    assert all(len(c) == 6 and c.isdigit() for c in codes)
    assert len(codes) > 45  # not one code for every id
    assert derive_code(b"other" * 8, "otp_1") != derive_code(KEY, "otp_1")


async def test_a_new_code_is_valid_ten_minutes_and_accepted_once(db: AsyncSession) -> None:
    before = utcnow()
    code_id = await issue_code(db, "vault", SUBJECT, signing_key=KEY)
    assert code_id.startswith("otp_")
    row = await code_row(db, code_id)
    assert (row.purpose, row.subject, row.attempts, row.consumed_at) == (
        "vault",
        SUBJECT,
        0,
        None,
    )
    assert before <= row.created_at <= utcnow()
    assert row.expires_at == row.created_at + CODE_VALIDITY
    code = derive_code(KEY, code_id)
    assert code not in row.code_hash  # only a hash is stored

    await check_code(db, "vault", SUBJECT, f" {code[:3]}-{code[3:]} ")  # typed with separators
    assert (await code_row(db, code_id)).consumed_at is not None
    assert str(await refused(db, code)) == REPLACED


async def test_a_code_is_only_good_for_its_purpose_and_subject(db: AsyncSession) -> None:
    code = derive_code(KEY, await issue_code(db, "vault", SUBJECT, signing_key=KEY))
    assert str(await refused(db, code, subject="john@example.test")) == REPLACED
    with pytest.raises(CodeRefused):
        await check_code(db, "delivery", SUBJECT, code)
    await check_code(db, "vault", SUBJECT, code)


async def test_an_expired_code_is_refused(db: AsyncSession) -> None:
    code_id = await issue_code(db, "vault", SUBJECT, signing_key=KEY)
    await db.execute(update(OneTimeCode).values(expires_at=utcnow()))
    assert str(await refused(db, derive_code(KEY, code_id))) == REPLACED
    assert (await code_row(db, code_id)).attempts == 0  # no try counted on a dead code


async def test_wrong_codes_count_down_then_lock_even_the_right_one(db: AsyncSession) -> None:
    code_id = await issue_code(db, "vault", SUBJECT, signing_key=KEY)
    right = derive_code(KEY, code_id)
    for tries in range(1, CODE_MAX_ATTEMPTS):
        refusal = await refused(db, wrong(right))
        left = CODE_MAX_ATTEMPTS - tries
        assert (refusal.reason, refusal.params, refusal.locked) == (
            "That code is not right. %(left)s tries left.",
            {"left": left},
            False,
        )
        assert str(refusal) == f"That code is not right. {left} tries left."
        assert (await code_row(db, code_id)).attempts == tries
    last = await refused(db, wrong(right))
    assert (str(last), last.locked) == (LOCKED, True)
    after = await refused(db, right)
    assert (str(after), after.locked) == (LOCKED, True)
    row = await code_row(db, code_id)
    assert (row.attempts, row.consumed_at) == (CODE_MAX_ATTEMPTS, None)


async def test_the_right_code_on_the_last_try_is_accepted(db: AsyncSession) -> None:
    code_id = await issue_code(db, "vault", SUBJECT, signing_key=KEY)
    right = derive_code(KEY, code_id)
    for _ in range(CODE_MAX_ATTEMPTS - 1):
        await refused(db, wrong(right))
    await check_code(db, "vault", SUBJECT, right)
    assert (await code_row(db, code_id)).consumed_at is not None


async def test_a_new_code_replaces_the_previous_one(db: AsyncSession) -> None:
    first = await issue_code(db, "vault", SUBJECT, signing_key=KEY)
    await age(db, CODE_RESEND_INTERVAL + timedelta(seconds=1))
    second = await issue_code(db, "vault", SUBJECT, signing_key=KEY)
    assert (await code_row(db, first)).consumed_at is not None
    assert (await code_row(db, second)).consumed_at is None
    # The first code is wrong now (a guess at the second), the second is right.
    refusal = await refused(db, derive_code(KEY, first))
    assert refusal.params == {"left": CODE_MAX_ATTEMPTS - 1}
    await check_code(db, "vault", SUBJECT, derive_code(KEY, second))


async def test_another_subjects_code_is_not_replaced(db: AsyncSession) -> None:
    other = await issue_code(db, "vault", "john@example.test", signing_key=KEY)
    await issue_code(db, "delivery", SUBJECT, signing_key=KEY)
    await issue_code(db, "vault", SUBJECT, signing_key=KEY)
    assert (await code_row(db, other)).consumed_at is None


async def test_one_code_a_minute(db: AsyncSession) -> None:
    await issue_code(db, "vault", SUBJECT, signing_key=KEY)
    await age(db, CODE_RESEND_INTERVAL - timedelta(seconds=5))
    with pytest.raises(CodeRefused) as caught:
        await issue_code(db, "vault", SUBJECT, signing_key=KEY)
    assert str(caught.value) == "A code was sent less than a minute ago; check your inbox."
    assert caught.value.locked is False
    # Another address, or another purpose, is not held back.
    await issue_code(db, "vault", "john@example.test", signing_key=KEY)
    await issue_code(db, "delivery", SUBJECT, signing_key=KEY)
    await age(db, timedelta(seconds=10))
    await issue_code(db, "vault", SUBJECT, signing_key=KEY)


async def test_five_codes_an_hour(db: AsyncSession) -> None:
    for _ in range(sessions.CODES_PER_HOUR):
        await issue_code(db, "vault", SUBJECT, signing_key=KEY)
        await age(db, timedelta(minutes=2))
    with pytest.raises(CodeRefused) as caught:
        await issue_code(db, "vault", SUBJECT, signing_key=KEY)
    assert str(caught.value) == "Too many codes were asked for; try again in an hour."
    # The oldest falls out of the hour: one more may be sent.
    await age(db, timedelta(minutes=51))
    await issue_code(db, "vault", SUBJECT, signing_key=KEY)


# ---- browser sessions ---------------------------------------------------------------------


def request(cookies: dict[str, str] | None = None, scheme: str = "http") -> Request:
    header = "; ".join(f"{k}={v}" for k, v in (cookies or {}).items())
    return Request(
        {
            "type": "http",
            "method": "GET",
            "scheme": scheme,
            "server": ("tabellion.test", 443 if scheme == "https" else 80),
            "path": "/",
            "query_string": b"",
            "headers": [(b"cookie", header.encode())] if header else [],
        }
    )


def set_cookie(response: Response) -> SimpleCookie:
    cookie: SimpleCookie = SimpleCookie()
    for name, value in response.raw_headers:
        if name == b"set-cookie":
            cookie.load(value.decode())
    return cookie


async def test_a_session_cookie_signs_its_subject_in_for_its_lifetime(db: AsyncSession) -> None:
    response = Response()
    await open_session(
        db, request(), response, kind="vault", subject=SUBJECT, lifetime=timedelta(hours=2)
    )
    morsel = set_cookie(response)["tbl_vault"]
    token = morsel.value
    assert len(token) >= 40
    assert (morsel["max-age"], morsel["path"], morsel["samesite"]) == ("7200", "/", "lax")
    assert morsel["httponly"] is True and not morsel["secure"]
    row = await db.scalar(select(WebSession))
    assert row is not None
    assert (row.kind, row.subject) == ("vault", SUBJECT)
    assert row.id.startswith("ses_") and token not in row.token_hash
    assert row.expires_at == row.created_at + timedelta(hours=2)

    assert await current_subject(db, request({"tbl_vault": token}), "vault") == SUBJECT
    # The same token means nothing as another kind of session, or under its name.
    assert await current_subject(db, request({"tbl_delivery": token}), "delivery") is None
    assert await current_subject(db, request({"tbl_vault": token + "x"}), "vault") is None
    assert await current_subject(db, request(), "vault") is None

    await db.execute(update(WebSession).values(expires_at=utcnow()))
    assert await current_subject(db, request({"tbl_vault": token}), "vault") is None


async def test_the_cookie_is_secure_over_https(db: AsyncSession) -> None:
    response = Response()
    await open_session(
        db,
        request(scheme="https"),
        response,
        kind="delivery",
        subject="dlv_1",
        lifetime=timedelta(minutes=30),
    )
    morsel = set_cookie(response)["tbl_delivery"]
    assert morsel["secure"] is True and morsel["max-age"] == "1800"


async def test_signing_out_ends_that_session_only(db: AsyncSession) -> None:
    mine, other = Response(), Response()
    for response in (mine, other):
        await open_session(
            db, request(), response, kind="vault", subject=SUBJECT, lifetime=timedelta(hours=1)
        )
    token = set_cookie(mine)["tbl_vault"].value
    other_token = set_cookie(other)["tbl_vault"].value
    out = Response()
    await close_session(db, request({"tbl_vault": token}), out, kind="vault")
    cleared = set_cookie(out)["tbl_vault"]
    assert (cleared.value, cleared["max-age"], cleared["path"]) == ("", "0", "/")
    assert await current_subject(db, request({"tbl_vault": token}), "vault") is None
    assert await current_subject(db, request({"tbl_vault": other_token}), "vault") == SUBJECT
    # Without a cookie there is nothing to end, but the cookie is still cleared.
    out = Response()
    await close_session(db, request(), out, kind="vault")
    assert set_cookie(out)["tbl_vault"]["max-age"] == "0"
    assert await db.scalar(select(func.count()).select_from(WebSession)) == 1


async def test_purge_removes_ended_sessions_and_day_old_codes(db: AsyncSession) -> None:
    for lifetime in (timedelta(hours=-1), timedelta(hours=1)):
        await open_session(
            db, request(), Response(), kind="vault", subject=SUBJECT, lifetime=lifetime
        )
    day_old = await issue_code(db, "vault", SUBJECT, signing_key=KEY)
    await age(db, timedelta(days=1))
    recent = await issue_code(db, "vault", SUBJECT, signing_key=KEY)
    await age(db, timedelta(hours=2))  # expired 1 h 50 min ago, and a day before that
    await purge_expired(db)
    assert set(await db.scalars(select(OneTimeCode.id))) == {recent}
    assert await db.scalar(select(func.count()).select_from(WebSession)) == 1
    await purge_expired(db, now=utcnow() + timedelta(hours=23))
    assert set(await db.scalars(select(OneTimeCode.id))) == set()
    assert await db.scalar(select(func.count()).select_from(WebSession)) == 0
    assert day_old != recent


async def test_purge_counts_the_moment_of_expiry_as_expired(db: AsyncSession) -> None:
    await open_session(
        db, request(), Response(), kind="vault", subject=SUBJECT, lifetime=timedelta(hours=1)
    )
    code_id = await issue_code(db, "vault", SUBJECT, signing_key=KEY)
    ends = await db.scalar(select(WebSession.expires_at))
    assert ends is not None
    await purge_expired(db, now=ends)
    assert await db.scalar(select(func.count()).select_from(WebSession)) == 0
    code = await code_row(db, code_id)
    await purge_expired(db, now=code.expires_at + timedelta(days=1) - timedelta(microseconds=1))
    assert set(await db.scalars(select(OneTimeCode.id))) == {code_id}
    await purge_expired(db, now=code.expires_at + timedelta(days=1))
    assert set(await db.scalars(select(OneTimeCode.id))) == set()


async def test_a_wrong_guess_counts_against_that_code_only(db: AsyncSession) -> None:
    mine = await issue_code(db, "vault", SUBJECT, signing_key=KEY)
    other = await issue_code(db, "vault", "john@example.test", signing_key=KEY)
    letter = await issue_code(db, "delivery", SUBJECT, signing_key=KEY)
    await refused(db, wrong(derive_code(KEY, mine)))
    attempts = {i: (await code_row(db, i)).attempts for i in (mine, other, letter)}
    assert attempts == {mine: 1, other: 0, letter: 0}


async def test_a_new_code_replaces_only_unused_codes_of_its_own_purpose(db: AsyncSession) -> None:
    vault = await issue_code(db, "vault", SUBJECT, signing_key=KEY)
    await issue_code(db, "delivery", SUBJECT, signing_key=KEY)
    assert (await code_row(db, vault)).consumed_at is None
    await check_code(db, "vault", SUBJECT, derive_code(KEY, vault))
    used_at = (await code_row(db, vault)).consumed_at
    await age(db, timedelta(minutes=2))
    await issue_code(db, "vault", SUBJECT, signing_key=KEY)
    # The time the code was used stays what it was.
    assert (await code_row(db, vault)).consumed_at == used_at
