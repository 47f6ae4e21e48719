"""What a recipient may see and do, by link token or vault session."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tabellion.jobs.queue import enqueue
from tabellion.kit import sessions
from tabellion.message.service.delivery import token_hash
from tabellion.message.service.lifecycle import can_reveal_content
from tabellion.models.message import Attachment, Delivery, Message, Reply
from tabellion.models.organization import Organization

DELIVERY_SESSION = timedelta(hours=2)
VAULT_SESSION = timedelta(hours=12)
CODE_TASK = "portal.send_code"


@dataclass
class DeliveryPage:
    delivery: Delivery
    message: Message
    organization: Organization
    attachments: list[Attachment]
    replies: list[Reply]

    @property
    def revealed(self) -> bool:
        return can_reveal_content(self.delivery)

    @property
    def sender_name(self) -> str:
        return self.message.sender_name or self.organization.name

    def recipient_name(self) -> str:
        d = self.delivery
        return d.company or " ".join(p for p in (d.first_name, d.last_name) if p) or d.email


async def delivery_by_token(session: AsyncSession, token: str) -> Delivery | None:
    if not token or len(token) > 100:
        return None
    return await session.scalar(select(Delivery).where(Delivery.token_hash == token_hash(token)))


async def load_page(session: AsyncSession, delivery: Delivery) -> DeliveryPage:
    message = await session.get(Message, delivery.message_id)
    organization = await session.get(Organization, delivery.organization_id)
    assert message is not None and organization is not None
    attachments = list(
        await session.scalars(
            select(Attachment)
            .where(Attachment.message_id == message.id)
            .order_by(Attachment.created_at, Attachment.id)
        )
    )
    replies = list(
        await session.scalars(
            select(Reply).where(Reply.delivery_id == delivery.id).order_by(Reply.created_at)
        )
    )
    return DeliveryPage(delivery, message, organization, attachments, replies)


async def send_delivery_code(
    session: AsyncSession, delivery: Delivery, *, signing_key: bytes, language: str | None = None
) -> None:
    """Send a code to the delivery's address, in ``language`` (the page's; by default the
    delivery's)."""
    code_id = await sessions.issue_code(session, "delivery", delivery.id, signing_key=signing_key)
    payload = {"code_id": code_id, "delivery_id": delivery.id}
    enqueue(session, CODE_TASK, {**payload, "language": language or delivery.language})


async def send_vault_code(
    session: AsyncSession, email: str, *, signing_key: bytes, language: str = "en"
) -> None:
    """Send a sign-in code, in ``language`` (the page's), only where something was delivered
    (the page says the same either way, so it reveals nothing about the address)."""
    exists = await session.scalar(select(Delivery.id).where(Delivery.email == email).limit(1))
    if exists is None:
        return
    code_id = await sessions.issue_code(session, "vault", email, signing_key=signing_key)
    enqueue(session, CODE_TASK, {"code_id": code_id, "email": email, "language": language})


async def vault_deliveries(
    session: AsyncSession, email: str
) -> list[tuple[Delivery, Message, str]]:
    rows = await session.execute(
        select(Delivery, Message, Organization.name)
        .join(Message, Message.id == Delivery.message_id)
        .join(Organization, Organization.id == Delivery.organization_id)
        .where(Delivery.email == email)
        .order_by(Delivery.created_at.desc(), Delivery.id.desc())
        .limit(500)
    )
    return [(d, m, name) for d, m, name in rows]
