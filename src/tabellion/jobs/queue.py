"""Enqueueing: jobs are added to the caller's session, so they commit (or vanish) with it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tabellion.db import bulk_insert
from tabellion.jobs.registry import PRIORITY_DEFAULT, TaskSpec, get_task
from tabellion.kit.logs import current_request_id
from tabellion.kit.time import utcnow
from tabellion.models.base import table_of
from tabellion.models.job import Job

# Session.info key: set when the transaction enqueued work, so the committer wakes workers.
ENQUEUED = "tabellion.jobs_enqueued"


def _spec(kind: str) -> TaskSpec:
    spec = get_task(kind)
    if spec is None:
        raise LookupError(f"no task registered for kind {kind!r}")
    return spec


def _max_attempts(kind: str, override: int | None) -> int:
    return override if override is not None else _spec(kind).max_attempts


def _priority(kind: str) -> int:
    # A kind no handler knows may still be queued (with its attempts given): the worker
    # marks it dead when it comes up.
    spec = get_task(kind)
    return spec.priority if spec is not None else PRIORITY_DEFAULT


def new_job(
    kind: str,
    payload: dict[str, Any],
    *,
    run_at: datetime | None = None,
    max_attempts: int | None = None,
) -> Job:
    """A queued job row, for the caller to add to its session (see ``enqueue``)."""
    now = utcnow()
    return Job(
        kind=kind,
        payload=payload,
        status="queued",
        attempts=0,
        max_attempts=_max_attempts(kind, max_attempts),
        priority=_priority(kind),
        run_at=run_at or now,
        created_at=now,
        updated_at=now,
        request_id=current_request_id(),
    )


def enqueue(
    session: AsyncSession,
    kind: str,
    payload: dict[str, Any],
    *,
    run_at: datetime | None = None,
    max_attempts: int | None = None,
) -> Job:
    job = new_job(kind, payload, run_at=run_at, max_attempts=max_attempts)
    session.add(job)
    session.info[ENQUEUED] = True
    return job


async def enqueue_many(
    session: AsyncSession,
    kind: str,
    payloads: Sequence[dict[str, Any]],
    *,
    run_at: datetime | None = None,
    max_attempts: int | None = None,
) -> None:
    """Bulk insert, for fan-outs such as one e-mail per recipient of a large dispatch."""
    if not payloads:
        return
    now = utcnow()
    attempts = _max_attempts(kind, max_attempts)
    priority = _priority(kind)
    request_id = current_request_id()
    rows = [
        {
            "kind": kind,
            "payload": payload,
            "status": "queued",
            "attempts": 0,
            "max_attempts": attempts,
            "priority": priority,
            "run_at": run_at or now,
            "created_at": now,
            "updated_at": now,
            "request_id": request_id,
        }
        for payload in payloads
    ]
    await bulk_insert(session, table_of(Job), rows)
    session.info[ENQUEUED] = True


async def enqueue_rows(
    session: AsyncSession, jobs: Sequence[tuple[str, dict[str, Any], datetime]]
) -> None:
    """Bulk insert of jobs of any kinds, each ``(kind, payload, run_at)``."""
    if not jobs:
        return
    now = utcnow()
    specs: dict[str, TaskSpec] = {}
    request_id = current_request_id()
    rows = []
    for kind, payload, run_at in jobs:
        if kind not in specs:
            specs[kind] = _spec(kind)
        rows.append(
            {
                "kind": kind,
                "payload": payload,
                "status": "queued",
                "attempts": 0,
                "max_attempts": specs[kind].max_attempts,
                "priority": specs[kind].priority,
                "run_at": run_at,
                "created_at": now,
                "updated_at": now,
                "request_id": request_id,
            }
        )
    await bulk_insert(session, table_of(Job), rows)
    session.info[ENQUEUED] = True


async def any_due(session: AsyncSession, kind: str) -> bool:
    """Whether a job of ``kind`` is running, or queued and due."""
    found = await session.scalar(
        select(Job.id)
        .where(
            Job.status.in_(("queued", "running")),
            Job.run_at <= utcnow(),
            Job.kind == kind,
        )
        .limit(1)
    )
    return found is not None
