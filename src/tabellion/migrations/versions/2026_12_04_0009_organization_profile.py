"""The organisation's profile (legal name, identifiers, colour, logo) and whether it may
attach executables.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 12:48:19.402829
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("legal_name", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("siren", sa.String(length=9), nullable=True))
        batch_op.add_column(sa.Column("kvk", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("vat", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("brand_color", sa.String(length=7), nullable=True))
        batch_op.add_column(sa.Column("logo_key", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("logo_content_type", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column(
                "allow_executable_attachments",
                sa.Boolean(),
                server_default=sa.false(),
                nullable=False,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.drop_column("allow_executable_attachments")
        batch_op.drop_column("logo_content_type")
        batch_op.drop_column("logo_key")
        batch_op.drop_column("brand_color")
        batch_op.drop_column("vat")
        batch_op.drop_column("kvk")
        batch_op.drop_column("siren")
        batch_op.drop_column("legal_name")
