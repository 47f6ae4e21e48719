"""Envelopes as the API shows them, built from rows loaded up front."""

from __future__ import annotations

from tabellion.envelope.repository import EnvelopeParts
from tabellion.envelope.schemas import DocumentOut, EnvelopeOut, FieldOut, RecipientOut
from tabellion.models.envelope import (
    Envelope,
    EnvelopeDocument,
    EnvelopeField,
    EnvelopeRecipient,
)


def recipient_out(recipient: EnvelopeRecipient) -> RecipientOut:
    return RecipientOut.model_validate(
        {
            "id": recipient.id,
            "email": recipient.email,
            "name": recipient.name,
            "role": recipient.role,
            "order": recipient.position,
            "language": recipient.language,
            "status": recipient.status,
            "access_auth": recipient.access_auth,
            "action_auth": recipient.action_auth,
            "identification": recipient.identification,
            "sent_at": recipient.sent_at,
            "opened_at": recipient.opened_at,
            "acted_at": recipient.acted_at,
            "reason": recipient.reason,
        }
    )


def document_out(document: EnvelopeDocument) -> DocumentOut:
    return DocumentOut(
        id=document.id,
        filename=document.filename,
        pages=document.pages,
        size=document.size,
        sha256=document.sha256,
        signed_sha256=document.signed_sha256,
    )


def field_out(field: EnvelopeField) -> FieldOut:
    return FieldOut.model_validate(
        {
            "id": field.id,
            "recipient_id": field.recipient_id,
            "document_id": field.document_id,
            "type": field.type,
            "page": field.page,
            "x": field.x,
            "y": field.y,
            "width": field.width,
            "height": field.height,
            "required": field.required,
            "meta": field.meta or {},
            "value": field.value,
        }
    )


def envelope_out(envelope: Envelope, parts: EnvelopeParts) -> EnvelopeOut:
    return EnvelopeOut.model_validate(
        {
            "id": envelope.id,
            "status": envelope.status,
            "title": envelope.title,
            "message": envelope.message,
            "language": envelope.language,
            "reference": envelope.reference,
            "signing_order": envelope.signing_order,
            "expires_in_days": envelope.expires_in_days,
            "reminders": {
                "first_after_days": envelope.reminder_first_days,
                "every_days": envelope.reminder_every_days,
                "max": envelope.reminder_max,
                "sent": envelope.reminders_sent,
                "next_at": envelope.next_reminder_at,
            },
            "recipients": [recipient_out(r) for r in parts.recipients],
            "documents": [document_out(d) for d in parts.documents],
            "fields": [field_out(f) for f in parts.fields],
            "sent_at": envelope.sent_at,
            "expires_at": envelope.expires_at,
            "completed_at": envelope.completed_at,
            "cancelled_at": envelope.cancelled_at,
            "expired_at": envelope.expired_at,
            "legal_hold": bool(envelope.legal_hold),
            "content_purged_at": envelope.content_purged_at,
            "proofs_expired_at": envelope.proofs_expired_at,
            "created_at": envelope.created_at,
            "updated_at": envelope.updated_at,
        }
    )
