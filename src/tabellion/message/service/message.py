"""Creating, attaching to, dispatching and reading messages."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from tabellion.auth.subjects import ApiKeySubject
from tabellion.config import Settings
from tabellion.db import bulk_insert
from tabellion.document.sniff import checked_content_type, clean_filename
from tabellion.document.storage import StoredBlob
from tabellion.errors import Conflict, NotFound, ValidationFailed
from tabellion.evidence.events import EvidenceType
from tabellion.evidence.service import EvidenceRef, evidence_refs, evidence_row, record_many
from tabellion.identity import service as identity
from tabellion.jobs.queue import enqueue_many
from tabellion.kit.ids import new_id
from tabellion.kit.time import utcnow
from tabellion.message import repository
from tabellion.message.repository import DeliveryRow
from tabellion.message.rules import html_to_text, sanitize_html
from tabellion.message.schemas import MessageIn, MessageUpdate, Mode, RecipientIn, SenderIn
from tabellion.message.service.delivery import portal_token, token_hash
from tabellion.message.service.events import audience, event_type
from tabellion.message.views import MessageView
from tabellion.models.base import table_of
from tabellion.models.message import Attachment, Delivery, Message, recipient_fields
from tabellion.organization.accounts import on_behalf_customer, registered_sender
from tabellion.organization.service import get_organization
from tabellion.webhook.service import NewEvent, emit_many

DEFAULT_ACCEPTANCE_DAYS = 15
# Modes whose recipients may be an address alone: nothing is addressed to a named person.
ADDRESS_ONLY_MODES = frozenset({"deliver", "secure"})
MAX_ATTACHMENTS = 100
NOTICE_TASK = "notification.send_notice"


class MessageNotFound(NotFound):
    code = "message-not-found"
    title = "Message not found"


class DeliveryNotFound(NotFound):
    code = "delivery-not-found"
    title = "Delivery not found"


class MessageNotDraft(Conflict):
    code = "message-not-draft"
    title = "The message is no longer a draft"


class NoRecipients(ValidationFailed):
    code = "no-recipients"
    title = "The message has no recipient"


class TooManyRecipients(ValidationFailed):
    code = "too-many-recipients"
    title = "Too many recipients"


class TooManyAttachments(Conflict):
    code = "too-many-attachments"
    title = "Too many attachments"


def too_many_attachments() -> TooManyAttachments:
    return TooManyAttachments(f"A message may have at most {MAX_ATTACHMENTS} attachments.")


def check_recipients(
    mode: str, recipients: Sequence[RecipientIn], *, settings: Settings, named: bool = True
) -> None:
    """How many, and who: a registered or simple message names each person it is sent to,
    unless ``named`` is false (a foreign API that knows recipients by address only)."""
    if len(recipients) > settings.max_recipients:
        raise TooManyRecipients.field(
            "recipients", f"A message may have at most {settings.max_recipients} recipients."
        )
    if mode in ADDRESS_ONLY_MODES or not named:
        return
    for index, recipient in enumerate(recipients):
        if recipient.address_only:
            raise ValidationFailed.field(
                f"recipients[{index}]",
                f"A {mode} message names its recipients: give first_name and last_name, or "
                "company and siren (an address alone is enough for deliver and secure).",
                code="recipient-unnamed",
            )


async def create_message(
    session: AsyncSession,
    caller: ApiKeySubject,
    data: MessageIn,
    *,
    settings: Settings,
    active_sender: bool = False,
    named_recipients: bool = True,
) -> Message:
    """A draft. With ``active_sender`` the sender must have activated their account (412
    ``sender-not-activated`` otherwise), not only have been created by an admin key. With
    ``named_recipients`` false, registered and simple recipients may be addresses alone."""
    check_recipients(data.mode, data.recipients, settings=settings, named=named_recipients)
    organization_id, submitted_by = caller.organization_id, None
    if data.on_behalf_of is not None:
        customer = await on_behalf_customer(session, caller.organization_id, data.on_behalf_of)
        organization_id, submitted_by = customer.id, caller.organization_id
    identification = await identity.requested(
        session, settings, organization_id, data, sent="identification" in data.model_fields_set
    )
    sender_user_id, sender_name = None, None
    if data.sender is not None:
        user = await registered_sender(
            session, organization_id, data.sender.email, active=active_sender
        )
        sender_user_id, sender_name = user.id, data.sender.name or user.name
    body_html = sanitize_html(data.body_html)
    body_text = data.body_text if data.body_text is not None else html_to_text(body_html)
    now = utcnow()
    message = Message(
        id=new_id("msg"),
        organization_id=organization_id,
        submitted_by_organization_id=submitted_by,
        submitted_by_key_id=caller.api_key_id,
        sender_user_id=sender_user_id,
        mode=data.mode,
        status="draft",
        subject=data.subject,
        body_html=body_html,
        body_text=body_text,
        body_submitted=data.body_html,
        sender_email=data.sender.email if data.sender else None,
        sender_name=sender_name,
        reference=data.reference,
        campaign=data.campaign,
        guid=data.guid,
        copy_to_mailbox=data.copy_to_mailbox_after_acceptance,
        notify_sender=data.notify_sender,
        acceptance_days=(
            data.acceptance_days or DEFAULT_ACCEPTANCE_DAYS if data.mode == "registered" else None
        ),
        recipients=[r.model_dump(exclude_none=True) for r in data.recipients],
        recipient_count=len(data.recipients),
        identification=identification.model_dump() if identification else None,
        created_at=now,
        updated_at=now,
    )
    session.add(message)
    await session.flush()
    return message


async def update_draft(
    session: AsyncSession,
    organization_id: str,
    message_id: str,
    data: MessageUpdate,
    *,
    settings: Settings,
) -> Message:
    """Change the fields sent: a draft created without recipients gets them here. The same
    rules as at creation hold for the draft as changed."""
    sent = data.model_fields_set
    message = await _draft(session, organization_id, message_id)
    if data.recipients is not None:
        check_recipients(message.mode, data.recipients, settings=settings)
        message.recipients = [r.model_dump(exclude_none=True) for r in data.recipients]
        message.recipient_count = len(data.recipients)
    if "identification" in sent:
        message.identification = (
            data.identification.model_dump() if data.identification is not None else None
        )
    if "identification" in sent or data.recipients is not None:
        identity.check_stored(settings, message)
    if "acceptance_days" in sent:
        if message.mode != "registered":
            raise ValidationFailed.field(
                "acceptance_days", "acceptance_days applies to registered messages only."
            )
        message.acceptance_days = data.acceptance_days or DEFAULT_ACCEPTANCE_DAYS
    if data.subject is not None:
        message.subject = data.subject
    if data.body_html is not None:
        message.body_html = sanitize_html(data.body_html)
        message.body_submitted = data.body_html
    if "body_text" in sent or data.body_html is not None:
        message.body_text = (
            data.body_text if data.body_text is not None else html_to_text(message.body_html)
        )
    if "reference" in sent:
        message.reference = data.reference
    if "campaign" in sent:
        message.campaign = data.campaign
    if "guid" in sent:
        message.guid = data.guid
    if "sender" in sent:
        await _set_sender(session, message, data.sender)
    _set_options(message, data, sent)
    message.updated_at = utcnow()
    await session.flush()
    return message


async def _set_sender(session: AsyncSession, message: Message, sender: SenderIn | None) -> None:
    if sender is None:
        message.sender_user_id = message.sender_email = message.sender_name = None
        return
    user = await registered_sender(session, message.organization_id, sender.email)
    message.sender_user_id, message.sender_email = user.id, sender.email
    message.sender_name = sender.name or user.name


def _set_options(message: Message, data: MessageUpdate, sent: set[str]) -> None:
    """The options, checked against the draft as changed (as creation checks them)."""
    if data.copy_to_mailbox_after_acceptance is not None:
        if data.copy_to_mailbox_after_acceptance and message.mode != "registered":
            raise ValidationFailed.field(
                "copy_to_mailbox_after_acceptance",
                "copy_to_mailbox_after_acceptance applies to registered messages only.",
            )
        message.copy_to_mailbox = data.copy_to_mailbox_after_acceptance
    if data.notify_sender is not None:
        message.notify_sender = data.notify_sender
    if message.notify_sender and message.sender_email is None:
        field = "notify_sender" if "notify_sender" in sent else "sender"
        raise ValidationFailed.field(field, "notify_sender needs a sender to notify.")


async def _draft(session: AsyncSession, organization_id: str, message_id: str) -> Message:
    message = await repository.get_message(
        session, organization_id, message_id, for_update=True, writable=True
    )
    if message is None:
        raise MessageNotFound(f"No message {message_id}.")
    if message.status != "draft":
        raise MessageNotDraft(f"Message {message_id} was dispatched; it can no longer change.")
    return message


async def readdress_draft(
    session: AsyncSession,
    organization_id: str,
    message_id: str,
    *,
    mode: Mode,
    recipients: Sequence[RecipientIn],
    settings: Settings,
) -> Message:
    """Set a draft's mode and recipients just before it is dispatched (a client that prepares
    the content first and says later where and how it goes)."""
    message = await _draft(session, organization_id, message_id)
    check_recipients(mode, recipients, settings=settings)
    if mode != "registered":
        message.acceptance_days = None
    elif message.acceptance_days is None:
        message.acceptance_days = DEFAULT_ACCEPTANCE_DAYS
    message.mode = mode
    message.recipients = [r.model_dump(exclude_none=True) for r in recipients]
    message.recipient_count = len(recipients)
    message.updated_at = utcnow()
    await session.flush()
    return message


async def check_attachable(session: AsyncSession, organization_id: str, message_id: str) -> None:
    """Refuse early, before a client streams a large body for nothing."""
    await _draft(session, organization_id, message_id)
    if await repository.count_attachments(session, message_id) >= MAX_ATTACHMENTS:
        raise too_many_attachments()


async def draft_for_attachment(
    session: AsyncSession, organization_id: str, message_id: str
) -> Message:
    """The draft, checked again after a stream: it may have been dispatched meanwhile."""
    return await _draft(session, organization_id, message_id)


async def record_attachment(
    session: AsyncSession,
    message: Message,
    blob: StoredBlob,
    filename: str,
    declared_type: str | None,
    *,
    field: str = "file",
    trust_declared: bool = False,
) -> Attachment:
    """Record a blob already streamed into storage as an attachment of a draft.

    The blob is written before the row; if the row is never committed the blob stays
    unreferenced and the storage collector removes it.
    """
    if await repository.count_attachments(session, message.id) >= MAX_ATTACHMENTS:
        raise too_many_attachments()
    name = clean_filename(filename)
    organization = await get_organization(session, message.organization_id)
    content_type = checked_content_type(
        blob.head,
        blob.size,
        filename=name,
        declared=declared_type,
        allow_executables=organization.allow_executable_attachments,
        field=field,
        trust_declared=trust_declared,
    )
    attachment = Attachment(
        id=new_id("att"),
        organization_id=message.organization_id,
        message_id=message.id,
        filename=name,
        content_type=content_type,
        size=blob.size,
        sha256=blob.sha256,
        storage_key=blob.key,
        created_at=utcnow(),
    )
    session.add(attachment)
    message.updated_at = attachment.created_at
    await session.flush()
    return attachment


async def delete_draft(session: AsyncSession, organization_id: str, message_id: str) -> None:
    message = await _draft(session, organization_id, message_id)
    await session.execute(delete(Attachment).where(Attachment.message_id == message.id))
    await session.delete(message)
    await session.flush()


async def dispatch(
    session: AsyncSession, caller: ApiKeySubject, message_id: str, *, settings: Settings
) -> MessageView:
    """One delivery per recipient, its SENT evidence and its notification job, atomically."""
    message = await _draft(session, caller.organization_id, message_id)
    if message.submitted_by_organization_id is not None:
        # The customer may have revoked the delegation since the draft was made.
        await on_behalf_customer(
            session, message.submitted_by_organization_id, message.organization_id
        )
    if not message.recipients:
        raise NoRecipients.field("recipients", "Add at least one recipient before dispatching.")
    now = utcnow()
    message.status = "dispatched"
    message.dispatched_at = now
    message.updated_at = now

    submission = {
        "submitted_by": {
            "api_key_id": caller.api_key_id,
            "organization_id": caller.organization_id,
            "authentication": caller.authentication,
        },
        "sender": {
            "organization_id": message.organization_id,
            "user_id": message.sender_user_id,
            "email": message.sender_email,
            "vouched_by_api_key_id": message.submitted_by_key_id
            if message.sender_user_id
            else None,
        },
        "on_behalf": message.submitted_by_organization_id is not None,
    }
    delivery_rows: list[dict[str, Any]] = []
    evidence_rows: list[dict[str, Any]] = []
    deliveries: list[DeliveryRow] = []
    evidence: dict[str, list[EvidenceRef]] = {}
    for recipient in message.recipients:
        salt = secrets.token_hex(16)
        delivery = DeliveryRow(
            id=new_id("dlv"),
            message_id=message.id,
            mode=message.mode,
            status="pending",
            status_reason=None,
            email=recipient["email"],
            first_name=recipient.get("first_name"),
            last_name=recipient.get("last_name"),
            company=recipient.get("company"),
            siren=recipient.get("siren"),
            language=recipient.get("language", "en"),
            deadline_at=None,
            notified_at=None,
            created_at=now,
            updated_at=now,
            token_salt=salt,
        )
        delivery_rows.append(
            {
                "id": delivery.id,
                "organization_id": message.organization_id,
                "message_id": message.id,
                "mode": delivery.mode,
                "submitted_by_organization_id": message.submitted_by_organization_id,
                "status": delivery.status,
                **recipient_fields(delivery),
                "token_salt": salt,
                "token_hash": token_hash(portal_token(settings.signing_key, delivery.id, salt)),
                "identification": identity.delivery_requirement(message.identification, recipient),
                "phone": recipient.get("phone"),
                "created_at": now,
                "updated_at": now,
            }
        )
        row = evidence_row(
            organization_id=message.organization_id,
            delivery_id=delivery.id,
            message_id=message.id,
            evidence_type=EvidenceType.SENT,
            occurred_at=now,
            details=submission,
        )
        evidence_rows.append(row)
        deliveries.append(delivery)
        evidence[delivery.id] = [EvidenceRef(row["id"], row["type"], row["event"], now)]
    await session.flush()
    await bulk_insert(session, table_of(Delivery), delivery_rows)
    await record_many(session, evidence_rows)
    await enqueue_many(session, NOTICE_TASK, [{"delivery_id": row["id"]} for row in delivery_rows])
    attachments = await repository.attachments_of(session, [message.id])
    view = MessageView(message, attachments, deliveries, evidence)
    await _emit_dispatch_events(session, view)
    return view


async def _emit_dispatch_events(session: AsyncSession, view: MessageView) -> None:
    """``message.dispatched``, then one ``delivery.sent`` per delivery: pieces of the same
    representation the dispatch answers with, built once."""
    message = view.representation
    deliveries = message["deliveries"]
    events = [
        NewEvent(
            "message.dispatched",
            {"message": {k: v for k, v in message.items() if k != "deliveries"}},
        )
    ]
    for delivery in deliveries:
        events.append(
            NewEvent(
                event_type(EvidenceType.SENT),
                {"delivery": delivery, "evidence": delivery["evidence"][0]},
                delivery_id=delivery["id"],
            )
        )
    for organization_id in audience(
        view.message.organization_id, view.message.submitted_by_organization_id
    ):
        await emit_many(session, organization_id, events)


async def create_with_files(
    session: AsyncSession,
    caller: ApiKeySubject,
    data: MessageIn,
    files: Sequence[tuple[StoredBlob, str, str | None]],
    *,
    settings: Settings,
    dispatch_now: bool,
) -> MessageView:
    """A message with the files already streamed into storage, dispatched or left a draft."""
    message = await create_message(session, caller, data, settings=settings)
    for index, (blob, filename, content_type) in enumerate(files):
        await record_attachment(
            session, message, blob, filename, content_type, field=f"attachments[{index}]"
        )
    if dispatch_now:
        return await dispatch(session, caller, message.id, settings=settings)
    return await get_message_view(session, caller.organization_id, message.id)


async def get_message_view(
    session: AsyncSession, organization_id: str, message_id: str
) -> MessageView:
    message = await repository.get_message(session, organization_id, message_id)
    if message is None:
        raise MessageNotFound(f"No message {message_id}.")
    deliveries = await repository.delivery_views_of_message(session, message.id)
    return MessageView(
        message=message,
        attachments=await repository.attachments_of(session, [message.id]),
        deliveries=deliveries,
        evidence=await evidence_refs(session, [d.id for d in deliveries]),
    )


async def list_message_views(
    session: AsyncSession, messages: Sequence[Message]
) -> list[MessageView]:
    attachments = await repository.attachments_of(session, [m.id for m in messages])
    by_message: dict[str, list[Attachment]] = {m.id: [] for m in messages}
    for attachment in attachments:
        by_message[attachment.message_id].append(attachment)
    return [MessageView(m, by_message[m.id], None, {}) for m in messages]


async def get_delivery(session: AsyncSession, organization_id: str, delivery_id: str) -> Delivery:
    delivery = await repository.get_delivery(session, organization_id, delivery_id)
    if delivery is None:
        raise DeliveryNotFound(f"No delivery {delivery_id}.")
    return delivery


async def get_delivery_view(
    session: AsyncSession, organization_id: str, delivery_id: str
) -> tuple[DeliveryRow, list[EvidenceRef]]:
    """The delivery as its representation reads it (a plain row, for a read), and its
    evidence."""
    view = await repository.delivery_view(session, organization_id, delivery_id)
    if view is None:
        raise DeliveryNotFound(f"No delivery {delivery_id}.")
    return view
