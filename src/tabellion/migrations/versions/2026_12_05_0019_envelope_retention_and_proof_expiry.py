"""Retention of envelopes and the end of proofs (docs/data.md): an envelope's legal hold, the
purge of its documents, and the expiry of a message's or an envelope's proofs.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05 02:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("envelopes", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("legal_hold", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("content_purged_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("proofs_expired_at", sa.DateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("proofs_expired_at", sa.DateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("evidence", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expired_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("evidence", schema=None) as batch_op:
        batch_op.drop_column("expired_at")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("proofs_expired_at")
    with op.batch_alter_table("envelopes", schema=None) as batch_op:
        batch_op.drop_column("proofs_expired_at")
        batch_op.drop_column("content_purged_at")
        batch_op.drop_column("legal_hold")
