"""Housekeeping of the job table, and the periodic jobs that keep other tables small.

A periodic job is an ordinary job: each run enqueues the next one in its own transaction,
and :func:`ensure_periodic` (called when a worker starts) recreates a chain that was lost,
for instance after a run went ``dead``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, literal, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from tabellion.db import transaction
from tabellion.jobs.queue import enqueue
from tabellion.jobs.registry import PRIORITY_BULK, TaskContext, task
from tabellion.kit import idempotency
from tabellion.kit.time import utcnow
from tabellion.models.job import PENDING_PERIODIC, Job

if TYPE_CHECKING:
    from tabellion.runtime import Runtime

PURGE_FINISHED = "jobs.purge_finished"
PURGE_IDEMPOTENCY = "idempotency.purge"
PURGE_EVENTS = "events.purge"
COLLECT_BLOBS = "document.collect_garbage"
PUBLISH_TREE_HEAD = "transparency.publish"
PURGE_IDENTITY_REQUESTS = "identity.purge_requests"
APPLY_RETENTION = "retention.apply"

DONE_RETENTION = timedelta(days=7)
# Dead jobs stay longer: an operator may want to read their errors and retry them.
DEAD_RETENTION = timedelta(days=30)

PERIODIC: dict[str, timedelta] = {
    PURGE_FINISHED: timedelta(hours=1),
    PURGE_IDEMPOTENCY: timedelta(hours=1),
    PURGE_EVENTS: timedelta(hours=6),
    COLLECT_BLOBS: timedelta(hours=6),
    PUBLISH_TREE_HEAD: timedelta(minutes=1),
    PURGE_IDENTITY_REQUESTS: timedelta(hours=1),
    APPLY_RETENTION: timedelta(hours=1),
}

# Serialises the check-then-insert of periodic jobs across workers on PostgreSQL; SQLite
# transactions already begin with BEGIN IMMEDIATE. Any constant works; this one spells "tabjobs".
_PERIODIC_LOCK_KEY = 0x7461626A6F6273

# Pending periodic jobs, as the partial index that finds them says it (models/job.py).
_PENDING_PERIODIC = text(PENDING_PERIODIC)


async def purge_jobs(session: AsyncSession, *, status: str, older_than: timedelta) -> int:
    """Delete ``done`` or ``dead`` jobs that finished more than ``older_than`` ago."""
    if status not in ("done", "dead"):
        raise ValueError(f"only finished jobs can be purged, not {status!r}")
    finished = func.coalesce(Job.finished_at, Job.updated_at)
    result = await session.execute(
        delete(Job).where(Job.status == status, finished < utcnow() - older_than)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def retry_jobs(
    session: AsyncSession, *, ids: Sequence[int] = (), all_dead: bool = False
) -> int:
    """Put dead (or waiting) jobs back in the queue to run now, with a fresh attempt count."""
    statement = update(Job).where(Job.status.in_(("dead", "queued")))
    if all_dead:
        statement = statement.where(Job.status == "dead")
    else:
        statement = statement.where(Job.id.in_(list(ids)))
    result = await session.execute(
        statement.values(
            status="queued",
            attempts=0,
            run_at=utcnow(),
            locked_by=None,
            locked_until=None,
            finished_at=None,
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def _lock_periodic(session: AsyncSession) -> None:
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        await session.execute(select(func.pg_advisory_xact_lock(_PERIODIC_LOCK_KEY)))


async def schedule_next(session: AsyncSession, kind: str, *, current: int | None = None) -> bool:
    """Enqueue the next run of a periodic ``kind`` unless one is already pending.

    ``current`` is the running job itself, which does not count. Returns True if a job was added.
    """
    await _lock_periodic(session)
    pending = select(Job.id).where(
        _PENDING_PERIODIC, Job.kind == literal(kind, literal_execute=True)
    )
    if current is not None:
        pending = pending.where(Job.id != current)
    if (await session.execute(pending.limit(1))).first() is not None:
        return False
    enqueue(session, kind, {}, run_at=utcnow() + PERIODIC[kind])
    return True


async def ensure_periodic(runtime: Runtime) -> list[str]:
    """Make sure each periodic kind has one pending job; returns the kinds that were added."""
    async with transaction(runtime.sessions) as session:
        await _lock_periodic(session)
        existing = set(await session.scalars(select(Job.kind).where(_PENDING_PERIODIC)))
        now = utcnow()
        added = [kind for kind in PERIODIC if kind not in existing]
        for kind in added:
            enqueue(session, kind, {}, run_at=now + PERIODIC[kind])
    return added


@task(PURGE_FINISHED, max_attempts=3, priority=PRIORITY_BULK)
async def purge_finished(ctx: TaskContext, payload: dict[str, Any]) -> None:
    async with transaction(ctx.runtime.sessions) as session:
        await purge_jobs(session, status="done", older_than=DONE_RETENTION)
        await purge_jobs(session, status="dead", older_than=DEAD_RETENTION)
        await schedule_next(session, PURGE_FINISHED, current=ctx.job_id)


@task(PURGE_IDEMPOTENCY, max_attempts=3, priority=PRIORITY_BULK)
async def purge_idempotency(ctx: TaskContext, payload: dict[str, Any]) -> None:
    async with transaction(ctx.runtime.sessions) as session:
        await idempotency.purge_expired(session)
        await schedule_next(session, PURGE_IDEMPOTENCY, current=ctx.job_id)
