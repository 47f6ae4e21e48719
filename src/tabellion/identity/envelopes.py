"""Identification before signing: the hook the signing page calls.

A signing envelope's recipient may be asked for ``identification`` (``RecipientIdentification``:
the level, providers and attributes compared, and what the sender declares of them). Their
signing page then shows no document and takes no action until they sign in with one of the
providers and the identity matches: the same OpenID Connect flow as registered letters
(``identity.service``), tied to this browser by a short session. The match is written into the
recipient's trail as ``identified`` (provider, level, matched attributes, issuer, subject, the
ID token), which the envelope's audit certificate lists; a mismatch keeps the documents closed,
is written as ``identification_failed`` and tells the sender (webhook event
``envelope.identification_failed``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from tabellion.config import Settings
from tabellion.db import lock_row
from tabellion.errors import TabellionError
from tabellion.identity import matching, service
from tabellion.identity.config import IdentityProvider
from tabellion.identity.oidc import IdentityRefused, OidcClient
from tabellion.identity.schemas import RecipientIdentification
from tabellion.kit import sessions
from tabellion.kit.time import utcnow
from tabellion.message.service.lifecycle import Actor
from tabellion.models.envelope import Envelope, EnvelopeRecipient
from tabellion.models.identity import IdentityRequest
from tabellion.webhook.service import emit

FAILED_EVENT = "envelope.identification_failed"
SESSION_KIND = "signer-identity"  # web_sessions.kind holds 16 characters
SESSION_LIFETIME = timedelta(hours=8)
# A recipient who may still act on a pending envelope: their sign-in goes into the trail.
OPEN_STATUSES = ("sent", "opened")
# Envelopes whose documents a recipient may still read (the signed ones, once completed).
READABLE = ("pending", "completed")


class IdentificationRequired(TabellionError):
    status = 403
    code = "identification-required"
    title = "Confirm your identity with an identity provider first"


async def require(session: AsyncSession, request: Request, recipient: EnvelopeRecipient) -> None:
    """Refuse a signature, approval or rejection until this browser identified the recipient."""
    if await needs(session, request, recipient):
        raise IdentificationRequired(
            "Confirm your identity with one of the identity services before you act."
        )


def stored(identification: RecipientIdentification | None) -> dict[str, Any] | None:
    """What the recipient row keeps."""
    return identification.requirement() if identification is not None else None


def check(settings: Settings, recipients: Sequence[Any]) -> None:
    """422 naming ``recipients[i].identification...`` when providers cannot give what is asked."""
    for index, recipient in enumerate(recipients):
        identification = getattr(recipient, "identification", None)
        if identification is not None:
            service.check_providers(
                settings,
                identification,
                where=f"recipients[{index}].identification",
            )


def required(recipient: EnvelopeRecipient) -> bool:
    return bool(recipient.identification)


def identity_of(recipient: EnvelopeRecipient) -> dict[str, Any] | None:
    """The sign-in that identified the recipient, as the trail keeps it."""
    entry = (recipient.trail or {}).get("identified")
    return entry if isinstance(entry, dict) else None


async def needs(session: AsyncSession, request: Request, recipient: EnvelopeRecipient) -> bool:
    """Whether this browser must still identify the recipient before documents or actions
    (each browser signs in: the link alone never suffices)."""
    if not required(recipient):
        return False
    return await sessions.current_subject(session, request, SESSION_KIND) != recipient.id


def choices(settings: Settings, recipient: EnvelopeRecipient) -> list[tuple[str, str]]:
    """The providers the page offers: (name, label)."""
    return [
        (name, provider.label)
        for name, provider in service.eligible(settings, recipient.identification or {})
    ]


async def start(
    session: AsyncSession,
    settings: Settings,
    client: OidcClient,
    envelope: Envelope,
    recipient: EnvelopeRecipient,
    provider_name: str,
) -> tuple[str, str]:
    _open(envelope)
    return await service.start_request(
        session,
        settings,
        client,
        recipient.identification or {},
        provider_name,
        organization_id=recipient.organization_id,
        envelope_recipient_id=recipient.id,
    )


@dataclass(frozen=True)
class Outcome:
    recipient: EnvelopeRecipient
    matched: bool


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
    """Check the provider's answer for a signer and compare the identity (``service.finish``
    for an envelope's recipient)."""
    if error or not code:
        raise IdentityRefused("provider-error", (error or "no code")[:100])
    recipient = await session.get(EnvelopeRecipient, request.envelope_recipient_id)
    if recipient is None:
        raise IdentityRefused("state-unknown")
    envelope = await session.get(Envelope, recipient.envelope_id)
    if envelope is None:
        raise IdentityRefused("state-unknown")
    _open(envelope)
    requirement = recipient.identification or {}
    provider: IdentityProvider | None = dict(service.eligible(settings, requirement)).get(
        request.provider
    )
    if provider is None:
        raise IdentityRefused("provider-not-allowed", request.provider)
    verified = await client.finish(
        provider,
        redirect_uri=service.redirect_uri(settings),
        code=code,
        nonce=request.nonce,
        code_verifier=request.code_verifier,
    )
    await lock_row(session, recipient)
    _open(envelope)
    claimed = service.claimed_attributes(provider, verified)
    result = matching.match(
        list(requirement.get("match", [])), requirement.get("declared", {}), claimed
    )
    at = utcnow()
    trail = dict(recipient.trail or {})
    if not result.ok:
        trail["identification_failed"] = {
            **actor.details(at),
            "provider": request.provider,
            "mismatched": list(result.mismatched),
        }
        recipient.trail = trail
        recipient.updated_at = at
        await session.flush()
        data = {
            "envelope_id": envelope.id,
            "recipient_id": recipient.id,
            "identification": {
                "provider": request.provider,
                "mismatched": list(result.mismatched),
                "matched": list(result.matched),
                "at": at.isoformat(),
            },
        }
        await emit(session, envelope.organization_id, FAILED_EVENT, data)
        return Outcome(recipient, False)
    if recipient.status in OPEN_STATUSES or "identified" not in trail:
        # Before acting, the latest sign-in is the one the signature rests on; after, a
        # sign-in to read the signed files leaves the trail as it was.
        trail["identified"] = {
            "confirmed": True,
            **actor.details(at),
            "method": "oidc",
            "address": recipient.email,
            **service.identity_evidence(request.provider, provider, verified, result, claimed),
        }
    recipient.trail = trail
    recipient.updated_at = at
    await session.flush()
    return Outcome(recipient, True)


def _open(envelope: Envelope) -> None:
    if envelope.status not in READABLE:
        raise IdentityRefused("delivery-closed")


async def open_session(
    session: AsyncSession, request: Request, response: Response, recipient: EnvelopeRecipient
) -> None:
    """This browser passed the recipient's identification."""
    await sessions.open_session(
        session,
        request,
        response,
        kind=SESSION_KIND,
        subject=recipient.id,
        lifetime=SESSION_LIFETIME,
    )


def certificate_line(recipient: EnvelopeRecipient) -> str | None:
    """The audit certificate's line for the recipient's identification, if any."""
    entry = identity_of(recipient)
    if entry is None:
        return None
    provider = entry.get("provider") or {}
    matched = ", ".join(entry.get("matched") or [])
    return (
        f"Identified: {entry.get('at')} with {provider.get('label')} ({provider.get('name')}), "
        f"level {entry.get('level_of_assurance')}, matched {matched}; issuer "
        f"{entry.get('issuer')}, subject {entry.get('subject')}"
    )
