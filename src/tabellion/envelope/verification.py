"""Recipient authentication on the signing page.

Access authentication (``access_auth``) is passed before the documents show; action
authentication (``action_auth``) before a signature or approval counts. Either leaves a short
browser session (``kit.sessions``) naming the recipient and the method used, which the audit
trail records.

- ``email_otp``: the registered letter's code machinery (``kit.sessions.issue_code`` and
  ``check_code``): a 6-digit code derived from its id, only its hash stored, at most 5 tries
  counted atomically before comparison, then locked; requests and wrong codes throttled by IP
  and address (``kit.ratelimit``).
- ``password``: the recipient is an active user of the sending organisation and types their
  account password (Argon2, throttled as a sign-in).

A recipient listing several action methods passes with any one of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from tabellion.errors import ValidationFailed
from tabellion.jobs.queue import enqueue
from tabellion.kit import sessions
from tabellion.kit.ratelimit import RateLimiter
from tabellion.models.envelope import EnvelopeRecipient
from tabellion.models.user import User
from tabellion.organization.accounts import active_users_at, user_signing_in

CODE_TASK = "envelope.send_code"
ACCESS_SESSION = timedelta(hours=8)
# Long enough to read and sign; short so an unattended browser does not keep the right.
ACTION_SESSION = timedelta(minutes=15)
STEPS = ("access", "action")
CODE_PURPOSE = {"access": "envelope-access", "action": "envelope-action"}
SESSION_KIND = {"access": "envelope", "action": "envelope-action"}
# Methods the signing page can check today.
SUPPORTED_ACCESS_AUTH: frozenset[str] = frozenset({"email_otp"})
SUPPORTED_ACTION_AUTH: frozenset[str] = frozenset({"email_otp", "password"})


class WrongPassword(ValidationFailed):
    code = "wrong-password"
    title = "The password is not right"


@dataclass(frozen=True)
class Passed:
    """A step passed in this browser, and how."""

    step: str
    method: str


def required(recipient: EnvelopeRecipient, step: str) -> list[str]:
    return list(recipient.access_auth if step == "access" else recipient.action_auth)


async def passed(
    session: AsyncSession, request: Request, recipient: EnvelopeRecipient, step: str
) -> Passed | None:
    """The method this browser passed ``step`` with for this recipient, if it did."""
    subject = await sessions.current_subject(session, request, SESSION_KIND[step])
    if subject is None:
        return None
    recipient_id, _, method = subject.partition(":")
    if recipient_id != recipient.id or method not in required(recipient, step):
        return None
    return Passed(step, method)


async def needs(
    session: AsyncSession, request: Request, recipient: EnvelopeRecipient, step: str
) -> bool:
    """Whether ``step`` still stands between this browser and the recipient's documents
    (access) or signature (action)."""
    if not required(recipient, step):
        return False
    return await passed(session, request, recipient, step) is None


async def send_code(
    session: AsyncSession,
    recipient: EnvelopeRecipient,
    step: str,
    *,
    signing_key: bytes,
    language: str,
) -> None:
    """A code by e-mail to the recipient's address (CodeRefused when asked too often)."""
    code_id = await sessions.issue_code(
        session, CODE_PURPOSE[step], recipient.id, signing_key=signing_key
    )
    enqueue(
        session,
        CODE_TASK,
        {"code_id": code_id, "recipient_id": recipient.id, "language": language},
    )


async def check_code(
    session: AsyncSession,
    limiter: RateLimiter,
    recipient: EnvelopeRecipient,
    step: str,
    code: str,
    *,
    ip: str,
) -> None:
    """Accept the recipient's current code, or raise CodeRefused.

    Wrong codes are counted without raising anything else: a raise would roll back the
    request's transaction and with it the code's own count of tries.
    """
    await limiter.enforce("code-check", ip=ip, address=recipient.email, count=False)
    try:
        await sessions.check_code(session, CODE_PURPOSE[step], recipient.id, code)
    except sessions.CodeRefused:
        await limiter.record("code-check", ip=ip, address=recipient.email)
        raise


async def check_password(
    session: AsyncSession,
    limiter: RateLimiter,
    recipient: EnvelopeRecipient,
    password: str,
    *,
    ip: str,
) -> None:
    """The password of the organisation's active user at the recipient's address."""
    await limiter.enforce("sign-in", ip=ip, address=recipient.email, count=False)
    users = await users_at(session, recipient)
    if not password or user_signing_in(users, password[:1024]) is None:
        await limiter.record("sign-in", ip=ip, address=recipient.email)
        raise WrongPassword.field("password", "That password is not right.", code="wrong-password")


async def users_at(session: AsyncSession, recipient: EnvelopeRecipient) -> list[User]:
    """The sending organisation's active users at the recipient's address."""
    users = await active_users_at(session, recipient.email)
    return [u for u in users if u.organization_id == recipient.organization_id]


async def open_step(
    session: AsyncSession,
    request: Request,
    response: Response,
    recipient: EnvelopeRecipient,
    step: str,
    method: str,
) -> None:
    await sessions.open_session(
        session,
        request,
        response,
        kind=SESSION_KIND[step],
        subject=f"{recipient.id}:{method}",
        lifetime=ACCESS_SESSION if step == "access" else ACTION_SESSION,
    )
