"""What a recipient does with an envelope: open it, fill and sign, approve, or reject.

Plain functions over a session (no HTTP types): the signing page and, later, the foreign
dialects call them. Each checks that it is this recipient's turn, records who acted, how
and from where, invites whoever comes next and completes the envelope after the last actor.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tabellion.envelope import evidence, repository
from tabellion.envelope.completion import COMPLETE_TASK
from tabellion.envelope.repository import EnvelopeParts
from tabellion.envelope.service import (
    DONE,
    SIGNATURE_TYPES,
    EnvelopeExpired,
    EnvelopeNotPending,
    RecipientAlreadyActed,
    event_data,
    in_turn,
    invite,
    token_hash,
)
from tabellion.errors import Conflict, FieldError, Forbidden, ValidationFailed
from tabellion.jobs.queue import enqueue
from tabellion.kit.jcs import canonicalize
from tabellion.kit.time import isoformat_z, utcnow
from tabellion.models.envelope import Envelope, EnvelopeField, EnvelopeRecipient
from tabellion.webhook.service import emit

MAX_SIGNATURE_IMAGE = 512 * 1024  # a drawn or uploaded signature, as PNG or JPEG bytes
MAX_TEXT = 10_000
IMAGE_PREFIXES = {"data:image/png;base64,": b"\x89PNG", "data:image/jpeg;base64,": b"\xff\xd8"}


class RecipientOutOfTurn(Conflict):
    code = "recipient-out-of-turn"
    title = "It is not this recipient's turn yet"


class WrongRoleForAction(Conflict):
    code = "wrong-role-for-action"
    title = "This recipient's role does not do this"


class AuthRequired(Forbidden):
    code = "auth-required"
    title = "Confirm who you are first"


class ConsentRequired(ValidationFailed):
    code = "consent-required"
    title = "Consent to sign electronically is required"


class BadFieldValue(ValidationFailed):
    code = "bad-field-value"
    title = "A field's value is not valid"


@dataclass(frozen=True)
class Actor:
    """Where an action came from, for the audit trail."""

    ip: str | None
    user_agent: str


@dataclass
class SigningContext:
    envelope: Envelope
    recipient: EnvelopeRecipient
    parts: EnvelopeParts

    @property
    def fields(self) -> list[EnvelopeField]:
        """What this recipient fills: its own fields, or for an assistant the fields other
        than signatures of the signers and approvers after it."""
        if self.recipient.role == "assistant":
            return self.assisted_fields
        return [f for f in self.parts.fields if f.recipient_id == self.recipient.id]

    @property
    def assisted_fields(self) -> list[EnvelopeField]:
        later = {
            r.id
            for r in self.parts.recipients
            if r.role in ("signer", "approver")
            and r.position > self.recipient.position
            and r.status not in DONE
        }
        return [
            f
            for f in self.parts.fields
            if f.recipient_id in later
            and f.type not in SIGNATURE_TYPES
            and not (f.meta or {}).get("read_only")
        ]


async def recipient_by_token(
    session: AsyncSession, token: str, *, for_update: bool = False
) -> SigningContext | None:
    """The recipient a link names, or None for an unknown or forged token."""
    if not token or len(token) > 100:
        return None
    query = select(EnvelopeRecipient).where(EnvelopeRecipient.token_hash == token_hash(token))
    recipient = await session.scalar(query)
    if recipient is None:
        return None
    envelope = await repository.get_envelope(
        session, recipient.organization_id, recipient.envelope_id, for_update=for_update
    )
    # A draft's recipients were never sent their link.
    if envelope is None or envelope.status == "draft":
        return None
    if for_update:
        await session.refresh(recipient)
        # Reassigned while this request waited for the lock: the link no longer names it.
        if recipient.token_hash != token_hash(token):
            return None
    parts = (await repository.parts_of(session, [envelope.id]))[envelope.id]
    return SigningContext(envelope, recipient, parts)


def _check_auth(ctx: SigningContext, access: str | None, action: str | None) -> None:
    """The page passes the methods this browser was checked with (``verification``)."""
    recipient = ctx.recipient
    if recipient.access_auth and access not in recipient.access_auth:
        raise AuthRequired("Confirm your identity to open the documents.")
    if recipient.action_auth and action not in recipient.action_auth:
        raise AuthRequired("Confirm your identity before you sign.")


def _auth_trail(access: str | None, action: str | None) -> dict[str, Any]:
    return {k: v for k, v in (("access_auth", access), ("action_auth", action)) if v}


def _check_turn(ctx: SigningContext) -> None:
    if ctx.envelope.status != "pending":
        raise EnvelopeNotPending(f"The envelope is {ctx.envelope.status}; nothing can be done.")
    if ctx.envelope.expires_at is not None and ctx.envelope.expires_at <= utcnow():
        raise EnvelopeExpired("The time to sign has run out; nothing can be done.")
    if ctx.recipient.status in DONE:
        raise RecipientAlreadyActed(f"You already acted on this envelope ({ctx.recipient.status}).")
    if ctx.recipient.status == "waiting":
        raise RecipientOutOfTurn("Others must act before you; you will get an e-mail.")


def _field_digests(fields: Sequence[EnvelopeField]) -> list[dict[str, Any]]:
    """Each field's value as a SHA-256 of its canonical JSON (a signature image is large, and
    the values are personal: the proof commits to them without repeating them)."""
    return [
        {
            "id": f.id,
            "type": f.type,
            "document_id": f.document_id,
            "page": f.page,
            "sha256": hashlib.sha256(canonicalize(f.value)).hexdigest() if f.value else None,
        }
        for f in fields
    ]


def _trail(actor: Actor, now: datetime, **extra: Any) -> dict[str, Any]:
    return {"ip": actor.ip, "user_agent": actor.user_agent, "at": isoformat_z(now), **extra}


async def open_envelope(
    session: AsyncSession, ctx: SigningContext, actor: Actor, *, access: str | None = None
) -> None:
    """The first view of an invited recipient: `opened`, or `viewed` (a viewer's whole act).

    ``access`` is the access authentication this browser passed; without the one the
    recipient needs, nothing is shown and nothing happens.
    """
    if ctx.envelope.status != "pending" or ctx.recipient.status != "sent":
        return
    if ctx.recipient.access_auth and access not in ctx.recipient.access_auth:
        return
    now = utcnow()
    recipient = ctx.recipient
    recipient.opened_at = now
    recipient.updated_at = now
    recipient.trail = {
        **(recipient.trail or {}),
        "opened": _trail(actor, now, **_auth_trail(access, None)),
    }
    evidence.record(
        session,
        ctx.envelope,
        evidence.Kind.OPENED,
        now,
        recipient=recipient,
        actor=recipient.trail["opened"],
    )
    await emit(
        session,
        ctx.envelope.organization_id,
        "envelope.opened",
        event_data(ctx.envelope, recipient_id=recipient.id),
    )
    if recipient.role == "viewer":
        await _acted(session, ctx, "viewed", now, actor)
    else:
        recipient.status = "opened"
    await session.flush()


def _field_value(field: EnvelopeField, raw: Any, signer_name: str) -> dict[str, Any] | None:
    """The stored value of one field, or None when left empty; BadFieldValue if wrong."""
    meta = field.meta or {}
    if raw is None or raw == "" or raw is False:
        return None
    if field.type in ("signature", "initials"):
        text = str(raw)
        for prefix, magic in IMAGE_PREFIXES.items():
            if text.startswith(prefix):
                try:
                    image = base64.b64decode(text[len(prefix) :], validate=True)
                except (binascii.Error, ValueError) as exc:
                    raise ValueError("the image is not valid base64") from exc
                if len(image) > MAX_SIGNATURE_IMAGE or not image.startswith(magic):
                    raise ValueError("the image must be a PNG or JPEG of at most 512 KiB")
                return {"kind": "image", "image": text}
        if len(text) > 255:
            raise ValueError("a typed signature has at most 255 characters")
        return {"kind": "typed", "text": text}
    if field.type == "checkbox":
        return {"checked": str(raw).lower() in ("1", "true", "on", "yes")}
    text = str(raw).strip()
    if len(text) > int(meta.get("max_length") or MAX_TEXT):
        raise ValueError("the text is too long")
    if field.type in ("radio", "dropdown") and text not in meta.get("options", []):
        raise ValueError("choose one of the options")
    if field.type == "number":
        try:
            number = float(text)
        except ValueError as exc:
            raise ValueError("a number is expected") from exc
        if ("min" in meta and number < meta["min"]) or ("max" in meta and number > meta["max"]):
            raise ValueError("the number is out of range")
    return {"text": text or signer_name}


def _values(
    ctx: SigningContext, submitted: Mapping[str, Any], *, enforce_required: bool = True
) -> dict[str, dict[str, Any]]:
    values: dict[str, dict[str, Any]] = {}
    errors: list[FieldError] = []
    for field in ctx.fields:
        raw = submitted.get(field.id)
        if (field.meta or {}).get("read_only"):
            raw = (field.meta or {}).get("default")
        elif ctx.recipient.role == "assistant":
            pass  # an assistant's own name is not the owner's
        elif field.type == "name" and not raw:
            raw = ctx.recipient.name
        elif field.type == "email" and not raw:
            raw = ctx.recipient.email
        try:
            value = _field_value(field, raw, ctx.recipient.name)
        except ValueError as exc:
            errors.append(FieldError(field=field.id, code="invalid", message=str(exc)))
            continue
        if value is None and field.required and enforce_required:
            errors.append(FieldError(field=field.id, code="required", message="Fill this field."))
        elif value is not None:
            values[field.id] = value
    if errors:
        raise BadFieldValue(errors[0].message, errors=errors)
    return values


async def sign(
    session: AsyncSession,
    ctx: SigningContext,
    submitted: Mapping[str, Any],
    *,
    consent: bool,
    actor: Actor,
    access: str | None = None,
    action: str | None = None,
) -> None:
    """Fill this signer's fields and sign, all at once."""
    _check_turn(ctx)
    _check_auth(ctx, access, action)
    if ctx.recipient.role != "signer":
        raise WrongRoleForAction(f"A {ctx.recipient.role} does not sign.")
    if not consent:
        raise ConsentRequired.field("consent", "Tick the box to agree to sign electronically.")
    values = _values(ctx, submitted)
    for field in ctx.fields:
        field.value = values.get(field.id)
    await _acted(
        session, ctx, "signed", utcnow(), actor, consent=True, **_auth_trail(access, action)
    )


async def approve(
    session: AsyncSession,
    ctx: SigningContext,
    submitted: Mapping[str, Any],
    *,
    actor: Actor,
    access: str | None = None,
    action: str | None = None,
) -> None:
    _check_turn(ctx)
    _check_auth(ctx, access, action)
    if ctx.recipient.role != "approver":
        raise WrongRoleForAction(f"A {ctx.recipient.role} does not approve.")
    values = _values(ctx, submitted)
    for field in ctx.fields:
        field.value = values.get(field.id)
    await _acted(session, ctx, "approved", utcnow(), actor, **_auth_trail(access, action))


async def assist(
    session: AsyncSession,
    ctx: SigningContext,
    submitted: Mapping[str, Any],
    *,
    actor: Actor,
    access: str | None = None,
    action: str | None = None,
) -> None:
    """An assistant fills the later recipients' fields; each owner sees the values and may
    change them when signing. Nothing is required of the assistant: empty stays empty."""
    _check_turn(ctx)
    _check_auth(ctx, access, action)
    if ctx.recipient.role != "assistant":
        raise WrongRoleForAction(f"A {ctx.recipient.role} does not fill others' fields.")
    values = _values(ctx, submitted, enforce_required=False)
    filled = []
    for field in ctx.fields:
        value = values.get(field.id)
        if value is not None:
            field.value = value
            filled.append(field.id)
    await _acted(
        session, ctx, "assisted", utcnow(), actor, fields=filled, **_auth_trail(access, action)
    )


async def reject(
    session: AsyncSession,
    ctx: SigningContext,
    reason: str,
    *,
    actor: Actor,
    access: str | None = None,
) -> None:
    """A rejection ends the envelope for everybody. It needs the access authentication (the
    recipient saw the documents), not the action one: refusing to sign is not signing."""
    _check_turn(ctx)
    if ctx.recipient.access_auth and access not in ctx.recipient.access_auth:
        raise AuthRequired("Confirm your identity to open the documents.")
    reason = reason.strip()
    if not reason:
        raise ValidationFailed.field("reason", "Say why you reject it.", code="required")
    now = utcnow()
    ctx.recipient.reason = reason[:2000]
    ctx.envelope.status = "rejected"
    ctx.envelope.updated_at = now
    await _acted(session, ctx, "rejected", now, actor, **_auth_trail(access, None))


async def _acted(
    session: AsyncSession,
    ctx: SigningContext,
    status: str,
    now: datetime,
    actor: Actor,
    **trail: Any,
) -> None:
    recipient, envelope = ctx.recipient, ctx.envelope
    recipient.status = status
    recipient.acted_at = now
    recipient.updated_at = now
    recipient.trail = {**(recipient.trail or {}), status: _trail(actor, now, **trail)}
    facts: dict[str, Any] = {"actor": recipient.trail[status]}
    if status == "rejected":
        facts["reason"] = recipient.reason
    if status in ("signed", "approved", "assisted"):
        facts["fields"] = _field_digests(
            ctx.assisted_fields if status == "assisted" else ctx.fields
        )
    evidence.record(session, envelope, evidence.ACTED[status], now, recipient=recipient, **facts)
    extra: dict[str, Any] = {"recipient_id": recipient.id}
    if status == "rejected":
        extra["reason"] = recipient.reason
    if status in ("signed", "approved", "rejected"):
        await emit(
            session, envelope.organization_id, f"envelope.{status}", event_data(envelope, **extra)
        )
    if envelope.status == "pending":
        await _advance(session, ctx, now)
    await session.flush()


async def _advance(session: AsyncSession, ctx: SigningContext, now: datetime) -> None:
    """Invite whoever's turn has come; after the last actor, the envelope is complete."""
    envelope = ctx.envelope
    invited = in_turn(envelope, ctx.parts.recipients)
    if invited:
        invite(session, invited, now)
        return
    if any(r.role != "cc" and r.status not in DONE for r in ctx.parts.recipients):
        return  # others of the same order are still to act
    envelope.status = "completed"
    envelope.completed_at = now
    envelope.updated_at = now
    evidence.record(session, envelope, evidence.Kind.COMPLETED, now)
    enqueue(session, COMPLETE_TASK, {"envelope_id": envelope.id})
    await emit(session, envelope.organization_id, "envelope.completed", event_data(envelope))
