"""Two partial indexes of the job table, each of the few rows a frequent look-up wants, so
that it does not read every queued job (models/job.py): the queued sealing job, which each
transaction recording evidence looks for, and the pending periodic jobs, which each periodic
run (every minute) and each worker start look for.

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

# As models/job.py says them on this revision (a later change of either is a migration of its own).
QUEUED_SEAL = "kind = 'evidence.seal' AND status = 'queued'"
PENDING_PERIODIC = (
    "kind IN ('jobs.purge_finished', 'idempotency.purge', 'events.purge',"
    " 'document.collect_garbage', 'transparency.publish', 'identity.purge_requests',"
    " 'retention.apply') AND status IN ('queued', 'running')"
)


def upgrade() -> None:
    for name, where in (
        ("ix_jobs_queued_seal", QUEUED_SEAL),
        ("ix_jobs_pending_periodic", PENDING_PERIODIC),
    ):
        op.create_index(
            name,
            "jobs",
            ["kind", "status"],
            unique=False,
            sqlite_where=sa.text(where),
            postgresql_where=sa.text(where),
        )


def downgrade() -> None:
    op.drop_index("ix_jobs_pending_periodic", table_name="jobs")
    op.drop_index("ix_jobs_queued_seal", table_name="jobs")
