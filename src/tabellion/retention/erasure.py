"""Erasure (docs/data.md): of a whole organisation (crypto-shredding) or of one recipient's data.

An organisation's erasure destroys every version of its storage key: every blob written under
it, in the store and in any copy of the store taken before, no longer decrypts (its data keys
were wrapped by those keys alone). Its content is purged, its recipients' personal data
replaced, its accounts and keys deleted; its proofs stay (they hold digests, and name the
parties as they were when sealed), and the erasure itself is a proof in its chain.

A recipient's erasure deletes what belongs to that recipient alone (the content of messages
sent to them only, their replies and files) and replaces their personal data in the rows with
a pseudonym; messages sent to several recipients keep their shared content. It shreds the
files it deletes: their data keys (``blob_keys``, layout 2) are deleted in its transaction,
so a copy of the store taken before no longer decrypts them either.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select

from tabellion.db import transaction
from tabellion.document.encryption import EncryptedBlobStore
from tabellion.document.service import delete_unreferenced, shred_unreferenced
from tabellion.errors import Conflict, NotFound
from tabellion.evidence.events import DataEvidenceType
from tabellion.evidence.sealing.seal import seal_pending
from tabellion.evidence.service import record_data_event
from tabellion.kit.time import utcnow
from tabellion.message import repository as message_repository
from tabellion.models.encryption import BlobKey, StorageKey
from tabellion.models.envelope import (
    Envelope,
    EnvelopePasskey,
    EnvelopeRecipient,
)
from tabellion.models.evidence import Evidence
from tabellion.models.identity import IdentityRequest
from tabellion.models.message import Delivery, Message
from tabellion.models.organization import ApiKey, ClientKey, Organization
from tabellion.models.portal import WebSession
from tabellion.models.user import User
from tabellion.models.webhook import Event, WebhookEndpoint
from tabellion.organization.service import forget_verified_key
from tabellion.retention.service import (
    ENDED,
    ENVELOPE_ENDED,
    Purged,
    purge_content,
    purge_envelope_content,
    purge_replies,
)

if TYPE_CHECKING:
    from tabellion.auth.subjects import ApiKeySubject
    from tabellion.runtime import Runtime


class OrganizationNotFound(NotFound):
    code = "organization-not-found"
    title = "Organisation not found"


class OrganizationAlreadyErased(Conflict):
    code = "organization-erased"
    title = "The organisation was already erased"


class MessagesOnLegalHold(Conflict):
    code = "legal-hold"
    title = "Messages of the organisation are under a legal hold"


def email_digest(email: str) -> str:
    """How proofs of an erasure name the address: its SHA-256 (lower-cased), not the address."""
    return hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()


def pseudonym(row_id: str) -> str:
    # A reserved domain (RFC 2606): never a mailbox, and unique per row.
    return f"erased-{row_id.split('_', 1)[-1].lower()}@erased.invalid"


def forget_delivery_person(delivery: Delivery) -> None:
    delivery.email = pseudonym(delivery.id)
    delivery.first_name = None
    delivery.last_name = None
    delivery.company = None
    delivery.siren = None
    delivery.phone = None
    delivery.identity = None
    delivery.identification = None
    delivery.status_reason = None


def forget_envelope_person(recipient: EnvelopeRecipient) -> None:
    recipient.email = pseudonym(recipient.id)
    recipient.name = "-"
    recipient.identification = None
    recipient.trail = None
    recipient.reason = None


def _without_recipient(recipients: list[dict[str, Any]], email: str) -> list[dict[str, Any]]:
    wanted = email.lower()
    return [
        {"email": pseudonym("recipient"), "language": item.get("language") or "en"}
        if str(item.get("email", "")).lower() == wanted
        else item
        for item in recipients or []
    ]


def _forget_cached_keys(runtime: Runtime) -> None:
    if isinstance(runtime.storage, EncryptedBlobStore):
        runtime.storage.keyring.forget()


# ---- an organisation ------------------------------------------------------------------------


@dataclass
class OrganizationErasure:
    organization_id: str
    evidence_id: str
    storage_keys: list[str]
    messages_purged: int
    files: int
    blobs_deleted: int = 0


async def erase_organization(runtime: Runtime, organization_id: str) -> OrganizationErasure:
    """Erase an organisation (``tabellion org erase``); refused while a message is held."""
    # Proofs of what happened before are sealed with the data as it was.
    await seal_pending(runtime)
    blobs: list[str] = []
    async with transaction(runtime.sessions) as session:
        org = await session.get(Organization, organization_id, with_for_update=True)
        if org is None:
            raise OrganizationNotFound(f"No organisation {organization_id}.")
        if org.erased_at is not None:
            raise OrganizationAlreadyErased(f"Organisation {organization_id} was erased.")
        held = await session.scalar(
            select(func.count())
            .select_from(Message)
            .where(Message.organization_id == org.id, Message.legal_hold.is_(True))
        )
        if held:
            raise MessagesOnLegalHold(
                f"{held} messages of {organization_id} are under a legal hold: release them "
                "first (DELETE /v1/messages/{id}/legal-hold)."
            )
        now = utcnow()
        files = 0
        messages = list(
            await session.scalars(
                select(Message).where(Message.organization_id == org.id).order_by(Message.id)
            )
        )
        for message in messages:
            purged = await purge_content(
                session, message, reason="organization-erased", record=False
            )
            files += len(purged.files)
            blobs += purged.blobs
            message.recipients = [
                {"email": pseudonym(f"{message.id}-{n}")}
                for n in range(len(message.recipients or []))
            ]
        for delivery in await session.scalars(
            select(Delivery).where(Delivery.organization_id == org.id)
        ):
            forget_delivery_person(delivery)
        for recipient in await session.scalars(
            select(EnvelopeRecipient).where(EnvelopeRecipient.organization_id == org.id)
        ):
            forget_envelope_person(recipient)
        for envelope in await session.scalars(
            select(Envelope).where(Envelope.organization_id == org.id).order_by(Envelope.id)
        ):
            purged = await purge_envelope_content(
                session, envelope, reason="organization-erased", record=False
            )
            blobs += purged.blobs
        for evidence in await session.scalars(
            select(Evidence).where(
                Evidence.organization_id == org.id, Evidence.pdf_key.is_not(None)
            )
        ):
            # Encrypted under the keys destroyed below; rendered again from the JSON proof
            # if asked for.
            blobs.append(str(evidence.pdf_key))
            evidence.pdf_key = None
        if org.logo_key:
            blobs.append(org.logo_key)
        org.logo_key = org.logo_content_type = None
        key_ids = list(
            await session.scalars(select(StorageKey.id).where(StorageKey.organization_id == org.id))
        )
        await session.execute(delete(BlobKey).where(BlobKey.organization_id == org.id))
        await session.execute(delete(StorageKey).where(StorageKey.organization_id == org.id))
        api_keys = list(
            await session.scalars(select(ApiKey.id).where(ApiKey.organization_id == org.id))
        )
        user_ids = list(
            await session.scalars(select(User.id).where(User.organization_id == org.id))
        )
        await session.execute(delete(ApiKey).where(ApiKey.organization_id == org.id))
        await session.execute(delete(ClientKey).where(ClientKey.organization_id == org.id))
        await session.execute(
            delete(WebhookEndpoint).where(WebhookEndpoint.organization_id == org.id)
        )
        await session.execute(delete(Event).where(Event.organization_id == org.id))
        await session.execute(
            delete(EnvelopePasskey).where(EnvelopePasskey.organization_id == org.id)
        )
        await session.execute(
            delete(IdentityRequest).where(IdentityRequest.organization_id == org.id)
        )
        if user_ids:
            await session.execute(
                delete(WebSession).where(
                    WebSession.kind == "user", WebSession.subject.in_(user_ids)
                )
            )
        await session.execute(delete(User).where(User.organization_id == org.id))
        org.email = None
        org.erased_at = now
        org.content_retention_days = None
        evidence = record_data_event(
            session,
            DataEvidenceType.ORGANIZATION_ERASED,
            organization_id=org.id,
            occurred_at=now,
            details={
                "storage_keys_destroyed": key_ids,
                "messages_purged": len(messages),
                "files_purged": files,
                "api_keys_deleted": len(api_keys),
                "users_deleted": len(user_ids),
            },
        )
        await session.flush()
        report = OrganizationErasure(org.id, evidence.id, key_ids, len(messages), files)
    for key_id in api_keys:
        forget_verified_key(key_id)
    _forget_cached_keys(runtime)
    report.blobs_deleted = await delete_unreferenced(runtime, blobs)
    return report


# ---- a recipient ----------------------------------------------------------------------------


@dataclass
class RecipientErasure:
    email_sha256: str
    evidence_id: str | None
    deliveries: list[str] = field(default_factory=list)
    messages_purged: list[str] = field(default_factory=list)
    replies_purged: int = 0
    files_purged: int = 0
    envelope_recipients: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    in_progress: list[str] = field(default_factory=list)
    blobs_deleted: int = 0


async def erase_recipient(
    runtime: Runtime,
    organization_id: str,
    email: str,
    *,
    caller: ApiKeySubject | None = None,
) -> RecipientErasure:
    """Erase what ``organization_id`` holds about the address ``email``: see the module's doc.
    Deliveries still under way and messages under a legal hold are left as they are and named."""
    await seal_pending(runtime)
    wanted = email.strip().lower()
    report = RecipientErasure(email_digest(wanted), None)
    purged = Purged()
    async with transaction(runtime.sessions) as session:
        deliveries = list(
            await session.scalars(
                message_repository.deliveries_at_address(organization_id, wanted).with_for_update()
            )
        )
        message_ids = sorted({d.message_id for d in deliveries})
        messages = {
            m.id: m
            for m in await session.scalars(
                select(Message).where(Message.id.in_(message_ids)).with_for_update()
            )
        }
        # Who else each message went to: shared content stays.
        others = set(
            await session.scalars(
                select(Delivery.message_id).where(
                    Delivery.message_id.in_(message_ids), func.lower(Delivery.email) != wanted
                )
            )
        )
        for delivery in deliveries:
            message = messages[delivery.message_id]
            if message.legal_hold:
                report.held.append(delivery.id)
                continue
            if delivery.status not in ENDED:
                report.in_progress.append(delivery.id)
                continue
            report.deliveries.append(delivery.id)
            if message.id not in others:
                if message.content_purged_at is None:
                    done = await purge_content(
                        session, message, reason="recipient-erased", record=False
                    )
                    purged.files += done.files
                    purged.blobs += done.blobs
                    purged.replies += done.replies
                    report.messages_purged.append(message.id)
            else:
                await purge_replies(session, [delivery.id], purged)
            message.recipients = _without_recipient(message.recipients, wanted)
            forget_delivery_person(delivery)
        erased = [d for d in deliveries if d.id in report.deliveries]
        if erased:
            await session.execute(
                delete(Event).where(Event.delivery_id.in_([d.id for d in erased]))
            )
            await session.execute(
                delete(IdentityRequest).where(
                    IdentityRequest.delivery_id.in_([d.id for d in erased])
                )
            )
        for recipient in await session.scalars(
            select(EnvelopeRecipient).where(
                EnvelopeRecipient.organization_id == organization_id,
                func.lower(EnvelopeRecipient.email) == wanted,
                EnvelopeRecipient.envelope_id.in_(
                    select(Envelope.id).where(Envelope.status.in_(ENVELOPE_ENDED))
                ),
            )
        ):
            forget_envelope_person(recipient)
            report.envelope_recipients.append(recipient.id)
        await session.execute(
            delete(EnvelopePasskey).where(
                EnvelopePasskey.organization_id == organization_id,
                EnvelopePasskey.email == wanted,
            )
        )
        report.replies_purged = len(set(purged.replies))
        report.files_purged = len(purged.files)
        if report.deliveries or report.envelope_recipients:
            evidence = record_data_event(
                session,
                DataEvidenceType.RECIPIENT_ERASED,
                organization_id=organization_id,
                occurred_at=utcnow(),
                details={
                    "email_sha256": report.email_sha256,
                    "deliveries": report.deliveries,
                    "envelope_recipients": report.envelope_recipients,
                    "messages_purged": report.messages_purged,
                    "files": purged.files,
                    "replies": sorted(set(purged.replies)),
                    "held": report.held,
                    "in_progress": report.in_progress,
                    "by": {"method": "api-key", "api_key_id": caller.api_key_id}
                    if caller is not None
                    else {"method": "command-line"},
                },
            )
            await session.flush()
            report.evidence_id = evidence.id
        let_go = await shred_unreferenced(session, purged.blobs)
    report.blobs_deleted = await delete_unreferenced(runtime, let_go)
    return report
