"""Identification before signing: asked per envelope recipient; sign-ins under way may be for
an envelope recipient instead of a delivery. A delivery's mobile number for SMS codes.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 16:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("phone", sa.String(length=20), nullable=True))
    with op.batch_alter_table("envelope_recipients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("identification", _json(), nullable=True))
    with op.batch_alter_table("identity_requests", schema=None) as batch_op:
        batch_op.alter_column("delivery_id", existing_type=sa.String(length=40), nullable=True)
        batch_op.add_column(sa.Column("envelope_recipient_id", sa.String(length=40), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_identity_requests_envelope_recipient_id"),
            ["envelope_recipient_id"],
            unique=False,
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_identity_requests_envelope_recipient_id_envelope_recipients"),
            "envelope_recipients",
            ["envelope_recipient_id"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    op.execute("DELETE FROM identity_requests WHERE delivery_id IS NULL")
    with op.batch_alter_table("identity_requests", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_identity_requests_envelope_recipient_id_envelope_recipients"),
            type_="foreignkey",
        )
        batch_op.drop_index(batch_op.f("ix_identity_requests_envelope_recipient_id"))
        batch_op.drop_column("envelope_recipient_id")
        batch_op.alter_column("delivery_id", existing_type=sa.String(length=40), nullable=False)
    with op.batch_alter_table("envelope_recipients", schema=None) as batch_op:
        batch_op.drop_column("identification")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("phone")
