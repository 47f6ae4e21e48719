"""``tabellion jobs``: look at the job queue, retry dead jobs, purge finished ones.

Imports of the database layer stay inside the commands, as in ``tabellion.cli.main``, so the
command line starts fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from tabellion.cli._runtime import with_runtime

if TYPE_CHECKING:
    from tabellion.runtime import Runtime

jobs_app = typer.Typer(help="The job queue: list, retry, purge.", no_args_is_help=True)

console = Console()
err = Console(stderr=True)


class Status(StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    dead = "dead"


class FinishedStatus(StrEnum):
    done = "done"
    dead = "dead"


JobRow = tuple[int, str, str, int, int, datetime, str | None]


@jobs_app.command("list")
def list_jobs(
    status: Annotated[Status | None, typer.Option(help="Only jobs in this state.")] = None,
    kind: Annotated[str | None, typer.Option(help="Only jobs of this kind.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.", min=1)] = 50,
) -> None:
    """List jobs, newest first."""
    from rich.table import Table

    from tabellion.kit.time import isoformat_z

    rows = with_runtime(lambda runtime: _select_jobs(runtime, status, kind, limit))
    table = Table("id", "kind", "status", "attempts", "run at", "last error")
    for job_id, job_kind, job_status, attempts, max_attempts, run_at, last_error in rows:
        first_line = (last_error or "").strip().split("\n", 1)[0]
        table.add_row(
            str(job_id),
            job_kind,
            job_status,
            f"{attempts}/{max_attempts}",
            isoformat_z(run_at),
            first_line,
        )
    console.print(table)


async def _select_jobs(
    runtime: Runtime, status: Status | None, kind: str | None, limit: int
) -> Sequence[JobRow]:
    from sqlalchemy import select

    from tabellion.models.job import Job

    query = select(
        Job.id, Job.kind, Job.status, Job.attempts, Job.max_attempts, Job.run_at, Job.last_error
    )
    if status is not None:
        query = query.where(Job.status == status.value)
    if kind is not None:
        query = query.where(Job.kind == kind)
    async with runtime.sessions() as session:
        result = await session.execute(query.order_by(Job.id.desc()).limit(limit))
        return result.all()


@jobs_app.command("retry")
def retry(
    ids: Annotated[list[int] | None, typer.Argument(help="Ids of dead or queued jobs.")] = None,
    dead: Annotated[bool, typer.Option("--dead", help="Retry every dead job.")] = False,
) -> None:
    """Queue jobs again to run now, with their attempts reset."""
    if bool(ids) == dead:
        err.print("[red]error:[/red] give job ids or --dead (not both)")
        raise typer.Exit(2)

    async def work(runtime: Runtime) -> int:
        from tabellion.db import transaction
        from tabellion.jobs.maintenance import retry_jobs

        async with transaction(runtime.sessions) as session:
            return await retry_jobs(session, ids=ids or (), all_dead=dead)

    count = with_runtime(work)
    console.print(f"{count} job(s) queued again")
    if ids and count < len(ids):
        err.print("Only dead or queued jobs can be retried; the others were left alone.")


@jobs_app.command("purge")
def purge(
    status: Annotated[
        FinishedStatus | None, typer.Option(help="Only this state (default: both).")
    ] = None,
    older_than_days: Annotated[
        int | None,
        typer.Option(
            help="Finished more than N days ago (default: 7 for done, 30 for dead).", min=0
        ),
    ] = None,
) -> None:
    """Delete finished jobs."""
    from tabellion.db import transaction
    from tabellion.jobs.maintenance import DEAD_RETENTION, DONE_RETENTION, purge_jobs

    statuses = [status] if status is not None else list(FinishedStatus)

    def age(state: FinishedStatus) -> timedelta:
        if older_than_days is not None:
            return timedelta(days=older_than_days)
        return DONE_RETENTION if state is FinishedStatus.done else DEAD_RETENTION

    async def work(runtime: Runtime) -> int:
        async with transaction(runtime.sessions) as session:
            counts = [
                await purge_jobs(session, status=state.value, older_than=age(state))
                for state in statuses
            ]
        return sum(counts)

    console.print(f"{with_runtime(work)} job(s) deleted")
