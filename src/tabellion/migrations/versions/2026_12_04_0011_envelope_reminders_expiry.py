"""Envelopes: automatic reminders per envelope, the next one's time, when it expired; and
the recipients' passkeys.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 15:20:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tabellion.models.base

revision: str = "0011"
down_revision: str | None = "0010"
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

    op.create_table(
        "envelope_passkeys",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("organization_id", sa.String(length=40), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("credential_id", sa.String(length=255), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("sign_count", sa.BigInteger(), nullable=False),
        sa.Column("created_at", tabellion.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", tabellion.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_envelope_passkeys_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_envelope_passkeys")),
        sa.UniqueConstraint("credential_id", name=op.f("uq_envelope_passkeys_credential_id")),
    )
    with op.batch_alter_table("envelope_passkeys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_envelope_passkeys_email"), ["email"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_envelope_passkeys_organization_id"), ["organization_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("envelope_passkeys")
    with op.batch_alter_table("envelopes", schema=None) as batch_op:
        batch_op.drop_column("expired_at")
        batch_op.drop_column("next_reminder_at")
        batch_op.drop_column("reminder_max")
        batch_op.drop_column("reminder_every_days")
        batch_op.drop_column("reminder_first_days")
