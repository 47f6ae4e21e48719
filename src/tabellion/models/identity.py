"""Sign-ins with an identity provider that are under way (OpenID Connect authorisation)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from tabellion.models.base import Base, id_column


class IdentityRequest(Base):
    """One authorisation request: what the callback needs to check the answer.

    The ``state`` is stored only as a hash; a request is used once (``used_at``), so a replayed
    callback is refused. ``nonce`` and the PKCE ``code_verifier`` never leave the server except
    as the provider asked (the nonce inside the signed ID token, the verifier to the token
    endpoint).
    """

    __tablename__ = "identity_requests"

    id: Mapped[str] = id_column()
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    # What the sign-in is for: a registered letter's delivery, or a signing envelope's recipient.
    delivery_id: Mapped[str | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), index=True
    )
    envelope_recipient_id: Mapped[str | None] = mapped_column(
        ForeignKey("envelope_recipients.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(String(64))
    nonce: Mapped[str] = mapped_column(String(128))
    code_verifier: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
