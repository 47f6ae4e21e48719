"""Organisations (tenants), their API keys and their client keys (JWT)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from tabellion.models.base import Base, JSONType, TimestampMixin, id_column


class Organization(TimestampMixin, Base):
    __tablename__ = "organizations"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Paris")
    # Set when a reseller registered this organisation as its customer.
    reseller_id: Mapped[str | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="SET NULL"), index=True
    )
    # PENDING | ACCEPTED | REFUSED | REVOKED | CANCELLED: may the reseller act for it?
    customer_state: Mapped[str | None] = mapped_column(String(16))
    customer_state_at: Mapped[datetime | None]
    is_paying: Mapped[bool | None]
    will_send_registered: Mapped[bool | None]
    consent_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    # How recipients see the sender: ``name`` is the display name in e-mails and pages; the
    # legal name and identifiers appear on the pages and in proofs when set.
    legal_name: Mapped[str | None] = mapped_column(String(255))
    siren: Mapped[str | None] = mapped_column(String(9))
    kvk: Mapped[str | None] = mapped_column(String(8))
    vat: Mapped[str | None] = mapped_column(String(16))
    brand_color: Mapped[str | None] = mapped_column(String(7))
    logo_key: Mapped[str | None] = mapped_column(String(255))
    logo_content_type: Mapped[str | None] = mapped_column(String(64))
    # Executables (.exe, ELF, scripts...) are refused as attachments unless this is set.
    allow_executable_attachments: Mapped[bool] = mapped_column(
        default=False, server_default=false()
    )
    # The identification registered letters ask for when their message names none.
    identification: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # Retention (docs/data.md): a message's content is purged this many days after its
    # deliveries ended (None: kept); its proofs are kept at least ``proof_retention_days``.
    content_retention_days: Mapped[int | None] = mapped_column(Integer)
    proof_retention_days: Mapped[int] = mapped_column(Integer, default=3650, server_default="3650")
    # Set by ``tabellion org erase``: its keys, content and accounts are gone; its proofs stay.
    erased_at: Mapped[datetime | None]


class ApiKey(TimestampMixin, Base):
    """An API key. Only a SHA-256 of the key is kept; ``prefix`` finds the row quickly."""

    __tablename__ = "api_keys"

    id: Mapped[str] = id_column()
    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(JSONType, default=lambda: ["admin"])
    last_used_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class ClientKey(TimestampMixin, Base):
    """A client's public key: requests signed with its private key (JWTs) authenticate.

    ``issuer`` is what a client puts in a token's ``iss`` (and, for the Documentd dialect, in
    the ``SP-Company-Api-Id`` header); it is random, so it tells nothing about the tenant.
    """

    __tablename__ = "client_keys"

    id: Mapped[str] = id_column()
    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    issuer: Mapped[str] = mapped_column(String(64), unique=True)
    key_type: Mapped[str] = mapped_column(String(8))  # RSA | EC
    public_key_pem: Mapped[str] = mapped_column(Text)
    # RFC 7638 thumbprint of the public key (SHA-256, base64url): to recognise it in lists.
    thumbprint: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(JSONType, default=lambda: ["messages:write"])
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
