"""Encryption at rest: the organisations' storage keys, wrapped by the master key.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 17:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tabellion.models.base

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "storage_keys",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("organization_id", sa.String(length=40), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("master_key_id", sa.String(length=32), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(length=64), nullable=False),
        sa.Column("created_at", tabellion.models.base.UTCDateTime(), nullable=False),
        sa.Column("retired_at", tabellion.models.base.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_storage_keys_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_storage_keys")),
    )
    with op.batch_alter_table("storage_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_storage_keys_organization_id_version"),
            ["organization_id", "version"],
            unique=True,
        )


def downgrade() -> None:
    with op.batch_alter_table("storage_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_storage_keys_organization_id_version"))
    op.drop_table("storage_keys")
