"""job priority

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 12:00:21.712171
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Jobs queued before the upgrade get their kind's priority (the values of
# tabellion.jobs.registry at this revision; other kinds keep the default, 20).
_PRIORITIES = {
    0: ("portal.send_code", "accounts.send_activation", "accounts.send_consent"),
    10: (
        "notification.send_notice",
        "notification.send_reminder",
        "portal.notify_sender_reply",
        "delivery.expire",
    ),
    30: (
        "evidence.render_pdf",
        "evidence.timestamp",
        "transparency.publish",
        "document.collect_garbage",
        "events.purge",
        "jobs.purge_finished",
        "idempotency.purge",
    ),
}


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("priority", sa.SmallInteger(), server_default="20", nullable=False)
        )
        batch_op.create_index(
            "ix_jobs_claim_order", ["status", "priority", "run_at", "id"], unique=False
        )
    jobs = sa.table("jobs", sa.column("kind", sa.String()), sa.column("priority", sa.Integer()))
    for priority, kinds in _PRIORITIES.items():
        op.execute(
            jobs.update()
            .where(jobs.c.kind.in_(kinds), jobs.c.priority != priority)
            .values(priority=priority)
        )


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_claim_order")
        batch_op.drop_column("priority")
