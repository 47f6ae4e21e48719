"""``tabellion storage encrypt``: plain (legacy) blobs, and encrypted blobs of layout 1 (their
data key in their header), rewritten in layout 2 (their data key in ``blob_keys``), row by row.

Each referencing row gets its own copy, under its organisation's key (a plain blob shared by two
organisations becomes two ciphertexts), and the row is repointed in its own short transaction.
The old blob, once no row references it, is left to the collector, which deletes unreferenced
blobs after its grace period; ``--delete-plain`` deletes, at the end, every plain or layout-1
blob no row references. An interrupted run leaves every row pointing at a whole blob (the old
one or its copy), so running the command again resumes where it stopped: rows already pointing
at blobs of layout 2 are skipped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, true, update
from sqlalchemy.orm import InstrumentedAttribute

from tabellion.document.encryption import VERSION, EncryptedBlobStore
from tabellion.document.service import BATCH, referenced_keys, referenced_pdf_keys
from tabellion.document.service import referenced_reply_keys as _reply_keys
from tabellion.document.storage import StoredFileUnavailable
from tabellion.models.envelope import Envelope, EnvelopeDocument
from tabellion.models.evidence import Evidence
from tabellion.models.message import Attachment, Reply
from tabellion.models.organization import Organization

if TYPE_CHECKING:
    from tabellion.runtime import Runtime


class EncryptionNotConfigured(Exception):
    """No master key: nothing to encrypt with."""


@dataclass
class EncryptReport:
    encrypted: int = 0
    skipped: int = 0
    deleted: int = 0
    problems: list[str] = field(default_factory=list)


# (model, id column, key column, organisation column)
_COLUMNS: list[tuple[Any, Any, InstrumentedAttribute[Any], Any]] = [
    (Attachment, Attachment.id, Attachment.storage_key, Attachment.organization_id),
    (
        EnvelopeDocument,
        EnvelopeDocument.id,
        EnvelopeDocument.storage_key,
        EnvelopeDocument.organization_id,
    ),
    (
        EnvelopeDocument,
        EnvelopeDocument.id,
        EnvelopeDocument.signed_storage_key,
        EnvelopeDocument.organization_id,
    ),
    (Envelope, Envelope.id, Envelope.certificate_storage_key, Envelope.organization_id),
    (Organization, Organization.id, Organization.logo_key, Organization.id),
    (Evidence, Evidence.id, Evidence.pdf_key, Evidence.organization_id),
]


async def _pages(runtime: Runtime, *columns: Any) -> AsyncIterator[tuple[Any, ...]]:
    ident, key = columns[0], columns[1]
    # A purged attachment's file is gone on purpose (docs/data.md, retention).
    live = Attachment.purged_at.is_(None) if key is Attachment.storage_key else true()
    after = ""
    while True:
        async with runtime.sessions() as session:
            page = (
                await session.execute(
                    select(*columns)
                    .where(ident > after, key.is_not(None), live)
                    .order_by(ident)
                    .limit(BATCH)
                )
            ).all()
        for row in page:
            yield tuple(row)
        if len(page) < BATCH:
            return
        after = page[-1][0]


async def count_references(runtime: Runtime) -> int:
    """How many rows reference a blob (the progress bar's total)."""
    total = 0
    for _, ident, key, org in _COLUMNS:
        async for _ in _pages(runtime, ident, key, org):
            total += 1
    async for _, _, files in _pages(runtime, Reply.id, Reply.attachments, Reply.organization_id):
        total += sum(1 for item in files or () if isinstance(item, dict))
    return total


async def encrypt_storage(
    runtime: Runtime,
    *,
    advance: Callable[[], None] = lambda: None,
    delete_plain: bool = False,
) -> EncryptReport:
    storage = runtime.storage
    if not isinstance(storage, EncryptedBlobStore):
        raise EncryptionNotConfigured("Set a master key first (docs/data.md, Keys).")
    report = EncryptReport()

    async def copy(old: str, organization_id: str | None, what: str) -> str | None:
        try:
            if await storage.layout_of(old) == VERSION:
                report.skipped += 1
                return None
            blob = await storage.put_stream(storage.open(old), organization_id=organization_id)
        except StoredFileUnavailable as exc:
            report.problems.append(f"{what}: blob {old} {exc.detail}")
            return None
        report.encrypted += 1
        return blob.key

    for model, ident, column, org in _COLUMNS:
        async for row_id, old, organization_id in _pages(runtime, ident, column, org):
            new = await copy(old, organization_id, f"{model.__tablename__} {row_id}")
            if new is not None:
                async with runtime.sessions() as session, session.begin():
                    # Only if the row still points at the plain blob (a concurrent change wins).
                    await session.execute(
                        update(model)
                        .where(ident == row_id, column == old)
                        .values({column.key: new})
                        .execution_options(synchronize_session=False)
                    )
            advance()

    async for reply_id, files, organization_id in _pages(
        runtime, Reply.id, Reply.attachments, Reply.organization_id
    ):
        for index, item in enumerate(files or ()):
            if not isinstance(item, dict) or not item.get("storage_key"):
                continue
            old = str(item["storage_key"])
            new = await copy(old, organization_id, f"reply {reply_id} file {item.get('id')}")
            if new is not None:
                async with runtime.sessions() as session, session.begin():
                    reply = await session.get(Reply, reply_id, with_for_update=True)
                    if reply is not None:
                        current = [dict(x) if isinstance(x, dict) else x for x in reply.attachments]
                        if index < len(current) and current[index].get("storage_key") == old:
                            current[index]["storage_key"] = new
                            reply.attachments = current
            advance()

    if delete_plain:
        report.deleted = await delete_unreferenced_plain(storage, runtime)
    return report


async def delete_unreferenced_plain(storage: EncryptedBlobStore, runtime: Runtime) -> int:
    """Delete every plain or layout-1 blob no row references (also those an interrupted run
    left)."""
    old = [key async for key in storage.list_keys() if await storage.layout_of(key) != VERSION]
    async with runtime.sessions() as session:
        held = await _reply_keys(session) | await referenced_pdf_keys(session)
        gone = []
        for start in range(0, len(old), BATCH):
            batch = old[start : start + BATCH]
            used = await referenced_keys(session, batch) | held
            gone += [key for key in batch if key not in used]
    # Outside the session: on SQLite, deleting a data key needs the one write connection.
    for key in gone:
        await storage.delete(key)
    return len(gone)
