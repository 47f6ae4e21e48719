"""TOTP (RFC 6238, ``pyotp``) for users: enrolled through the API, confirmed with a first code,
then asked by the signing page before a signature (``action_auth: ["totp"]``)."""

from __future__ import annotations

import time

import pyotp

from tabellion.errors import Conflict, ValidationFailed
from tabellion.kit.time import utcnow
from tabellion.models.user import User

ISSUER = "Tabellion"
# One step either side (30 s each) for clock drift.
DRIFT_STEPS = 1
STEP_SECONDS = 30


class TotpNotEnrolled(Conflict):
    code = "totp-not-enrolled"
    title = "The user has no TOTP secret to confirm"


class WrongTotpCode(ValidationFailed):
    code = "wrong-totp-code"
    title = "The code from the authenticator app is not right"


def enrol(user: User, *, issuer: str = ISSUER) -> str:
    """A new secret for the user (replacing any earlier one, unconfirmed until a first code);
    returns its otpauth:// URI for an authenticator app."""
    user.totp_secret = pyotp.random_base32()
    user.totp_confirmed_at = None
    user.totp_last_step = None
    return pyotp.TOTP(user.totp_secret).provisioning_uri(name=user.email, issuer_name=issuer)


def accept(user: User, code: str, *, now: float | None = None) -> bool:
    """Whether ``code`` is the user's current code and not one already used (replays of an
    accepted code, even within its 30 seconds, fail). Records the step it matched."""
    if not user.totp_secret or not code.strip().isdigit():
        return False
    moment = time.time() if now is None else now
    totp = pyotp.TOTP(user.totp_secret)
    current = int(moment // STEP_SECONDS)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if user.totp_last_step is not None and step <= user.totp_last_step:
            continue
        if pyotp.utils.strings_equal(totp.at(step * STEP_SECONDS), code.strip()):
            user.totp_last_step = step
            return True
    return False


def confirm(user: User, code: str) -> None:
    if not user.totp_secret:
        raise TotpNotEnrolled(f"User {user.id} has no TOTP secret: enrol first.")
    if not accept(user, code):
        raise WrongTotpCode.field("code", "That code is not right.", code="wrong-totp-code")
    user.totp_confirmed_at = utcnow()


def enrolled(user: User) -> bool:
    return bool(user.totp_secret and user.totp_confirmed_at)
