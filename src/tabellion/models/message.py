"""Messages, their attachments, and one delivery per recipient."""

from __future__ import annotations

from datetime import datetime
from operator import attrgetter
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from tabellion.models.base import Base, JSONType, TimestampMixin, id_column


class Message(TimestampMixin, Base):
    __tablename__ = "messages"
    __table_args__ = (
        Index(None, "organization_id", "id"),
        Index(None, "organization_id", "reference"),
        Index(None, "organization_id", "campaign"),
        Index(None, "organization_id", "guid"),
    )

    id: Mapped[str] = id_column()
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    mode: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="draft")
    subject: Mapped[str] = mapped_column(String(255))
    body_html: Mapped[str] = mapped_column(Text)
    body_text: Mapped[str] = mapped_column(Text)
    # The HTML body exactly as submitted, before sanitising: its hash is in the proofs.
    body_submitted: Mapped[str | None] = mapped_column(Text)
    sender_email: Mapped[str | None] = mapped_column(String(320))
    sender_name: Mapped[str | None] = mapped_column(String(255))
    sender_user_id: Mapped[str | None] = mapped_column(String(40))
    # Who submitted it: the API key, and the reseller's organisation when sent on behalf.
    submitted_by_key_id: Mapped[str | None] = mapped_column(String(40))
    submitted_by_organization_id: Mapped[str | None] = mapped_column(String(40), index=True)
    reference: Mapped[str | None] = mapped_column(String(255))
    campaign: Mapped[str | None] = mapped_column(String(255))
    acceptance_days: Mapped[int | None] = mapped_column(Integer)
    # The sender's own identifier of the message (a GUID), besides ``reference``.
    guid: Mapped[str | None] = mapped_column(String(255))
    # Registered only: once accepted, the recipient also gets the message in their mailbox.
    copy_to_mailbox: Mapped[bool] = mapped_column(default=False, server_default=false())
    # The sender gets an e-mail when a delivery is accepted, refused or expires.
    notify_sender: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Draft recipients as given; on dispatch each becomes a Delivery row.
    recipients: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    recipient_count: Mapped[int] = mapped_column(Integer, default=0)
    dispatched_at: Mapped[datetime | None]
    # Who may open it: {"level", "providers", "match"} (tabellion.identity), or None.
    identification: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # A legal hold suspends the purge of its content (retention, erasure).
    legal_hold: Mapped[bool] = mapped_column(default=False, server_default=false())
    # When its bodies, files and replies were deleted (retention or erasure), and the digests
    # of its parts as they were (``evidence.content.message_parts``): later proofs keep them.
    content_purged_at: Mapped[datetime | None]
    purged_parts: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # When its proofs reached the end of the organisation's proof retention period: their
    # signed content was deleted, their hashes stay in the chain and the log.
    proofs_expired_at: Mapped[datetime | None]


class Attachment(Base):
    __tablename__ = "attachments"

    id: Mapped[str] = id_column()
    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    message_id: Mapped[str] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    storage_key: Mapped[str] = mapped_column(String(255), index=True)
    created_at: Mapped[datetime]
    # Its file was deleted (retention, erasure); the row stays: its hash is in the proofs.
    purged_at: Mapped[datetime | None]


# A delivery's recipient: the same names in the table, the API and the evidence.
RECIPIENT_FIELDS = ("email", "first_name", "last_name", "company", "siren", "language")


_recipient_values = attrgetter(*RECIPIENT_FIELDS)


def recipient_fields(delivery: object) -> dict[str, Any]:
    """The recipient columns of a delivery (a row or anything with the same attributes)."""
    return dict(zip(RECIPIENT_FIELDS, _recipient_values(delivery), strict=True))


class Delivery(TimestampMixin, Base):
    __tablename__ = "deliveries"
    __table_args__ = (
        Index(None, "organization_id", "updated_at", "id"),
        Index(None, "organization_id", "id"),
    )

    id: Mapped[str] = id_column()
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    message_id: Mapped[str] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    mode: Mapped[str] = mapped_column(String(16))
    # The reseller that sent it on the organisation's behalf, if any: it may read it too.
    submitted_by_organization_id: Mapped[str | None] = mapped_column(String(40), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    status_reason: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str] = mapped_column(String(320), index=True)
    first_name: Mapped[str | None] = mapped_column(String(255))
    last_name: Mapped[str | None] = mapped_column(String(255))
    company: Mapped[str | None] = mapped_column(String(255))
    siren: Mapped[str | None] = mapped_column(String(9))
    language: Mapped[str] = mapped_column(String(2), default="en")
    # The portal token is derived (HMAC of id and salt) when an e-mail is written; only its
    # hash is stored, to find the delivery from a link.
    token_salt: Mapped[str] = mapped_column(String(32))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    notification_message_id: Mapped[str | None] = mapped_column(String(255))
    notified_at: Mapped[datetime | None]
    deadline_at: Mapped[datetime | None]
    received_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    # The recipient's identity check (registered mode): method, time, IP, user agent.
    identity: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # Attachment ids already downloaded, so only the first download is evidence.
    downloaded: Mapped[list[str]] = mapped_column(JSONType, default=list)
    # The message's identification and what the sender declared of this recipient
    # ({"level", "providers", "match", "declared": {...}}); None: the e-mail code suffices.
    identification: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # A mobile number (E.164) the sender gave: the code may then go by SMS (identity.sms).
    phone: Mapped[str | None] = mapped_column(String(20))


class Reply(Base):
    """A message in a secure delivery's thread, from the recipient or the sender."""

    __tablename__ = "replies"

    id: Mapped[str] = id_column()
    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    delivery_id: Mapped[str] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), index=True
    )
    author: Mapped[str] = mapped_column(String(16))  # recipient | sender
    body_html: Mapped[str] = mapped_column(Text)
    body_text: Mapped[str] = mapped_column(Text)
    # [{"id", "filename", "content_type", "size", "sha256", "storage_key"}]
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime]
