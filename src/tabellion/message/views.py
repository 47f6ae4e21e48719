"""Model rows to API schemas."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from tabellion.evidence import links
from tabellion.message.schemas import (
    AttachmentOut,
    DeliveryOut,
    EvidenceRef,
    MessageOut,
    Recipient,
    Sender,
)
from tabellion.models.evidence import Evidence
from tabellion.models.message import Attachment, Delivery, Message


@dataclass(frozen=True)
class MessageView:
    """A message with what its representation needs, loaded without lazy loads."""

    message: Message
    attachments: list[Attachment]
    deliveries: list[Delivery] | None
    evidence: dict[str, list[Evidence]]


def attachment_out(attachment: Attachment) -> AttachmentOut:
    return AttachmentOut(
        id=attachment.id,
        filename=attachment.filename,
        content_type=attachment.content_type,
        size=attachment.size,
        sha256=attachment.sha256,
        created_at=attachment.created_at,
    )


class EvidenceLike(Protocol):
    """An evidence row, or a plain result row with its columns."""

    @property
    def id(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def event(self) -> str: ...
    @property
    def occurred_at(self) -> datetime: ...


def evidence_ref(evidence: EvidenceLike) -> EvidenceRef:
    signer = links.current()
    return EvidenceRef(
        id=evidence.id,
        type=evidence.type,
        event=evidence.event,
        occurred_at=evidence.occurred_at,
        pdf_url=signer.url("pdf", evidence.id) if signer else None,
        json_url=signer.url("json", evidence.id) if signer else None,
    )


def delivery_out(delivery: Delivery, evidence: Sequence[EvidenceLike]) -> DeliveryOut:
    return DeliveryOut(
        id=delivery.id,
        message_id=delivery.message_id,
        mode=delivery.mode,
        status=delivery.status,
        status_reason=delivery.status_reason,
        recipient=Recipient(
            email=delivery.email,
            first_name=delivery.first_name,
            last_name=delivery.last_name,
            company=delivery.company,
            siren=delivery.siren,
            language=delivery.language,
        ),
        deadline_at=delivery.deadline_at,
        notified_at=delivery.notified_at,
        created_at=delivery.created_at,
        updated_at=delivery.updated_at,
        evidence=[evidence_ref(e) for e in evidence],
    )


def message_out(view: MessageView) -> MessageOut:
    message = view.message
    return MessageOut(
        id=message.id,
        mode=message.mode,
        status=message.status,
        subject=message.subject,
        body_html=message.body_html,
        body_text=message.body_text,
        sender=Sender(email=message.sender_email, name=message.sender_name),
        recipients=[Recipient.model_validate(r) for r in message.recipients],
        recipient_count=message.recipient_count,
        on_behalf_of=message.organization_id if message.submitted_by_organization_id else None,
        submitted_by=message.submitted_by_organization_id,
        reference=message.reference,
        campaign=message.campaign,
        acceptance_days=message.acceptance_days,
        attachments=[attachment_out(a) for a in view.attachments],
        created_at=message.created_at,
        updated_at=message.updated_at,
        dispatched_at=message.dispatched_at,
        deliveries=(
            None
            if view.deliveries is None
            else [delivery_out(d, view.evidence.get(d.id, [])) for d in view.deliveries]
        ),
    )
