"""Foreign ids of the compat dialects, mapped onto native ids (see ../shared/DIALECTS.md)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tabellion.kit.time import utcnow
from tabellion.models.base import Base
from tabellion.models.job import BigIntId


class CompatId(Base):
    """One foreign id: ``(dialect, kind, foreign_id)`` names ``native_id`` in one organisation.

    Foreign ids are drawn at random (never a sequence), so one organisation cannot guess or
    count another's; lookups always filter by organisation too.
    """

    __tablename__ = "compat_ids"
    __table_args__ = (
        UniqueConstraint("dialect", "kind", "foreign_id"),
        UniqueConstraint("dialect", "kind", "native_id"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    dialect: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    foreign_id: Mapped[str] = mapped_column(String(64))
    native_id: Mapped[str] = mapped_column(String(64))
    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
