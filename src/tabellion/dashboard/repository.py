"""Queries of the dashboard. Every one is scoped by the user's organisation through the
message domain's scopes (``readable_messages``, ``readable_deliveries``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tabellion.kit.time import utcnow
from tabellion.message.repository import readable_deliveries, readable_messages
from tabellion.models.evidence import Evidence
from tabellion.models.message import Delivery, Message, Reply
from tabellion.models.organization import ApiKey, ClientKey
from tabellion.models.user import User
from tabellion.models.webhook import WebhookEndpoint

RECENT = timedelta(days=30)
EXPIRING_SOON = timedelta(days=3)
ATTENTION_LIMIT = 20
PAGE_SIZE = 25


async def counts_by_status(
    session: AsyncSession, organization_id: str, *, since: datetime
) -> dict[str, int]:
    rows = await session.execute(
        select(Delivery.status, func.count())
        .where(readable_deliveries(organization_id), Delivery.created_at >= since)
        .group_by(Delivery.status)
    )
    return {status: int(count) for status, count in rows.all()}


@dataclass
class Attention:
    undelivered: Sequence[Delivery]
    refused: Sequence[Delivery]
    expiring: Sequence[Delivery]


async def needing_attention(session: AsyncSession, organization_id: str) -> Attention:
    now = utcnow()
    scope = readable_deliveries(organization_id)

    async def of(*where: object) -> Sequence[Delivery]:
        return (
            await session.scalars(
                select(Delivery)
                .where(scope, *where)  # type: ignore[arg-type]
                .order_by(Delivery.updated_at.desc(), Delivery.id.desc())
                .limit(ATTENTION_LIMIT)
            )
        ).all()

    return Attention(
        undelivered=await of(Delivery.status == "undelivered", Delivery.updated_at >= now - RECENT),
        refused=await of(Delivery.status == "refused", Delivery.updated_at >= now - RECENT),
        expiring=await of(
            Delivery.status == "notified",
            Delivery.deadline_at.is_not(None),
            Delivery.deadline_at > now,
            Delivery.deadline_at <= now + EXPIRING_SOON,
        ),
    )


@dataclass
class LetterFilters:
    mode: str | None = None
    status: str | None = None  # a delivery's status: letters with at least one such delivery
    reference: str | None = None
    campaign: str | None = None
    recipient: str | None = None  # part of a recipient's address
    sent_from: datetime | None = None  # dispatched at or after
    sent_before: datetime | None = None  # dispatched before


async def letters(
    session: AsyncSession, organization_id: str, filters: LetterFilters, *, page: int
) -> tuple[Sequence[Message], bool]:
    """A page of letters, newest first, and whether another page follows."""
    query = select(Message).where(
        readable_messages(organization_id), Message.status == "dispatched"
    )
    if filters.mode:
        query = query.where(Message.mode == filters.mode)
    if filters.reference:
        query = query.where(Message.reference == filters.reference)
    if filters.campaign:
        query = query.where(Message.campaign == filters.campaign)
    if filters.sent_from:
        query = query.where(Message.dispatched_at >= filters.sent_from)
    if filters.sent_before:
        query = query.where(Message.dispatched_at < filters.sent_before)
    if filters.status or filters.recipient:
        deliveries = select(Delivery.message_id).where(readable_deliveries(organization_id))
        if filters.status:
            deliveries = deliveries.where(Delivery.status == filters.status)
        if filters.recipient:
            pattern = "%" + _escape_like(filters.recipient.lower()) + "%"
            deliveries = deliveries.where(func.lower(Delivery.email).like(pattern, escape="\\"))
        query = query.where(Message.id.in_(deliveries))
    rows = (
        await session.scalars(
            query.order_by(Message.id.desc()).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)
        )
    ).all()
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def deliveries_of(
    session: AsyncSession, organization_id: str, message_ids: Sequence[str]
) -> list[Delivery]:
    if not message_ids:
        return []
    return list(
        await session.scalars(
            select(Delivery)
            .where(readable_deliveries(organization_id), Delivery.message_id.in_(message_ids))
            .order_by(Delivery.id)
        )
    )


async def timeline(session: AsyncSession, delivery_ids: Sequence[str]) -> list[Evidence]:
    if not delivery_ids:
        return []
    return list(
        await session.scalars(
            select(Evidence)
            .where(Evidence.delivery_id.in_(delivery_ids))
            .order_by(Evidence.occurred_at, Evidence.id)
        )
    )


async def replies(session: AsyncSession, delivery_ids: Sequence[str]) -> list[Reply]:
    if not delivery_ids:
        return []
    return list(
        await session.scalars(
            select(Reply)
            .where(Reply.delivery_id.in_(delivery_ids))
            .order_by(Reply.created_at, Reply.id)
        )
    )


async def evidence_of(
    session: AsyncSession, organization_id: str, evidence_id: str
) -> Evidence | None:
    return await session.scalar(
        select(Evidence)
        .join(Delivery, Delivery.id == Evidence.delivery_id)
        .where(Evidence.id == evidence_id, readable_deliveries(organization_id))
    )


async def api_keys(session: AsyncSession, organization_id: str) -> Sequence[ApiKey]:
    """The organisation's API keys, newest first (revoked ones too, marked so)."""
    query = (
        select(ApiKey)
        .where(ApiKey.organization_id == organization_id)
        .order_by(ApiKey.id.desc())
        .limit(500)
    )
    return (await session.scalars(query)).all()


async def client_keys(session: AsyncSession, organization_id: str) -> Sequence[ClientKey]:
    """The organisation's client keys (JWT), newest first (revoked ones too, marked so)."""
    query = (
        select(ClientKey)
        .where(ClientKey.organization_id == organization_id)
        .order_by(ClientKey.id.desc())
        .limit(500)
    )
    return (await session.scalars(query)).all()


async def webhook_endpoints(
    session: AsyncSession, organization_id: str
) -> Sequence[WebhookEndpoint]:
    """The organisation's webhook endpoints, oldest first (as the API lists them)."""
    query = (
        select(WebhookEndpoint)
        .where(WebhookEndpoint.organization_id == organization_id)
        .order_by(WebhookEndpoint.id)
        .limit(500)
    )
    return (await session.scalars(query)).all()


async def users(session: AsyncSession, organization_id: str) -> Sequence[User]:
    """The organisation's users, by address."""
    query = select(User).where(User.organization_id == organization_id).order_by(User.email)
    return (await session.scalars(query.limit(1000))).all()


async def daily_outcomes(
    session: AsyncSession, organization_id: str, *, since: datetime
) -> list[tuple[str, str, int]]:
    """Deliveries created since ``since``, counted by day (UTC, ``YYYY-MM-DD``) and status."""
    day = func.date(Delivery.created_at)
    rows = await session.execute(
        select(day, Delivery.status, func.count())
        .where(readable_deliveries(organization_id), Delivery.created_at >= since)
        .group_by(day, Delivery.status)
    )
    # SQLite gives the day as text, PostgreSQL as a date (its sessions run in UTC).
    return [(str(d)[:10], status, int(n)) for d, status, n in rows.all()]
