"""Envelopes: automatic reminders per envelope, the next one's time, and when it expired.

Revision ID: 0010_env
Revises: 0009
Create Date: 2026-12-04 15:20:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tabellion.models.base

revision: str = "0010_env"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("envelopes", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("reminder_first_days", sa.Integer(), server_default="5", nullable=False)
        )
        batch_op.add_column(
            sa.Column("reminder_every_days", sa.Integer(), server_default="2", nullable=False)
        )
        batch_op.add_column(
            sa.Column("reminder_max", sa.Integer(), server_default="5", nullable=False)
        )
        batch_op.add_column(
            sa.Column(
                "next_reminder_at", tabellion.models.base.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column("expired_at", tabellion.models.base.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("envelopes", schema=None) as batch_op:
        batch_op.drop_column("expired_at")
        batch_op.drop_column("next_reminder_at")
        batch_op.drop_column("reminder_max")
        batch_op.drop_column("reminder_every_days")
        batch_op.drop_column("reminder_first_days")
