"""Identification of recipients: what a message may ask, the sign-in, and the match.

A registered letter whose message (or organisation) asks for ``identification`` shows its
recipient a choice of the operator's providers that give the level asked for, instead of the
e-mail code. The provider's answer is checked (``oidc``), the identity compared with what the
sender declared (``matching``); a match confirms the recipient (the evidence of acceptance or
refusal then names the provider, level, attributes, issuer and subject); a mismatch blocks and
tells the sender (``status_reason`` and the webhook event ``delivery.identification_failed``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tabellion.config import Settings
from tabellion.db import lock_row
from tabellion.errors import ValidationFailed
from tabellion.evidence.service import evidence_for_deliveries
from tabellion.identity import matching
from tabellion.identity.config import IdentityProvider, level_at_least
from tabellion.identity.oidc import IdentityRefused, OidcClient, Verified, new_secret
from tabellion.identity.schemas import Identification
from tabellion.kit.ids import new_id
from tabellion.kit.time import utcnow
from tabellion.kit.tokens import sha256_hex
from tabellion.message.service.events import audience
from tabellion.message.service.lifecycle import Actor
from tabellion.message.views import delivery_json
from tabellion.models.identity import IdentityRequest
from tabellion.models.message import Delivery, Message
from tabellion.models.organization import Organization
from tabellion.webhook.service import emit

CALLBACK_PATH = "/identity/callback"
REFUSED_PATH = "/identity/refused"
REQUEST_LIFETIME = timedelta(minutes=10)
FAILED_EVENT = "delivery.identification_failed"
# Modes whose content waits behind the recipient's sign-in.
IDENTIFIED_MODES = ("registered",)
ANSWERABLE = ("pending", "notified")


def redirect_uri(settings: Settings) -> str:
    return settings.base_url + CALLBACK_PATH


def eligible(settings: Settings, requirement: dict[str, Any]) -> list[tuple[str, IdentityProvider]]:
    """The configured providers a recipient may choose: named (or all), at the level asked."""
    names = requirement.get("providers") or list(settings.identity_providers)
    return [
        (name, provider)
        for name in names
        if (provider := settings.identity_providers.get(name)) is not None
        and level_at_least(provider.level, requirement.get("level", "substantial"))
    ]


def check_identification(
    settings: Settings,
    mode: str,
    identification: Identification | None,
    recipients: Sequence[Any],
) -> None:
    """422 naming the field when a message's identification cannot be honoured."""
    if identification is None:
        return
    if mode not in IDENTIFIED_MODES:
        raise ValidationFailed.field(
            "identification", "identification applies to registered messages only."
        )
    check_providers(settings, identification)
    for index, recipient in enumerate(recipients):
        for attribute in identification.match:
            if isinstance(recipient, dict):
                value = recipient.get(attribute)
            else:
                value = getattr(recipient, attribute, None)
            if not value:
                raise ValidationFailed.field(
                    f"recipients[{index}].{attribute}",
                    f"identification matches {attribute}: declare it for each recipient.",
                    code="missing-attribute",
                )


def check_providers(
    settings: Settings, identification: Identification, where: str = "identification"
) -> None:
    """422 naming the field when the providers asked are unknown or below the level."""
    for index, name in enumerate(identification.providers):
        provider = settings.identity_providers.get(name)
        if provider is None:
            known = ", ".join(sorted(settings.identity_providers)) or "none configured"
            raise ValidationFailed.field(
                f"{where}.providers[{index}]",
                f"Unknown identity provider {name!r} (known: {known}).",
                code="unknown-provider",
            )
        if not level_at_least(provider.level, identification.level):
            raise ValidationFailed.field(
                f"{where}.providers[{index}]",
                f"{name!r} gives level {provider.level!r}, below {identification.level!r}.",
                code="level-too-low",
            )
    if not eligible(settings, identification.model_dump()):
        raise ValidationFailed.field(
            f"{where}.level",
            f"No configured identity provider gives level {identification.level!r}.",
            code="no-provider",
        )


async def requested(
    session: AsyncSession,
    settings: Settings,
    organization_id: str,
    data: Any,
    *,
    sent: bool,
) -> Identification | None:
    """A new message's identification: its own when given (null: none), else its
    organisation's default for registered letters; checked against its recipients."""
    identification: Identification | None = data.identification
    if not sent and data.mode in IDENTIFIED_MODES:
        organization = await session.get(Organization, organization_id)
        if organization is not None and organization.identification:
            identification = Identification.model_validate(organization.identification)
    check_identification(settings, data.mode, identification, data.recipients)
    return identification


def check_stored(settings: Settings, message: Message) -> None:
    """A draft's identification still fits after a change to it or to its recipients."""
    if message.identification:
        check_identification(
            settings,
            message.mode,
            Identification.model_validate(message.identification),
            message.recipients,
        )


def delivery_requirement(
    identification: dict[str, Any] | None, recipient: dict[str, Any]
) -> dict[str, Any] | None:
    """What a delivery keeps: the message's identification and the recipient's declared
    attributes (only those compared)."""
    if not identification:
        return None
    match = list(identification.get("match", []))
    return {
        "level": identification.get("level", "substantial"),
        "providers": list(identification.get("providers", [])),
        "match": match,
        "declared": {attribute: recipient.get(attribute) for attribute in match},
    }


def identification_required(delivery: Delivery) -> bool:
    return bool(delivery.identification)


def identified(delivery: Delivery) -> bool:
    return (delivery.identity or {}).get("method") == "oidc"


async def start(
    session: AsyncSession,
    settings: Settings,
    client: OidcClient,
    delivery: Delivery,
    provider_name: str,
) -> tuple[str, str]:
    """A new authorisation request: the provider's URL to send the browser to, and the
    request's ``state`` (to tie it to the browser)."""
    return await start_request(
        session,
        settings,
        client,
        delivery.identification or {},
        provider_name,
        organization_id=delivery.organization_id,
        delivery_id=delivery.id,
    )


async def start_request(
    session: AsyncSession,
    settings: Settings,
    client: OidcClient,
    requirement: dict[str, Any],
    provider_name: str,
    *,
    organization_id: str,
    delivery_id: str | None = None,
    envelope_recipient_id: str | None = None,
) -> tuple[str, str]:
    """An authorisation request for a delivery or a signing envelope's recipient."""
    choices = dict(eligible(settings, requirement))
    provider = choices.get(provider_name)
    if provider is None:
        raise IdentityRefused("provider-not-allowed", provider_name[:64])
    state, nonce, verifier = new_secret(), new_secret(), new_secret() + new_secret()
    url = await client.authorization_url(
        provider,
        redirect_uri=redirect_uri(settings),
        state=state,
        nonce=nonce,
        code_verifier=verifier,
    )
    session.add(
        IdentityRequest(
            id=new_id("idr"),
            state_hash=sha256_hex(state),
            organization_id=organization_id,
            delivery_id=delivery_id,
            envelope_recipient_id=envelope_recipient_id,
            provider=provider_name,
            nonce=nonce,
            code_verifier=verifier,
            created_at=utcnow(),
        )
    )
    await session.flush()
    return url, state


@dataclass(frozen=True)
class Outcome:
    delivery: Delivery
    matched: bool
    provider: str
    mismatched: tuple[str, ...] = ()


async def claim_request(session: AsyncSession, state: str | None) -> IdentityRequest:
    """The request this callback answers, used up now: a state works once, for 10 minutes."""
    if not state or len(state) > 200:
        raise IdentityRefused("state-unknown")
    request = await session.scalar(
        select(IdentityRequest)
        .where(IdentityRequest.state_hash == sha256_hex(state))
        .with_for_update()
    )
    if request is None:
        raise IdentityRefused("state-unknown")
    if request.used_at is not None:
        raise IdentityRefused("state-replayed")
    now = utcnow()
    # Written with the request's transaction (the row stays locked until then on PostgreSQL,
    # so a concurrent replay waits, then finds it used).
    request.used_at = now
    if now - request.created_at > REQUEST_LIFETIME:
        raise IdentityRefused("state-expired")
    return request


async def finish(
    session: AsyncSession,
    settings: Settings,
    client: OidcClient,
    request: IdentityRequest,
    *,
    code: str | None,
    error: str | None,
    actor: Actor,
) -> Outcome:
    """Check the provider's answer and compare the identity; raises IdentityRefused when the
    answer cannot be trusted (then nothing about the delivery changes)."""
    if error or not code:
        raise IdentityRefused("provider-error", (error or "no code")[:100])
    delivery = await session.get(Delivery, request.delivery_id) if request.delivery_id else None
    if delivery is None:
        raise IdentityRefused("state-unknown")
    if delivery.status not in ANSWERABLE:
        raise IdentityRefused("delivery-closed")
    requirement = delivery.identification or {}
    provider = dict(eligible(settings, requirement)).get(request.provider)
    if provider is None:
        raise IdentityRefused("provider-not-allowed", request.provider)
    verified = await client.finish(
        provider,
        redirect_uri=redirect_uri(settings),
        code=code,
        nonce=request.nonce,
        code_verifier=request.code_verifier,
    )
    # Locked only now, not across the calls to the provider; its state checked again.
    await lock_row(session, delivery)
    if delivery.status not in ANSWERABLE:
        raise IdentityRefused("delivery-closed")
    claimed = claimed_attributes(provider, verified)
    result = matching.match(
        list(requirement.get("match", [])), requirement.get("declared", {}), claimed
    )
    at = utcnow()
    if not result.ok:
        await _mismatch(session, delivery, request.provider, result, at=at)
        return Outcome(delivery, False, request.provider, result.mismatched)
    delivery.identity = {
        "confirmed": True,
        **actor.details(at),
        "method": "oidc",
        "address": delivery.email,
        **identity_evidence(request.provider, provider, verified, result, claimed),
    }
    delivery.updated_at = at
    await session.flush()
    return Outcome(delivery, True, request.provider)


def claimed_attributes(provider: IdentityProvider, verified: Verified) -> dict[str, Any]:
    # The signed ID token first; the userinfo answer (same subject, checked) fills the gaps.
    merged = {**verified.userinfo, **verified.claims}
    return {attribute: merged.get(claim) for attribute, claim in provider.claims.items()}


def _hashed(value: Any) -> str:
    return "sha256:" + sha256_hex(str(value))


def identity_evidence(
    name: str,
    provider: IdentityProvider,
    verified: Verified,
    result: matching.MatchResult,
    claimed: dict[str, Any],
) -> dict[str, Any]:
    """What the evidence says of the sign-in (personal numbers only as SHA-256 hashes)."""
    claims = verified.claims
    merged = {**verified.userinfo, **claims}
    subject = str(claims["sub"])
    return {
        "provider": {"name": name, "label": provider.label, "preset": provider.preset},
        "level_of_assurance": provider.level,
        "acr": claims.get("acr"),
        "matched": list(result.matched),
        "attributes": {a: claimed.get(a) for a in result.matched},
        "issuer": claims["iss"],
        "subject": _hashed(subject) if provider.subject_is_personal_number else subject,
        "subject_hashed": provider.subject_is_personal_number,
        "personal_numbers": {c: _hashed(merged[c]) for c in provider.hashed_claims if c in merged},
        "auth_time": claims.get("auth_time"),
        "id_token": verified.id_token if provider.keep_id_token else None,
    }


async def _mismatch(
    session: AsyncSession,
    delivery: Delivery,
    provider: str,
    result: matching.MatchResult,
    *,
    at: datetime,
) -> None:
    failed = ", ".join(result.mismatched)
    delivery.status_reason = (
        f"identification-failed: the identity given by {provider} does not match the "
        f"recipient's {failed}"
    )
    delivery.updated_at = at
    await session.flush()
    history = (await evidence_for_deliveries(session, [delivery.id]))[delivery.id]
    data = {
        "delivery": delivery_json(delivery, history),
        "identification": {
            "provider": provider,
            "mismatched": list(result.mismatched),
            "matched": list(result.matched),
            "at": at.isoformat(),
        },
    }
    for organization_id in audience(
        delivery.organization_id, delivery.submitted_by_organization_id
    ):
        await emit(session, organization_id, FAILED_EVENT, data, delivery_id=delivery.id)
