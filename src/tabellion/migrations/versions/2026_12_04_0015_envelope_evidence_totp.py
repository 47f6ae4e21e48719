"""Envelope evidence: evidence rows name a delivery or a signing envelope (and recipient), and
evidence types get room for the envelope ones (``ENVELOPE_AUTHENTICATED``). Users get a TOTP
secret for the signing page's ``totp`` action authentication.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 16:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tabellion.models.base

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("totp_secret", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column(
                "totp_confirmed_at", tabellion.models.base.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.add_column(sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("evidence", schema=None) as batch_op:
        batch_op.alter_column("delivery_id", existing_type=sa.String(length=40), nullable=True)
        batch_op.alter_column("message_id", existing_type=sa.String(length=40), nullable=True)
        batch_op.alter_column(
            "type", existing_type=sa.String(length=16), type_=sa.String(length=32)
        )
        batch_op.add_column(sa.Column("envelope_id", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("recipient_id", sa.String(length=40), nullable=True))
        batch_op.create_index(batch_op.f("ix_evidence_envelope_id"), ["envelope_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_evidence_envelope_id_envelopes"),
            "envelopes",
            ["envelope_id"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("totp_last_step")
        batch_op.drop_column("totp_confirmed_at")
        batch_op.drop_column("totp_secret")
    with op.batch_alter_table("evidence", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_evidence_envelope_id_envelopes"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_evidence_envelope_id"))
        batch_op.drop_column("recipient_id")
        batch_op.drop_column("envelope_id")
        batch_op.alter_column(
            "type", existing_type=sa.String(length=32), type_=sa.String(length=16)
        )
        batch_op.alter_column("message_id", existing_type=sa.String(length=40), nullable=False)
        batch_op.alter_column("delivery_id", existing_type=sa.String(length=40), nullable=False)
