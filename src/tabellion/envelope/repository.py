"""Queries of the envelope domain. Every read of an envelope is scoped by organisation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tabellion.kit.pagination import decode_cursor, encode_cursor
from tabellion.models.envelope import (
    Envelope,
    EnvelopeDocument,
    EnvelopeField,
    EnvelopeRecipient,
)


@dataclass
class EnvelopeParts:
    """An envelope's children, loaded in one query each (relationships never load lazily)."""

    recipients: list[EnvelopeRecipient]
    documents: list[EnvelopeDocument]
    fields: list[EnvelopeField]


async def get_envelope(
    session: AsyncSession, organization_id: str, envelope_id: str, *, for_update: bool = False
) -> Envelope | None:
    query = select(Envelope).where(
        Envelope.id == envelope_id, Envelope.organization_id == organization_id
    )
    if for_update:
        query = query.with_for_update()
    return await session.scalar(query)


async def list_envelopes(
    session: AsyncSession,
    organization_id: str,
    *,
    limit: int,
    cursor: str | None,
    status: str | None = None,
    reference: str | None = None,
) -> tuple[Sequence[Envelope], str | None]:
    """Newest first; the cursor is the last id seen (ids sort by creation time)."""
    query = select(Envelope).where(Envelope.organization_id == organization_id)
    if status is not None:
        query = query.where(Envelope.status == status)
    if reference is not None:
        query = query.where(Envelope.reference == reference)
    if cursor:
        (last_id,) = decode_cursor(cursor, size=1)
        query = query.where(Envelope.id < str(last_id))
    rows = (await session.scalars(query.order_by(Envelope.id.desc()).limit(limit + 1))).all()
    next_cursor = encode_cursor([rows[limit - 1].id]) if len(rows) > limit else None
    return rows[:limit], next_cursor


async def parts_of(session: AsyncSession, envelope_ids: Sequence[str]) -> dict[str, EnvelopeParts]:
    parts = {envelope_id: EnvelopeParts([], [], []) for envelope_id in envelope_ids}
    if not envelope_ids:
        return parts
    ids = list(envelope_ids)
    for recipient in await session.scalars(
        select(EnvelopeRecipient)
        .where(EnvelopeRecipient.envelope_id.in_(ids))
        .order_by(EnvelopeRecipient.position, EnvelopeRecipient.id)
    ):
        parts[recipient.envelope_id].recipients.append(recipient)
    for document in await session.scalars(
        select(EnvelopeDocument)
        .where(EnvelopeDocument.envelope_id.in_(ids))
        .order_by(EnvelopeDocument.id)
    ):
        parts[document.envelope_id].documents.append(document)
    for field in await session.scalars(
        select(EnvelopeField).where(EnvelopeField.envelope_id.in_(ids)).order_by(EnvelopeField.id)
    ):
        parts[field.envelope_id].fields.append(field)
    return parts


async def count_documents(session: AsyncSession, envelope_id: str) -> int:
    query = (
        select(func.count())
        .select_from(EnvelopeDocument)
        .where(EnvelopeDocument.envelope_id == envelope_id)
    )
    return int(await session.scalar(query) or 0)


async def count_fields(session: AsyncSession, envelope_id: str) -> int:
    query = (
        select(func.count())
        .select_from(EnvelopeField)
        .where(EnvelopeField.envelope_id == envelope_id)
    )
    return int(await session.scalar(query) or 0)


async def page_envelopes(
    session: AsyncSession,
    organization_id: str,
    *,
    offset: int,
    limit: int,
    statuses: Sequence[str] | None = None,
    ascending: bool = False,
) -> tuple[Sequence[Envelope], int]:
    """One numbered page and the total, for dialects that paginate by page (Documenso)."""
    query = select(Envelope).where(Envelope.organization_id == organization_id)
    if statuses is not None:
        query = query.where(Envelope.status.in_(statuses))
    total = int(await session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    order = Envelope.id.asc() if ascending else Envelope.id.desc()
    rows = (await session.scalars(query.order_by(order).offset(offset).limit(limit))).all()
    return rows, total


async def get_recipient(
    session: AsyncSession, organization_id: str, recipient_id: str
) -> EnvelopeRecipient | None:
    return await session.scalar(
        select(EnvelopeRecipient).where(
            EnvelopeRecipient.id == recipient_id,
            EnvelopeRecipient.organization_id == organization_id,
        )
    )


async def get_field(
    session: AsyncSession, organization_id: str, field_id: str
) -> EnvelopeField | None:
    return await session.scalar(
        select(EnvelopeField).where(
            EnvelopeField.id == field_id, EnvelopeField.organization_id == organization_id
        )
    )
