"""Housekeeping of stored blobs: the collector, and checking blobs against their hashes.

A blob is written before the row that references it (the upload streams first, the row is
committed after), so a failed or abandoned request can leave a blob nobody references. The
collector deletes blobs that no committed row references once they are older than a grace
period, long enough for any request in flight to commit.

Rows that reference blobs: attachments (``storage_key``), reply files (``storage_key`` in each
reply's JSON list), evidence PDFs (``pdf_key``), envelope documents (``storage_key`` and,
once signed, ``signed_storage_key``), envelope certificates and organisations' logos.

An encrypted blob of layout 2 has its data key in a row of ``blob_keys``: deleting the blob
deletes the row (the store does), and a purge or an erasure deletes the rows of the blobs it
let go of in its own transaction (:func:`shred_unreferenced`), so that once it commits those
blobs no longer decrypt, from the store or from any copy of it taken before.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tabellion.db import transaction
from tabellion.document.encryption import (
    EncryptedBlobStore,
    MasterKeyUnavailable,
    drop_blob_keys,
)
from tabellion.document.storage import BlobNotFound, BlobStore, StoredFileUnavailable
from tabellion.kit.time import utcnow
from tabellion.models.encryption import BlobKey
from tabellion.models.envelope import Envelope, EnvelopeDocument
from tabellion.models.evidence import Evidence
from tabellion.models.message import Attachment, Reply
from tabellion.models.organization import Organization

if TYPE_CHECKING:
    from tabellion.runtime import Runtime

log = logging.getLogger(__name__)

GRACE = timedelta(hours=6)
BATCH = 500


async def referenced_reply_keys(session: AsyncSession) -> set[str]:
    """Blob keys held by reply attachments (a JSON list on each reply)."""
    keys: set[str] = set()
    rows = await session.stream_scalars(select(Reply.attachments))
    async for attachments in rows:
        for item in attachments or ():
            if isinstance(item, dict) and item.get("storage_key"):
                keys.add(str(item["storage_key"]))
    return keys


async def referenced_pdf_keys(session: AsyncSession) -> set[str]:
    """Blob keys of rendered evidence PDFs. Read once per run: the column has no index, so a
    lookup per batch would scan the evidence table again and again."""
    rows = await session.stream_scalars(
        select(Evidence.pdf_key).where(Evidence.pdf_key.is_not(None))
    )
    return {key async for key in rows if key}


async def referenced_keys(session: AsyncSession, keys: Sequence[str]) -> set[str]:
    wanted = list(keys)
    rows = await session.scalars(
        select(Attachment.storage_key)
        .where(Attachment.storage_key.in_(wanted), Attachment.purged_at.is_(None))
        .union(
            # An envelope's files until its content is purged (retention, erasure).
            select(EnvelopeDocument.storage_key)
            .join(Envelope, Envelope.id == EnvelopeDocument.envelope_id)
            .where(EnvelopeDocument.storage_key.in_(wanted), Envelope.content_purged_at.is_(None)),
            select(EnvelopeDocument.signed_storage_key)
            .join(Envelope, Envelope.id == EnvelopeDocument.envelope_id)
            .where(
                EnvelopeDocument.signed_storage_key.in_(wanted),
                Envelope.content_purged_at.is_(None),
            ),
            select(Envelope.certificate_storage_key).where(
                Envelope.certificate_storage_key.in_(wanted), Envelope.content_purged_at.is_(None)
            ),
            select(Organization.logo_key).where(Organization.logo_key.in_(wanted)),
        )
    )
    return {key for key in rows if key}


async def unreferenced(session: AsyncSession, keys: Sequence[str]) -> list[str]:
    """Those of the blobs ``keys`` that no row references (as ``session`` sees the rows)."""
    wanted = sorted(set(keys))
    if not wanted:
        return []
    used = await referenced_keys(session, wanted)
    used |= set(await session.scalars(select(Evidence.pdf_key).where(Evidence.pdf_key.in_(wanted))))
    if set(wanted) - used:
        # Reply files are a JSON list (no index): read only when a key may still go.
        used |= await referenced_reply_keys(session) & set(wanted)
    return [key for key in wanted if key not in used]


async def shred_unreferenced(session: AsyncSession, keys: Sequence[str]) -> list[str]:
    """In the transaction that let go of the blobs ``keys`` (a purge, an erasure; flushed):
    delete the data keys of those no row references any more, so that the commit which
    records the purge also makes them unreadable, even from a copy of the store taken before.
    Returns them: the blobs to delete after commit (:func:`delete_unreferenced`, which checks
    them again: a plain blob may have been uploaded again meanwhile)."""
    gone = await unreferenced(session, keys)
    await drop_blob_keys(session, gone)
    return gone


async def delete_unreferenced(runtime: Runtime, keys: Sequence[str]) -> int:
    """Delete the blobs ``keys`` that no row references any more (a purge or an erasure just
    let go of them, and committed), with their data keys. A plain blob is shared by every
    upload of the same bytes: one still referenced elsewhere stays. Returns how many were
    deleted."""
    async with runtime.sessions() as session:
        gone = await unreferenced(session, keys)
    deleted = 0
    for key in gone:
        if await runtime.storage.exists(key):
            await runtime.storage.delete(key)  # its data key too
            deleted += 1
        elif isinstance(runtime.storage, EncryptedBlobStore):
            await runtime.storage.keyring.drop([key])
    return deleted


async def collect_garbage(runtime: Runtime, *, grace: timedelta = GRACE) -> int:
    """Delete unreferenced blobs older than ``grace``; returns how many were deleted."""
    cutoff = utcnow() - grace
    storage = runtime.storage
    deleted = 0
    # A row committed after these reads references either a blob younger than the cutoff or,
    # re-uploading the same bytes, one whose age the upload refreshed: both are kept below.
    async with runtime.sessions() as session:
        held = await referenced_reply_keys(session) | await referenced_pdf_keys(session)
    batch: list[str] = []

    async def sweep(keys: list[str]) -> int:
        async with runtime.sessions() as session:
            used = await referenced_keys(session, keys) | held
        count = 0
        for key in keys:
            # The age is checked again as the blob is deleted: an upload of the same bytes
            # since the listing refreshed it.
            if key not in used and await storage.delete_stale(key, before=cutoff):
                count += 1
        return count

    async for key in storage.keys_older_than(cutoff):
        batch.append(key)
        if len(batch) >= BATCH:
            deleted += await sweep(batch)
            batch = []
    if batch:
        deleted += await sweep(batch)
    if deleted:
        log.info("deleted %d unreferenced blobs", deleted)
    keys = await _collect_blob_keys(runtime, cutoff, held)
    if keys:
        log.info("deleted %d data keys of blobs no row references", keys)
    return deleted


async def _collect_blob_keys(runtime: Runtime, cutoff: datetime, held: set[str]) -> int:
    """Delete the data keys, older than ``cutoff``, of blobs no row references: left by an
    upload that failed after storing its blob, or a deletion cut short (the blobs, as old,
    went in the sweep before)."""
    count = 0
    after = ""
    while True:
        async with transaction(runtime.sessions) as session:
            page = list(
                await session.scalars(
                    select(BlobKey.address)
                    .where(BlobKey.address > after, BlobKey.created_at < cutoff)
                    .order_by(BlobKey.address)
                    .limit(BATCH)
                )
            )
            if not page:
                return count
            used = await referenced_keys(session, page) | held
            gone = [address for address in page if address not in used]
            await drop_blob_keys(session, gone)
        if gone and isinstance(runtime.storage, EncryptedBlobStore):
            runtime.storage.keyring.evict(gone)
        count += len(gone)
        if len(page) < BATCH:
            return count
        after = page[-1]


# ---- checking blobs against their recorded hashes --------------------------------------------


async def blob_problem(storage: BlobStore, key: str, sha256: str | None) -> str | None:
    """Why the blob ``key`` cannot be served as the file of hash ``sha256``; None if it can.

    Reads the whole blob: the store checks a full read against the key where it is a content
    address (of the plaintext for a plain blob, of the ciphertext for an encrypted one of layout
    1) and authenticates every chunk of an encrypted one (layout 2: the key is a random name),
    and the plaintext read is hashed and compared with ``sha256`` (None: a row that recorded no
    hash besides the key).
    """
    hasher = hashlib.sha256()
    try:
        async for chunk in storage.open(key):
            hasher.update(chunk)
    except BlobNotFound:
        return "missing"
    except MasterKeyUnavailable:
        raise  # the token or KMS, not this file: 503, to retry
    except StoredFileUnavailable:
        return "does not match its hash"
    if sha256 is not None and hasher.hexdigest() != sha256:
        return f"does not match its recorded hash {sha256}"
    return None


async def require_blob(storage: BlobStore, key: str, sha256: str | None, *, what: str) -> None:
    """Raise StoredFileUnavailable (and log it) unless ``what``'s blob is whole.

    Called before a proof says that a file was handed over: the proof must not outlive it.
    """
    problem = await blob_problem(storage, key, sha256)
    if problem is not None:
        log.error("stored file unavailable: %s (blob %s) %s", what, key, problem)
        raise StoredFileUnavailable(f"The stored file of {what} is unavailable.")


@dataclass
class StorageReport:
    checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


async def _rows(
    runtime: Runtime, columns: Sequence[Any], *where: Any
) -> AsyncIterator[tuple[Any, ...]]:
    """Rows of ``columns`` (the first an id), read by pages, each in a short transaction: a
    check that takes hours must not hold SQLite's write lock or a PostgreSQL snapshot."""
    ident = columns[0]
    after = ""
    while True:
        async with runtime.sessions() as session:
            page = (
                await session.execute(
                    select(*columns).where(ident > after, *where).order_by(ident).limit(BATCH)
                )
            ).all()
        for row in page:
            yield tuple(row)
        if len(page) < BATCH:
            return
        after = page[-1][0]


async def _recorded_blobs(runtime: Runtime) -> AsyncIterator[tuple[str, str, str | None]]:
    """Every blob a row references: ``(what, key, recorded sha256 or None)``."""
    columns = (Attachment.id, Attachment.storage_key, Attachment.sha256)
    async for attachment_id, key, sha in _rows(runtime, columns, Attachment.purged_at.is_(None)):
        yield f"attachment {attachment_id}", key, sha
    async for reply_id, files in _rows(runtime, (Reply.id, Reply.attachments)):
        for item in files or ():
            if isinstance(item, dict) and item.get("storage_key"):
                key = str(item["storage_key"])
                sha = item.get("sha256")
                yield f"reply {reply_id} file {item.get('id')}", key, str(sha) if sha else None
    logos = (Organization.id, Organization.logo_key)
    async for organization_id, key in _rows(runtime, logos, Organization.logo_key.is_not(None)):
        yield f"organisation {organization_id} logo", key, None
    pdfs = (Evidence.id, Evidence.pdf_key)
    async for evidence_id, key in _rows(runtime, pdfs, Evidence.pdf_key.is_not(None)):
        yield f"evidence {evidence_id} PDF", key, None


async def check_storage(runtime: Runtime) -> StorageReport:
    """``tabellion storage check``: read every referenced blob and compare it with its hash."""
    report = StorageReport()
    async for what, key, sha in _recorded_blobs(runtime):
        report.checked += 1
        problem = await blob_problem(runtime.storage, key, sha)
        if problem is not None:
            report.problems.append(f"{what}: blob {key} {problem}")
    return report
