"""Housekeeping of stored blobs.

A blob is written before the row that references it (the upload streams first, the row is
committed after), so a failed or abandoned request can leave a blob nobody references. The
collector deletes blobs that no committed row references once they are older than a grace
period, long enough for any request in flight to commit.

Rows that reference blobs: attachments (``storage_key``), reply files (``storage_key`` in each
reply's JSON list), evidence PDFs (``pdf_key``) and envelope documents (``storage_key`` and,
once signed, ``signed_storage_key``) and envelope certificates.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tabellion.kit.time import utcnow
from tabellion.models.envelope import Envelope, EnvelopeDocument
from tabellion.models.evidence import Evidence
from tabellion.models.message import Attachment, Reply

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
        .where(Attachment.storage_key.in_(wanted))
        .union(
            select(EnvelopeDocument.storage_key).where(EnvelopeDocument.storage_key.in_(wanted)),
            select(EnvelopeDocument.signed_storage_key).where(
                EnvelopeDocument.signed_storage_key.in_(wanted)
            ),
            select(Envelope.certificate_storage_key).where(
                Envelope.certificate_storage_key.in_(wanted)
            ),
        )
    )
    return {key for key in rows if key}


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
    return deleted
