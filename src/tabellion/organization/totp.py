"""TOTP (RFC 6238, ``pyotp``) for users: enrolled through the API or the dashboard, confirmed
with a first code, then asked by the signing page before a signature (``action_auth: ["totp"]``).

The secret is stored encrypted (``kit.crypto``, a key derived from the service's secret key): a
database dump alone does not let anyone compute codes. Secrets stored in plain before that
(base32, never starting as a Fernet token does) are still read, and encrypted at their next use.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import pyotp
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tabellion.errors import Conflict, ValidationFailed
from tabellion.kit import crypto
from tabellion.kit.time import utcnow
from tabellion.models.user import User

ISSUER = "Tabellion"
# One step either side (30 s each) for clock drift.
DRIFT_STEPS = 1
STEP_SECONDS = 30
# Every Fernet token starts with these characters (version byte 0x80, then the timestamp's
# high bytes); a base32 secret holds only A-Z and 2-7.
_ENCRYPTED = "gAAAAA"


class TotpNotEnrolled(Conflict):
    code = "totp-not-enrolled"
    title = "The user has no TOTP secret to confirm"


class WrongTotpCode(ValidationFailed):
    code = "wrong-totp-code"
    title = "The code from the authenticator app is not right"


def secret_of(user: User, keys: Sequence[bytes]) -> str | None:
    """The user's base32 secret, decrypted with whichever of ``keys`` (the secret key, then
    earlier ones still accepted) encrypted it (or as stored, from before encryption)."""
    stored = user.totp_secret
    if not stored or not stored.startswith(_ENCRYPTED):
        return stored or None
    return crypto.decrypt(keys, stored)


def _keep(user: User, keys: Sequence[bytes], secret: str) -> None:
    user.totp_secret = crypto.encrypt(keys[0], secret)


def enrol(user: User, keys: Sequence[bytes], *, issuer: str = ISSUER) -> tuple[str, str]:
    """A new secret for the user (replacing any earlier one, unconfirmed until a first code);
    returns it and its otpauth:// URI for an authenticator app."""
    secret = pyotp.random_base32()
    _keep(user, keys, secret)
    user.totp_confirmed_at = None
    user.totp_last_step = None
    return secret, provisioning_uri(user, secret, issuer=issuer)


def provisioning_uri(user: User, secret: str, *, issuer: str = ISSUER) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=issuer)


def accept(user: User, code: str, keys: Sequence[bytes], *, now: float | None = None) -> bool:
    """Whether ``code`` is the user's current code and not one already used (replays of an
    accepted code, even within its 30 seconds, fail). Records the step it matched."""
    secret = secret_of(user, keys)
    if not secret or not code.strip().isdigit():
        return False
    moment = time.time() if now is None else now
    totp = pyotp.TOTP(secret)
    current = int(moment // STEP_SECONDS)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if user.totp_last_step is not None and step <= user.totp_last_step:
            continue
        if pyotp.utils.strings_equal(totp.at(step * STEP_SECONDS), code.strip()):
            user.totp_last_step = step
            if not user.totp_secret or not user.totp_secret.startswith(_ENCRYPTED):
                _keep(user, keys, secret)  # stored in plain before: encrypted now
            return True
    return False


def confirm(user: User, code: str, keys: Sequence[bytes]) -> None:
    if not user.totp_secret:
        raise TotpNotEnrolled(f"User {user.id} has no TOTP secret: enrol first.")
    if not accept(user, code, keys):
        raise WrongTotpCode.field("code", "That code is not right.", code="wrong-totp-code")
    user.totp_confirmed_at = utcnow()


def enrolled(user: User) -> bool:
    return bool(user.totp_secret and user.totp_confirmed_at)


async def reencrypt_secrets(session: AsyncSession, keys: Sequence[bytes]) -> int:
    """Every user's authenticator secret encrypted again with the first of ``keys`` (read
    with any of them), after a change of the secret key; returns how many were rewritten."""
    count = 0
    users = select(User).where(User.totp_secret.is_not(None)).with_for_update()
    for user in await session.scalars(users):
        secret = secret_of(user, keys)
        if secret:
            _keep(user, keys, secret)
            count += 1
    return count
