"""Users' TOTP secrets encrypted at rest: the column holds a Fernet token (140 characters).

Secrets stored in plain before stay readable (organization.totp tells them apart) and are
encrypted at their next use; the key comes from the service's settings, which a migration
does not read.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 20:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column(
            "totp_secret", existing_type=sa.String(length=64), type_=sa.String(length=255)
        )


def downgrade() -> None:
    # An encrypted secret does not fit the old column: those users enrol again.
    op.execute(
        "UPDATE users SET totp_secret = NULL, totp_confirmed_at = NULL"
        " WHERE length(totp_secret) > 64"
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column(
            "totp_secret", existing_type=sa.String(length=255), type_=sa.String(length=64)
        )
