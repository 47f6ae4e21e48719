"""Encryption at rest, layout 2: each blob's data key in the database, not in the blob, so
that deleting the row shreds the blob in every copy of the store (docs/data.md, Erasure).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05 06:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tabellion.models.base

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "blob_keys",
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("organization_id", sa.String(length=40), nullable=True),
        sa.Column("storage_key_id", sa.String(length=40), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(length=64), nullable=False),
        sa.Column("created_at", tabellion.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_blob_keys_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["storage_key_id"],
            ["storage_keys.id"],
            name=op.f("fk_blob_keys_storage_key_id_storage_keys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("address", name=op.f("pk_blob_keys")),
    )
    with op.batch_alter_table("blob_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_blob_keys_created_at"), ["created_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_blob_keys_organization_id"), ["organization_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_blob_keys_storage_key_id"), ["storage_key_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("blob_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_blob_keys_storage_key_id"))
        batch_op.drop_index(batch_op.f("ix_blob_keys_organization_id"))
        batch_op.drop_index(batch_op.f("ix_blob_keys_created_at"))
    op.drop_table("blob_keys")
