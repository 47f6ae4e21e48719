"""Users of an organisation, and reseller customers with their delegation state machine."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from contextlib import suppress
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tabellion.auth.subjects import ROLE_SCOPES, ApiKeySubject
from tabellion.db import lock_row
from tabellion.errors import Conflict, NotFound, TabellionError, ValidationFailed
from tabellion.jobs.queue import enqueue
from tabellion.kit.ids import new_id, possible_id
from tabellion.kit.time import isoformat_z, utcnow
from tabellion.kit.tokens import hmac_sha256, sha256_hex
from tabellion.message.rules import normalize_email
from tabellion.models.organization import Organization
from tabellion.models.portal import OneTimeCode, WebSession
from tabellion.models.user import User
from tabellion.webhook.service import emit

ROLES = ("admin", "sender", "viewer")
SENDING_ROLES = ("admin", "sender")
ACTIVATION_VALIDITY = timedelta(days=7)
MIN_PASSWORD = 12
ACTIVATION_TASK = "accounts.send_activation"
CONSENT_TASK = "accounts.send_consent"
RESET_TASK = "accounts.send_password_reset"
RESET_PURPOSE = "password-reset"  # a row of one_time_codes whose subject is the user's id
RESET_VALIDITY = timedelta(hours=1)

_hasher = PasswordHasher()  # Argon2id with the library's current recommended parameters


class UserNotFound(NotFound):
    code = "user-not-found"
    title = "User not found"


class UserExists(Conflict):
    code = "user-exists"
    title = "A user with this address exists"


class UserNotActivatable(Conflict):
    code = "user-not-activatable"
    title = "The user cannot be activated"


class SenderNotActivated(TabellionError):
    status = 412
    code = "sender-not-activated"
    title = "The sender has not activated their account"


class CustomerNotFound(NotFound):
    code = "customer-not-found"
    title = "Customer not found"


class CustomerStateConflict(Conflict):
    code = "customer-state-conflict"
    title = "The customer is not in a state that allows this"


class SenderNotRegistered(ValidationFailed):
    code = "sender-not-registered"
    title = "The sender is not a user of the organisation"


class OnBehalfCustomerNotFound(ValidationFailed):
    code = "customer-not-found"
    title = "No such customer"


class CustomerNotRegistered(ValidationFailed):
    code = "customer-not-registered"
    title = "The customer has not accepted to be managed"


# ---- tokens ---------------------------------------------------------------------------------


def link_token(signing_key: bytes, purpose: str, subject_id: str, nonce: str) -> str:
    """A link token derived from the service key: nothing secret is stored, only its hash."""
    digest = hmac_sha256(signing_key, f"{purpose}:{subject_id}:{nonce}")
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def activation_token(signing_key: bytes, user: User) -> str:
    assert user.activation_expires_at is not None
    return link_token(signing_key, "activation", user.id, isoformat_z(user.activation_expires_at))


def consent_token(signing_key: bytes, customer: Organization) -> str:
    return link_token(signing_key, "consent", customer.id, isoformat_z(customer.created_at))


# ---- users ----------------------------------------------------------------------------------


def user_subject(user: User) -> ApiKeySubject:
    """A signed-in user (the dashboard) acting with the scopes of their role, under the rules
    the API applies to a key with those scopes."""
    return ApiKeySubject(
        organization_id=user.organization_id,
        api_key_id=user.id,
        scopes=frozenset(ROLE_SCOPES[user.role]),
        authentication="dashboard",
    )


async def create_user(
    session: AsyncSession,
    caller: ApiKeySubject,
    *,
    email: str,
    name: str | None,
    role: str,
    signing_key: bytes,
) -> User:
    caller.require_to_grant(ROLE_SCOPES[role], what=f"a user with the role {role}")
    existing = await session.scalar(
        select(User)
        .where(
            User.organization_id == caller.organization_id,
            func.lower(User.email) == email.lower(),
        )
        .limit(1)
    )
    if existing is not None:
        raise UserExists(f"{email} is already a user of this organisation ({existing.id}).")
    now = utcnow()
    user = User(
        id=new_id("usr"),
        organization_id=caller.organization_id,
        email=email,
        name=name,
        role=role,
        status="invited",
        created_by_key_id=caller.api_key_id,
        created_at=now,
        updated_at=now,
    )
    session.add(user)
    _start_activation(session, user, signing_key=signing_key, now=now)
    await session.flush()
    return user


def _start_activation(
    session: AsyncSession, user: User, *, signing_key: bytes, now: datetime, mail: bool = True
) -> str:
    """A new activation link for ``user`` (its token, valid ``ACTIVATION_VALIDITY``), e-mailed
    to them unless ``mail`` is False."""
    user.activation_expires_at = now + ACTIVATION_VALIDITY
    token = activation_token(signing_key, user)
    user.activation_token_hash = sha256_hex(token)
    if mail:
        enqueue(session, ACTIVATION_TASK, {"user_id": user.id})
    return token


async def create_first_admin(
    session: AsyncSession, organization_id: str, *, email: str, signing_key: bytes
) -> str:
    """The first start's admin of ``organization_id``, invited: returns the token of the link
    that sets their password, which the first start prints (nothing is e-mailed: no mail
    server may be set up yet, and the address may be no mailbox)."""
    now = utcnow()
    user = User(
        id=new_id("usr"),
        organization_id=organization_id,
        email=email,
        name="Administrator",
        role="admin",
        status="invited",
        created_at=now,
        updated_at=now,
    )
    session.add(user)
    token = _start_activation(session, user, signing_key=signing_key, now=now, mail=False)
    await session.flush()
    return token


async def resend_activation(session: AsyncSession, user: User, *, signing_key: bytes) -> None:
    """A new link (the previous one stops working)."""
    if user.status != "invited":
        raise UserNotActivatable(f"User {user.id} is {user.status}; only invited users activate.")
    _start_activation(session, user, signing_key=signing_key, now=utcnow())
    user.updated_at = utcnow()
    await session.flush()


async def get_user(session: AsyncSession, organization_id: str, user_id: str) -> User:
    if not possible_id(user_id):
        raise UserNotFound(f"No user {user_id}.")
    user = await session.scalar(
        select(User).where(User.id == user_id, User.organization_id == organization_id)
    )
    if user is None:
        raise UserNotFound(f"No user {user_id}.")
    return user


async def user_for_activation(session: AsyncSession, token: str) -> User | None:
    """The invited user a link belongs to, if the link is current; else None."""
    user = await session.scalar(select(User).where(User.activation_token_hash == sha256_hex(token)))
    if user is None or user.status != "invited" or user.activation_expires_at is None:
        return None
    if user.activation_expires_at <= utcnow():
        return None
    return user


def check_password(password: str, confirm: str) -> str | None:
    if password != confirm:
        return "The two passwords differ."
    if len(password) < MIN_PASSWORD:
        return f"Use at least {MIN_PASSWORD} characters."
    return None


async def activate(session: AsyncSession, user: User, password: str) -> None:
    """Set the password of an invited user, once: a second, concurrent submission of the
    link gets 409 ``user-not-activatable`` instead of replacing the first password."""
    token_hash = user.activation_token_hash
    await lock_row(session, user)
    if user.status != "invited" or token_hash is None or user.activation_token_hash != token_hash:
        raise UserNotActivatable(f"User {user.id} was activated meanwhile.")
    now = utcnow()
    user.password_hash = _hasher.hash(password)
    user.status = "active"
    user.activated_at = now
    user.activation_token_hash = None
    user.updated_at = now
    await session.flush()


def verify_password(user: User, password: str) -> bool:
    if user.password_hash is None or user.status != "active":
        return False
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def active_users_at(session: AsyncSession, email: str) -> Sequence[User]:
    """Active users with this address, in any organisation (a person may belong to several)."""
    try:
        address = normalize_email(email.strip())
    except ValueError:
        return []  # not an address: nobody, and the caller answers as for a wrong password
    return (
        await session.scalars(
            select(User).where(func.lower(User.email) == address.lower(), User.status == "active")
        )
    ).all()


@cache
def _decoy_hash() -> str:
    return _hasher.hash("a password nobody has")


def user_signing_in(candidates: Iterable[User], password: str) -> User | None:
    """The candidate whose password matches; an unknown address costs the same Argon2 time."""
    tried = False
    for user in candidates:
        tried = True
        if verify_password(user, password):
            return user
    if not tried:
        with suppress(VerificationError, InvalidHashError):
            _hasher.verify(_decoy_hash(), password)
    return None


# ---- password reset ------------------------------------------------------------------------


def reset_token(signing_key: bytes, code_id: str) -> str:
    """The link token of a reset request: an HMAC of its row's random id under the service
    key (256 bits). Only its hash is stored and the job's payload holds only the row's id,
    so neither the database nor the job table holds a usable link."""
    return link_token(signing_key, RESET_PURPOSE, code_id, "")


async def request_password_reset(
    session: AsyncSession, email: str, *, signing_key: bytes, language: str
) -> int:
    """A reset link for each active user at ``email`` (one person may be a user of several
    organisations), replacing links sent before; each e-mail is a job of this transaction.
    Returns how many were asked for: the caller must not tell (the answer is the same)."""
    users = await active_users_at(session, email)
    now = utcnow()
    for user in users:
        await session.execute(
            update(OneTimeCode)
            .where(
                OneTimeCode.purpose == RESET_PURPOSE,
                OneTimeCode.subject == user.id,
                OneTimeCode.consumed_at.is_(None),
            )
            .values(consumed_at=now)
            .execution_options(synchronize_session=False)
        )
        code_id = new_id("pwr")
        session.add(
            OneTimeCode(
                id=code_id,
                purpose=RESET_PURPOSE,
                subject=user.id,
                code_hash=sha256_hex(reset_token(signing_key, code_id)),
                attempts=0,
                expires_at=now + RESET_VALIDITY,
                created_at=now,
            )
        )
        enqueue(session, RESET_TASK, {"code_id": code_id, "language": language})
    await session.flush()
    return len(users)


async def reset_request_for(session: AsyncSession, token: str) -> tuple[OneTimeCode, User] | None:
    """The unused, unexpired reset request a link names and its (still active) user."""
    if not token or len(token) > 128:
        return None
    row = await session.scalar(
        select(OneTimeCode).where(
            OneTimeCode.purpose == RESET_PURPOSE, OneTimeCode.code_hash == sha256_hex(token)
        )
    )
    if row is None or row.consumed_at is not None or row.expires_at <= utcnow():
        return None
    user = await session.get(User, row.subject)
    if user is None or user.status != "active":
        return None
    return row, user


class ResetLinkUsed(Conflict):
    code = "password-reset-used"
    title = "The password reset link was used already"


async def reset_password(
    session: AsyncSession, request: OneTimeCode, user: User, password: str
) -> None:
    """Use the link once (a conditional UPDATE: of two concurrent submissions one wins, the
    other gets ``ResetLinkUsed``), set the password and sign the user out everywhere."""
    now = utcnow()
    used = await session.scalar(
        update(OneTimeCode)
        .where(OneTimeCode.id == request.id, OneTimeCode.consumed_at.is_(None))
        .values(consumed_at=now)
        .returning(OneTimeCode.id)
        .execution_options(synchronize_session=False)
    )
    if used is None:
        raise ResetLinkUsed("This password reset link was used already.")
    user.password_hash = _hasher.hash(password)
    user.updated_at = now
    await session.execute(
        delete(WebSession).where(WebSession.kind == "user", WebSession.subject == user.id)
    )
    await session.flush()


async def deactivate_user(session: AsyncSession, user: User) -> None:
    if user.status != "deactivated":
        user.status = "deactivated"
        user.deactivated_at = utcnow()
        user.activation_token_hash = None
        user.updated_at = utcnow()
    await session.flush()


async def registered_sender(
    session: AsyncSession, organization_id: str, email: str, *, active: bool = False
) -> User:
    """The user who may appear as a message's sender, or 422 ``sender-not-registered``.

    A user can send as soon as an admin key created them: the organisation vouches for them,
    and the evidence records the key that did. Viewers read; they do not send. With
    ``active``, an invited user who has not yet activated their account cannot (412).
    """
    user = await session.scalar(
        select(User)
        .where(
            User.organization_id == organization_id,
            func.lower(User.email) == email.lower(),
            User.status != "deactivated",
        )
        .limit(1)
    )
    if user is None:
        raise SenderNotRegistered.field(
            "sender.email",
            f"{email} is not an active user of the sending organisation; "
            "create it with POST /v1/users first.",
            code="sender-not-registered",
        )
    if user.role not in SENDING_ROLES:
        raise SenderNotRegistered.field(
            "sender.email",
            f"{email} is a {user.role}; only users with the role "
            f"{' or '.join(SENDING_ROLES)} may send.",
            code="sender-not-registered",
        )
    if active and user.status != "active":
        raise SenderNotActivated(
            f"{email} has not activated their account yet: follow the link in the activation "
            "e-mail first."
        )
    return user


def change_role(caller: ApiKeySubject, user: User, role: str) -> None:
    # Both ways: demoting an admin is as much beyond a users-only key as promoting to one.
    for held in {user.role, role}:
        caller.require_to_grant(ROLE_SCOPES[held], what=f"a user with the role {held}")
    user.role = role


# ---- customers ------------------------------------------------------------------------------

# (from, to) -> who may make that move.
_TRANSITIONS = {
    ("PENDING", "ACCEPTED"): "customer",
    ("PENDING", "REFUSED"): "customer",
    ("ACCEPTED", "REVOKED"): "customer",
    ("PENDING", "CANCELLED"): "reseller",
    ("ACCEPTED", "CANCELLED"): "reseller",
}


async def create_customers(
    session: AsyncSession,
    caller: ApiKeySubject,
    items: list[dict[str, Any]],
    *,
    signing_key: bytes,
    timezone: str,
) -> list[Organization]:
    now = utcnow()
    customers = []
    for item in items:
        customer = Organization(
            id=new_id("org"),
            name=item["name"],
            email=item["email"],
            timezone=timezone,
            reseller_id=caller.organization_id,
            customer_state="PENDING",
            customer_state_at=now,
            is_paying=item.get("is_paying"),
            will_send_registered=item.get("will_send_registered"),
            created_at=now,
            updated_at=now,
        )
        customer.consent_token_hash = sha256_hex(consent_token(signing_key, customer))
        session.add(customer)
        customers.append(customer)
    await session.flush()
    for customer in customers:
        enqueue(session, CONSENT_TASK, {"customer_id": customer.id})
    return customers


async def get_customer(session: AsyncSession, reseller_id: str, customer_id: str) -> Organization:
    if not possible_id(customer_id):
        raise CustomerNotFound(f"No customer {customer_id}.")
    customer = await session.scalar(
        select(Organization).where(
            Organization.id == customer_id, Organization.reseller_id == reseller_id
        )
    )
    if customer is None:
        raise CustomerNotFound(f"No customer {customer_id}.")
    return customer


def customers_query(reseller_id: str, *, state: str | None = None) -> Select[Organization]:
    """A reseller's customers, optionally in one delegation state (the caller orders and pages)."""
    query = select(Organization).where(Organization.reseller_id == reseller_id)
    if state:
        query = query.where(Organization.customer_state == state)
    return query


async def list_customers(
    session: AsyncSession, reseller_id: str, *, state: str | None = None
) -> Sequence[Organization]:
    """All of a reseller's customers by id, optionally in one delegation state."""
    query = customers_query(reseller_id, state=state).order_by(Organization.id)
    return (await session.scalars(query)).all()


async def customer_for_consent(session: AsyncSession, token: str) -> Organization | None:
    return await session.scalar(
        select(Organization).where(Organization.consent_token_hash == sha256_hex(token))
    )


async def move_customer(
    session: AsyncSession, customer: Organization, to: str, *, actor: str
) -> None:
    """Apply a delegation transition and tell the reseller (event ``customer.<state>``)."""
    await lock_row(session, customer)  # two answers at once: the second sees the first's
    current = customer.customer_state
    if current is None:
        raise CustomerStateConflict(f"Organisation {customer.id} has no reseller.")
    if _TRANSITIONS.get((current, to)) != actor:
        raise CustomerStateConflict(
            f"The {actor} cannot move customer {customer.id} from {current} to {to}."
        )
    now = utcnow()
    customer.customer_state = to
    customer.customer_state_at = now
    customer.updated_at = now
    await session.flush()
    assert customer.reseller_id is not None
    await emit(
        session,
        customer.reseller_id,
        f"customer.{to.lower()}",
        {"customer": customer_data(customer)},
    )


def customer_data(customer: Organization) -> dict[str, Any]:
    return {
        "id": customer.id,
        "name": customer.name,
        "email": customer.email,
        "state": customer.customer_state,
        "state_changed_at": isoformat_z(customer.customer_state_at)
        if customer.customer_state_at
        else None,
        "is_paying": customer.is_paying,
        "will_send_registered": customer.will_send_registered,
        "created_at": isoformat_z(customer.created_at),
    }


async def on_behalf_customer(
    session: AsyncSession, reseller_id: str, customer_id: str
) -> Organization:
    """The customer a reseller sends for, or 422 ``customer-not-found`` / ``-not-registered``."""
    customer = None
    if possible_id(customer_id):
        customer = await session.scalar(
            select(Organization).where(
                Organization.id == customer_id, Organization.reseller_id == reseller_id
            )
        )
    if customer is None:
        raise OnBehalfCustomerNotFound.field(
            "on_behalf_of",
            f"{customer_id} is not one of your customers.",
            code="customer-not-found",
        )
    if customer.customer_state != "ACCEPTED":
        raise CustomerNotRegistered.field(
            "on_behalf_of",
            f"Customer {customer_id} is {customer.customer_state}; it must have ACCEPTED.",
            code="customer-not-registered",
        )
    return customer
