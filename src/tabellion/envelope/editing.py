"""Editing envelopes after creation: a draft's settings, recipients and fields; sending the
link again; a rejection recorded on a recipient's behalf; the original files.

Plain functions over a session, like ``service``: the native API and the dialects call them.
Drafts only, unless said otherwise; everything is checked before anything changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import Field, ValidationError
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from tabellion.envelope import evidence, repository
from tabellion.envelope.schemas import EnvelopeIn, FieldIn, RecipientIn
from tabellion.envelope.service import (
    DONE,
    EnvelopeDocumentNotFound,
    EnvelopeNotFound,
    EnvelopeNotPending,
    RecipientAlreadyActed,
    check_field,
    check_order,
    event_data,
    get_draft,
    get_envelope,
    new_recipient,
    remind_recipients,
)
from tabellion.envelope.signing import RecipientOutOfTurn, WrongRoleForAction
from tabellion.errors import Conflict, NotFound, ValidationFailed
from tabellion.identity.envelopes import stored as identification_stored
from tabellion.kit.time import isoformat_z, utcnow
from tabellion.models.envelope import (
    Envelope,
    EnvelopeDocument,
    EnvelopeField,
    EnvelopeRecipient,
)
from tabellion.webhook.service import emit

MAX_RECIPIENTS = 100


class RecipientNotFound(NotFound):
    code = "recipient-not-found"
    title = "Recipient not found"


class FieldNotFound(NotFound):
    code = "field-not-found"
    title = "Field not found"


class RecipientExists(Conflict):
    code = "recipient-exists"
    title = "The recipient is already in this envelope"


class TooManyRecipients(ValidationFailed):
    code = "too-many-recipients"
    title = "Too many recipients"


class DraftIn(EnvelopeIn):
    """A draft may start without recipients and get them later (``add_recipients``); sending
    still needs a signer or approver."""

    recipients: Annotated[list[RecipientIn], Field(max_length=MAX_RECIPIENTS)] = []


@dataclass
class DraftChanges:
    """Settings of a draft to change; None leaves one as it is (``reference`` may be cleared
    with ``clear_reference``)."""

    title: str | None = None
    message: str | None = None
    language: str | None = None
    reference: str | None = None
    clear_reference: bool = False
    signing_order: str | None = None
    expires_in_days: int | None = None


@dataclass
class RecipientChanges:
    recipient_id: str
    values: dict[str, Any] = field(default_factory=dict)  # RecipientIn's names


@dataclass
class FieldChanges:
    field_id: str
    values: dict[str, Any] = field(default_factory=dict)  # FieldIn's names


def _as_input(envelope: Envelope, recipients: Sequence[EnvelopeRecipient]) -> EnvelopeIn:
    """The draft as a creation body: the rules on a whole envelope run again on it."""
    return EnvelopeIn.model_validate(
        {
            "title": envelope.title,
            "signing_order": envelope.signing_order,
            "recipients": [
                {"email": r.email, "name": r.name, "role": r.role, "order": r.position}
                for r in recipients
            ],
        }
    )


async def update_draft(
    session: AsyncSession, organization_id: str, envelope_id: str, changes: DraftChanges
) -> Envelope:
    envelope = await get_draft(session, organization_id, envelope_id)
    for name in ("title", "message", "language", "signing_order", "expires_in_days"):
        value = getattr(changes, name)
        if value is not None:
            setattr(envelope, name, value)
    if changes.reference is not None or changes.clear_reference:
        envelope.reference = changes.reference
    parts = (await repository.parts_of(session, [envelope.id]))[envelope.id]
    if parts.recipients:
        check_order(_as_input(envelope, parts.recipients))
    envelope.updated_at = utcnow()
    await session.flush()
    return envelope


async def add_recipients(
    session: AsyncSession,
    organization_id: str,
    envelope_id: str,
    items: Sequence[RecipientIn],
    *,
    signing_key: bytes,
) -> list[EnvelopeRecipient]:
    envelope = await get_draft(session, organization_id, envelope_id)
    parts = (await repository.parts_of(session, [envelope.id]))[envelope.id]
    if len(parts.recipients) + len(items) > MAX_RECIPIENTS:
        raise TooManyRecipients.field(
            "recipients",
            f"An envelope may hold at most {MAX_RECIPIENTS} recipients.",
            code=TooManyRecipients.code,
        )
    seen = {r.email for r in parts.recipients}
    for index, item in enumerate(items):
        if item.email in seen:
            raise RecipientExists(f"Recipient {item.email} already exists (data[{index}]).")
        seen.add(item.email)
    now = utcnow()
    rows = [new_recipient(envelope, item, signing_key=signing_key, now=now) for item in items]
    check_order(_as_input(envelope, [*parts.recipients, *rows]))
    session.add_all(rows)
    envelope.updated_at = now
    await session.flush()
    return rows


def _invalid(exc: ValidationError, where: str) -> ValidationFailed:
    """The first problem of a merged row, named by its field (``data[0].email``)."""
    first = exc.errors(include_url=False)[0]
    path = ".".join(str(part) for part in first["loc"])
    message = str(first["msg"]).removeprefix("Value error, ")
    return ValidationFailed.field(f"{where}.{path}" if path else where, message)


def _recipient_in(recipient: EnvelopeRecipient, values: dict[str, Any], where: str) -> RecipientIn:
    current = {
        "email": recipient.email,
        "name": recipient.name,
        "role": recipient.role,
        "order": recipient.position,
        "language": recipient.language,
        "access_auth": recipient.access_auth,
        "action_auth": recipient.action_auth,
    }
    if recipient.identification:
        declared = recipient.identification.get("declared", {})
        current["identification"] = {
            **{k: v for k, v in recipient.identification.items() if k != "declared"},
            **declared,
        }
    try:
        return RecipientIn.model_validate({**current, **values})
    except ValidationError as exc:
        raise _invalid(exc, where) from exc


async def update_recipients(
    session: AsyncSession,
    organization_id: str,
    envelope_id: str,
    changes: Sequence[RecipientChanges],
) -> list[EnvelopeRecipient]:
    envelope = await get_draft(session, organization_id, envelope_id)
    parts = (await repository.parts_of(session, [envelope.id]))[envelope.id]
    by_id = {r.id: r for r in parts.recipients}
    updated: list[tuple[EnvelopeRecipient, RecipientIn]] = []
    for index, change in enumerate(changes):
        recipient = by_id.get(change.recipient_id)
        if recipient is None:
            raise RecipientNotFound(f"No recipient {change.recipient_id} in this envelope.")
        updated.append((recipient, _recipient_in(recipient, change.values, f"data[{index}]")))
    now = utcnow()
    for recipient, item in updated:
        recipient.email, recipient.name, recipient.role = item.email, item.name, item.role
        recipient.position = item.order
        recipient.language = item.language or recipient.language
        recipient.access_auth = list(item.access_auth)
        recipient.action_auth = list(item.action_auth)
        recipient.identification = identification_stored(item.identification)
        recipient.updated_at = now
    check_order(_as_input(envelope, parts.recipients))
    # A role that no longer fills a field keeps none.
    owners = {recipient.id for recipient, _ in updated}
    documents = {d.id: d for d in parts.documents}
    for index, row in enumerate(f for f in parts.fields if f.recipient_id in owners):
        check_field(index, _field_in(row, {}), by_id, documents)
    envelope.updated_at = now
    await session.flush()
    return [recipient for recipient, _ in updated]


# What the server adds to a field's meta (not an input): the text tag a field came from, which
# completion clears from the PDF. Kept as it is when the field changes.
SERVER_META = ("tag",)


def _field_in(row: EnvelopeField, values: dict[str, Any]) -> FieldIn:
    current = {
        "recipient_id": row.recipient_id,
        "document_id": row.document_id,
        "type": row.type,
        "page": row.page,
        "x": row.x,
        "y": row.y,
        "width": row.width,
        "height": row.height,
        "required": row.required,
        "meta": {k: v for k, v in (row.meta or {}).items() if k not in SERVER_META},
    }
    return FieldIn.model_validate({**current, **values})


async def delete_recipient(session: AsyncSession, organization_id: str, recipient_id: str) -> None:
    """Remove a recipient of a draft, and the fields it owned."""
    recipient = await repository.get_recipient(session, organization_id, recipient_id)
    if recipient is None:
        raise RecipientNotFound(f"No recipient {recipient_id}.")
    envelope = await get_draft(session, organization_id, recipient.envelope_id)
    await session.execute(delete(EnvelopeField).where(EnvelopeField.recipient_id == recipient.id))
    await session.delete(recipient)
    envelope.updated_at = utcnow()
    await session.flush()
    rest = (await repository.parts_of(session, [envelope.id]))[envelope.id].recipients
    if rest:
        check_order(_as_input(envelope, rest))


async def update_fields(
    session: AsyncSession,
    organization_id: str,
    envelope_id: str,
    changes: Sequence[FieldChanges],
) -> list[EnvelopeField]:
    envelope = await get_draft(session, organization_id, envelope_id)
    parts = (await repository.parts_of(session, [envelope.id]))[envelope.id]
    by_id = {f.id: f for f in parts.fields}
    recipients = {r.id: r for r in parts.recipients}
    documents = {d.id: d for d in parts.documents}
    checked: list[tuple[EnvelopeField, FieldIn]] = []
    for index, change in enumerate(changes):
        row = by_id.get(change.field_id)
        if row is None:
            raise FieldNotFound(f"No field {change.field_id} in this envelope.")
        try:
            item = _field_in(row, change.values)
        except ValidationError as exc:
            raise _invalid(exc, f"data[{index}]") from exc
        check_field(index, item, recipients, documents)
        checked.append((row, item))
    for row, item in checked:
        row.recipient_id, row.document_id, row.type = item.recipient_id, item.document_id, item.type
        row.page, row.x, row.y = item.page, item.x, item.y
        row.width, row.height, row.required = item.width, item.height, item.required
        kept = {k: v for k, v in (row.meta or {}).items() if k in SERVER_META}
        row.meta = {**item.meta.model_dump(exclude_defaults=True), **kept}
    envelope.updated_at = utcnow()
    await session.flush()
    return [row for row, _ in checked]


async def delete_field(session: AsyncSession, organization_id: str, field_id: str) -> None:
    row = await repository.get_field(session, organization_id, field_id)
    if row is None:
        raise FieldNotFound(f"No field {field_id}.")
    envelope = await get_draft(session, organization_id, row.envelope_id)
    await session.delete(row)
    envelope.updated_at = utcnow()
    await session.flush()


async def redistribute(
    session: AsyncSession, organization_id: str, envelope_id: str, recipient_ids: Sequence[str]
) -> tuple[Envelope, list[EnvelopeRecipient]]:
    """E-mail the signing link again to these recipients (invited, not acted yet)."""
    envelope = await get_envelope(session, organization_id, envelope_id, for_update=True)
    if envelope.status != "pending":
        raise EnvelopeNotPending(
            f"Envelope {envelope_id} is {envelope.status}; only a pending envelope is resent."
        )
    parts = (await repository.parts_of(session, [envelope.id]))[envelope.id]
    by_id = {r.id: r for r in parts.recipients}
    chosen: list[EnvelopeRecipient] = []
    for recipient_id in dict.fromkeys(recipient_ids):
        recipient = by_id.get(recipient_id)
        if recipient is None:
            raise RecipientNotFound(f"No recipient {recipient_id} in envelope {envelope_id}.")
        if recipient.status in DONE:
            raise RecipientAlreadyActed(
                f"{recipient.email} already acted ({recipient.status}); nothing to resend."
            )
        if recipient.role == "cc":
            raise WrongRoleForAction(f"{recipient.email} is a cc: it gets the signed files only.")
        if recipient.status == "waiting":
            raise RecipientOutOfTurn(
                f"It is not {recipient.email}'s turn yet; the link goes out when it is."
            )
        chosen.append(recipient)
    await remind_recipients(session, envelope, chosen, utcnow())
    await session.flush()
    return envelope, chosen


async def reject_on_behalf(
    session: AsyncSession,
    organization_id: str,
    envelope_id: str,
    recipient_id: str,
    reason: str,
    *,
    by: str,
) -> tuple[Envelope, EnvelopeRecipient]:
    """Record that a recipient declined outside Tabellion (said so by e-mail, by phone): the
    envelope ends rejected, as when they reject on the signing page. ``by`` names the caller
    (an API key) for the audit trail."""
    envelope = await get_envelope(session, organization_id, envelope_id, for_update=True)
    parts = (await repository.parts_of(session, [envelope.id]))[envelope.id]
    recipient = next((r for r in parts.recipients if r.id == recipient_id), None)
    if recipient is None:
        raise RecipientNotFound(f"No recipient {recipient_id} in envelope {envelope_id}.")
    if envelope.status != "pending":
        raise EnvelopeNotPending(f"Envelope {envelope_id} is {envelope.status}, not pending.")
    if recipient.status in DONE:
        raise RecipientAlreadyActed(f"{recipient.email} already acted ({recipient.status}).")
    if recipient.role == "cc":
        raise WrongRoleForAction(f"{recipient.email} is a cc: it has nothing to reject.")
    reason = reason.strip()
    if not reason:
        raise ValidationFailed.field("reason", "Say why the recipient rejects it.", code="required")
    now = utcnow()
    recipient.status = "rejected"
    recipient.reason = reason[:2000]
    recipient.acted_at = now
    recipient.updated_at = now
    entry = {"ip": None, "user_agent": None, "at": isoformat_z(now), "external": True, "by": by}
    recipient.trail = {**(recipient.trail or {}), "rejected": entry}
    envelope.status = "rejected"
    envelope.updated_at = now
    evidence.record(
        session,
        envelope,
        evidence.Kind.REJECTED,
        now,
        recipient=recipient,
        actor=entry,
        reason=recipient.reason,
    )
    await emit(
        session,
        envelope.organization_id,
        "envelope.rejected",
        event_data(envelope, recipient_id=recipient.id, reason=recipient.reason),
    )
    await session.flush()
    return envelope, recipient


async def original_file(
    session: AsyncSession, organization_id: str, document_id: str
) -> tuple[EnvelopeDocument, Envelope]:
    """A document as uploaded, with its envelope (any status)."""
    document = await session.scalar(
        select(EnvelopeDocument).where(
            EnvelopeDocument.id == document_id,
            EnvelopeDocument.organization_id == organization_id,
        )
    )
    if document is None:
        raise EnvelopeDocumentNotFound(f"No document {document_id}.")
    envelope = await repository.get_envelope(session, organization_id, document.envelope_id)
    if envelope is None:
        raise EnvelopeNotFound(f"No envelope {document.envelope_id}.")
    return document, envelope
