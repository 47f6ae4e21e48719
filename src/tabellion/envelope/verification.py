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
- ``passkey``: WebAuthn (the ``webauthn`` library). A recipient who needs it also needs
  ``email_otp`` access authentication: the first time, once the e-mailed code is confirmed, the
  browser creates a passkey for the address within the organisation; after that (this envelope
  or later ones), the passkey must sign a fresh challenge. Challenges are one-time rows of the
  code table, valid 5 minutes.

A recipient listing several action methods passes with any one of them.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import (
    InvalidAuthenticationResponse,
    InvalidCBORData,
    InvalidRegistrationResponse,
)
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from tabellion.envelope import evidence
from tabellion.errors import ValidationFailed
from tabellion.jobs.queue import enqueue
from tabellion.kit import sessions
from tabellion.kit.ids import new_id
from tabellion.kit.ratelimit import RateLimiter
from tabellion.kit.time import isoformat_z, utcnow
from tabellion.kit.tokens import sha256_hex
from tabellion.models.envelope import EnvelopePasskey, EnvelopeRecipient
from tabellion.models.portal import OneTimeCode
from tabellion.models.user import User
from tabellion.organization import totp
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
SUPPORTED_ACTION_AUTH: frozenset[str] = frozenset({"email_otp", "password", "passkey", "totp"})
PASSKEY_PURPOSE = "envelope-passkey"
CHALLENGE_VALIDITY = timedelta(minutes=5)


class PasskeyFailed(ValidationFailed):
    code = "passkey-failed"
    title = "The passkey could not be checked"


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


async def check_totp(
    session: AsyncSession,
    limiter: RateLimiter,
    recipient: EnvelopeRecipient,
    code: str,
    *,
    ip: str,
    keys: Sequence[bytes],
) -> None:
    """The current code of the authenticator app of the organisation's active user at the
    recipient's address (each code good once; wrong ones throttled as sign-ins)."""
    await limiter.enforce("sign-in", ip=ip, address=recipient.email, count=False)
    users = [u for u in await users_at(session, recipient) if totp.enrolled(u)]
    if not any(totp.accept(u, code[:16], keys) for u in users):
        await limiter.record("sign-in", ip=ip, address=recipient.email)
        raise WrongPassword.field("code", "That code is not right.", code="wrong-totp-code")
    await session.flush()


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
    """A passed authentication step: this browser's session, and the evidence of it."""
    now = utcnow()
    evidence.of_recipient(
        session,
        evidence.Kind.AUTHENTICATED,
        recipient,
        now,
        step=step,
        method=method,
        actor={
            "ip": request.client.host if request.client else None,
            "user_agent": request.headers.get("user-agent", "")[:500],
            "at": isoformat_z(now),
        },
    )
    await sessions.open_session(
        session,
        request,
        response,
        kind=SESSION_KIND[step],
        subject=f"{recipient.id}:{method}",
        lifetime=ACCESS_SESSION if step == "access" else ACTION_SESSION,
    )


def _relying_party(base_url: str) -> tuple[str, str]:
    """The RP id (host name) and origin of the public URL the signing links use."""
    parts = urlsplit(base_url)
    return parts.hostname or "localhost", f"{parts.scheme}://{parts.netloc}"


async def _passkeys(session: AsyncSession, recipient: EnvelopeRecipient) -> list[EnvelopePasskey]:
    query = select(EnvelopePasskey).where(
        EnvelopePasskey.organization_id == recipient.organization_id,
        EnvelopePasskey.email == recipient.email.lower(),
    )
    return list(await session.scalars(query))


async def passkey_options(
    session: AsyncSession, recipient: EnvelopeRecipient, *, base_url: str
) -> dict[str, Any]:
    """WebAuthn options for this recipient: to create its passkey the first time, else to
    sign with one of its passkeys. The challenge is kept, hashed, for ``check_passkey``."""
    rp_id, _ = _relying_party(base_url)
    challenge = secrets.token_bytes(32)
    known = await _passkeys(session, recipient)
    options: Any
    if known:
        mode = "authenticate"
        options = generate_authentication_options(
            rp_id=rp_id,
            challenge=challenge,
            allow_credentials=[
                PublicKeyCredentialDescriptor(id=base64url_to_bytes(k.credential_id)) for k in known
            ],
            user_verification=UserVerificationRequirement.PREFERRED,
        )
    else:
        mode = "register"
        options = generate_registration_options(
            rp_id=rp_id,
            rp_name="Tabellion",
            user_name=recipient.email,
            user_display_name=recipient.name,
            challenge=challenge,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.PREFERRED,
                user_verification=UserVerificationRequirement.PREFERRED,
            ),
        )
    await session.execute(
        update(OneTimeCode)
        .where(
            OneTimeCode.purpose == PASSKEY_PURPOSE,
            OneTimeCode.subject == recipient.id,
            OneTimeCode.consumed_at.is_(None),
        )
        .values(consumed_at=utcnow())
    )
    now = utcnow()
    session.add(
        OneTimeCode(
            id=new_id("otp"),
            purpose=PASSKEY_PURPOSE,
            subject=recipient.id,
            code_hash=sha256_hex(bytes_to_base64url(challenge)),
            attempts=0,
            expires_at=now + CHALLENGE_VALIDITY,
            created_at=now,
        )
    )
    await session.flush()
    return {"mode": mode, "options": json.loads(options_to_json(options))}


async def check_passkey(
    session: AsyncSession,
    recipient: EnvelopeRecipient,
    credential: str,
    *,
    base_url: str,
) -> None:
    """Verify the browser's answer to the current challenge (used once), creating the
    recipient's passkey the first time; PasskeyFailed otherwise."""
    rp_id, origin = _relying_party(base_url)
    try:
        data = json.loads(credential)
        client_data = json.loads(base64url_to_bytes(data["response"]["clientDataJSON"]))
        challenge = str(client_data["challenge"])
    except (ValueError, KeyError, TypeError) as exc:
        raise PasskeyFailed("The passkey answer is not readable.") from exc
    now = utcnow()
    consumed = await session.scalar(
        update(OneTimeCode)
        .where(
            OneTimeCode.purpose == PASSKEY_PURPOSE,
            OneTimeCode.subject == recipient.id,
            OneTimeCode.code_hash == sha256_hex(challenge),
            OneTimeCode.consumed_at.is_(None),
            OneTimeCode.expires_at > now,
        )
        .values(consumed_at=now)
        .returning(OneTimeCode.id)
        .execution_options(synchronize_session=False)
    )
    if consumed is None:
        raise PasskeyFailed("This passkey request has expired; try again.")
    expected = base64url_to_bytes(challenge)
    known = {k.credential_id: k for k in await _passkeys(session, recipient)}
    try:
        if known:
            passkey = known.get(str(data.get("id")))
            if passkey is None:
                raise PasskeyFailed("This passkey is not the one of this address.")
            verified = verify_authentication_response(
                credential=data,
                expected_challenge=expected,
                expected_rp_id=rp_id,
                expected_origin=origin,
                credential_public_key=base64url_to_bytes(passkey.public_key),
                credential_current_sign_count=passkey.sign_count,
            )
            passkey.sign_count = verified.new_sign_count
            passkey.last_used_at = now
        else:
            registered = verify_registration_response(
                credential=data,
                expected_challenge=expected,
                expected_rp_id=rp_id,
                expected_origin=origin,
            )
            session.add(
                EnvelopePasskey(
                    id=new_id("pk"),
                    organization_id=recipient.organization_id,
                    email=recipient.email.lower(),
                    credential_id=bytes_to_base64url(registered.credential_id),
                    public_key=bytes_to_base64url(registered.credential_public_key),
                    sign_count=registered.sign_count,
                    created_at=now,
                    last_used_at=now,
                )
            )
    except InvalidCBORData as exc:
        raise PasskeyFailed("The passkey answer is not readable.") from exc
    except (InvalidRegistrationResponse, InvalidAuthenticationResponse) as exc:
        raise PasskeyFailed(f"The passkey was refused: {exc}") from exc
    await session.flush()
