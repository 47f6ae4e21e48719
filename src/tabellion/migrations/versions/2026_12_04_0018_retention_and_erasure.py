"""Retention and erasure (docs/data.md): organisations' retention periods and erasure time,
a legal hold and the purge of a message's content, the purge of an attachment's file.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 22:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("content_retention_days", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("proof_retention_days", sa.Integer(), server_default="3650", nullable=False)
        )
        batch_op.add_column(sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("legal_hold", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("content_purged_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("purged_parts", _JSON, nullable=True))
    with op.batch_alter_table("attachments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("attachments", schema=None) as batch_op:
        batch_op.drop_column("purged_at")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("purged_parts")
        batch_op.drop_column("content_purged_at")
        batch_op.drop_column("legal_hold")
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.drop_column("erased_at")
        batch_op.drop_column("proof_retention_days")
        batch_op.drop_column("content_retention_days")
