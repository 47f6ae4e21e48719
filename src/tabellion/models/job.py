"""The durable job table: side effects written in the same transaction as their cause."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, SmallInteger, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from tabellion.models.base import Base, TimestampMixin

# The queued sealing job that every transaction recording evidence looks for, to reuse it
# (``evidence.sealing.seal``): a partial index of that one row, so the look-up reads neither
# the other queued jobs (an install keeps every notified delivery's deadline and reminder
# jobs queued for weeks: millions) nor, on a write, costs other jobs anything. The look-up
# names the two values as constants: PostgreSQL's generic plan of a prepared statement (psycopg
# prepares one run five times) cannot use a partial index for bound values.
QUEUED_SEAL = "kind = 'evidence.seal' AND status = 'queued'"

# The periodic housekeeping jobs (``jobs.maintenance.PERIODIC``), one of each pending: looked
# up each time a run queues the next one (``transparency.publish``: every minute, on SQLite
# under the write lock) and when a worker starts. The same kind of partial index, of those
# few rows. SQLite uses it only for a statement that holds this very condition, written out
# (``jobs.maintenance``); PostgreSQL also for one kind of them. A new periodic kind changes
# this list and needs a migration that makes the index again (tests/jobs/test_maintenance.py
# fails until both are done).
PERIODIC_KINDS = (
    "jobs.purge_finished",
    "idempotency.purge",
    "events.purge",
    "document.collect_garbage",
    "transparency.publish",
    "identity.purge_requests",
    "retention.apply",
)
PENDING_PERIODIC = (
    f"kind IN ({', '.join(repr(kind) for kind in PERIODIC_KINDS)})"
    " AND status IN ('queued', 'running')"
)

# SQLite only auto-increments an INTEGER PRIMARY KEY.
BigIntId = BigInteger().with_variant(Integer(), "sqlite")


class Job(TimestampMixin, Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index(None, "status", "run_at", "id"),
        # The claim's order: due jobs by priority, then oldest first.
        Index("ix_jobs_claim_order", "status", "priority", "run_at", "id"),
        Index(
            "ix_jobs_queued_seal",
            "kind",
            "status",
            sqlite_where=text(QUEUED_SEAL),
            postgresql_where=text(QUEUED_SEAL),
        ),
        Index(
            "ix_jobs_pending_periodic",
            "kind",
            "status",
            sqlite_where=text(PENDING_PERIODIC),
            postgresql_where=text(PENDING_PERIODIC),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # queued -> running -> done | dead ; running -> queued on failure with attempts left.
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=10)
    # Lower runs first (see tabellion.jobs.registry.PRIORITY_*), set from the task's spec.
    priority: Mapped[int] = mapped_column(SmallInteger, default=20, server_default="20")
    run_at: Mapped[datetime]
    locked_until: Mapped[datetime | None]
    locked_by: Mapped[str | None] = mapped_column(String(100))
    last_error: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[datetime | None]
    # The X-Request-ID of the request (or the job) that enqueued it, bound to its log lines.
    request_id: Mapped[str | None] = mapped_column(String(128))
