"""Bulk send: one envelope per row of a CSV, copied from a template envelope (a draft).

Columns (header row, any order, all optional):

- ``rN.email``, ``rN.name``, ``rN.language``: the N-th recipient of the template (as the
  envelope lists them, like the ``rN`` of text tags) is this person in this row's envelope;
  a recipient without columns is copied as it is;
- ``title``, ``message``, ``reference``: replace the template's;
- any other column is the ``meta.label`` of a template field: its value is filled in, read-only,
  for that row (a choice must be one of the field's options).

Every row is checked before any envelope is written; the API writes them all in one
transaction, the CLI one row at a time with a progress bar. Documents are shared: each copy
references the template's stored PDFs, which are never rewritten.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from tabellion.auth.subjects import ApiKeySubject
from tabellion.envelope import repository, service
from tabellion.envelope.repository import EnvelopeParts
from tabellion.envelope.schemas import EnvelopeIn
from tabellion.errors import FieldError, ValidationFailed
from tabellion.kit.ids import new_id
from tabellion.kit.time import utcnow
from tabellion.models.envelope import Envelope, EnvelopeDocument, EnvelopeField

MAX_ROWS = 500
MAX_CSV_BYTES = 5 * 1024 * 1024
RECIPIENT_KEYS = ("email", "name", "language")
ENVELOPE_KEYS = ("title", "message", "reference")


class BadBulkCsv(ValidationFailed):
    code = "bad-bulk-csv"
    title = "The CSV cannot make envelopes"


@dataclass
class Row:
    number: int  # 1 for the first row after the header
    envelope: EnvelopeIn
    values: dict[str, str] = field(default_factory=dict)  # field label -> value


def _error(where: str, message: str) -> BadBulkCsv:
    return BadBulkCsv(
        f"{where}: {message}",
        errors=[FieldError(field=where, code=BadBulkCsv.code, message=message)],
    )


def _columns(header: Sequence[str], parts: EnvelopeParts) -> None:
    labels = {(f.meta or {}).get("label") for f in parts.fields} - {None}
    count = len(parts.recipients)
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise _error(f"column {name}", "appears twice")
        seen.add(name)
        prefix, dot, key = name.partition(".")
        if name in ENVELOPE_KEYS or name in labels:
            continue
        if dot and prefix[:1] == "r" and prefix[1:].isdigit() and key in RECIPIENT_KEYS:
            if not 1 <= int(prefix[1:]) <= count:
                raise _error(f"column {name}", f"the template has {count} recipient(s)")
            continue
        raise _error(
            f"column {name}",
            "unknown; use rN.email, rN.name, rN.language, title, message, reference or a "
            "field's label",
        )


def _envelope_in(template: Envelope, parts: EnvelopeParts, row: dict[str, str]) -> dict[str, Any]:
    recipients = []
    for index, recipient in enumerate(parts.recipients, start=1):
        item: dict[str, Any] = {
            "email": recipient.email,
            "name": recipient.name,
            "role": recipient.role,
            "order": recipient.position,
            "language": recipient.language,
            "access_auth": list(recipient.access_auth),
            "action_auth": list(recipient.action_auth),
        }
        for key in RECIPIENT_KEYS:
            value = row.get(f"r{index}.{key}", "").strip()
            if value:
                item[key] = value
        recipients.append(item)
    return {
        "title": row.get("title", "").strip() or template.title,
        "message": row.get("message", "").strip() or template.message,
        "language": template.language,
        "reference": row.get("reference", "").strip() or template.reference,
        "signing_order": template.signing_order,
        "expires_in_days": template.expires_in_days,
        "reminders": {
            "first_after_days": template.reminder_first_days,
            "every_days": template.reminder_every_days,
            "max": template.reminder_max,
        },
        "recipients": recipients,
    }


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def parse(text: str, template: Envelope, parts: EnvelopeParts) -> list[Row]:
    """Every row as an envelope to create, or BadBulkCsv naming the row and column."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in reader.fieldnames or []]
    if not header:
        raise _error("file", "the CSV has no header row")
    reader.fieldnames = header
    _columns(header, parts)
    labels = {(f.meta or {}).get("label"): f for f in parts.fields}
    rows: list[Row] = []
    for number, raw in enumerate(reader, start=1):
        if number > MAX_ROWS:
            raise _error("file", f"at most {MAX_ROWS} rows at a time")
        if None in raw:
            raise _error(f"row {number}", "has more cells than the header")
        row = {k: (v or "") for k, v in raw.items()}
        try:
            data = EnvelopeIn.model_validate(_envelope_in(template, parts, row))
        except PydanticValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise _error(f"row {number}, {where}", first["msg"]) from exc
        values = {}
        for name, value in row.items():
            if name in labels and value.strip():
                target = labels[name]
                options = (target.meta or {}).get("options")
                if options and value.strip() not in options:
                    raise _error(f"row {number}, column {name}", f"choose one of {options}")
                if target.type == "number" and not _is_number(value):
                    raise _error(f"row {number}, column {name}", "a number is expected")
                values[name] = value.strip()
        rows.append(Row(number, data, values))
    if not rows:
        raise _error("file", "the CSV has no row after its header")
    return rows


async def template_parts(
    session: AsyncSession, organization_id: str, template_id: str
) -> tuple[Envelope, EnvelopeParts]:
    """The template envelope: a draft ready to send (documents, and a signature field for
    each signer), so that every copy can be sent."""
    template = await service.get_envelope(session, organization_id, template_id)
    if template.status != "draft":
        raise service.EnvelopeNotDraft.of(
            template, f"Envelope {template_id} was sent; a bulk send copies a draft envelope."
        )
    parts = (await repository.parts_of(session, [template.id]))[template.id]
    service.check_sendable(parts)
    return template, parts


async def create_row(
    session: AsyncSession,
    caller: ApiKeySubject,
    template: Envelope,
    parts: EnvelopeParts,
    row: Row,
    *,
    signing_key: bytes,
) -> Envelope:
    """One copy of the template for ``row``, sent."""
    envelope = await service.create_envelope(session, caller, row.envelope, signing_key=signing_key)
    copy = (await repository.parts_of(session, [envelope.id]))[envelope.id]
    recipient_ids = {
        old.id: new.id for old, new in zip(parts.recipients, copy.recipients, strict=True)
    }
    now = utcnow()
    document_ids: dict[str, str] = {}
    for document in parts.documents:
        document_ids[document.id] = new_id("doc")
        session.add(
            EnvelopeDocument(
                id=document_ids[document.id],
                organization_id=envelope.organization_id,
                envelope_id=envelope.id,
                filename=document.filename,
                pages=document.pages,
                size=document.size,
                sha256=document.sha256,
                storage_key=document.storage_key,
                created_at=now,
            )
        )
    for original in parts.fields:
        meta = dict(original.meta or {})
        label = meta.get("label")
        if label in row.values:
            meta["default"], meta["read_only"] = row.values[label], True
        session.add(_copy_field(original, envelope, recipient_ids, document_ids, meta))
    await session.flush()
    return await service.send(session, envelope.organization_id, envelope.id)


def _copy_field(
    original: EnvelopeField,
    envelope: Envelope,
    recipient_ids: dict[str, str],
    document_ids: dict[str, str],
    meta: dict[str, Any],
) -> EnvelopeField:
    return EnvelopeField(
        id=new_id("fld"),
        organization_id=envelope.organization_id,
        envelope_id=envelope.id,
        recipient_id=recipient_ids[original.recipient_id],
        document_id=document_ids[original.document_id],
        type=original.type,
        page=original.page,
        x=original.x,
        y=original.y,
        width=original.width,
        height=original.height,
        required=original.required,
        meta=meta,
        value=None,
        created_at=utcnow(),
    )


async def bulk_send(
    session: AsyncSession,
    caller: ApiKeySubject,
    template_id: str,
    text: str,
    *,
    signing_key: bytes,
) -> list[tuple[Row, Envelope]]:
    template, parts = await template_parts(session, caller.organization_id, template_id)
    rows = parse(text, template, parts)
    return [
        (row, await create_row(session, caller, template, parts, row, signing_key=signing_key))
        for row in rows
    ]
