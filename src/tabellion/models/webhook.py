"""Webhook endpoints, the events they receive, and every delivery attempt."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tabellion.models.base import Base, JSONType, TimestampMixin, id_column
from tabellion.models.job import BigIntId


class WebhookEndpoint(TimestampMixin, Base):
    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = id_column()
    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str | None] = mapped_column(String(500))
    events: Mapped[list[str]] = mapped_column(JSONType)
    # The payload format (tabellion.webhook.formats): "standard" or a dialect's.
    format: Mapped[str] = mapped_column(String(16), default="standard", server_default="standard")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    # Signing secrets, encrypted with the service key: [{"value", "created_at", "expires_at"}].
    # Several are active during a rotation's overlap window.
    secrets: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    failing_since: Mapped[datetime | None]


class Event(Base):
    """Something that happened, as integrators receive it. ``body`` is the exact JSON sent,
    so every retry carries the same bytes and signature input. ``seq`` orders the feed; it is
    given after commit (see webhook.service.sequence_events), so a reader never skips an
    event that commits late."""

    __tablename__ = "events"
    __table_args__ = (Index(None, "organization_id", "seq"),)

    id: Mapped[str] = id_column()
    seq: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    organization_id: Mapped[str] = mapped_column(String(40))
    type: Mapped[str] = mapped_column(String(64))
    delivery_id: Mapped[str | None] = mapped_column(String(40), index=True)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(index=True)


class WebhookAttempt(Base):
    __tablename__ = "webhook_attempts"
    __table_args__ = (Index(None, "endpoint_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    organization_id: Mapped[str] = mapped_column(String(40))
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(40), index=True)
    event_type: Mapped[str] = mapped_column(String(64))
    attempt: Mapped[int] = mapped_column(Integer)
    # succeeded | retrying | failed (no retry: 410, endpoint disabled) | dead (retries ran out)
    outcome: Mapped[str] = mapped_column(String(16))
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    next_retry_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
