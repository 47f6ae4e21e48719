"""``tabellion status``: one screen on the queues, dead jobs, time-stamping, disk and storage.

Everything is read from the database and the data dir, so it works from any machine that has
the settings, whether or not a server runs. ``--json`` gives the same facts to scripts.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit, urlunsplit

import typer
from rich.console import Console, Group
from rich.table import Table

from tabellion.cli._runtime import with_runtime
from tabellion.jobs.stats import KindSummary

if TYPE_CHECKING:
    from tabellion.runtime import Runtime

console = Console()
DEAD_SHOWN = 5


@dataclass
class DeadJob:
    id: int
    kind: str
    attempts: int
    finished_at: str | None
    error: str


@dataclass
class Timestamping:
    configured: bool
    authorities: list[str]
    last_success: str | None  # the genTime of the newest token
    awaiting: int  # sealed proofs waiting for a token


@dataclass
class Storage:
    url: str
    attachments: int
    attachment_bytes: int
    envelope_documents: int
    envelope_document_bytes: int
    proof_pdfs: int
    unsealed_proofs: int


@dataclass
class Disk:
    data_dir: str
    data_dir_bytes: int
    free_bytes: int
    total_bytes: int


@dataclass
class Status:
    at: str
    database: str
    queues: list[KindSummary]
    dead_jobs: int
    recent_dead: list[DeadJob]
    timestamping: Timestamping
    storage: Storage
    disk: Disk
    notes: list[str] = field(default_factory=list)


def _redacted(url: str) -> str:
    """A URL without the password or keys it may carry."""
    parts = urlsplit(url)
    if not parts.username and not parts.password:
        return url
    host = parts.hostname or ""
    netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _tree_bytes(root: Path) -> int:
    total = 0
    for directory, _, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(directory, name)).st_size
            except OSError:
                continue  # removed meanwhile
    return total


def _disk(data_dir: Path) -> Disk:
    usage = shutil.disk_usage(data_dir)
    return Disk(
        data_dir=str(data_dir.resolve()),
        data_dir_bytes=_tree_bytes(data_dir),
        free_bytes=usage.free,
        total_bytes=usage.total,
    )


def _gen_time(token: str | None) -> datetime | None:
    from tabellion.evidence.timestamping.rfc3161 import read_token

    if not token:
        return None
    try:
        return read_token(base64.b64decode(token)).gen_time
    except Exception:  # a token the check command would report; here only its time matters
        return None


async def gather(runtime: Runtime) -> Status:
    from sqlalchemy import func, select

    from tabellion.evidence.timestamping.stamps import AWAITING, STAMPED
    from tabellion.jobs.registry import registered_kinds
    from tabellion.jobs.stats import summarise_jobs
    from tabellion.kit.time import isoformat_z, utcnow
    from tabellion.models.envelope import EnvelopeDocument
    from tabellion.models.evidence import Evidence
    from tabellion.models.job import Job
    from tabellion.models.message import Attachment

    settings = runtime.settings
    now = utcnow()
    async with runtime.read_sessions() as session:
        queues = await summarise_jobs(session, now, kinds=registered_kinds())
        dead_rows = (
            await session.execute(
                select(Job.id, Job.kind, Job.attempts, Job.finished_at, Job.last_error)
                .where(Job.status == "dead")
                .order_by(Job.id.desc())
                .limit(DEAD_SHOWN)
            )
        ).all()
        newest_token = await session.scalar(
            select(Evidence.timestamp_token)
            .where(Evidence.timestamp_status == STAMPED)
            .order_by(Evidence.sealed_at.desc(), Evidence.id.desc())
            .limit(1)
        )
        awaiting = await session.scalar(
            select(func.count()).where(Evidence.timestamp_status == AWAITING)
        )
        # Blobs are content-addressed: the same file attached twice is stored once.
        blobs = (
            select(Attachment.storage_key, func.max(Attachment.size).label("size"))
            .group_by(Attachment.storage_key)
            .subquery()
        )
        attachments, attachment_bytes = (
            await session.execute(select(func.count(), func.sum(blobs.c.size)))
        ).one()
        documents, document_bytes = (
            await session.execute(select(func.count(), func.sum(EnvelopeDocument.size)))
        ).one()
        pdfs = await session.scalar(select(func.count()).where(Evidence.pdf_key.is_not(None)))
        unsealed = await session.scalar(select(func.count()).where(Evidence.sealed_at.is_(None)))
    last = _gen_time(newest_token)
    status = Status(
        at=isoformat_z(now),
        database=_redacted(settings.resolved_database_url),
        queues=queues,
        dead_jobs=sum(q.dead for q in queues),
        recent_dead=[
            DeadJob(
                id=int(row.id),
                kind=row.kind,
                attempts=int(row.attempts),
                finished_at=isoformat_z(row.finished_at) if row.finished_at else None,
                error=(row.last_error or "").strip().split("\n", 1)[0][:200],
            )
            for row in dead_rows
        ],
        timestamping=Timestamping(
            configured=bool(settings.tsa_urls),
            authorities=[_redacted(url) for url in settings.tsa_urls],
            last_success=isoformat_z(last) if last else None,
            awaiting=int(awaiting or 0),
        ),
        storage=Storage(
            url=_redacted(settings.resolved_storage_url),
            attachments=int(attachments or 0),
            attachment_bytes=int(attachment_bytes or 0),
            envelope_documents=int(documents or 0),
            envelope_document_bytes=int(document_bytes or 0),
            proof_pdfs=int(pdfs or 0),
            unsealed_proofs=int(unsealed or 0),
        ),
        disk=await asyncio.to_thread(_disk, settings.data_dir),
    )
    if not status.timestamping.configured:
        status.notes.append("No timestamp authority (TABELLION_TSA_URL): proofs carry no token.")
    if status.dead_jobs:
        status.notes.append("Dead jobs: `tabellion jobs list --status dead`, then `jobs retry`.")
    return status


def _size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if count < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


def _age(seconds: float) -> str:
    if seconds <= 0:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def render(status: Status) -> Group:
    queues = Table(title="Job queues", title_justify="left", expand=False)
    for name in ("kind", "queued", "due", "running", "dead", "oldest due"):
        queues.add_column(name, justify="left" if name == "kind" else "right")
    for q in status.queues:
        if not (q.queued or q.running or q.dead):
            continue
        dead = f"[red]{q.dead}[/red]" if q.dead else "0"
        queues.add_row(
            q.kind, str(q.queued), str(q.due), str(q.running), dead, _age(q.oldest_due_seconds)
        )
    if not queues.rows:
        queues.add_row("[green]all queues empty[/green]", "", "", "", "", "")

    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    tsa = status.timestamping
    facts.add_row("Database", status.database)
    if tsa.configured:
        last = tsa.last_success or "[yellow]never[/yellow]"
        facts.add_row(
            "Timestamping",
            f"{', '.join(tsa.authorities)}; last token {last}; "
            f"{tsa.awaiting} proof(s) awaiting one",
        )
    else:
        facts.add_row("Timestamping", "[yellow]not configured[/yellow]")
    store = status.storage
    facts.add_row("Storage", store.url)
    facts.add_row(
        "",
        f"{store.attachments} attachment blob(s), {_size(store.attachment_bytes)}; "
        f"{store.envelope_documents} envelope document(s), "
        f"{_size(store.envelope_document_bytes)}; {store.proof_pdfs} proof PDF(s)",
    )
    if store.unsealed_proofs:
        facts.add_row("", f"{store.unsealed_proofs} proof(s) waiting to be sealed")
    disk = status.disk
    facts.add_row(
        "Data dir",
        f"{disk.data_dir}: {_size(disk.data_dir_bytes)}; "
        f"{_size(disk.free_bytes)} free of {_size(disk.total_bytes)}",
    )

    parts: list[Any] = [queues]
    if status.recent_dead:
        title = f"Dead jobs ({status.dead_jobs}; newest first)"
        graveyard = Table(title=title, title_justify="left")
        for name in ("id", "kind", "attempts", "finished", "error"):
            graveyard.add_column(name, overflow="fold")
        for job in status.recent_dead:
            graveyard.add_row(
                str(job.id), job.kind, str(job.attempts), job.finished_at or "", job.error
            )
        parts.append(graveyard)
    parts.append(facts)
    parts.extend(f"[yellow]{note}[/yellow]" for note in status.notes)
    return Group(*parts)


def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print the facts as JSON.")] = False,
) -> None:
    """One screen: queues per kind, dead jobs, time-stamping, storage and disk use."""
    facts = with_runtime(gather)
    if as_json:
        print(json.dumps(asdict(facts), indent=2))
        return
    console.print(render(facts), soft_wrap=True, highlight=False)
