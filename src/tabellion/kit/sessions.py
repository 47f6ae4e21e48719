"""Browser sessions and one-time codes, shared by the recipient portal and account pages."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from fastapi import Request
from sqlalchemy import delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from tabellion.kit.ids import new_id
from tabellion.kit.time import utcnow
from tabellion.kit.tokens import as_made, constant_time_equals, hmac_sha256, sha256_hex
from tabellion.models.portal import OneTimeCode, WebSession

CODE_VALIDITY = timedelta(minutes=10)
CODE_MAX_ATTEMPTS = 5
CODE_RESEND_INTERVAL = timedelta(seconds=60)
TOO_SOON = "A code was sent less than a minute ago; check your inbox."
CODES_PER_HOUR = 5


class CodeRefused(Exception):
    """Why a code cannot be sent or accepted now. ``reason`` is an English message id with
    ``params`` (pages translate it), ``str()`` the English text."""

    def __init__(self, reason: str, *, locked: bool = False, **params: object) -> None:
        super().__init__(reason % params if params else reason)
        self.reason = reason
        self.params = params
        self.locked = locked


def _code_hash(code_id: str, code: str) -> str:
    return sha256_hex(f"otp:{code_id}:{code}")


def derive_code(signing_key: bytes, code_id: str) -> str:
    """The code of a code id. Derived rather than stored, so the e-mail job's payload holds
    only the id and the database only a hash."""
    digest = hmac_sha256(signing_key, "otp:" + code_id)
    return f"{int.from_bytes(digest[:8], 'big') % 1_000_000:06d}"


def code_of(keys: Sequence[bytes], code: OneTimeCode) -> str:
    """The code of a stored code row, derived with whichever of ``keys`` (the secret key, then
    earlier ones still accepted) issued it: a code issued just before the key changed is still
    the one its e-mail or text message gives."""
    return as_made(
        keys,
        lambda key: derive_code(key, code.id),
        lambda value: constant_time_equals(_code_hash(code.id, value), code.code_hash),
    )


async def issue_code(
    session: AsyncSession, purpose: str, subject: str, *, signing_key: bytes
) -> str:
    """A new code (replacing earlier ones), rate-limited. Returns its id."""
    await _one_issuer_at_a_time(session, purpose, subject)
    now = utcnow()
    recent = list(
        await session.scalars(
            select(OneTimeCode.created_at).where(
                OneTimeCode.purpose == purpose,
                OneTimeCode.subject == subject,
                OneTimeCode.created_at > now - timedelta(hours=1),
            )
        )
    )
    if recent and max(recent) > now - CODE_RESEND_INTERVAL:
        raise CodeRefused(TOO_SOON)
    if len(recent) >= CODES_PER_HOUR:
        raise CodeRefused("Too many codes were asked for; try again in an hour.")
    await session.execute(
        update(OneTimeCode)
        .where(
            OneTimeCode.purpose == purpose,
            OneTimeCode.subject == subject,
            OneTimeCode.consumed_at.is_(None),
        )
        .values(consumed_at=now)
    )
    code_id = new_id("otp")
    code = derive_code(signing_key, code_id)
    session.add(
        OneTimeCode(
            id=code_id,
            purpose=purpose,
            subject=subject,
            code_hash=_code_hash(code_id, code),
            attempts=0,
            expires_at=now + CODE_VALIDITY,
            created_at=now,
        )
    )
    await session.flush()
    return code_id


async def _one_issuer_at_a_time(session: AsyncSession, purpose: str, subject: str) -> None:
    """Queue concurrent requests for a code to the same address until this transaction ends.

    The limits below read the codes sent so far: without this, concurrent requests would all
    read none, each send a code, and each replace the one before. There is no row to lock (a
    vault address has none), so PostgreSQL takes a transaction-scoped advisory lock on the
    pair; SQLite runs one writer at a time anyway.
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"otp:{purpose}:{subject}"},
        )


async def check_code(session: AsyncSession, purpose: str, subject: str, code: str) -> None:
    """Accept the current code once, or raise CodeRefused. Five tries lock it.

    Every try is counted before the code is compared, by one conditional ``UPDATE`` that
    increments and checks the limit: concurrent guesses queue on the row, each sees the
    count the previous one left, and none gets past the fifth, however many arrive at once.
    """
    now = utcnow()
    current = await session.scalar(
        select(OneTimeCode)
        .where(
            OneTimeCode.purpose == purpose,
            OneTimeCode.subject == subject,
            OneTimeCode.consumed_at.is_(None),
        )
        .order_by(OneTimeCode.created_at.desc())
        .limit(1)
    )
    if current is None or current.expires_at <= now:
        raise CodeRefused("This code has expired or was replaced; ask for a new one.")
    attempts = await session.scalar(
        update(OneTimeCode)
        .where(
            OneTimeCode.id == current.id,
            OneTimeCode.attempts < CODE_MAX_ATTEMPTS,
            OneTimeCode.consumed_at.is_(None),
        )
        .values(attempts=OneTimeCode.attempts + 1)
        .returning(OneTimeCode.attempts)
        .execution_options(synchronize_session=False)
    )
    if attempts is None:
        await session.refresh(current)
        if current.consumed_at is not None:  # replaced, or used by a concurrent right try
            raise CodeRefused("This code has expired or was replaced; ask for a new one.")
        raise CodeRefused("Too many wrong codes; ask for a new one.", locked=True)
    candidate = "".join(ch for ch in code if ch.isdigit())
    if not constant_time_equals(current.code_hash, _code_hash(current.id, candidate)):
        left = CODE_MAX_ATTEMPTS - attempts
        if left <= 0:
            raise CodeRefused("Too many wrong codes; ask for a new one.", locked=True)
        raise CodeRefused("That code is not right. %(left)s tries left.", left=left)
    await session.execute(
        update(OneTimeCode)
        .where(OneTimeCode.id == current.id)
        .values(consumed_at=now)
        .execution_options(synchronize_session=False)
    )


def _cookie_name(kind: str) -> str:
    return f"tbl_{kind}"


async def open_session(
    session: AsyncSession,
    request: Request,
    response: Response,
    *,
    kind: str,
    subject: str,
    lifetime: timedelta,
) -> None:
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        WebSession(
            id=new_id("ses"),
            token_hash=sha256_hex(token),
            kind=kind,
            subject=subject,
            expires_at=now + lifetime,
            created_at=now,
        )
    )
    await session.flush()
    response.set_cookie(
        _cookie_name(kind),
        token,
        max_age=int(lifetime.total_seconds()),
        httponly=True,
        secure=request.url.scheme == "https",
        samesite="lax",
        path="/",
    )


async def current_subject(session: AsyncSession, request: Request, kind: str) -> str | None:
    row = await current_session(session, request, kind)
    return row.subject if row is not None else None


async def current_session(session: AsyncSession, request: Request, kind: str) -> WebSession | None:
    """This browser's open session of ``kind``, if any."""
    token = request.cookies.get(_cookie_name(kind))
    if not token:
        return None
    row = await session.scalar(
        select(WebSession).where(
            WebSession.token_hash == sha256_hex(token), WebSession.kind == kind
        )
    )
    return row if row is not None and row.expires_at > utcnow() else None


async def sessions_of(session: AsyncSession, kind: str, subject: str) -> Sequence[WebSession]:
    """The open sessions of ``subject`` (every browser signed in as them), newest first."""
    return (
        await session.scalars(
            select(WebSession)
            .where(
                WebSession.kind == kind,
                WebSession.subject == subject,
                WebSession.expires_at > utcnow(),
            )
            .order_by(WebSession.created_at.desc(), WebSession.id.desc())
            .limit(200)
        )
    ).all()


async def end_sessions(
    session: AsyncSession,
    kind: str,
    subject: str,
    *,
    session_id: str | None = None,
    keep: str | None = None,
) -> int:
    """End ``subject``'s sessions of ``kind`` (only ``session_id`` if given; all but ``keep``
    if given): those browsers are signed out at their next request. Returns how many ended."""
    query = delete(WebSession).where(WebSession.kind == kind, WebSession.subject == subject)
    if session_id is not None:
        query = query.where(WebSession.id == session_id)
    if keep is not None:
        query = query.where(WebSession.id != keep)
    result = await session.execute(query.execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


async def close_session(
    session: AsyncSession, request: Request, response: Response, *, kind: str
) -> None:
    token = request.cookies.get(_cookie_name(kind))
    if token:
        await session.execute(delete(WebSession).where(WebSession.token_hash == sha256_hex(token)))
    response.delete_cookie(_cookie_name(kind), path="/")


async def purge_expired(session: AsyncSession, now: datetime | None = None) -> None:
    now = now or utcnow()
    await session.execute(delete(WebSession).where(WebSession.expires_at <= now))
    await session.execute(
        delete(OneTimeCode).where(OneTimeCode.expires_at <= now - timedelta(days=1))
    )
