"""Identity's periodic job: old sign-in requests are deleted.

A request is needed only for its callback (10 minutes); a used or expired one is kept an hour
longer so a replayed answer still finds it and is refused as ``state-replayed`` rather than
``state-unknown``, then removed, so the table holds only sign-ins under way.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from tabellion.db import transaction
from tabellion.identity.service import REQUEST_LIFETIME
from tabellion.jobs.maintenance import PURGE_IDENTITY_REQUESTS, schedule_next
from tabellion.jobs.registry import PRIORITY_BULK, TaskContext, task
from tabellion.kit.time import utcnow
from tabellion.models.identity import IdentityRequest

REQUEST_RETENTION = REQUEST_LIFETIME + timedelta(hours=1)


async def purge_requests(
    session: AsyncSession, *, older_than: timedelta = REQUEST_RETENTION
) -> int:
    """Delete sign-in requests started more than ``older_than`` ago (used or not)."""
    result = await session.execute(
        delete(IdentityRequest).where(IdentityRequest.created_at < utcnow() - older_than)
    )
    return int(getattr(result, "rowcount", 0) or 0)


@task(PURGE_IDENTITY_REQUESTS, max_attempts=3, priority=PRIORITY_BULK)
async def purge_identity_requests(ctx: TaskContext, payload: dict[str, Any]) -> None:
    async with transaction(ctx.runtime.sessions) as session:
        await purge_requests(session)
        await schedule_next(session, PURGE_IDENTITY_REQUESTS, current=ctx.job_id)
