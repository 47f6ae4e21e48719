"""One-time codes and browser sessions of the pages."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tabellion.models.base import Base, id_column


class OneTimeCode(Base):
    """A 6-digit code sent by e-mail: to confirm a registered letter's recipient
    (purpose ``delivery``, subject = delivery id) or to sign in to the vault (purpose
    ``vault``, subject = e-mail address). Only its hash is kept."""

    __tablename__ = "one_time_codes"

    id: Mapped[str] = id_column()
    purpose: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(320), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime]
    consumed_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class WebSession(Base):
    """A signed-in browser: a recipient of one delivery (``delivery``), of an address's vault
    (``vault``), or an organisation's user (``user``). The cookie holds a random token; only
    its hash is stored."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = id_column()
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(320))
    expires_at: Mapped[datetime] = mapped_column(index=True)
    created_at: Mapped[datetime]
