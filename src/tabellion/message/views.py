"""Model rows to API schemas."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any, Protocol

from pydantic import TypeAdapter

from tabellion.evidence import links
from tabellion.kit.time import isoformat_z
from tabellion.message.repository import DeliveryRow
from tabellion.message.schemas import (
    AttachmentOut,
    DeliveryOut,
    MessageOut,
    Recipient,
    ReplyOut,
)
from tabellion.message.service import tracking
from tabellion.message.service.tracking import tracking_token
from tabellion.models.message import Attachment, Delivery, Message, Reply, recipient_fields


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


# A delivery as an instance, or as the read paths and a dispatch hold it (``DeliveryRow``: a
# 10,000-recipient dispatch would otherwise build 10,000 instrumented objects).
DeliveryLike = Delivery | DeliveryRow


@dataclass(frozen=True)
class MessageView:
    """A message with what its representation needs, loaded without lazy loads."""

    message: Message
    attachments: list[Attachment]
    deliveries: Sequence[DeliveryLike] | None
    evidence: Mapping[str, Sequence[EvidenceLike]]

    @cached_property
    def representation(self) -> dict[str, Any]:
        """The message as the API shows it, JSON-ready; built once, shared by the response
        and the events that carry it."""
        return message_json(self)


def attachment_out(attachment: Attachment) -> AttachmentOut:
    return AttachmentOut.model_validate(_attachment_data(attachment))


def delivery_out(delivery: DeliveryLike, evidence: Sequence[EvidenceLike]) -> DeliveryOut:
    return DeliveryOut.model_validate(_delivery_data(delivery, evidence, links.current()))


def evidence_json(evidence: EvidenceLike) -> dict[str, Any]:
    """``EvidenceRef`` in JSON mode (see ``delivery_json``)."""
    return _evidence_data(evidence, links.current(), _json_time)


def delivery_json(delivery: DeliveryLike, evidence: Sequence[EvidenceLike]) -> dict[str, Any]:
    """``DeliveryOut`` in JSON mode, as events carry it: built straight from the row (its values
    need no validation; only times change form), ten times cheaper than through the schema.
    tests/message/test_views.py holds it equal to the schema's own dump."""
    return _delivery_data(delivery, evidence, links.current(), _json_time)


def deliveries_json(
    deliveries: Sequence[DeliveryLike], evidence: Mapping[str, Sequence[EvidenceLike]]
) -> list[dict[str, Any]]:
    """``delivery_json`` of many deliveries (a dispatch answers 10,000), the link signer
    looked up once for all of them."""
    signer = links.current()
    return [_delivery_data(d, evidence.get(d.id, ()), signer, _json_time) for d in deliveries]


def message_out(view: MessageView) -> MessageOut:
    return MessageOut.model_validate(_message_data(view))


def message_json(view: MessageView) -> dict[str, Any]:
    """``MessageOut`` in JSON mode: the message through the schema, its stored recipients as
    ``recipient_json`` shows them (through the schema, 10,000 of them cost ~4 µs each, ~0.5
    plainly), its deliveries as ``delivery_json`` builds them."""
    plain = _message_data(view, with_deliveries=False)
    stored = plain["recipients"]
    data = _MESSAGE.dump_python(_MESSAGE.validate_python({**plain, "recipients": []}), mode="json")
    assert isinstance(data, dict)
    data["recipients"] = [recipient_json(r) for r in stored]
    if view.deliveries is not None:
        data["deliveries"] = deliveries_json(view.deliveries, view.evidence)
    return data


_MESSAGE: TypeAdapter[MessageOut] = TypeAdapter(MessageOut)


# ``schemas.Recipient``'s fields and their defaults (``email`` has none: always stored).
_RECIPIENT_DEFAULTS = {name: field.default for name, field in Recipient.model_fields.items()}


def recipient_json(stored: Mapping[str, Any]) -> dict[str, Any]:
    """A message's stored recipient as ``schemas.Recipient`` shows it: its fields, each
    defaulted as the schema defaults it, its other keys (a phone number) left out. Stored
    recipients were validated by ``MessageIn`` when the message was written."""
    return {name: stored.get(name, default) for name, default in _RECIPIENT_DEFAULTS.items()}


def _message_data(view: MessageView, *, with_deliveries: bool = True) -> dict[str, Any]:
    message, signer = view.message, links.current()
    return {
        "id": message.id,
        "mode": message.mode,
        "status": message.status,
        "subject": message.subject,
        "body_html": message.body_html,
        "body_text": message.body_text,
        "sender": {"email": message.sender_email, "name": message.sender_name},
        "recipients": message.recipients,
        "recipient_count": message.recipient_count,
        "on_behalf_of": (message.organization_id if message.submitted_by_organization_id else None),
        "submitted_by": message.submitted_by_organization_id,
        "reference": message.reference,
        "campaign": message.campaign,
        "guid": message.guid,
        "acceptance_days": message.acceptance_days,
        "copy_to_mailbox_after_acceptance": bool(message.copy_to_mailbox),
        "notify_sender": bool(message.notify_sender),
        "identification": message.identification,
        "attachments": [_attachment_data(a) for a in view.attachments],
        "legal_hold": bool(message.legal_hold),
        "content_purged_at": message.content_purged_at,
        "proofs_expired_at": message.proofs_expired_at,
        "created_at": message.created_at,
        "updated_at": message.updated_at,
        "dispatched_at": message.dispatched_at,
        "deliveries": (
            None
            if view.deliveries is None or not with_deliveries
            else [_delivery_data(d, view.evidence.get(d.id, ()), signer) for d in view.deliveries]
        ),
    }


def reply_out(reply: Reply) -> ReplyOut:
    return ReplyOut.model_validate(reply_json(reply))


def reply_json(reply: Reply) -> dict[str, Any]:
    """A reply as the API shows it and the ``delivery.replied`` event carries it (JSON-ready):
    its files as a message's attachments are shown, with a signed download link each."""
    signer = links.current()
    return {
        "id": reply.id,
        "delivery_id": reply.delivery_id,
        "author": reply.author,
        "body_html": reply.body_html,
        "body_text": reply.body_text,
        "attachments": [
            {
                **{k: item[k] for k in ("id", "filename", "content_type", "size", "sha256")},
                "download_url": (
                    signer.reply_file_url(reply.delivery_id, reply.id, item["id"])
                    if signer
                    else None
                ),
            }
            for item in reply.attachments or []
        ],
        "created_at": isoformat_z(reply.created_at),
    }


def _attachment_data(attachment: Attachment) -> dict[str, Any]:
    return {
        "id": attachment.id,
        "filename": attachment.filename,
        "content_type": attachment.content_type,
        "size": attachment.size,
        "sha256": attachment.sha256,
        "created_at": attachment.created_at,
        "purged_at": attachment.purged_at,
    }


def _same(value: datetime | None) -> datetime | None:
    return value


def _json_time(value: datetime | None) -> str | None:
    return None if value is None else isoformat_z(value)


TimeForm = Callable[[datetime | None], datetime | str | None]


def _evidence_data(
    evidence: EvidenceLike, signer: links.LinkSigner | None, when: TimeForm = _same
) -> dict[str, Any]:
    return {
        "id": evidence.id,
        "type": evidence.type,
        "event": evidence.event,
        "occurred_at": when(evidence.occurred_at),
        "pdf_url": signer.url("pdf", evidence.id) if signer else None,
        "json_url": signer.url("json", evidence.id) if signer else None,
    }


def _delivery_data(
    delivery: DeliveryLike,
    evidence: Sequence[EvidenceLike],
    signer: links.LinkSigner | None,
    when: TimeForm = _same,
) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "message_id": delivery.message_id,
        "mode": delivery.mode,
        "status": delivery.status,
        "status_reason": delivery.status_reason,
        "recipient": recipient_fields(delivery),
        "deadline_at": when(delivery.deadline_at),
        "notified_at": when(delivery.notified_at),
        "created_at": when(delivery.created_at),
        "updated_at": when(delivery.updated_at),
        "tracking_url": _tracking_url(delivery, signer),
        "evidence": [_evidence_data(e, signer, when) for e in evidence],
    }


def _tracking_url(delivery: DeliveryLike, signer: links.LinkSigner | None) -> str | None:
    """The sender's track-and-trace page (signed with the links' key, as proof links are)."""
    if signer is None or not delivery.token_salt:
        return None
    return (
        signer.base_url
        + tracking.PATH
        + tracking_token(signer.key, delivery.id, delivery.token_salt)
    )
