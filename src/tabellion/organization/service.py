"""Organisations and API keys: creation, authentication, revocation."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tabellion.auth.subjects import ApiKeySubject
from tabellion.config import Settings
from tabellion.db import touch
from tabellion.errors import NotFound, ValidationFailed
from tabellion.evidence import links
from tabellion.kit.ids import new_id, possible_id
from tabellion.kit.time import utcnow
from tabellion.kit.tokens import constant_time_equals, random_base62, sha256_hex
from tabellion.models.organization import ApiKey, Organization
from tabellion.organization import branding
from tabellion.organization.schemas import Identifiers, OrganizationOut, OrganizationUpdate

KEY_PREFIX = "tbl_"
KEY_RANDOM_CHARS = 40  # base62: about 238 bits
LOOKUP_CHARS = 12  # "tbl_" and the first 8 random characters; stored in clear to find the row
LAST_USED_PRECISION = timedelta(minutes=1)
DEFAULT_SCOPES = ("admin",)  # a key made without scopes (first key, `tabellion org create`)
# A key verified against its row is trusted for this long without reading the row again (a
# busy client's reads then skip that statement). Revoking a key in this process forgets it at
# once; a revocation by another process (the CLI, another API process) takes this long.
VERIFIED_KEY_SECONDS = 5.0
VERIFIED_KEYS_MAX = 10_000


@dataclass(frozen=True, slots=True)
class _VerifiedKey:
    subject: ApiKeySubject
    until: float  # time.monotonic()
    expires_at: datetime | None
    last_used_at: datetime

    def usable(self, now: datetime) -> bool:
        """Still trusted, unexpired, and its last use recent enough not to need a new stamp."""
        return (
            time.monotonic() < self.until
            and (self.expires_at is None or now < self.expires_at)
            and now - self.last_used_at <= LAST_USED_PRECISION
        )


_KEY_BY_PREFIX = select(ApiKey).where(ApiKey.prefix == bindparam("prefix"))
# By the SHA-256 of the secret (never the secret), for keys that passed every check.
_verified_keys: dict[str, _VerifiedKey] = {}


@dataclass(frozen=True)
class NewApiKey:
    api_key: ApiKey
    secret: str  # shown once, never stored


async def create_organization(
    session: AsyncSession, *, name: str, email: str | None = None, timezone: str = "Europe/Paris"
) -> Organization:
    now = utcnow()
    org = Organization(
        id=new_id("org"), name=name, email=email, timezone=timezone, created_at=now, updated_at=now
    )
    session.add(org)
    await session.flush()
    return org


async def create_api_key(
    session: AsyncSession,
    organization: Organization,
    *,
    name: str = "default",
    scopes: list[str] | None = None,
    expires_at: datetime | None = None,
) -> NewApiKey:
    secret = KEY_PREFIX + random_base62(KEY_RANDOM_CHARS)
    now = utcnow()
    key = ApiKey(
        id=new_id("key"),
        organization_id=organization.id,
        name=name,
        prefix=secret[:LOOKUP_CHARS],
        key_hash=sha256_hex(secret),
        scopes=scopes or list(DEFAULT_SCOPES),
        expires_at=expires_at,
        created_at=now,
        updated_at=now,
    )
    session.add(key)
    await session.flush()
    return NewApiKey(api_key=key, secret=secret)


async def issue_api_key(
    session: AsyncSession,
    caller: ApiKeySubject,
    *,
    name: str,
    scopes: list[str],
    expires_at: datetime | None = None,
) -> NewApiKey:
    """A key of the caller's organisation, with scopes the caller holds itself (403
    ``scope-escalation`` otherwise); each scope once. Shown once by whoever asked."""
    caller.require_to_grant(scopes, what="a key")
    organization = await get_organization(session, caller.organization_id)
    return await create_api_key(
        session,
        organization,
        name=name,
        scopes=list(dict.fromkeys(scopes)),
        expires_at=expires_at,
    )


async def authenticate_api_key(session: AsyncSession, secret: str) -> ApiKeySubject | None:
    """The subject for a presented key, or None for an unknown, expired or revoked one.

    Keys are random with over 200 bits, so a plain SHA-256 is a sound hash; the comparison is
    constant-time all the same.
    """
    if not secret.startswith(KEY_PREFIX) or len(secret) != len(KEY_PREFIX) + KEY_RANDOM_CHARS:
        return None
    random_part = secret[len(KEY_PREFIX) :]
    if not (random_part.isascii() and random_part.isalnum()):
        return None  # not base62: no key looks like this (and NUL would upset PostgreSQL)
    digest = sha256_hex(secret)
    now = utcnow()
    verified = _verified_keys.get(digest)
    if verified is not None and verified.usable(now):
        return verified.subject
    key = await session.scalar(_KEY_BY_PREFIX, {"prefix": secret[:LOOKUP_CHARS]})
    if key is None or not constant_time_equals(key.key_hash, digest):
        return None
    if key.revoked_at is not None or (key.expires_at is not None and key.expires_at <= now):
        _verified_keys.pop(digest, None)
        return None
    last_used_at = key.last_used_at
    if last_used_at is None or now - last_used_at > LAST_USED_PRECISION:
        touch(session, key, last_used_at=now)
        last_used_at = now
    subject = ApiKeySubject(
        organization_id=key.organization_id, api_key_id=key.id, scopes=frozenset(key.scopes)
    )
    if len(_verified_keys) >= VERIFIED_KEYS_MAX:
        _verified_keys.clear()
    _verified_keys[digest] = _VerifiedKey(
        subject, time.monotonic() + VERIFIED_KEY_SECONDS, key.expires_at, last_used_at
    )
    return subject


def forget_verified_key(key_id: str) -> None:
    """Stop trusting a key verified earlier by this process (it was revoked)."""
    for digest, verified in list(_verified_keys.items()):
        if verified.subject.api_key_id == key_id:
            del _verified_keys[digest]


async def revoke_api_key(session: AsyncSession, organization_id: str, key_id: str) -> ApiKey:
    if not possible_id(key_id):
        raise NotFound(f"No API key {key_id}.")
    key = await session.scalar(
        select(ApiKey).where(ApiKey.id == key_id, ApiKey.organization_id == organization_id)
    )
    if key is None:
        raise NotFound(f"No API key {key_id}.")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    forget_verified_key(key.id)
    return key


async def get_organization(session: AsyncSession, organization_id: str) -> Organization:
    org = await session.get(Organization, organization_id)
    if org is None:
        raise NotFound(f"No organisation {organization_id}.")
    return org


async def update_organization(
    session: AsyncSession,
    organization_id: str,
    changes: OrganizationUpdate,
    *,
    settings: Settings | None = None,
) -> Organization:
    """``settings`` checks an ``identification`` against the configured providers."""
    org = await get_organization(session, organization_id)
    sent = changes.model_fields_set
    if "identification" in sent:
        from tabellion.identity.service import check_identification

        if settings is not None:
            check_identification(settings, "registered", changes.identification, [])
        org.identification = changes.identification.model_dump() if changes.identification else None
    if changes.name is not None:
        org.name = changes.name
    if "legal_name" in sent:
        org.legal_name = changes.legal_name
    if changes.identifiers is not None:
        for field in changes.identifiers.model_fields_set:
            setattr(org, field, getattr(changes.identifiers, field))
    if "brand_color" in sent:
        org.brand_color = changes.brand_color.lower() if changes.brand_color else None
    if changes.allow_executable_attachments is not None:
        org.allow_executable_attachments = changes.allow_executable_attachments
    if "content_retention_days" in sent:
        org.content_retention_days = changes.content_retention_days
    if changes.proof_retention_days is not None:
        org.proof_retention_days = changes.proof_retention_days
    if (
        org.content_retention_days is not None
        and org.proof_retention_days < org.content_retention_days
    ):
        # Whichever was sent is the one named.
        named = (
            "proof_retention_days" if "proof_retention_days" in sent else "content_retention_days"
        )
        raise ValidationFailed.field(
            named,
            f"Proofs must be kept at least as long as content: proof_retention_days "
            f"({org.proof_retention_days}) is less than content_retention_days "
            f"({org.content_retention_days}).",
            code="proof-retention-too-short",
        )
    org.updated_at = utcnow()
    await session.flush()
    return org


async def set_logo(
    session: AsyncSession, organization_id: str, *, key: str | None, content_type: str | None
) -> Organization:
    """The logo stored under ``key`` (checked by ``branding.check_logo``), or none."""
    org = await get_organization(session, organization_id)
    org.logo_key, org.logo_content_type = key, content_type
    org.updated_at = utcnow()
    await session.flush()
    return org


def organization_out(org: Organization) -> OrganizationOut:
    path = branding.logo_path(org)
    signer = links.current()  # the process's public base URL
    return OrganizationOut(
        id=org.id,
        name=org.name,
        legal_name=org.legal_name,
        identifiers=Identifiers(siren=org.siren, kvk=org.kvk, vat=org.vat),
        brand_color=org.brand_color,
        logo_url=(signer.base_url if signer else "") + path if path else None,
        allow_executable_attachments=org.allow_executable_attachments,
        identification=org.identification,
        content_retention_days=org.content_retention_days,
        proof_retention_days=org.proof_retention_days,
        email=org.email,
        timezone=org.timezone,
        reseller_id=org.reseller_id,
        customer_state=org.customer_state,
        created_at=org.created_at,
    )


async def count_organizations(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Organization)) or 0)
