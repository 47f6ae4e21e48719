"""The job table at a glance: per kind, how many wait, run or died, and the longest wait.

One grouped query over the unfinished and dead rows (finished ones are skipped by the status
index), read by GET /metrics at each scrape and by ``tabellion status``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tabellion.models.job import Job

STATUSES = ("queued", "running", "dead")


@dataclass
class KindSummary:
    kind: str
    queued: int = 0  # all queued, scheduled later included
    due: int = 0  # queued and due now
    running: int = 0
    dead: int = 0
    oldest_due_seconds: float = 0.0  # how long the oldest due one has waited past its time


async def summarise_jobs(
    session: AsyncSession, now: datetime, *, kinds: Sequence[str] = ()
) -> list[KindSummary]:
    """A summary per kind found in the table, and per kind of ``kinds`` (zeros if absent)."""
    due = and_(Job.status == "queued", Job.run_at <= now)
    statement = (
        select(
            Job.kind,
            Job.status,
            func.count(),
            func.sum(case((due, 1), else_=0)),
            func.min(case((due, Job.run_at))),
        )
        .where(Job.status.in_(STATUSES))
        .group_by(Job.kind, Job.status)
    )
    found = {kind: KindSummary(kind) for kind in kinds}
    for kind, status, count, due_count, first in (await session.execute(statement)).all():
        summary = found.setdefault(kind, KindSummary(kind))
        setattr(summary, status, int(count))
        if status == "queued":
            summary.due = int(due_count or 0)
            if first is not None:
                summary.oldest_due_seconds = max(0.0, (now - first).total_seconds())
    return [found[kind] for kind in sorted(found)]
