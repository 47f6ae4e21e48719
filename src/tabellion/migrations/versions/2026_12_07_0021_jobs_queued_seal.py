"""The queued sealing job found through a partial index of its one row, not by reading every
queued job (models/job.py, ``QUEUED_SEAL``).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 05:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUEUED_SEAL = "kind = 'evidence.seal' AND status = 'queued'"


def upgrade() -> None:
    op.create_index(
        "ix_jobs_queued_seal",
        "jobs",
        ["kind", "status"],
        unique=False,
        sqlite_where=sa.text(QUEUED_SEAL),
        postgresql_where=sa.text(QUEUED_SEAL),
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_queued_seal", table_name="jobs")
