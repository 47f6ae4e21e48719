"""People who send on behalf of an organisation."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tabellion.models.base import Base, TimestampMixin, id_column


class User(TimestampMixin, Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("organization_id", "email"),)

    id: Mapped[str] = id_column()
    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))  # admin | sender | viewer
    status: Mapped[str] = mapped_column(String(16), default="invited")  # invited|active|deactivated
    password_hash: Mapped[str | None] = mapped_column(String(255))
    activation_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    activation_expires_at: Mapped[datetime | None]
    activated_at: Mapped[datetime | None]
    deactivated_at: Mapped[datetime | None]
    # TOTP (RFC 6238) for signing-page action authentication: the base-32 secret, usable once
    # confirmed with a first code; the last time step accepted (a code is good once).
    # Encrypted (organization.totp): a Fernet token of the base32 secret, 140 characters.
    totp_secret: Mapped[str | None] = mapped_column(String(255))
    totp_confirmed_at: Mapped[datetime | None]
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    created_by_key_id: Mapped[str | None] = mapped_column(String(40))
