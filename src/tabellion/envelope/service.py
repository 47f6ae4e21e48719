"""Envelopes: drafting (recipients, documents, fields), sending, cancelling, reminding.

Plain functions over a session, with no HTTP types, so that the native API and the foreign
dialects in ``compat/`` call the same rules. They flush, never commit.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from tabellion.auth.subjects import ApiKeySubject
from tabellion.document.sniff import clean_filename
from tabellion.document.storage import StoredBlob
from tabellion.envelope import evidence, repository
from tabellion.envelope.placeholders import Tag, field_data, tag_error
from tabellion.envelope.repository import EnvelopeParts
from tabellion.envelope.schemas import EnvelopeIn, FieldIn, ReassignIn, RecipientIn
from tabellion.envelope.verification import (
    SUPPORTED_ACCESS_AUTH,
    SUPPORTED_ACTION_AUTH,
    users_at,
)
from tabellion.errors import Conflict, NotFound, ValidationFailed
from tabellion.identity.envelopes import stored as identification_stored
from tabellion.jobs.queue import enqueue
from tabellion.kit.ids import new_id, possible_id
from tabellion.kit.time import isoformat_z, utcnow
from tabellion.kit.tokens import as_made, hmac_sha256, sha256_hex
from tabellion.models.envelope import (
    Envelope,
    EnvelopeDocument,
    EnvelopeField,
    EnvelopeRecipient,
)
from tabellion.organization import totp
from tabellion.retention.service import ContentPurged
from tabellion.webhook.service import emit

INVITE_TASK = "envelope.invite"
REMIND_TASK = "envelope.remind"
EXPIRE_TASK = "envelope.expire"
ENDED_TASK = "envelope.notify_ended"
MAX_DOCUMENTS = 20
MAX_FIELDS = 2_000
# Recipients who act on the documents; a cc only receives the completed PDF.
ACTORS = ("signer", "approver", "viewer", "assistant")
# What each role may fill: a signer anything, an approver anything but signatures; a viewer,
# cc or assistant owns no field (an assistant fills those of later recipients).
SIGNATURE_TYPES = ("signature", "initials")
DONE = ("signed", "approved", "viewed", "assisted", "rejected")


class EnvelopeNotFound(NotFound):
    code = "envelope-not-found"
    title = "Envelope not found"


class EnvelopeDocumentNotFound(NotFound):
    code = "document-not-found"
    title = "Document not found"


class EnvelopeNotDraft(Conflict):
    code = "envelope-not-draft"
    title = "The envelope is no longer a draft"
    # The envelope and what it is instead (a dialect names the state in its own error code).
    envelope_id: str | None = None
    status_now: str | None = None

    @classmethod
    def of(cls, envelope: Envelope, detail: str | None = None) -> EnvelopeNotDraft:
        error = cls(detail or f"Envelope {envelope.id} was sent; it can no longer change.")
        error.envelope_id, error.status_now = envelope.id, envelope.status
        return error


class EnvelopeNotCompleted(Conflict):
    code = "envelope-not-completed"
    title = "The envelope is not completed, or its signed files are not ready yet"


class EnvelopeNotPending(Conflict):
    code = "envelope-not-pending"
    title = "The envelope is not awaiting signatures"


class EnvelopeExpired(Conflict):
    code = "envelope-expired"
    title = "The envelope has expired"


class TooManyDocuments(Conflict):
    code = "too-many-documents"
    title = "Too many documents"


class BadSigningOrder(ValidationFailed):
    code = "bad-signing-order"
    title = "The recipients' order cannot work"


class NoDocuments(ValidationFailed):
    code = "no-documents"
    title = "The envelope has no document"


class NoSigners(ValidationFailed):
    code = "no-signers"
    title = "The envelope has nobody to sign or approve"


class SignerWithoutSignatureField(ValidationFailed):
    code = "signer-without-signature-field"
    title = "A signer has no signature field"


class ActionAuthUnavailable(ValidationFailed):
    code = "action-auth-unavailable"
    title = "This action authentication is not available yet"


class AccessAuthUnavailable(ValidationFailed):
    code = "access-auth-unavailable"
    title = "This access authentication is not available yet"


class RecipientNotAUser(ValidationFailed):
    code = "recipient-not-a-user"
    title = "Password authentication needs a user of the organisation"


class RecipientWithoutTotp(ValidationFailed):
    code = "recipient-without-totp"
    title = "TOTP authentication needs a user with a confirmed TOTP secret"


async def _check_users(session: AsyncSession, recipient: EnvelopeRecipient, field: str) -> None:
    """``password`` and ``totp`` need an active user of the organisation at the address (with a
    confirmed TOTP secret for ``totp``)."""
    if "password" not in recipient.action_auth and "totp" not in recipient.action_auth:
        return
    users = await users_at(session, recipient)
    if "password" in recipient.action_auth and not users:
        raise RecipientNotAUser.field(
            field,
            f"{recipient.email} is not an active user of the organisation: only users "
            "have a password to confirm a signature with.",
            code=RecipientNotAUser.code,
        )
    if "totp" in recipient.action_auth and not any(totp.enrolled(u) for u in users):
        raise RecipientWithoutTotp.field(
            field,
            f"{recipient.email} is not an active user of the organisation with a confirmed "
            "TOTP secret (POST /v1/users/{id}/totp).",
            code=RecipientWithoutTotp.code,
        )


class PasskeyNeedsAccessCode(ValidationFailed):
    code = "passkey-needs-access-code"
    title = "A passkey needs the e-mailed access code"


class UnknownRecipient(ValidationFailed):
    code = "unknown-recipient"
    title = "The recipient is not in this envelope"


class UnknownDocument(ValidationFailed):
    code = "unknown-document"
    title = "The document is not in this envelope"


class PageNotFound(ValidationFailed):
    code = "page-not-found"
    title = "The document has no such page"


class FieldOffPage(ValidationFailed):
    code = "field-off-page"
    title = "The field reaches outside its page"


class RecipientCannotFill(ValidationFailed):
    code = "recipient-cannot-fill"
    title = "This recipient's role cannot fill this field"


class TooManyFields(ValidationFailed):
    code = "too-many-fields"
    title = "Too many fields"


def signing_token(signing_key: bytes, recipient_id: str, salt: str) -> str:
    """The recipient's link token: HMAC of id and salt, 256 bits, never stored in clear."""
    digest = hmac_sha256(signing_key, f"signing-token:{recipient_id}:{salt}")
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def token_hash(token: str) -> str:
    return sha256_hex("signing:" + token)


def signing_token_of(keys: Sequence[bytes], recipient: EnvelopeRecipient) -> str:
    """The recipient's link token as it was made: with whichever of ``keys`` (the secret key,
    then earlier ones still accepted) gives the stored hash, so every e-mail and API answer
    about a recipient carries the same link across a change of the secret key."""
    return as_made(
        keys,
        lambda key: signing_token(key, recipient.id, recipient.token_salt),
        lambda token: token_hash(token) == recipient.token_hash,
    )


def check_order(data: EnvelopeIn) -> None:
    """An assistant fills fields of recipients after it, so it needs someone after it."""
    for index, recipient in enumerate(data.recipients):
        if recipient.role != "assistant":
            continue
        field = f"recipients[{index}].order"
        if data.signing_order != "sequential":
            raise BadSigningOrder.field(
                field, "An assistant needs signing_order `sequential`.", code="bad-signing-order"
            )
        if not any(
            other.role in ("signer", "approver") and other.order > recipient.order
            for other in data.recipients
        ):
            raise BadSigningOrder.field(
                field,
                "An assistant needs a signer or approver with a higher order to assist.",
                code="bad-signing-order",
            )


async def create_envelope(
    session: AsyncSession, caller: ApiKeySubject, data: EnvelopeIn, *, signing_key: bytes
) -> Envelope:
    check_order(data)
    now = utcnow()
    envelope = Envelope(
        id=new_id("env"),
        organization_id=caller.organization_id,
        submitted_by_key_id=caller.api_key_id,
        status="draft",
        title=data.title,
        message=data.message,
        language=data.language,
        reference=data.reference,
        signing_order=data.signing_order,
        expires_in_days=data.expires_in_days,
        reminders_sent=0,
        reminder_first_days=data.reminders.first_after_days,
        reminder_every_days=data.reminders.every_days,
        reminder_max=data.reminders.max,
        created_at=now,
        updated_at=now,
    )
    session.add(envelope)
    for item in data.recipients:
        session.add(new_recipient(envelope, item, signing_key=signing_key, now=now))
    await emit(session, envelope.organization_id, "envelope.created", event_data(envelope))
    await session.flush()
    return envelope


def new_recipient(
    envelope: Envelope, item: RecipientIn, *, signing_key: bytes, now: datetime
) -> EnvelopeRecipient:
    """A recipient row of ``envelope`` as ``item`` describes it, waiting, with its own link."""
    recipient_id, salt = new_id("rcp"), secrets.token_hex(16)
    return EnvelopeRecipient(
        id=recipient_id,
        organization_id=envelope.organization_id,
        envelope_id=envelope.id,
        email=item.email,
        name=item.name,
        role=item.role,
        # In parallel order everybody acts at once: the order is kept for display.
        position=item.order,
        language=item.language or envelope.language,
        status="waiting",
        access_auth=item.access_auth,
        action_auth=item.action_auth,
        identification=identification_stored(item.identification),
        token_salt=salt,
        token_hash=token_hash(signing_token(signing_key, recipient_id, salt)),
        created_at=now,
        updated_at=now,
    )


ENVELOPE_ID_MAX = 40  # the id column's length


async def get_envelope(
    session: AsyncSession, organization_id: str, envelope_id: str, *, for_update: bool = False
) -> Envelope:
    envelope = (
        await repository.get_envelope(session, organization_id, envelope_id, for_update=for_update)
        if possible_id(envelope_id) and len(envelope_id) <= ENVELOPE_ID_MAX
        else None  # cannot name a row: not looked up (PostgreSQL refuses a NUL outright)
    )
    if envelope is None:
        raise EnvelopeNotFound(f"No envelope {envelope_id}.")
    return envelope


def check_not_purged(envelope: Envelope) -> None:
    """410 ``content-purged`` for an envelope whose files were deleted (docs/data.md)."""
    if envelope.content_purged_at is not None:
        raise ContentPurged(
            f"The documents of envelope {envelope.id} were deleted at the end of their "
            "retention period; its proofs remain."
        )


async def get_draft(session: AsyncSession, organization_id: str, envelope_id: str) -> Envelope:
    """The draft envelope, locked for the change to come; 409 once it was sent."""
    envelope = await get_envelope(session, organization_id, envelope_id, for_update=True)
    if envelope.status != "draft":
        raise EnvelopeNotDraft.of(envelope)
    return envelope


async def check_uploadable(session: AsyncSession, organization_id: str, envelope_id: str) -> None:
    """Refuse early, before a client streams a large body for nothing."""
    await get_draft(session, organization_id, envelope_id)
    if await repository.count_documents(session, envelope_id) >= MAX_DOCUMENTS:
        raise TooManyDocuments(f"An envelope may hold at most {MAX_DOCUMENTS} documents.")


async def record_document(
    session: AsyncSession,
    organization_id: str,
    envelope_id: str,
    blob: StoredBlob,
    *,
    filename: str,
    pages: int,
) -> EnvelopeDocument:
    """Record a PDF already streamed into storage and inspected (see ``envelope.pdf``).

    The draft is read again: it may have been sent while the body streamed. A blob whose row
    is never committed stays unreferenced and the storage collector removes it.
    """
    envelope = await get_draft(session, organization_id, envelope_id)
    if await repository.count_documents(session, envelope.id) >= MAX_DOCUMENTS:
        raise TooManyDocuments(f"An envelope may hold at most {MAX_DOCUMENTS} documents.")
    document = EnvelopeDocument(
        id=new_id("doc"),
        organization_id=envelope.organization_id,
        envelope_id=envelope.id,
        filename=clean_filename(filename),
        pages=pages,
        size=blob.size,
        sha256=blob.sha256,
        storage_key=blob.key,
        created_at=utcnow(),
    )
    session.add(document)
    envelope.updated_at = document.created_at
    await session.flush()
    return document


def check_field(
    index: int,
    item: FieldIn,
    recipients: dict[str, EnvelopeRecipient],
    documents: dict[str, EnvelopeDocument],
) -> None:
    where = f"fields[{index}]"
    recipient = recipients.get(item.recipient_id)
    if recipient is None:
        raise UnknownRecipient.field(
            f"{where}.recipient_id",
            f"No recipient {item.recipient_id} in this envelope.",
            code=UnknownRecipient.code,
        )
    document = documents.get(item.document_id)
    if document is None:
        raise UnknownDocument.field(
            f"{where}.document_id",
            f"No document {item.document_id} in this envelope.",
            code=UnknownDocument.code,
        )
    if item.page > document.pages:
        raise PageNotFound.field(
            f"{where}.page",
            f"Document {document.id} has {document.pages} page(s), not {item.page}.",
            code=PageNotFound.code,
        )
    if item.x + item.width > 100 or item.y + item.height > 100:
        raise FieldOffPage.field(
            where,
            "x + width and y + height must stay within 100 (percent of the page).",
            code=FieldOffPage.code,
        )
    allowed = recipient.role == "signer" or (
        recipient.role == "approver" and item.type not in SIGNATURE_TYPES
    )
    if not allowed:
        raise RecipientCannotFill.field(
            f"{where}.type",
            f"A {recipient.role} cannot own a {item.type} field.",
            code=RecipientCannotFill.code,
        )


async def add_fields(
    session: AsyncSession, organization_id: str, envelope_id: str, items: Sequence[FieldIn]
) -> list[EnvelopeField]:
    """Place fields on a draft's pages: all of them, or none if any is wrong."""
    envelope = await get_draft(session, organization_id, envelope_id)
    if await repository.count_fields(session, envelope.id) + len(items) > MAX_FIELDS:
        raise TooManyFields.field(
            "fields", f"An envelope may hold at most {MAX_FIELDS} fields.", code=TooManyFields.code
        )
    parts = (await repository.parts_of(session, [envelope.id]))[envelope.id]
    recipients = {r.id: r for r in parts.recipients}
    documents = {d.id: d for d in parts.documents}
    for index, item in enumerate(items):
        check_field(index, item, recipients, documents)
    now = utcnow()
    rows = [
        _field_row(envelope, item, item.meta.model_dump(exclude_defaults=True), now=now)
        for item in items
    ]
    session.add_all(rows)
    envelope.updated_at = now
    await session.flush()
    return rows


async def place_tags(
    session: AsyncSession,
    organization_id: str,
    document: EnvelopeDocument,
    tags: Sequence[Tag],
    *,
    recipient_order: Sequence[str] | None = None,
    field_of: Callable[[Tag], dict[str, Any]] = field_data,
) -> list[EnvelopeField]:
    """Fields from a new document's text tags (``placeholders``): all of them, or a 422
    naming the first tag that cannot be one.

    ``rN`` is the N-th of ``recipient_order`` (recipient ids; by default the envelope's
    recipients as listed); ``field_of`` reads a tag's type, box and options (a dialect gives
    its own option names)."""
    if not tags:
        return []
    envelope = await get_draft(session, organization_id, document.envelope_id)
    parts = (await repository.parts_of(session, [envelope.id]))[envelope.id]
    if await repository.count_fields(session, envelope.id) + len(tags) > MAX_FIELDS:
        raise TooManyFields.field(
            "file", f"An envelope may hold at most {MAX_FIELDS} fields.", code=TooManyFields.code
        )
    recipients = {r.id: r for r in parts.recipients}
    ordered = [recipients[i] for i in recipient_order] if recipient_order else parts.recipients
    now = utcnow()
    rows = []
    for tag in tags:
        if not 1 <= tag.recipient <= len(ordered):
            raise tag_error(
                tag, f"the envelope has {len(ordered)} recipient(s), no r{tag.recipient}."
            )
        recipient = ordered[tag.recipient - 1]
        try:
            item = FieldIn.model_validate(
                {**field_of(tag), "recipient_id": recipient.id, "document_id": document.id}
            )
        except PydanticValidationError as exc:
            raise tag_error(tag, exc.errors()[0]["msg"]) from exc
        try:
            check_field(0, item, recipients, {document.id: document})
        except ValidationFailed as exc:
            raise tag_error(tag, exc.detail) from exc
        meta = item.meta.model_dump(exclude_defaults=True)
        meta["tag"] = {"text": tag.text, "box": [round(v, 4) for v in tag.box]}
        rows.append(_field_row(envelope, item, meta, now=now))
    session.add_all(rows)
    envelope.updated_at = now
    await session.flush()
    return rows


def _field_row(
    envelope: Envelope, item: FieldIn, meta: dict[str, Any], *, now: datetime
) -> EnvelopeField:
    return EnvelopeField(
        id=new_id("fld"),
        organization_id=envelope.organization_id,
        envelope_id=envelope.id,
        recipient_id=item.recipient_id,
        document_id=item.document_id,
        type=item.type,
        page=item.page,
        x=item.x,
        y=item.y,
        width=item.width,
        height=item.height,
        required=item.required,
        meta=meta,
        value=None,
        created_at=now,
    )


async def delete_draft(session: AsyncSession, organization_id: str, envelope_id: str) -> None:
    envelope = await get_draft(session, organization_id, envelope_id)
    # Children first: SQLite runs without enforced cascades.
    for model in (EnvelopeField, EnvelopeDocument, EnvelopeRecipient):
        await session.execute(delete(model).where(model.envelope_id == envelope.id))
    await session.delete(envelope)
    await session.flush()


def in_turn(envelope: Envelope, recipients: Sequence[EnvelopeRecipient]) -> list[EnvelopeRecipient]:
    """Recipients who may act now and have not been invited yet.

    Parallel: every actor at once. Sequential: the lowest order among those who have not
    acted; equal orders act together.
    """
    pending = [r for r in recipients if r.role in ACTORS and r.status not in DONE]
    if envelope.signing_order == "sequential" and pending:
        first = min(r.position for r in pending)
        pending = [r for r in pending if r.position == first]
    return [r for r in pending if r.status == "waiting"]


def check_sendable(parts: EnvelopeParts) -> None:
    if not parts.documents:
        raise NoDocuments.field("documents", "Upload at least one PDF before sending.")
    if not any(r.role in ("signer", "approver") for r in parts.recipients):
        raise NoSigners.field("recipients", "Add at least one signer or approver.")
    signed = {f.recipient_id for f in parts.fields if f.type == "signature"}
    for index, recipient in enumerate(parts.recipients):
        if recipient.role == "signer" and recipient.id not in signed:
            raise SignerWithoutSignatureField.field(
                f"recipients[{index}]",
                f"Signer {recipient.id} ({recipient.email}) has no signature field.",
                code=SignerWithoutSignatureField.code,
            )
        _check_auth(index, "action_auth", recipient.action_auth, SUPPORTED_ACTION_AUTH)
        if "passkey" in recipient.action_auth and "email_otp" not in recipient.access_auth:
            # The first signature creates the passkey: the address must be proven first.
            raise PasskeyNeedsAccessCode.field(
                f"recipients[{index}].access_auth",
                "A passkey is created at the first signature, once an e-mailed code has "
                'proven the address: add "email_otp" to access_auth.',
                code=PasskeyNeedsAccessCode.code,
            )
        _check_auth(index, "access_auth", recipient.access_auth, SUPPORTED_ACCESS_AUTH)


def _check_auth(index: int, name: str, wanted: list[str], supported: frozenset[str]) -> None:
    unavailable = sorted(set(wanted) - supported)
    if unavailable:
        error = ActionAuthUnavailable if name == "action_auth" else AccessAuthUnavailable
        raise error.field(
            f"recipients[{index}].{name}",
            f"{', '.join(unavailable)} is not available yet; remove it or wait for a "
            "release that supports it.",
            code=error.code,
        )


def invite(
    session: AsyncSession, recipients: Sequence[EnvelopeRecipient], now: datetime, **extra: Any
) -> None:
    for recipient in recipients:
        recipient.status = "sent" if recipient.status == "waiting" else recipient.status
        recipient.sent_at = recipient.sent_at or now
        recipient.updated_at = now
        enqueue(session, INVITE_TASK, {"recipient_id": recipient.id, **extra})
        evidence.invited(session, recipient, now, **extra)


def event_data(envelope: Envelope, **extra: Any) -> dict[str, Any]:
    return {
        "envelope_id": envelope.id,
        "status": envelope.status,
        "title": envelope.title,
        "reference": envelope.reference,
        **extra,
    }


async def send(session: AsyncSession, organization_id: str, envelope_id: str) -> Envelope:
    """Draft → pending: the recipients whose turn it is are invited by e-mail (jobs)."""
    envelope = await get_draft(session, organization_id, envelope_id)
    parts = (await repository.parts_of(session, [envelope.id]))[envelope.id]
    check_sendable(parts)
    for index, recipient in enumerate(parts.recipients):
        await _check_users(session, recipient, f"recipients[{index}].action_auth")
    now = utcnow()
    envelope.status = "pending"
    envelope.sent_at = now
    envelope.expires_at = now + timedelta(days=envelope.expires_in_days)
    envelope.updated_at = now
    invited = in_turn(envelope, parts.recipients)
    evidence.record(
        session,
        envelope,
        evidence.Kind.SENT,
        now,
        recipient_ids=[r.id for r in parts.recipients],
        expires_at=isoformat_z(envelope.expires_at),
    )
    invite(session, invited, now)
    enqueue(session, EXPIRE_TASK, {"envelope_id": envelope.id}, run_at=envelope.expires_at)
    schedule_reminder(session, envelope, now + timedelta(days=envelope.reminder_first_days))
    await emit(
        session,
        envelope.organization_id,
        "envelope.sent",
        event_data(envelope, recipient_ids=[r.id for r in invited]),
    )
    await session.flush()
    return envelope


def schedule_reminder(session: AsyncSession, envelope: Envelope, moment: datetime) -> None:
    """The next automatic reminder at ``moment``, unless the cap is reached or the envelope
    expires first."""
    expires_at = envelope.expires_at
    if envelope.reminders_sent >= envelope.reminder_max or (
        expires_at is not None and moment >= expires_at
    ):
        envelope.next_reminder_at = None
        return
    envelope.next_reminder_at = moment
    enqueue(session, REMIND_TASK, {"envelope_id": envelope.id}, run_at=moment)


async def send_due_reminder(session: AsyncSession, envelope_id: str) -> bool:
    """The automatic reminder that has fallen due, once: False for a stale job (the envelope
    ended, or the reminder was sent or moved meanwhile)."""
    envelope = await session.get(Envelope, envelope_id, with_for_update=True)
    now = utcnow()
    if (
        envelope is None
        or envelope.status != "pending"
        or envelope.next_reminder_at is None
        or envelope.next_reminder_at > now
    ):
        return False
    parts = (await repository.parts_of(session, [envelope.id]))[envelope.id]
    await _remind(session, envelope, parts, now)
    schedule_reminder(session, envelope, now + timedelta(days=envelope.reminder_every_days))
    await session.flush()
    return True


async def _remind(
    session: AsyncSession, envelope: Envelope, parts: EnvelopeParts, now: datetime
) -> None:
    waiting = [r for r in parts.recipients if r.status in ("sent", "opened")]
    await remind_recipients(session, envelope, waiting, now)


async def remind_recipients(
    session: AsyncSession,
    envelope: Envelope,
    recipients: Sequence[EnvelopeRecipient],
    now: datetime,
) -> None:
    """E-mail the link again to ``recipients`` (each sending its own e-mail, numbered like a
    reminder) and tell the ``envelope.reminded`` webhook event."""
    envelope.reminders_sent += 1
    envelope.last_reminded_at = now
    envelope.updated_at = now
    invite(session, recipients, now, reminder=envelope.reminders_sent)
    await emit(
        session,
        envelope.organization_id,
        "envelope.reminded",
        event_data(
            envelope,
            recipient_ids=[r.id for r in recipients],
            reminder=envelope.reminders_sent,
        ),
    )


async def expire_due(session: AsyncSession, envelope_id: str) -> bool:
    """Pending → expired once its time has come: the webhook event, and an e-mail to each
    recipient who had a link and had not acted, and to the organisation."""
    envelope = await session.get(Envelope, envelope_id, with_for_update=True)
    now = utcnow()
    if (
        envelope is None
        or envelope.status != "pending"
        or envelope.expires_at is None
        or envelope.expires_at > now
    ):
        return False
    parts = (await repository.parts_of(session, [envelope.id]))[envelope.id]
    envelope.status = "expired"
    envelope.expired_at = now
    envelope.next_reminder_at = None
    envelope.updated_at = now
    told = [r.id for r in parts.recipients if r.sent_at is not None and r.status not in DONE]
    enqueue(
        session,
        ENDED_TASK,
        {"envelope_id": envelope.id, "recipient_ids": told, "reason": "expired"},
    )
    evidence.record(session, envelope, evidence.Kind.EXPIRED, now, not_acted=told)
    await emit(
        session,
        envelope.organization_id,
        "envelope.expired",
        event_data(envelope, expired_at=isoformat_z(now)),
    )
    await session.flush()
    return True


async def _pending(session: AsyncSession, organization_id: str, envelope_id: str) -> Envelope:
    envelope = await get_envelope(session, organization_id, envelope_id, for_update=True)
    if envelope.status != "pending":
        raise EnvelopeNotPending(
            f"Envelope {envelope_id} is {envelope.status}; only a pending envelope can do this."
        )
    return envelope


async def cancel(session: AsyncSession, organization_id: str, envelope_id: str) -> Envelope:
    envelope = await _pending(session, organization_id, envelope_id)
    now = utcnow()
    envelope.status = "cancelled"
    envelope.cancelled_at = now
    envelope.next_reminder_at = None
    envelope.updated_at = now
    evidence.record(session, envelope, evidence.Kind.CANCELLED, now)
    await emit(
        session,
        envelope.organization_id,
        "envelope.cancelled",
        event_data(envelope, cancelled_at=isoformat_z(now)),
    )
    await session.flush()
    return envelope


async def remind(session: AsyncSession, organization_id: str, envelope_id: str) -> Envelope:
    """E-mail again every recipient invited who has not acted yet."""
    envelope = await _pending(session, organization_id, envelope_id)
    parts = (await repository.parts_of(session, [envelope.id]))[envelope.id]
    await _remind(session, envelope, parts, utcnow())
    await session.flush()
    return envelope


class RecipientAlreadyActed(Conflict):
    code = "recipient-already-acted"
    title = "This recipient has already acted"


class RecipientNotFound(NotFound):
    code = "recipient-not-found"
    title = "Recipient not found"


class SameRecipient(ValidationFailed):
    code = "same-recipient"
    title = "The new recipient is the current one"


async def reassign(
    session: AsyncSession,
    organization_id: str,
    envelope_id: str,
    recipient_id: str,
    data: ReassignIn,
    *,
    signing_key: bytes,
) -> Envelope:
    """Hand a recipient's part to another person before they act.

    The recipient keeps its id, role, order and fields; its link changes (the old one stops
    working), and if it was already invited the new person is invited at once. The trail
    keeps who it was, for the audit certificate.
    """
    envelope = await _pending(session, organization_id, envelope_id)
    parts = (await repository.parts_of(session, [envelope.id]))[envelope.id]
    recipient = next((r for r in parts.recipients if r.id == recipient_id), None)
    if recipient is None:
        raise RecipientNotFound(f"No recipient {recipient_id} in envelope {envelope_id}.")
    if recipient.status in DONE:
        raise RecipientAlreadyActed(
            f"Recipient {recipient_id} already acted ({recipient.status}); it cannot be reassigned."
        )
    if data.email.lower() == recipient.email.lower():
        raise SameRecipient.field(
            "email", f"{data.email} is already this recipient.", code=SameRecipient.code
        )
    now = utcnow()
    before = {"email": recipient.email, "name": recipient.name, "at": isoformat_z(now)}
    recipient.email, recipient.name = data.email, data.name
    recipient.language = data.language or recipient.language
    await _check_users(session, recipient, "email")
    recipient.token_salt = secrets.token_hex(16)
    recipient.token_hash = token_hash(
        signing_token(signing_key, recipient.id, recipient.token_salt)
    )
    trail = dict(recipient.trail or {})
    trail["reassigned"] = [*trail.get("reassigned", []), before]
    trail.pop("opened", None)  # the new person has not opened it
    recipient.trail = trail
    recipient.opened_at = None
    recipient.updated_at = now
    envelope.updated_at = now
    evidence.record(
        session, envelope, evidence.Kind.REASSIGNED, now, recipient=recipient, previous=before
    )
    if recipient.status in ("sent", "opened"):
        recipient.status, recipient.sent_at = "waiting", None
        invite(session, [recipient], now)
    await session.flush()
    return envelope


async def signed_file_key(
    session: AsyncSession, organization_id: str, envelope_id: str, document_id: str | None
) -> tuple[str, str]:
    """The storage key and file name of a signed document, or of the certificate (None)."""
    envelope = await get_envelope(session, organization_id, envelope_id)
    check_not_purged(envelope)
    if envelope.status != "completed" or envelope.certificate_storage_key is None:
        raise EnvelopeNotCompleted(
            f"Envelope {envelope_id} is {envelope.status}; signed files exist once it is "
            "completed and sealed (usually seconds after the last signature)."
        )
    if document_id is None:
        return envelope.certificate_storage_key, f"{envelope.id}-certificate.pdf"
    parts = (await repository.parts_of(session, [envelope.id]))[envelope.id]
    document = next((d for d in parts.documents if d.id == document_id), None)
    if document is None or document.signed_storage_key is None:
        raise EnvelopeDocumentNotFound(f"No document {document_id} in envelope {envelope_id}.")
    stem = document.filename.removesuffix(".pdf")
    return document.signed_storage_key, f"{stem}-signed.pdf"
