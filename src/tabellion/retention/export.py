"""Export for access requests (docs/data.md): everything an organisation holds about an e-mail
address, as one zip with a ``manifest.json``.

Layout::

    manifest.json                              what is inside, with the SHA-256 of every file
    deliveries/<dlv_id>/delivery.json          the delivery as the API shows it
    deliveries/<dlv_id>/message.json           the message it belongs to (its other recipients
                                               left out)
    deliveries/<dlv_id>/evidence/<evd_id>.json each sealed JSON proof of the delivery
    deliveries/<dlv_id>/files/<att_id>-<name>  the message's files (unless purged)
    deliveries/<dlv_id>/replies/<rep_id>.json  each reply of the thread, with its files beside it
    envelopes/<rcp_id>.json                    each signing-envelope role the address had
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from tabellion.document.storage import read_blob
from tabellion.evidence.proofs import proof_document
from tabellion.evidence.sealing.seal import seal_pending
from tabellion.evidence.service import evidence_refs
from tabellion.evidence.transparency.log import dumps
from tabellion.kit.time import isoformat_z, utcnow
from tabellion.message import repository as message_repository
from tabellion.message.views import delivery_json, reply_json
from tabellion.models.envelope import Envelope, EnvelopeRecipient
from tabellion.models.evidence import Evidence
from tabellion.models.message import Attachment, Message, Reply

if TYPE_CHECKING:
    from tabellion.runtime import Runtime

FORMAT = "tabellion-export/1"


def _safe(name: str) -> str:
    """A file name as a zip entry: no directories, nothing hidden."""
    cleaned = name.replace("\\", "/").rsplit("/", 1)[-1].lstrip(".") or "file"
    return cleaned[:200]


class _Zip:
    def __init__(self) -> None:
        self.buffer = io.BytesIO()
        self.archive = zipfile.ZipFile(self.buffer, "w", zipfile.ZIP_DEFLATED)
        self.files: list[dict[str, Any]] = []

    def add(self, path: str, data: bytes, **facts: Any) -> None:
        self.archive.writestr(path, data)
        self.files.append(
            {"path": path, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(), **facts}
        )

    def add_json(self, path: str, value: Any, **facts: Any) -> None:
        self.add(path, json.dumps(value, indent=2, ensure_ascii=False).encode("utf-8"), **facts)

    def close(self, manifest: dict[str, Any]) -> bytes:
        manifest["files"] = self.files
        data = json.dumps(manifest, indent=2, ensure_ascii=False).encode("utf-8")
        self.archive.writestr("manifest.json", data)
        self.archive.close()
        return self.buffer.getvalue()


def _message_json(message: Message, attachments: list[Attachment]) -> dict[str, Any]:
    return {
        "id": message.id,
        "mode": message.mode,
        "subject": message.subject,
        "body_html": message.body_html,
        "body_text": message.body_text,
        "sender": {"email": message.sender_email, "name": message.sender_name},
        "reference": message.reference,
        "dispatched_at": isoformat_z(message.dispatched_at) if message.dispatched_at else None,
        "content_purged_at": isoformat_z(message.content_purged_at)
        if message.content_purged_at
        else None,
        "attachments": [
            {
                "id": a.id,
                "filename": a.filename,
                "content_type": a.content_type,
                "size": a.size,
                "sha256": a.sha256,
                "purged": a.purged_at is not None,
            }
            for a in attachments
        ],
    }


async def export_recipient(runtime: Runtime, organization_id: str, email: str) -> bytes:
    """The zip of what ``organization_id`` holds about ``email`` (its own rows only)."""
    await seal_pending(runtime)
    wanted = email.strip().lower()
    out = _Zip()
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "email": email.strip(),
        "organization_id": organization_id,
        "generated_at": isoformat_z(utcnow()),
        "deliveries": [],
        "envelope_recipients": [],
    }
    async with runtime.sessions() as session:
        deliveries = list(
            await session.scalars(message_repository.deliveries_at_address(organization_id, wanted))
        )
        refs = await evidence_refs(session, [d.id for d in deliveries])
        for delivery in deliveries:
            base = f"deliveries/{delivery.id}"
            message = await session.get(Message, delivery.message_id)
            assert message is not None
            attachments = list(
                await session.scalars(
                    select(Attachment)
                    .where(Attachment.message_id == message.id)
                    .order_by(Attachment.created_at, Attachment.id)
                )
            )
            out.add_json(f"{base}/delivery.json", delivery_json(delivery, refs[delivery.id]))
            out.add_json(f"{base}/message.json", _message_json(message, attachments))
            evidence_ids = []
            for evidence in await session.scalars(
                select(Evidence)
                .where(Evidence.delivery_id == delivery.id, Evidence.jws.is_not(None))
                .order_by(Evidence.id)
            ):
                document = await proof_document(session, evidence)
                out.add(
                    f"{base}/evidence/{evidence.id}.json",
                    dumps(document).encode("utf-8"),
                    evidence_id=evidence.id,
                    type=evidence.type,
                )
                evidence_ids.append(evidence.id)
            for attachment in attachments:
                if attachment.purged_at is None:
                    out.add(
                        f"{base}/files/{attachment.id}-{_safe(attachment.filename)}",
                        await read_blob(runtime.storage, attachment.storage_key),
                        attachment_id=attachment.id,
                    )
            replies = list(
                await session.scalars(
                    select(Reply).where(Reply.delivery_id == delivery.id).order_by(Reply.id)
                )
            )
            for reply in replies:
                out.add_json(f"{base}/replies/{reply.id}.json", reply_json(reply))
                for item in reply.attachments or []:
                    if "storage_key" in item:
                        out.add(
                            f"{base}/replies/{reply.id}/{item['id']}-{_safe(item['filename'])}",
                            await read_blob(runtime.storage, item["storage_key"]),
                            reply_id=reply.id,
                        )
            manifest["deliveries"].append(
                {
                    "id": delivery.id,
                    "message_id": message.id,
                    "status": delivery.status,
                    "evidence": evidence_ids,
                    "replies": [r.id for r in replies],
                    "content_purged": message.content_purged_at is not None,
                }
            )
        for recipient, envelope in (
            await session.execute(
                select(EnvelopeRecipient, Envelope)
                .join(Envelope, Envelope.id == EnvelopeRecipient.envelope_id)
                .where(
                    EnvelopeRecipient.organization_id == organization_id,
                    func.lower(EnvelopeRecipient.email) == wanted,
                )
                .order_by(EnvelopeRecipient.id)
            )
        ).all():
            out.add_json(
                f"envelopes/{recipient.id}.json",
                {
                    "id": recipient.id,
                    "envelope": {
                        "id": envelope.id,
                        "title": envelope.title,
                        "status": envelope.status,
                    },
                    "email": recipient.email,
                    "name": recipient.name,
                    "role": recipient.role,
                    "status": recipient.status,
                    "acted_at": isoformat_z(recipient.acted_at) if recipient.acted_at else None,
                    "reason": recipient.reason,
                    "trail": recipient.trail,
                },
            )
            manifest["envelope_recipients"].append(recipient.id)
    return out.close(manifest)
