"""Queries of the message domain. Every read is scoped by the caller's organisation."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Row,
    Select,
    and_,
    bindparam,
    func,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from tabellion.db import Prepared, select_once, select_rows
from tabellion.errors import InvalidParameter
from tabellion.evidence.service import EvidenceRef
from tabellion.kit.pagination import decode_cursor, encode_cursor
from tabellion.models.evidence import Evidence
from tabellion.models.message import Attachment, Delivery, Message


def readable_messages(organization_id: str | ColumnElement[str]) -> ColumnElement[bool]:
    """Its own messages, and those it sent on behalf of its customers."""
    return or_(
        Message.organization_id == organization_id,
        Message.submitted_by_organization_id == organization_id,
    )


def writable_messages(organization_id: str) -> ColumnElement[bool]:
    """A message sent on behalf is changed by the reseller that submitted it, not the customer."""
    return or_(
        and_(
            Message.organization_id == organization_id,
            Message.submitted_by_organization_id.is_(None),
        ),
        Message.submitted_by_organization_id == organization_id,
    )


def readable_deliveries(organization_id: str | ColumnElement[str]) -> ColumnElement[bool]:
    return or_(
        Delivery.organization_id == organization_id,
        Delivery.submitted_by_organization_id == organization_id,
    )


# The hot reads' statements, built once with their values bound per call: building a
# statement costs more than running SQLAlchemy's cached compilation of it.
_ORGANIZATION: BindParameter[str] = bindparam("organization_id")
_MESSAGE = select(Message).where(Message.id == bindparam("id"), readable_messages(_ORGANIZATION))
_DELIVERY = select(Delivery).where(
    Delivery.id == bindparam("id"), readable_deliveries(_ORGANIZATION)
)


class DeliveryRow(NamedTuple):
    """What a delivery's representation shows (``views.delivery_json``), as the read paths
    load deliveries: plain rows of these columns (``DELIVERY_VIEW_COLUMNS``), not instances
    (no identity map, no instrumented attributes, none of the JSON and time columns they do
    not show converted: a message's 100 deliveries cost more as instances than the rest of
    its ``GET``). A named tuple, not SQLAlchemy's ``Row``: a ``Row`` finds a column by name
    only after the ordinary lookup has failed with an ``AttributeError`` (~0.3 µs an
    attribute on a quiet machine, 17 a delivery), a named tuple's attribute is an index
    (~35 ns; docs/performance.md, "6 December, night")."""

    id: str
    message_id: str
    mode: str
    status: str
    status_reason: str | None
    email: str
    first_name: str | None
    last_name: str | None
    company: str | None
    siren: str | None
    language: str
    deadline_at: datetime | None
    notified_at: datetime | None
    created_at: datetime
    updated_at: datetime
    token_salt: str | None


DELIVERY_VIEW_COLUMNS = tuple(getattr(Delivery, name) for name in DeliveryRow._fields)
_VIEW_WIDTH = len(DELIVERY_VIEW_COLUMNS)


def delivery_rows(rows: Sequence[Row[Any]]) -> list[DeliveryRow]:
    """Rows that begin with ``DELIVERY_VIEW_COLUMNS`` as ``DeliveryRow`` (columns after them,
    a joined table's, are left out)."""
    make = DeliveryRow._make
    return [make(row[:_VIEW_WIDTH]) for row in rows]


# A delivery and its evidence in one statement: one snapshot, one trip to the database.
_DELIVERY_VIEW = Prepared(
    select(
        *DELIVERY_VIEW_COLUMNS,
        Evidence.id.label("evidence_id"),
        Evidence.type.label("evidence_type"),
        Evidence.event.label("evidence_event"),
        Evidence.occurred_at.label("evidence_occurred_at"),
    )
    .outerjoin(Evidence, Evidence.delivery_id == Delivery.id)
    .where(Delivery.id == bindparam("id"), readable_deliveries(_ORGANIZATION))
    .order_by(Evidence.occurred_at, Evidence.id)
)
_DELIVERY_VIEWS_OF_MESSAGE = (
    select(*DELIVERY_VIEW_COLUMNS)
    .where(Delivery.message_id == bindparam("message_id"))
    .order_by(Delivery.id)
)
_ATTACHMENTS_OF = (
    select(Attachment)
    .where(Attachment.message_id.in_(bindparam("message_ids", expanding=True)))
    .order_by(Attachment.created_at, Attachment.id)
)


async def get_message(
    session: AsyncSession,
    organization_id: str,
    message_id: str,
    *,
    for_update: bool = False,
    writable: bool = False,
) -> Message | None:
    if not (for_update or writable):
        return await session.scalar(
            _MESSAGE, {"id": message_id, "organization_id": organization_id}
        )
    scope = writable_messages if writable else readable_messages
    query = select(Message).where(Message.id == message_id, scope(organization_id))
    if for_update:
        query = query.with_for_update()
    return await session.scalar(query)


async def list_messages(
    session: AsyncSession,
    organization_id: str,
    *,
    limit: int,
    cursor: str | None,
    status: str | None = None,
    mode: str | None = None,
    campaign: str | None = None,
    reference: str | None = None,
) -> tuple[Sequence[Message], str | None]:
    """Newest first; the cursor is the last id seen (ids sort by creation time)."""
    query = select(Message).where(readable_messages(organization_id))
    for column, value in (
        (Message.status, status),
        (Message.mode, mode),
        (Message.campaign, campaign),
        (Message.reference, reference),
    ):
        if value is not None:
            query = query.where(column == value)
    if cursor:
        (last_id,) = decode_cursor(cursor, size=1)
        query = query.where(Message.id < str(last_id))
    rows = (await session.scalars(query.order_by(Message.id.desc()).limit(limit + 1))).all()
    next_cursor = encode_cursor([rows[limit - 1].id]) if len(rows) > limit else None
    return rows[:limit], next_cursor


async def attachments_of(session: AsyncSession, message_ids: Sequence[str]) -> list[Attachment]:
    if not message_ids:
        return []
    rows = await session.scalars(_ATTACHMENTS_OF, {"message_ids": list(message_ids)})
    return list(rows)


async def count_attachments(session: AsyncSession, message_id: str) -> int:
    query = select(func.count()).select_from(Attachment).where(Attachment.message_id == message_id)
    return int(await session.scalar(query) or 0)


async def delivery_views_of_message(session: AsyncSession, message_id: str) -> list[DeliveryRow]:
    """The message's deliveries as their representation reads them (plain rows)."""
    rows = await select_rows(session, _DELIVERY_VIEWS_OF_MESSAGE, {"message_id": message_id})
    return delivery_rows(rows)


def deliveries_at_address(organization_id: str, email: str) -> Select[Delivery]:
    """The organisation's own deliveries to an address (any case), oldest first: what an
    erasure or an export of that address covers."""
    return (
        select(Delivery)
        .where(
            Delivery.organization_id == organization_id,
            func.lower(Delivery.email) == email.strip().lower(),
        )
        .order_by(Delivery.id)
    )


async def get_delivery(
    session: AsyncSession, organization_id: str, delivery_id: str
) -> Delivery | None:
    return await session.scalar(_DELIVERY, {"id": delivery_id, "organization_id": organization_id})


async def delivery_view(
    session: AsyncSession, organization_id: str, delivery_id: str
) -> tuple[DeliveryRow, list[EvidenceRef]] | None:
    """The delivery as its representation reads it (a plain row), and its evidence."""
    values = {"id": delivery_id, "organization_id": organization_id}
    rows = await select_once(session, _DELIVERY_VIEW, values)
    if not rows:
        return None
    # Each row: the delivery's columns, then one evidence record's (none: all None).
    evidence = [EvidenceRef(*row[_VIEW_WIDTH:]) for row in rows if row[_VIEW_WIDTH] is not None]
    return DeliveryRow._make(rows[0][:_VIEW_WIDTH]), evidence


async def list_deliveries(
    session: AsyncSession,
    organization_id: str,
    *,
    limit: int,
    cursor: str | None,
    message_id: str | None = None,
    status: str | None = None,
    updated_after: datetime | None = None,
) -> tuple[Sequence[DeliveryRow], str | None]:
    """Newest first; with ``updated_after``, oldest change first so a poller can follow.
    ``DeliveryRow``s, as the representation reads them."""
    values: dict[str, Any] = {
        "organization_id": organization_id,
        "message_id": message_id,
        "status": status,
        "updated_after": updated_after,
        "limit": limit + 1,
    }
    if cursor and updated_after is None:
        (last_id,) = decode_cursor(cursor, size=1)
        values["last_id"] = str(last_id)
    elif cursor:
        from tabellion.kit.time import as_utc

        last_updated, last_id = decode_cursor(cursor, size=2)
        try:
            values["last_updated"] = as_utc(datetime.fromisoformat(str(last_updated)))
        except ValueError as exc:
            raise InvalidParameter("cursor", "The cursor is not one this API returned.") from exc
        values["last_id"] = str(last_id)
    statement = _deliveries_page(
        message=message_id is not None,
        status=status is not None,
        changed=updated_after is not None,
        cursor=bool(cursor),
    )
    rows = delivery_rows(await select_rows(session, statement, values))
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    if updated_after is None:
        return rows[:limit], encode_cursor([last.id])
    return rows[:limit], encode_cursor([last.updated_at.isoformat(), last.id])


@cache
def _deliveries_page(
    *, message: bool, status: bool, changed: bool, cursor: bool
) -> Select[*tuple[Any, ...]]:
    """``list_deliveries``'s statement for the filters given, built once per combination of
    them, their values bound per call (see ``_ORGANIZATION``)."""
    query = select(*DELIVERY_VIEW_COLUMNS).where(readable_deliveries(_ORGANIZATION))
    if message:
        query = query.where(Delivery.message_id == bindparam("message_id"))
    if status:
        query = query.where(Delivery.status == bindparam("status"))
    if not changed:
        if cursor:
            query = query.where(Delivery.id < bindparam("last_id"))
        return query.order_by(Delivery.id.desc()).limit(bindparam("limit"))
    query = query.where(Delivery.updated_at > bindparam("updated_after"))
    if cursor:
        moment: BindParameter[datetime] = bindparam("last_updated")
        query = query.where(
            or_(
                Delivery.updated_at > moment,
                and_(Delivery.updated_at == moment, Delivery.id > bindparam("last_id")),
            )
        )
    return query.order_by(Delivery.updated_at, Delivery.id).limit(bindparam("limit"))


async def deliveries_by_reference(
    session: AsyncSession,
    organization_id: str,
    *,
    campaign: str | None = None,
    reference: str | None = None,
    guid: str | None = None,
    updated_after: datetime | None = None,
    limit: int,
) -> Sequence[Delivery]:
    """Deliveries of the messages with these sender's references, oldest change first."""
    query = (
        select(Delivery)
        .join(Message, Message.id == Delivery.message_id)
        .where(readable_deliveries(organization_id), readable_messages(organization_id))
    )
    for column, value in (
        (Message.campaign, campaign),
        (Message.reference, reference),
        (Message.guid, guid),
    ):
        if value is not None:
            query = query.where(column == value)
    if updated_after is not None:
        query = query.where(Delivery.updated_at > updated_after)
    ordered = query.order_by(Delivery.updated_at, Delivery.id).limit(limit)
    return (await session.scalars(ordered)).all()


async def messages_by_ids(session: AsyncSession, message_ids: Sequence[str]) -> list[Message]:
    """Messages already known readable (through their deliveries), by id."""
    if not message_ids:
        return []
    return list(await session.scalars(select(Message).where(Message.id.in_(list(message_ids)))))
