"""Documenso API v2 under ``/compat/documenso/api/v2``: the original's paths, bodies, numeric
recipient and field ids, error shape and auth (the API key alone in ``Authorization``, or with
``Bearer``). Everything else is the native envelope service's.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from tabellion.auth.subjects import ApiKeySubject
from tabellion.compat import ids
from tabellion.compat.documenso.schemas import (
    CancelIn,
    Created,
    EnvelopeCreate,
    EnvelopeIdIn,
    Error,
    Success,
)
from tabellion.compat.documenso.translate import (
    DIALECT,
    FIELD_IN,
    ID_DIGITS,
    ROLE_IN,
    STATUS_IN,
    FieldNotFound,
    RecipientNotFound,
    envelope_out,
    field_out,
    recipient_out,
    render_error,
)
from tabellion.db import DbSession, SessionRoute
from tabellion.document.multipart import (
    BINARY,
    MalformedMultipart,
    MultipartReader,
    boundary_of,
    multipart_body_doc,
)
from tabellion.document.storage import BlobTooLarge, StoredBlob
from tabellion.envelope import repository, service
from tabellion.envelope.pdf import BrokenPdf, EncryptedPdf, NotAPdf, inspect_pdf
from tabellion.envelope.schemas import EnvelopeIn, FieldIn, FieldMeta
from tabellion.envelope.service import (
    EnvelopeNotDraft,
    EnvelopeNotFound,
    EnvelopeNotPending,
    NoDocuments,
    NoSigners,
    SignerWithoutSignatureField,
    TooManyDocuments,
)
from tabellion.errors import TabellionError, Unauthorized, ValidationFailed
from tabellion.kit.ratelimit import limit_credential
from tabellion.kit.schema import inline_schema
from tabellion.models.envelope import Envelope
from tabellion.organization.service import authenticate_api_key
from tabellion.runtime import Runtime

__all__ = ["PREFIX", "render_error", "router"]

PREFIX = "/compat/documenso/api/v2"
# Numeric ids are ID_DIGITS long: anything larger names nothing.
MAX_FOREIGN_ID = 10**ID_DIGITS - 1
TAG = "documenso"
MAX_PAYLOAD = 1_000_000
M = TypeVar("M", bound=BaseModel)


def _responses(*errors: type[TabellionError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses: every error in Documenso's shape, by the status it answers."""
    statuses = {400 if e.status in (409, 422) else e.status for e in errors}
    return {
        status: {"model": Error, "description": '`{"message", "code", "issues"}`'}
        for status in sorted({400, 401, 403, *statuses})
    }


async def api_key(request: Request, session: DbSession) -> ApiKeySubject:
    """Documenso clients send the key bare (``Authorization: api_...``); ``Bearer`` works too."""
    header = request.headers.get("authorization", "").strip()
    scheme, _, rest = header.partition(" ")
    secret = rest.strip() if scheme.lower() == "bearer" else header
    if not secret:
        raise Unauthorized("Send your API key in the `Authorization` header.")
    subject = await authenticate_api_key(session, secret)
    if subject is None:
        raise Unauthorized("The API key is not valid, has expired or was revoked.")
    await limit_credential(request, subject.api_key_id)
    request.state.subject = subject
    return subject


def _scoped(scope: str) -> Callable[..., Awaitable[ApiKeySubject]]:
    async def dependency(
        subject: Annotated[ApiKeySubject, Depends(api_key)],
    ) -> ApiKeySubject:
        subject.require(scope)
        return subject

    return dependency


Reader = Annotated[ApiKeySubject, Depends(_scoped("messages:read"))]
Writer = Annotated[ApiKeySubject, Depends(_scoped("messages:write"))]

router = APIRouter(route_class=SessionRoute, tags=[TAG])


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _validate(model: type[M], data: Any, where: str = "body") -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [{**e, "loc": (where, *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from exc


async def _json(request: Request, model: type[M]) -> M:
    raw = await request.body()
    try:
        data = json.loads(raw) if raw.strip() else {}
    except ValueError as exc:
        raise ValidationFailed.field("body", "The body is not valid JSON.") from exc
    return _validate(model, data)


async def _foreign_ids(
    session: AsyncSession, organization_id: str, *parts: repository.EnvelopeParts
) -> tuple[dict[str, str], dict[str, str]]:
    """Numeric ids of the recipients and fields of one envelope or a whole page, in two queries."""
    recipients = await ids.foreign_map(
        session,
        dialect=DIALECT,
        kind="recipient",
        native_ids=[r.id for p in parts for r in p.recipients],
        organization_id=organization_id,
    )
    fields = await ids.foreign_map(
        session,
        dialect=DIALECT,
        kind="field",
        native_ids=[f.id for p in parts for f in p.fields],
        organization_id=organization_id,
    )
    return recipients, fields


async def _allocate(
    session: AsyncSession, organization_id: str, parts: repository.EnvelopeParts
) -> None:
    """Numeric ids for rows made natively (or before this dialect existed), on first sight."""
    for kind, rows in (("recipient", parts.recipients), ("field", parts.fields)):
        for row in rows:
            await ids.allocate(
                session,
                dialect=DIALECT,
                kind=kind,
                native_id=row.id,
                organization_id=organization_id,
                digits=ID_DIGITS,
            )


async def _read_create(request: Request) -> tuple[bytes | None, list[tuple[StoredBlob, str]]]:
    """The ``payload`` part and every ``files`` part, streamed into storage."""
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "multipart/form-data":
        raise ValidationFailed.field(
            "payload", "Send multipart/form-data with a `payload` part and `files` parts."
        )
    runtime = _runtime(request)
    reader = MultipartReader(request.stream(), boundary_of(content_type))
    payload: bytes | None = None
    files: list[tuple[StoredBlob, str]] = []
    while (part := await reader.next_part()) is not None:
        if part.name == "payload" and payload is None:
            payload = await reader.read_all(limit=MAX_PAYLOAD)
        elif part.name == "files":
            blob = await runtime.storage.put_stream(
                reader.data(), max_bytes=runtime.settings.max_attachment_bytes
            )
            files.append((blob, part.filename or f"document-{len(files) + 1}.pdf"))
        else:
            async for _ in reader.data():
                pass
    return payload, files


def _document_of(identifier: int | str, documents: list[str], names: list[str], where: str) -> str:
    if isinstance(identifier, int) and 0 <= identifier < len(documents):
        return documents[identifier]
    if isinstance(identifier, str) and identifier in names:
        return documents[names.index(identifier)]
    raise ValidationFailed.field(
        f"{where}.identifier", f"No file {identifier!r} in `files` (an index or a file name)."
    )


def _meta(raw: dict[str, Any] | None) -> FieldMeta:
    """The common parts of Documenso's ``fieldMeta``; the rest is not kept yet."""
    raw = raw or {}
    values = raw.get("values") or raw.get("options") or []
    options = [str(v.get("value") if isinstance(v, dict) else v) for v in values]
    return _validate(
        FieldMeta,
        {
            "label": raw.get("label"),
            "placeholder": raw.get("placeholder"),
            "read_only": bool(raw.get("readOnly", False)),
            "options": [o for o in options if o],
        },
        "fieldMeta",
    )


@router.post(
    "/envelope/create",
    response_model=Created,
    summary="Create an envelope: multipart `payload` (JSON) and repeated `files` (PDFs)",
    openapi_extra=multipart_body_doc(
        {"payload": inline_schema(EnvelopeCreate), "files": {"type": "array", "items": BINARY}},
        ["payload"],
    ),
    responses=_responses(
        TooManyDocuments, BlobTooLarge, MalformedMultipart, NotAPdf, EncryptedPdf, BrokenPdf
    ),
)
async def create(request: Request, caller: Writer, session: DbSession) -> Created:
    raw, files = await _read_create(request)
    if raw is None:
        raise ValidationFailed.field("payload", "The `payload` part is required.")
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ValidationFailed.field("payload", "The `payload` part is not valid JSON.") from exc
    body = _validate(EnvelopeCreate, data, "payload")
    if body.type != "DOCUMENT":
        raise ValidationFailed.field("payload.type", "Only `DOCUMENT` envelopes are supported.")
    sequential = body.meta.signingOrder == "SEQUENTIAL"
    native = _validate(
        EnvelopeIn,
        {
            "title": body.title,
            "message": body.meta.message,
            "reference": body.externalId,
            "signing_order": "sequential" if sequential else "parallel",
            "recipients": [
                {
                    "email": r.email,
                    "name": r.name or r.email,
                    "role": ROLE_IN[r.role],
                    "order": max(r.signingOrder or index + 1, 1) if sequential else 1,
                }
                for index, r in enumerate(body.recipients)
            ],
        },
        "payload",
    )
    storage = _runtime(request).storage
    pages = [await inspect_pdf(storage, blob.key, blob.head) for blob, _ in files]
    envelope = await service.create_envelope(
        session, caller, native, signing_key=_runtime(request).settings.signing_key
    )
    documents = [
        await service.record_document(
            session, caller.organization_id, envelope.id, blob, filename=name, pages=count
        )
        for (blob, name), count in zip(files, pages, strict=True)
    ]
    parts = (await repository.parts_of(session, [envelope.id]))[envelope.id]
    doc_ids, names = [d.id for d in documents], [name for _, name in files]
    fields = [
        FieldIn(
            recipient_id=parts.recipients[r_index].id,
            document_id=_document_of(
                f.identifier, doc_ids, names, f"recipients[{r_index}].fields[{f_index}]"
            ),
            type=FIELD_IN[f.type],
            page=f.page,
            x=f.positionX,
            y=f.positionY,
            width=f.width,
            height=f.height,
            meta=_meta(f.fieldMeta),
        )
        for r_index, r in enumerate(body.recipients)
        for f_index, f in enumerate(r.fields)
    ]
    if fields:
        await service.add_fields(session, caller.organization_id, envelope.id, fields)
    parts = (await repository.parts_of(session, [envelope.id]))[envelope.id]
    await _allocate(session, caller.organization_id, parts)
    return Created(id=envelope.id)


async def _view(session: AsyncSession, organization_id: str, envelope_id: str) -> dict[str, Any]:
    envelope = await service.get_envelope(session, organization_id, envelope_id)
    parts = (await repository.parts_of(session, [envelope.id]))[envelope.id]
    recipient_ids, field_ids = await _foreign_ids(session, organization_id, parts)
    return envelope_out(envelope, parts, recipient_ids, field_ids)


@router.get(
    "/envelope",
    summary="List envelopes by page, newest first",
    responses=_responses(),
)
async def list_envelopes(
    caller: Reader,
    session: DbSession,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    perPage: Annotated[int, Query(ge=1, le=100)] = 10,
    status: Annotated[
        Literal["DRAFT", "PENDING", "COMPLETED", "REJECTED", "CANCELLED"] | None, Query()
    ] = None,
    type: Annotated[Literal["DOCUMENT", "TEMPLATE"] | None, Query()] = None,
    orderByDirection: Annotated[Literal["asc", "desc"], Query()] = "desc",
) -> dict[str, Any]:
    # No templates here: a TEMPLATE listing is an empty page, as for a team without any.
    rows: Sequence[Envelope] = []
    total = 0
    if type != "TEMPLATE":
        rows, total = await repository.page_envelopes(
            session,
            caller.organization_id,
            offset=(page - 1) * perPage,
            limit=perPage,
            status=STATUS_IN[status] if status else None,
            ascending=orderByDirection == "asc",
        )
    parts = await repository.parts_of(session, [e.id for e in rows])
    recipient_ids, field_ids = await _foreign_ids(session, caller.organization_id, *parts.values())
    data = [envelope_out(e, parts[e.id], recipient_ids, field_ids) for e in rows]
    pages = -(-total // perPage)
    return {
        "data": data,
        "count": total,
        "currentPage": page,
        "perPage": perPage,
        "totalPages": pages,
        "pagination": {"page": page, "perPage": perPage, "totalPages": pages, "totalItems": total},
    }


@router.get(
    "/envelope/{envelopeId}",
    summary="Read an envelope with its recipients, fields and envelopeItems",
    responses=_responses(EnvelopeNotFound),
)
async def get_envelope(envelopeId: str, caller: Reader, session: DbSession) -> dict[str, Any]:
    return await _view(session, caller.organization_id, envelopeId)


@router.post(
    "/envelope/distribute",
    summary="Send a draft; answers each recipient's signingUrl",
    responses=_responses(
        EnvelopeNotFound, EnvelopeNotDraft, NoDocuments, NoSigners, SignerWithoutSignatureField
    ),
)
async def distribute(request: Request, caller: Writer, session: DbSession) -> dict[str, Any]:
    body = await _json(request, EnvelopeIdIn)
    settings = _runtime(request).settings
    envelope = await service.send(session, caller.organization_id, body.envelopeId)
    parts = (await repository.parts_of(session, [envelope.id]))[envelope.id]
    await _allocate(session, caller.organization_id, parts)
    recipient_ids, _ = await _foreign_ids(session, caller.organization_id, parts)
    recipients = []
    for recipient in parts.recipients:
        token = service.signing_token(settings.signing_key, recipient.id, recipient.token_salt)
        recipients.append(
            {
                **recipient_out(envelope, recipient, recipient_ids),
                "token": token,
                "signingUrl": f"{settings.base_url}/s/{token}",
            }
        )
    return {"success": True, "id": envelope.id, "recipients": recipients}


@router.post(
    "/envelope/delete",
    response_model=Success,
    summary="Delete a draft envelope",
    responses=_responses(EnvelopeNotFound, EnvelopeNotDraft),
)
async def delete(request: Request, caller: Writer, session: DbSession) -> Success:
    body = await _json(request, EnvelopeIdIn)
    await service.delete_draft(session, caller.organization_id, body.envelopeId)
    return Success()


@router.post(
    "/envelope/cancel",
    response_model=Success,
    summary="Cancel a pending envelope",
    responses=_responses(EnvelopeNotFound, EnvelopeNotPending),
)
async def cancel(request: Request, caller: Writer, session: DbSession) -> Success:
    body = await _json(request, CancelIn)
    await service.cancel(session, caller.organization_id, body.envelopeId)
    return Success()


async def _native(session: AsyncSession, organization_id: str, kind: str, foreign_id: int) -> str:
    native = await ids.native_of(
        session,
        dialect=DIALECT,
        kind=kind,
        foreign_id=str(foreign_id),
        organization_id=organization_id,
    )
    if native is None:
        error = RecipientNotFound if kind == "recipient" else FieldNotFound
        raise error(f"No {kind} {foreign_id}.")
    return native


@router.get(
    "/envelope/recipient/{recipientId}",
    summary="Read one recipient by its numeric id",
    responses=_responses(RecipientNotFound),
)
async def get_recipient(
    recipientId: Annotated[int, Path(ge=1, le=MAX_FOREIGN_ID)], caller: Reader, session: DbSession
) -> dict[str, Any]:
    native = await _native(session, caller.organization_id, "recipient", recipientId)
    recipient = await repository.get_recipient(session, caller.organization_id, native)
    if recipient is None:  # the mapping outlived its row (a deleted draft)
        raise RecipientNotFound(f"No recipient {recipientId}.")
    envelope = await service.get_envelope(session, caller.organization_id, recipient.envelope_id)
    return recipient_out(envelope, recipient, {recipient.id: str(recipientId)})


@router.get(
    "/envelope/field/{fieldId}",
    summary="Read one field by its numeric id",
    responses=_responses(FieldNotFound),
)
async def get_field(
    fieldId: Annotated[int, Path(ge=1, le=MAX_FOREIGN_ID)], caller: Reader, session: DbSession
) -> dict[str, Any]:
    native = await _native(session, caller.organization_id, "field", fieldId)
    field = await repository.get_field(session, caller.organization_id, native)
    if field is None:
        raise FieldNotFound(f"No field {fieldId}.")
    envelope = await service.get_envelope(session, caller.organization_id, field.envelope_id)
    owner = await ids.foreign_of(
        session,
        dialect=DIALECT,
        kind="recipient",
        native_id=field.recipient_id,
        organization_id=caller.organization_id,
    )
    return field_out(envelope, field, {field.id: str(fieldId)}, {field.recipient_id: owner or "0"})
