"""Signing envelopes: their documents, recipients and the fields each recipient fills."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from tabellion.models.base import Base, JSONType, TimestampMixin, id_column


class Envelope(TimestampMixin, Base):
    __tablename__ = "envelopes"
    __table_args__ = (
        Index(None, "organization_id", "id"),
        Index(None, "organization_id", "status"),
    )

    id: Mapped[str] = id_column()
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    submitted_by_key_id: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16), default="draft")
    title: Mapped[str] = mapped_column(String(255))
    message: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(2), default="en")
    reference: Mapped[str | None] = mapped_column(String(255))
    signing_order: Mapped[str] = mapped_column(String(16), default="parallel")
    expires_in_days: Mapped[int] = mapped_column(Integer, default=90)
    sent_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0)
    # The audit certificate alone, once completion has run.
    certificate_storage_key: Mapped[str | None] = mapped_column(String(255), index=True)
    last_reminded_at: Mapped[datetime | None]
    # Automatic reminders: the first after this many days, then every so many, at most so many
    # (0: none). The next one's time is the reminder job's guard: a job that finds another
    # time (or none) is stale and does nothing.
    reminder_first_days: Mapped[int] = mapped_column(Integer, default=5, server_default="5")
    reminder_every_days: Mapped[int] = mapped_column(Integer, default=2, server_default="2")
    reminder_max: Mapped[int] = mapped_column(Integer, default=5, server_default="5")
    next_reminder_at: Mapped[datetime | None]
    expired_at: Mapped[datetime | None]
    # Retention (docs/data.md): a legal hold suspends the purge of its documents; when they
    # were deleted (originals, signed files, certificate, what the fields hold), and when its
    # proofs reached the end of their own period.
    legal_hold: Mapped[bool] = mapped_column(default=False, server_default=false())
    content_purged_at: Mapped[datetime | None]
    proofs_expired_at: Mapped[datetime | None]


class EnvelopeDocument(Base):
    __tablename__ = "envelope_documents"

    id: Mapped[str] = id_column()
    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    envelope_id: Mapped[str] = mapped_column(
        ForeignKey("envelopes.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(255))
    pages: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    storage_key: Mapped[str] = mapped_column(String(255), index=True)
    # The completed, sealed PDF; the original above is kept.
    signed_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    signed_storage_key: Mapped[str | None] = mapped_column(String(255), index=True)
    created_at: Mapped[datetime]


class EnvelopeRecipient(TimestampMixin, Base):
    __tablename__ = "envelope_recipients"

    id: Mapped[str] = id_column()
    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    envelope_id: Mapped[str] = mapped_column(
        ForeignKey("envelopes.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(320), index=True)
    name: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    # Named "position" in the table: ORDER is an SQL keyword.
    position: Mapped[int] = mapped_column(Integer, default=1)
    language: Mapped[str] = mapped_column(String(2), default="en")
    status: Mapped[str] = mapped_column(String(16), default="waiting")
    access_auth: Mapped[list[str]] = mapped_column(JSONType, default=list)
    action_auth: Mapped[list[str]] = mapped_column(JSONType, default=list)
    # Identification asked before signing: {"level", "providers", "match", "declared"}
    # (tabellion.identity.envelopes), or None; the sign-in that passed it is in ``trail``.
    identification: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # The signing link's token is derived (HMAC of id and salt) when its e-mail is written;
    # only its hash is stored, to find the recipient from a link.
    token_salt: Mapped[str] = mapped_column(String(32))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    sent_at: Mapped[datetime | None]
    opened_at: Mapped[datetime | None]
    acted_at: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(Text)
    # How and from where they acted: IP, user agent, auth methods used.
    trail: Mapped[dict[str, Any] | None] = mapped_column(JSONType)


class EnvelopeField(Base):
    __tablename__ = "envelope_fields"

    id: Mapped[str] = id_column()
    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    envelope_id: Mapped[str] = mapped_column(
        ForeignKey("envelopes.id", ondelete="CASCADE"), index=True
    )
    recipient_id: Mapped[str] = mapped_column(
        ForeignKey("envelope_recipients.id", ondelete="CASCADE"), index=True
    )
    document_id: Mapped[str] = mapped_column(
        ForeignKey("envelope_documents.id", ondelete="CASCADE"), index=True
    )
    type: Mapped[str] = mapped_column(String(16))
    page: Mapped[int] = mapped_column(Integer)
    # Percentages of the page, top-left origin.
    x: Mapped[float] = mapped_column(Float)
    y: Mapped[float] = mapped_column(Float)
    width: Mapped[float] = mapped_column(Float)
    height: Mapped[float] = mapped_column(Float)
    required: Mapped[bool] = mapped_column(Boolean, default=True)
    meta: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    value: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime]


class EnvelopePasskey(Base):
    """A passkey (WebAuthn credential) of a recipient's address within one organisation,
    created on the signing page after an e-mailed code, then asked before each signature."""

    __tablename__ = "envelope_passkeys"

    id: Mapped[str] = id_column()
    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(320), index=True)  # lower-cased
    credential_id: Mapped[str] = mapped_column(String(255), unique=True)  # base64url
    public_key: Mapped[str] = mapped_column(Text)  # base64url COSE key
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
