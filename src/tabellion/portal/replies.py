"""The thread of a secure delivery: the recipient's replies and the sender's answers."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tabellion.db import end_read_phase
from tabellion.document.encryption import put_for
from tabellion.document.multipart import MalformedMultipart, MultipartReader, boundary_of
from tabellion.document.sniff import checked_content_type, clean_filename
from tabellion.document.storage import BlobTooLarge, StoredBlob
from tabellion.errors import ValidationFailed
from tabellion.evidence.events import EvidenceType
from tabellion.jobs.queue import enqueue
from tabellion.kit.ids import new_id
from tabellion.kit.time import isoformat_z, utcnow
from tabellion.kit.web import check_csrf
from tabellion.message.rules import MAX_BODY_BYTES, html_to_text, sanitize_html, text_to_html
from tabellion.message.service.events import record_delivery_event
from tabellion.message.service.lifecycle import Actor
from tabellion.message.views import reply_json
from tabellion.models.message import Delivery, Reply
from tabellion.organization.service import get_organization
from tabellion.runtime import Runtime

MAX_REPLY_FILES = 10
SENDER_REPLY_TASK = "portal.notify_sender_reply"
# The other way: a recipient's reply e-mailed to the message's sender (a user of the organisation).
REPLY_TO_SENDER_TASK = "portal.reply_to_sender"


class ReplyRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def find_file(replies: list[Reply], file_id: str) -> dict[str, Any] | None:
    for reply in replies:
        for item in reply.attachments or []:
            if item.get("id") == file_id:
                return item
    return None


def reply_file(
    blob: StoredBlob,
    filename: str,
    declared: str | None,
    *,
    allow_executables: bool,
    field: str,
) -> dict[str, Any]:
    """A reply's file as stored in its row: the same checks as a message's attachments."""
    name = clean_filename(filename)
    kind = checked_content_type(
        blob.head,
        blob.size,
        filename=name,
        declared=declared,
        allow_executables=allow_executables,
        field=field,
    )
    return {
        "id": new_id("att"),
        "filename": name,
        "size": blob.size,
        "sha256": blob.sha256,
        "storage_key": blob.key,
        "content_type": kind,
    }


async def recipient_reply(
    db: AsyncSession, runtime: Runtime, request: Request, delivery: Delivery, *, actor: Actor
) -> Reply:
    """Read the reply form (streamed: text field, then files) and record it with REPLIED."""
    settings = runtime.settings
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise ReplyRefused(415, "The reply form must be sent as multipart/form-data.")
    reader = MultipartReader(request.stream(), boundary_of(content_type))
    text = ""
    csrf_checked = False
    files: list[dict[str, Any]] = []
    organization = await get_organization(db, delivery.organization_id)
    allow_executables = organization.allow_executable_attachments
    await end_read_phase(db)
    try:
        while (part := await reader.next_part()) is not None:
            if part.name == "csrf_token":
                check_csrf(
                    request, settings.signing_keys, (await reader.read_all(limit=256)).decode()
                )
                csrf_checked = True
            elif part.name == "body":
                text = (await reader.read_all(limit=MAX_BODY_BYTES)).decode("utf-8", "replace")
            elif part.name == "files" and part.filename:
                if not csrf_checked:
                    raise ReplyRefused(403, "The form expired; reload the page and retry.")
                if len(files) >= MAX_REPLY_FILES:
                    raise ReplyRefused(413, "Attach at most 10 files.")
                blob = await put_for(
                    runtime.storage,
                    reader.data(),
                    organization_id=delivery.organization_id,
                    max_bytes=settings.max_attachment_bytes,
                )
                files.append(
                    reply_file(
                        blob,
                        part.filename,
                        part.content_type,
                        allow_executables=allow_executables,
                        field="files",
                    )
                )
            else:
                async for _ in reader.data():
                    pass
    except BlobTooLarge as exc:
        raise ReplyRefused(413, "A file is larger than the limit.") from exc
    except MalformedMultipart as exc:
        raise ReplyRefused(400, "The form could not be read; retry.") from exc
    except ValidationFailed as exc:
        raise ReplyRefused(422, exc.detail) from exc
    if not csrf_checked:
        raise ReplyRefused(403, "The form expired; reload the page and retry.")
    if not text.strip() and not files:
        raise ReplyRefused(422, "Write a reply or attach a file.")
    body_html = sanitize_html(text_to_html(text))
    return await add_reply(
        db,
        await _locked(db, delivery.id),
        author="recipient",
        body_html=body_html,
        body_text=text.strip(),
        files=files,
        actor=actor,
    )


async def _locked(db: AsyncSession, delivery_id: str) -> Delivery:
    delivery = await db.scalar(select(Delivery).where(Delivery.id == delivery_id))
    assert delivery is not None
    return delivery


async def add_reply(
    db: AsyncSession,
    delivery: Delivery,
    *,
    author: str,
    body_html: str,
    body_text: str | None = None,
    files: list[dict[str, Any]] | None = None,
    actor: Actor | None = None,
    submitted_by: dict[str, Any] | None = None,
) -> Reply:
    """Record a reply and its proof: REPLIED for the recipient's (``actor``: how they were
    authenticated), SENDER_REPLIED for the sender's (``submitted_by``: the API key and the
    client). Both prove the files' digests; the integrator event carries the reply."""
    now = utcnow()
    clean = sanitize_html(body_html)
    reply = Reply(
        id=new_id("rpl"),
        organization_id=delivery.organization_id,
        delivery_id=delivery.id,
        author=author,
        body_html=clean,
        body_text=body_text if body_text is not None else html_to_text(clean),
        attachments=files or [],
        created_at=now,
    )
    db.add(reply)
    delivery.updated_at = now
    await db.flush()
    digests = [{k: f[k] for k in ("id", "filename", "sha256")} for f in reply.attachments]
    if author == "recipient":
        assert actor is not None
        details: dict[str, Any] = {"actor": actor.details(now)}
        evidence_type = EvidenceType.REPLIED
        enqueue(db, REPLY_TO_SENDER_TASK, {"reply_id": reply.id})
    else:
        details = {"submitted_by": {**(submitted_by or {}), "at": isoformat_z(now)}}
        evidence_type = EvidenceType.SENDER_REPLIED
        enqueue(db, SENDER_REPLY_TASK, {"reply_id": reply.id})
    await record_delivery_event(
        db,
        delivery,
        evidence_type,
        at=now,
        details={**details, "reply_id": reply.id, "attachments": digests},
        # The reply itself, its files with signed links, as the replies API shows it.
        event_extra={"reply": reply_json(reply)},
    )
    return reply
