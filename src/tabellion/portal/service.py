"""What a recipient may see and do, by link token or vault session."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tabellion.config import Settings
from tabellion.identity.sms import SMS_CODE_TASK
from tabellion.jobs.queue import enqueue
from tabellion.kit import sessions
from tabellion.kit.time import utcnow
from tabellion.kit.tokens import hmac_sha256, made_with_any
from tabellion.message.service.delivery import token_hash
from tabellion.message.service.lifecycle import can_reveal_content
from tabellion.models.message import Attachment, Delivery, Message, Reply
from tabellion.models.organization import Organization
from tabellion.models.portal import OneTimeCode

DELIVERY_SESSION = timedelta(hours=2)
# The e-mailed way back into a vault whose sign-in code was locked by someone else's guesses.
RECOVERY_LINK_VALIDITY = timedelta(hours=1)
RECOVERY_TASK = "portal.send_vault_link"
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
    session: AsyncSession,
    delivery: Delivery,
    *,
    signing_key: bytes,
    language: str | None = None,
    sms: bool = False,
) -> None:
    """Send a code to the delivery's address (or, with ``sms``, to the mobile number the
    sender gave), in ``language`` (the page's; by default the delivery's). Either way it is
    the same code machinery: one live code, its tries counted atomically."""
    code_id = await sessions.issue_code(session, "delivery", delivery.id, signing_key=signing_key)
    payload = {"code_id": code_id, "delivery_id": delivery.id}
    task = SMS_CODE_TASK if sms else CODE_TASK
    enqueue(session, task, {**payload, "language": language or delivery.language})


def sms_offered(settings: Settings, delivery: Delivery) -> bool:
    """The code may go by SMS: a number given, a provider configured, no identification asked."""
    return bool(delivery.phone and settings.sms_url and not delivery.identification)


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


def recovery_token(signing_key: bytes, code_id: str) -> str:
    return f"{code_id}.{hmac_sha256(signing_key, 'vault-link:' + code_id).hex()}"


async def send_vault_recovery(
    session: AsyncSession, email: str, *, signing_key: bytes, language: str = "en"
) -> bool:
    """E-mail the address a one-time sign-in link, after its code was locked. The link
    reaches only the mailbox's owner, so guesses from elsewhere cannot keep them out.
    False when one was sent too recently (the address's own hourly quota)."""
    exists = await session.scalar(select(Delivery.id).where(Delivery.email == email).limit(1))
    if exists is None:
        return False
    try:
        code_id = await sessions.issue_code(session, "vault-link", email, signing_key=signing_key)
    except sessions.CodeRefused:
        return False
    await session.execute(
        update(OneTimeCode)
        .where(OneTimeCode.id == code_id)
        .values(expires_at=utcnow() + RECOVERY_LINK_VALIDITY)
    )
    enqueue(session, RECOVERY_TASK, {"code_id": code_id, "email": email, "language": language})
    return True


async def recovery_link_subject(
    session: AsyncSession, token: str, *, keys: Sequence[bytes]
) -> str | None:
    """The address a recovery link signs into, if it is genuine (made with one of ``keys``),
    unused and unexpired."""
    code_id, _, _ = token.partition(".")
    if len(token) > 200 or not made_with_any(keys, lambda k: recovery_token(k, code_id), token):
        return None
    code = await session.get(OneTimeCode, code_id)
    if code is None or code.purpose != "vault-link" or code.consumed_at is not None:
        return None
    return code.subject if code.expires_at > utcnow() else None


async def redeem_recovery_link(
    session: AsyncSession, token: str, *, keys: Sequence[bytes]
) -> str | None:
    """Use a recovery link once: the address it signs into, or None."""
    email = await recovery_link_subject(session, token, keys=keys)
    if email is None:
        return None
    # Conditional, so two clicks racing sign in once.
    used = await session.execute(
        update(OneTimeCode)
        .where(OneTimeCode.id == token.partition(".")[0], OneTimeCode.consumed_at.is_(None))
        .values(consumed_at=utcnow())
    )
    return email if used.rowcount == 1 else None  # type: ignore[attr-defined]
