"""Documenso API v2 under ``/compat/documenso/api/v2``: the original's paths, bodies, numeric
recipient and field ids, error shape and auth (the API key alone in ``Authorization``, or with
``Bearer``). Everything else is the native envelope service's.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response, StreamingResponse

from tabellion.auth.subjects import ApiKeySubject
from tabellion.compat import ids
from tabellion.compat.documenso.schemas import (
    CancelIn,
    Created,
    DistributeIn,
    EnvelopeCreate,
    EnvelopeIdIn,
    EnvelopeRef,
    Error,
    FieldIdIn,
    FieldsCreateIn,
    FieldsUpdateIn,
    GetManyIn,
    RecipientIdIn,
    RecipientsCreateIn,
    RecipientsUpdateIn,
    RedistributeIn,
    RejectIn,
    Success,
    UpdateIn,
)
from tabellion.compat.documenso.translate import (
    DIALECT,
    FIELD_IN,
    ID_DIGITS,
    ROLE_IN,
    STATUS_OUT,
    TAG_TYPES,
    EnvelopeState,
    audit_out,
    auth_in,
    envelope_lite,
    envelope_out,
    field_out,
    meta_in,
    order_in,
    recipient_out,
    render_error,
    tag_field,
)
from tabellion.db import READ_ONLY_INFO, DbSession, SessionRoute, end_read_phase, transaction
from tabellion.document.encryption import put_for
from tabellion.document.multipart import (
    BINARY,
    MalformedMultipart,
    MultipartReader,
    boundary_of,
    multipart_body_doc,
)
from tabellion.document.sniff import content_disposition
from tabellion.document.storage import BlobTooLarge, StoredBlob
from tabellion.envelope import editing, history, repository, service
from tabellion.envelope.editing import (
    DraftChanges,
    DraftIn,
    FieldChanges,
    FieldNotFound,
    RecipientChanges,
    RecipientNotFound,
)
from tabellion.envelope.pdf import (
    BrokenPdf,
    EncryptedPdf,
    NotAPdf,
    inspect_pdf_tags,
    locate_texts,
)
from tabellion.envelope.placeholders import BadPlaceholder, Tag, field_data
from tabellion.envelope.schemas import FieldIn, RecipientIn
from tabellion.envelope.service import (
    EnvelopeDocumentNotFound,
    EnvelopeNotCompleted,
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
from tabellion.models.envelope import Envelope, EnvelopeDocument
from tabellion.organization.service import authenticate_api_key
from tabellion.runtime import Runtime

__all__ = ["PREFIX", "render_error", "router"]

PREFIX = "/compat/documenso/api/v2"
# Numeric ids are ID_DIGITS long: anything larger names nothing.
MAX_FOREIGN_ID = 10**ID_DIGITS - 1
TAG = "documenso"
MAX_PAYLOAD = 1_000_000
M = TypeVar("M", bound=BaseModel)


def _body(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI of a JSON body read by hand (so that its errors answer in Documenso's shape)."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": inline_schema(model)}},
        }
    }


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


@dataclass(frozen=True)
class Numbers:
    """Numeric ids (native id → Documenso's) of some envelopes, their recipients and fields.
    The envelope's own number is the legacy ``id`` of Documenso's webhook payloads."""

    envelopes: dict[str, str]
    recipients: dict[str, str]
    fields: dict[str, str]


async def _numbers(
    request: Request,
    session: AsyncSession,
    organization_id: str,
    envelopes: Mapping[str, repository.EnvelopeParts],
) -> Numbers:
    """The numeric ids of ``envelopes`` (envelope id → parts), in three queries.

    Rows made natively (or before this dialect existed) get theirs on first sight. A read
    route's session cannot write (``db.SessionRoute``): there the missing ones are drawn in a
    short write transaction of their own, committed at once (a mapping is worth keeping even
    if the read then fails; a concurrent first sight of the same rows keeps the first ids).
    """
    wanted = {
        "envelope": list(envelopes),
        "recipient": [r.id for p in envelopes.values() for r in p.recipients],
        "field": [f.id for p in envelopes.values() for f in p.fields],
    }
    found: dict[str, dict[str, str]] = {}
    for kind, natives in wanted.items():
        found[kind] = await ids.foreign_map(
            session,
            dialect=DIALECT,
            kind=kind,
            native_ids=natives,
            organization_id=organization_id,
        )
    missing = [(k, n) for k, natives in wanted.items() for n in natives if n not in found[k]]
    if missing:
        if session.info.get(READ_ONLY_INFO):
            async with transaction(_runtime(request).sessions) as writer:
                await _allocate(writer, organization_id, missing, found)
        else:
            await _allocate(session, organization_id, missing, found)
    return Numbers(found["envelope"], found["recipient"], found["field"])


async def _allocate(
    session: AsyncSession,
    organization_id: str,
    rows: Sequence[tuple[str, str]],
    found: dict[str, dict[str, str]],
) -> None:
    for kind, native_id in rows:
        found[kind][native_id] = await ids.allocate(
            session,
            dialect=DIALECT,
            kind=kind,
            native_id=native_id,
            organization_id=organization_id,
            digits=ID_DIGITS,
        )


async def _numbers_of(
    request: Request, session: AsyncSession, organization_id: str, envelope_id: str
) -> tuple[repository.EnvelopeParts, Numbers]:
    parts = await _parts(session, envelope_id)
    return parts, await _numbers(request, session, organization_id, {envelope_id: parts})


async def _parts(session: AsyncSession, envelope_id: str) -> repository.EnvelopeParts:
    return (await repository.parts_of(session, [envelope_id]))[envelope_id]


async def _read_create(
    request: Request, organization_id: str
) -> tuple[bytes | None, list[tuple[StoredBlob, str]]]:
    """The ``payload`` part and every ``files`` part, streamed into storage under the
    organisation's key."""
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
            blob = await put_for(
                runtime.storage,
                reader.data(),
                organization_id=organization_id,
                max_bytes=runtime.settings.max_attachment_bytes,
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


def _field_in(
    item: Any, *, recipient_id: str, document_id: str, where: str, coordinates: dict[str, Any]
) -> FieldIn:
    meta, required = meta_in(item.type, item.fieldMeta, where)
    return _validate(
        FieldIn,
        {
            "recipient_id": recipient_id,
            "document_id": document_id,
            "type": FIELD_IN[item.type],
            **coordinates,
            "required": required,
            "meta": meta,
        },
        where,
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
        TooManyDocuments,
        BlobTooLarge,
        MalformedMultipart,
        NotAPdf,
        EncryptedPdf,
        BrokenPdf,
        BadPlaceholder,
    ),
)
async def create(request: Request, caller: Writer, session: DbSession) -> Created:
    # No transaction held while the files stream in: storing them writes their keys (and the
    # organisation's first key) through the one write connection SQLite has.
    await end_read_phase(session)
    raw, files = await _read_create(request, caller.organization_id)
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
        DraftIn,
        {
            "title": body.title,
            "message": body.meta.message,
            "reference": body.externalId,
            "signing_order": "sequential" if sequential else "parallel",
            **_language(body.meta.language, "payload.meta.language"),
            "recipients": [
                {
                    "email": r.email,
                    "name": r.name or r.email,
                    "role": ROLE_IN[r.role],
                    "order": order_in(r.signingOrder, index),
                    **auth_in(r.accessAuth, r.actionAuth, f"payload.recipients.{index}"),
                }
                for index, r in enumerate(body.recipients)
            ],
        },
        "payload",
    )
    runtime = _runtime(request)
    inspected = [await inspect_pdf_tags(runtime.storage, blob.key, blob.head) for blob, _ in files]
    envelope = await service.create_envelope(
        session, caller, native, signing_key=runtime.settings.signing_key
    )
    documents = [
        await service.record_document(
            session, caller.organization_id, envelope.id, blob, filename=name, pages=count
        )
        for (blob, name), (count, _) in zip(files, inspected, strict=True)
    ]
    parts = await _parts(session, envelope.id)
    # Recipients in the payload's order (ids are monotonic): its index, and rN of the tags.
    by_payload = sorted(parts.recipients, key=lambda r: r.id)
    doc_ids, names = [d.id for d in documents], [name for _, name in files]
    fields = []
    for r_index, r in enumerate(body.recipients):
        for f_index, f in enumerate(r.fields):
            where = f"payload.recipients.{r_index}.fields.{f_index}"
            fields.append(
                _field_in(
                    f,
                    recipient_id=by_payload[r_index].id,
                    document_id=_document_of(f.identifier, doc_ids, names, where),
                    where=where,
                    coordinates={
                        "page": f.page,
                        "x": f.positionX,
                        "y": f.positionY,
                        "width": f.width,
                        "height": f.height,
                    },
                )
            )
    if fields:
        await service.add_fields(session, caller.organization_id, envelope.id, fields)
    for document, (_, tags) in zip(documents, inspected, strict=True):
        # Documenso skips tags of a type it does not know, as text of the document.
        await service.place_tags(
            session,
            caller.organization_id,
            document,
            [t for t in tags if t.type in TAG_TYPES],
            recipient_order=[r.id for r in by_payload],
            field_of=tag_field,
        )
    await _numbers_of(request, session, caller.organization_id, envelope.id)
    return Created(id=envelope.id)


def _language(value: str | None, where: str) -> dict[str, str]:
    if value is None:
        return {}
    language = value.split("-")[0].lower()
    if language not in ("en", "fr", "nl", "de"):
        raise ValidationFailed.field(where, "Tabellion writes to recipients in en, fr, nl or de.")
    return {"language": language}


async def _view(
    request: Request, session: AsyncSession, organization_id: str, envelope_id: str
) -> dict[str, Any]:
    envelope = await service.get_envelope(session, organization_id, envelope_id)
    parts, numbers = await _numbers_of(request, session, organization_id, envelope.id)
    keys = _runtime(request).settings.signing_keys
    return envelope_out(
        envelope,
        parts,
        numbers.recipients,
        numbers.fields,
        keys=keys,
        number=numbers.envelopes[envelope.id],
    )


@router.get(
    "/envelope",
    summary="List envelopes by page, newest first",
    responses=_responses(),
)
async def list_envelopes(
    request: Request,
    caller: Reader,
    session: DbSession,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    perPage: Annotated[int, Query(ge=1, le=100)] = 10,
    status: Annotated[
        Literal["DRAFT", "PENDING", "COMPLETED", "REJECTED", "CANCELLED"] | None, Query()
    ] = None,
    type: Annotated[Literal["DOCUMENT", "TEMPLATE"] | None, Query()] = None,
    source: Annotated[
        Literal["DOCUMENT", "TEMPLATE", "TEMPLATE_DIRECT_LINK"] | None, Query()
    ] = None,
    folderId: Annotated[str | None, Query(max_length=255)] = None,
    orderByColumn: Annotated[Literal["createdAt"], Query()] = "createdAt",
    orderByDirection: Annotated[Literal["asc", "desc"], Query()] = "desc",
) -> dict[str, Any]:
    # No templates or folders here: such a listing is an empty page, as for a team without
    # any. Every envelope's source is DOCUMENT.
    rows: Sequence[Envelope] = []
    total = 0
    if type != "TEMPLATE" and source in (None, "DOCUMENT") and folderId is None:
        rows, total = await repository.page_envelopes(
            session,
            caller.organization_id,
            offset=(page - 1) * perPage,
            limit=perPage,
            statuses=[n for n, f in STATUS_OUT.items() if f == status] if status else None,
            ascending=orderByDirection == "asc",
        )
    parts = await repository.parts_of(session, [e.id for e in rows])
    numbers = await _numbers(request, session, caller.organization_id, parts)
    keys = _runtime(request).settings.signing_keys
    data = [
        envelope_out(
            e,
            parts[e.id],
            numbers.recipients,
            numbers.fields,
            keys=keys,
            number=numbers.envelopes[e.id],
        )
        for e in rows
    ]
    pages = -(-total // perPage)
    return {
        "data": data,
        "count": total,
        "currentPage": page,
        "perPage": perPage,
        "totalPages": pages,
        "pagination": {"page": page, "perPage": perPage, "totalPages": pages, "totalItems": total},
    }


@router.post(
    "/envelope/get-many",
    openapi_extra=_body(GetManyIn),
    summary="Read up to 20 envelopes by id (unknown ids are left out)",
    responses=_responses(),
)
async def get_many(request: Request, caller: Reader, session: DbSession) -> dict[str, Any]:
    body = await _json(request, GetManyIn)
    if body.ids.type != "envelopeId":
        raise ValidationFailed.field(
            "ids.type",
            "Tabellion envelopes have no numeric document or template ids: send "
            '`{"type": "envelopeId", "ids": [...]}`.',
        )
    data = []
    for index, envelope_id in enumerate(dict.fromkeys(body.ids.ids)):
        if not isinstance(envelope_id, str):
            raise ValidationFailed.field(f"ids.ids.{index}", "An envelope id is a string.")
        try:
            data.append(await _view(request, session, caller.organization_id, envelope_id))
        except EnvelopeNotFound:
            continue
    return {"data": data}


@router.get(
    "/envelope/{envelopeId}",
    summary="Read an envelope with its recipients, fields and envelopeItems",
    responses=_responses(EnvelopeNotFound),
)
async def get_envelope(
    envelopeId: str, request: Request, caller: Reader, session: DbSession
) -> dict[str, Any]:
    return await _view(request, session, caller.organization_id, envelopeId)


async def _state(
    session: AsyncSession, organization_id: str, envelope_id: str, *allowed: str
) -> Envelope:
    """The envelope, or Documenso's error for its state (ENVELOPE_COMPLETED, ...)."""
    envelope = await service.get_envelope(session, organization_id, envelope_id)
    if envelope.status not in allowed:
        raise EnvelopeState(envelope.id, envelope.status, allowed)
    return envelope


@router.post(
    "/envelope/update",
    openapi_extra=_body(UpdateIn),
    summary="Change a draft's title, externalId and meta (message, signingOrder, language)",
    responses=_responses(EnvelopeNotFound, EnvelopeNotDraft),
)
async def update(request: Request, caller: Writer, session: DbSession) -> dict[str, Any]:
    body = await _json(request, UpdateIn)
    await _state(session, caller.organization_id, body.envelopeId, "draft")
    data, meta = body.data, body.meta
    if data is not None:
        for name in ("globalAccessAuth", "globalActionAuth"):
            if getattr(data, name):
                raise ValidationFailed.field(
                    f"data.{name}",
                    "Envelope-wide authentication is not available: set accessAuth / "
                    "actionAuth on each recipient.",
                )
    changes = DraftChanges(
        title=data.title if data else None,
        reference=data.externalId if data else None,
        clear_reference=bool(data and "externalId" in data.model_fields_set),
        message=meta.message if meta else None,
        signing_order=meta.signingOrder.lower() if meta and meta.signingOrder else None,
        language=_language(meta.language, "meta.language").get("language") if meta else None,
    )
    envelope = await editing.update_draft(session, caller.organization_id, body.envelopeId, changes)
    _, numbers = await _numbers_of(request, session, caller.organization_id, envelope.id)
    return envelope_lite(envelope, numbers.envelopes[envelope.id])


def _signing_links(
    request: Request, envelope: Envelope, recipients: Sequence[Any], foreign: dict[str, str]
) -> list[dict[str, Any]]:
    settings = _runtime(request).settings
    out = []
    for recipient in recipients:
        token = service.signing_token_of(settings.signing_keys, recipient)
        out.append(
            {
                **recipient_out(envelope, recipient, foreign, keys=settings.signing_keys),
                "signingUrl": f"{settings.base_url}/s/{token}",
            }
        )
    return out


@router.post(
    "/envelope/distribute",
    openapi_extra=_body(DistributeIn),
    summary="Send a draft; answers each recipient's signingUrl",
    responses=_responses(
        EnvelopeNotFound, EnvelopeNotDraft, NoDocuments, NoSigners, SignerWithoutSignatureField
    ),
)
async def distribute(request: Request, caller: Writer, session: DbSession) -> dict[str, Any]:
    body = await _json(request, DistributeIn)
    await _state(session, caller.organization_id, body.envelopeId, "draft")
    if body.meta is not None and (body.meta.message or body.meta.language):
        # Documenso applies the meta it is sent with before sending.
        language = _language(body.meta.language, "meta.language").get("language")
        changes = DraftChanges(message=body.meta.message, language=language)
        await editing.update_draft(session, caller.organization_id, body.envelopeId, changes)
    envelope = await service.send(session, caller.organization_id, body.envelopeId)
    parts, numbers = await _numbers_of(request, session, caller.organization_id, envelope.id)
    recipients = _signing_links(request, envelope, parts.recipients, numbers.recipients)
    return {"success": True, "id": envelope.id, "recipients": recipients}


@router.post(
    "/envelope/redistribute",
    openapi_extra=_body(RedistributeIn),
    summary="E-mail the signing link again to recipients who have not acted yet",
    responses=_responses(EnvelopeNotFound, EnvelopeNotPending, RecipientNotFound),
)
async def redistribute(request: Request, caller: Writer, session: DbSession) -> dict[str, Any]:
    body = await _json(request, RedistributeIn)
    await _state(session, caller.organization_id, body.envelopeId, "pending")
    native = [
        await _native(session, caller.organization_id, "recipient", foreign)
        for foreign in body.recipients
    ]
    envelope, resent = await editing.redistribute(
        session, caller.organization_id, body.envelopeId, native
    )
    foreign_ids = {n: str(f) for n, f in zip(native, body.recipients, strict=True)}
    recipients = _signing_links(request, envelope, resent, foreign_ids)
    return {"success": True, "id": envelope.id, "recipients": recipients}


@router.post(
    "/envelope/delete",
    openapi_extra=_body(EnvelopeIdIn),
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
    openapi_extra=_body(CancelIn),
    response_model=Success,
    summary="Cancel a pending envelope",
    responses=_responses(EnvelopeNotFound, EnvelopeNotPending),
)
async def cancel(request: Request, caller: Writer, session: DbSession) -> Success:
    body = await _json(request, CancelIn)
    await _state(session, caller.organization_id, body.envelopeId, "pending")
    await service.cancel(session, caller.organization_id, body.envelopeId)
    return Success()


# ---- files ---------------------------------------------------------------------------------

_PDF: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/pdf": {}}, "description": "The PDF, streamed"}
}


def _pdf(request: Request, key: str, filename: str) -> Response:
    return StreamingResponse(
        _runtime(request).storage.open(key),
        media_type="application/pdf",
        headers={"Content-Disposition": content_disposition(filename)},
    )


@router.get(
    "/envelope/item/{envelopeItemId}/download",
    response_class=Response,
    summary="Download an item: `version=signed` (default, once completed) or `original`",
    responses={**_PDF, **_responses(EnvelopeDocumentNotFound, EnvelopeNotCompleted)},
)
async def download_item(
    envelopeItemId: Annotated[str, Path(max_length=64)],
    request: Request,
    caller: Reader,
    session: DbSession,
    version: Annotated[Literal["original", "signed", "pending"], Query()] = "signed",
) -> Response:
    document, envelope = await editing.original_file(
        session, caller.organization_id, envelopeItemId
    )
    if version == "original":
        service.check_not_purged(envelope)
        return _pdf(request, document.storage_key, document.filename)
    if version == "pending":
        raise ValidationFailed.field(
            "version",
            "`pending` (fields burnt in before completion) is not available: download "
            "`original`, or `signed` once the envelope is completed.",
        )
    if envelope.status != "completed":
        raise EnvelopeState(envelope.id, envelope.status, ("completed",))
    key, name = await service.signed_file_key(
        session, caller.organization_id, envelope.id, document.id
    )
    return _pdf(request, key, name)


async def _certificate(request: Request, caller: ApiKeySubject, session: AsyncSession,
                       envelope_id: str) -> Response:  # fmt: skip
    await _state(session, caller.organization_id, envelope_id, "completed")
    key, name = await service.signed_file_key(session, caller.organization_id, envelope_id, None)
    return _pdf(request, key, name)


@router.get(
    "/envelope/{envelopeId}/certificate/download",
    response_class=Response,
    summary="The signing certificate (our audit certificate) of a completed envelope",
    responses={**_PDF, **_responses(EnvelopeNotFound, EnvelopeNotCompleted)},
)
async def certificate(
    envelopeId: str, request: Request, caller: Reader, session: DbSession
) -> Response:
    return await _certificate(request, caller, session, envelopeId)


@router.get(
    "/envelope/{envelopeId}/audit-log/download",
    response_class=Response,
    summary="The audit log as a PDF (the same audit certificate) of a completed envelope",
    responses={**_PDF, **_responses(EnvelopeNotFound, EnvelopeNotCompleted)},
)
async def audit_log_pdf(
    envelopeId: str, request: Request, caller: Reader, session: DbSession
) -> Response:
    return await _certificate(request, caller, session, envelopeId)


@router.get(
    "/envelope/{envelopeId}/audit-log",
    summary="The envelope's audit log by page",
    responses=_responses(EnvelopeNotFound),
)
async def audit_log(
    envelopeId: str,
    request: Request,
    caller: Reader,
    session: DbSession,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    perPage: Annotated[int, Query(ge=1, le=100)] = 10,
    orderByColumn: Annotated[Literal["createdAt"], Query()] = "createdAt",
    orderByDirection: Annotated[Literal["asc", "desc"], Query()] = "desc",
) -> dict[str, Any]:
    envelope = await service.get_envelope(session, caller.organization_id, envelopeId)
    parts, numbers = await _numbers_of(request, session, caller.organization_id, envelope.id)
    steps = history.steps(envelope, parts)
    if orderByDirection == "desc":
        steps.reverse()
    chosen = steps[(page - 1) * perPage : page * perPage]
    return {
        "data": [audit_out(envelope, step, numbers.recipients) for step in chosen],
        "count": len(steps),
        "currentPage": page,
        "perPage": perPage,
        "totalPages": -(-len(steps) // perPage),
    }


# ---- recipients ----------------------------------------------------------------------------


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


async def _recipients_out(
    request: Request,
    session: AsyncSession,
    organization_id: str,
    envelope: Envelope,
    native_ids: Sequence[str],
) -> list[dict[str, Any]]:
    parts, numbers = await _numbers_of(request, session, organization_id, envelope.id)
    keys = _runtime(request).settings.signing_keys
    by_id = {r.id: r for r in parts.recipients}
    return [recipient_out(envelope, by_id[n], numbers.recipients, keys=keys) for n in native_ids]


@router.get(
    "/envelope/recipient/{recipientId}",
    summary="Read one recipient by its numeric id, with its fields",
    responses=_responses(RecipientNotFound),
)
async def get_recipient(
    recipientId: Annotated[int, Path(ge=1, le=MAX_FOREIGN_ID)],
    request: Request,
    caller: Reader,
    session: DbSession,
) -> dict[str, Any]:
    native = await _native(session, caller.organization_id, "recipient", recipientId)
    recipient = await repository.get_recipient(session, caller.organization_id, native)
    if recipient is None:  # the mapping outlived its row (a deleted draft or recipient)
        raise RecipientNotFound(f"No recipient {recipientId}.")
    return await _recipient_with_fields(request, session, caller.organization_id, recipient.id)


async def _recipient_with_fields(
    request: Request, session: AsyncSession, organization_id: str, recipient_id: str
) -> dict[str, Any]:
    recipient = await repository.get_recipient(session, organization_id, recipient_id)
    assert recipient is not None
    envelope = await service.get_envelope(session, organization_id, recipient.envelope_id)
    parts, numbers = await _numbers_of(request, session, organization_id, envelope.id)
    keys = _runtime(request).settings.signing_keys
    return {
        **recipient_out(envelope, recipient, numbers.recipients, keys=keys),
        "fields": [
            field_out(envelope, f, numbers.fields, numbers.recipients)
            for f in parts.fields
            if f.recipient_id == recipient.id
        ],
    }


def _recipient_in(item: Any, index: int, order: int, where: str) -> RecipientIn:
    return _validate(
        RecipientIn,
        {
            "email": item.email,
            "name": item.name or item.email,
            "role": ROLE_IN[item.role],
            "order": order,
            **auth_in(item.accessAuth, item.actionAuth, where),
        },
        where,
    )


@router.post(
    "/envelope/recipient/create-many",
    openapi_extra=_body(RecipientsCreateIn),
    summary="Add recipients to a draft",
    responses=_responses(EnvelopeNotFound, EnvelopeNotDraft),
)
async def create_recipients(request: Request, caller: Writer, session: DbSession) -> dict[str, Any]:
    body = await _json(request, RecipientsCreateIn)
    envelope = await _state(session, caller.organization_id, body.envelopeId, "draft")
    existing = len((await _parts(session, envelope.id)).recipients)
    items = [
        _recipient_in(r, i, order_in(r.signingOrder, existing + i), f"data.{i}")
        for i, r in enumerate(body.data)
    ]
    rows = await editing.add_recipients(
        session,
        caller.organization_id,
        envelope.id,
        items,
        signing_key=_runtime(request).settings.signing_key,
    )
    data = await _recipients_out(
        request, session, caller.organization_id, envelope, [r.id for r in rows]
    )
    return {"data": data}


@router.post(
    "/envelope/recipient/update-many",
    openapi_extra=_body(RecipientsUpdateIn),
    summary="Change recipients of a draft (email, name, role, signingOrder, auth)",
    responses=_responses(EnvelopeNotFound, EnvelopeNotDraft, RecipientNotFound),
)
async def update_recipients(request: Request, caller: Writer, session: DbSession) -> dict[str, Any]:
    body = await _json(request, RecipientsUpdateIn)
    envelope = await _state(session, caller.organization_id, body.envelopeId, "draft")
    changes = []
    for index, patch in enumerate(body.data):
        where = f"data.{index}"
        values: dict[str, Any] = {}
        given = patch.model_fields_set
        if "email" in given and patch.email is not None:
            values["email"] = patch.email
        if "name" in given and patch.name:
            values["name"] = patch.name
        if "role" in given and patch.role is not None:
            values["role"] = ROLE_IN[patch.role]
        if "signingOrder" in given and patch.signingOrder is not None:
            values["order"] = order_in(patch.signingOrder, 0)
        values.update(auth_in(patch.accessAuth, patch.actionAuth, where))
        native = await _native(session, caller.organization_id, "recipient", patch.id)
        changes.append(RecipientChanges(native, values))
    rows = await editing.update_recipients(session, caller.organization_id, envelope.id, changes)
    data = await _recipients_out(
        request, session, caller.organization_id, envelope, [r.id for r in rows]
    )
    return {"data": data}


@router.post(
    "/envelope/recipient/delete",
    openapi_extra=_body(RecipientIdIn),
    response_model=Success,
    summary="Remove a recipient (and its fields) from a draft",
    responses=_responses(RecipientNotFound, EnvelopeNotDraft),
)
async def delete_recipient(request: Request, caller: Writer, session: DbSession) -> Success:
    body = await _json(request, RecipientIdIn)
    native = await _native(session, caller.organization_id, "recipient", body.recipientId)
    try:
        await editing.delete_recipient(session, caller.organization_id, native)
    except RecipientNotFound:  # the mapping outlived its row: named by the caller's id
        raise RecipientNotFound(f"No recipient {body.recipientId}.") from None
    return Success()


@router.post(
    "/envelope/recipient/{recipientId}/reject",
    openapi_extra=_body(RejectIn),
    summary="Record that a recipient rejected the envelope outside Tabellion",
    responses=_responses(RecipientNotFound, EnvelopeNotPending),
)
async def reject_recipient(
    recipientId: Annotated[int, Path(ge=1, le=MAX_FOREIGN_ID)],
    request: Request,
    caller: Writer,
    session: DbSession,
) -> dict[str, Any]:
    body = await _json(request, RejectIn)
    native = await _native(session, caller.organization_id, "recipient", recipientId)
    if body.actAsEmail is not None:
        raise ValidationFailed.field(
            "actAsEmail",
            "Tabellion has no team members to attribute a rejection to: the API key is "
            "recorded. Leave actAsEmail out.",
        )
    await _state(session, caller.organization_id, body.envelopeId, "pending")
    await editing.reject_on_behalf(
        session,
        caller.organization_id,
        body.envelopeId,
        native,
        body.reason,
        by=f"api-key:{caller.api_key_id}",
    )
    return await _recipient_with_fields(request, session, caller.organization_id, native)


# ---- fields --------------------------------------------------------------------------------


def _coordinates(item: Any, where: str, *, partial: bool) -> dict[str, Any]:
    names = {"page": "page", "positionX": "x", "positionY": "y", "width": "width",
             "height": "height"}  # fmt: skip
    found = {ours: getattr(item, theirs) for theirs, ours in names.items()}
    missing = [theirs for theirs, ours in names.items() if found[ours] is None]
    if missing and not partial:
        raise ValidationFailed.field(
            f"{where}.{missing[0]}",
            f"Give {', '.join(missing)}: a field is placed by page and percentages.",
            code="required",
        )
    return {ours: value for ours, value in found.items() if value is not None}


async def _envelope_of(session: AsyncSession, organization_id: str, body: EnvelopeRef) -> str:
    if body.envelopeId is not None:
        return body.envelopeId
    if body.documentId is None:
        raise ValidationFailed.field("envelopeId", "envelopeId is required.", code="required")
    native = await ids.native_of(
        session,
        dialect=DIALECT,
        kind="envelope",
        foreign_id=str(body.documentId),
        organization_id=organization_id,
    )
    if native is None:
        raise EnvelopeNotFound(f"No document {body.documentId}.")
    return native


def _fields_answer(body: EnvelopeRef, data: list[dict[str, Any]]) -> dict[str, Any]:
    return {"data": data, "fields": data} if body.guide else {"data": data}


async def _fields_out(
    request: Request,
    session: AsyncSession,
    organization_id: str,
    envelope: Envelope,
    native_ids: Sequence[str],
) -> list[dict[str, Any]]:
    parts, numbers = await _numbers_of(request, session, organization_id, envelope.id)
    by_id = {f.id: f for f in parts.fields}
    return [field_out(envelope, by_id[n], numbers.fields, numbers.recipients) for n in native_ids]


@router.post(
    "/envelope/field/create-many",
    openapi_extra=_body(FieldsCreateIn),
    summary="Place fields on a draft's items (page and percentage coordinates)",
    responses=_responses(EnvelopeNotFound, EnvelopeNotDraft, RecipientNotFound),
)
async def create_fields(request: Request, caller: Writer, session: DbSession) -> dict[str, Any]:
    body = await _json(request, FieldsCreateIn)
    envelope_id = await _envelope_of(session, caller.organization_id, body)
    envelope = await _state(session, caller.organization_id, envelope_id, "draft")
    parts = await _parts(session, envelope.id)
    documents = {d.id: d for d in parts.documents}
    # Each item's native fields, in the request's order: by coordinates, or at the text of
    # the item's PDF it names (``placeholder``: the first place, or every one with matchAll).
    by_coordinates: list[tuple[int, FieldIn]] = []
    by_text: list[tuple[int, Any, str, str]] = []
    for index, item in enumerate(body.data):
        where = f"data.{index}"
        document_id = item.envelopeItemId or (parts.documents[0].id if parts.documents else "")
        if not document_id:
            raise ValidationFailed.field(
                f"{where}.envelopeItemId", "The envelope has no item to place the field on."
            )
        recipient_id = await _native(session, caller.organization_id, "recipient", item.recipientId)
        if item.placeholder is not None:
            if not item.placeholder.strip():
                raise ValidationFailed.field(f"{where}.placeholder", "Give the text to find.")
            if document_id not in documents:
                raise ValidationFailed.field(
                    f"{where}.envelopeItemId", f"No item {document_id} in this envelope."
                )
            by_text.append((index, item, recipient_id, document_id))
            continue
        by_coordinates.append(
            (
                index,
                _field_in(
                    item,
                    recipient_id=recipient_id,
                    document_id=document_id,
                    where=where,
                    coordinates=_coordinates(item, where, partial=False),
                ),
            )
        )
    made: dict[int, list[str]] = {}
    if by_coordinates:
        rows = await service.add_fields(
            session, caller.organization_id, envelope.id, [f for _, f in by_coordinates]
        )
        for (index, _), row in zip(by_coordinates, rows, strict=True):
            made[index] = [row.id]
    for index, item, recipient_id, document_id in by_text:
        made[index] = await _place_by_text(
            request, session, caller.organization_id, documents[document_id], item, recipient_id,
            f"data.{index}",
        )  # fmt: skip
    data = await _fields_out(
        request,
        session,
        caller.organization_id,
        envelope,
        [native for index in sorted(made) for native in made[index]],
    )
    return _fields_answer(body, data)


async def _place_by_text(
    request: Request,
    session: AsyncSession,
    organization_id: str,
    document: EnvelopeDocument,
    item: Any,
    recipient_id: str,
    where: str,
) -> list[str]:
    """Fields where ``item.placeholder`` is written in the item's PDF, as Documenso places
    them; the text is taken out of the signed PDF like a placeholder tag."""
    needle = str(item.placeholder)
    found = (await locate_texts(_runtime(request).storage, document.storage_key, [needle]))[needle]
    if not found:
        raise ValidationFailed.field(
            f"{where}.placeholder", f"Placeholder {needle!r} not found in the item's PDF."
        )
    meta, required = meta_in(item.type, item.fieldMeta, where)

    def field_of(tag: Tag) -> dict[str, Any]:
        placed = {**field_data(Tag(tag.text, FIELD_IN[item.type], 1, tag.page, tag.box))}
        width = float(item.width) if item.width is not None else placed["width"]
        height = float(item.height) if item.height is not None else placed["height"]
        return {
            **placed,
            "x": min(placed["x"], 100.0 - width),
            "y": min(placed["y"], 100.0 - height),
            "width": width,
            "height": height,
            "type": FIELD_IN[item.type],
            "required": required,
            "meta": meta,
        }

    tags = [Tag(t.text, FIELD_IN[item.type], 1, t.page, t.box) for t in found]
    rows = await service.place_tags(
        session,
        organization_id,
        document,
        tags if item.matchAll else tags[:1],
        recipient_order=[recipient_id],
        field_of=field_of,
    )
    return [row.id for row in rows]


@router.post(
    "/envelope/field/update-many",
    openapi_extra=_body(FieldsUpdateIn),
    summary="Move, resize or change fields of a draft",
    responses=_responses(EnvelopeNotFound, EnvelopeNotDraft, FieldNotFound),
)
async def update_fields(request: Request, caller: Writer, session: DbSession) -> dict[str, Any]:
    body = await _json(request, FieldsUpdateIn)
    envelope_id = await _envelope_of(session, caller.organization_id, body)
    envelope = await _state(session, caller.organization_id, envelope_id, "draft")
    changes = []
    for index, patch in enumerate(body.data):
        where = f"data.{index}"
        values: dict[str, Any] = {
            "type": FIELD_IN[patch.type],
            **_coordinates(patch, where, partial=True),
        }
        if patch.fieldMeta is not None:
            values["meta"], values["required"] = meta_in(patch.type, patch.fieldMeta, where)
        if patch.envelopeItemId is not None:
            values["document_id"] = patch.envelopeItemId
        native = await _native(session, caller.organization_id, "field", patch.id)
        changes.append(FieldChanges(native, values))
    rows = await editing.update_fields(session, caller.organization_id, envelope.id, changes)
    data = await _fields_out(
        request, session, caller.organization_id, envelope, [r.id for r in rows]
    )
    return _fields_answer(body, data)


@router.post(
    "/envelope/field/delete",
    openapi_extra=_body(FieldIdIn),
    response_model=Success,
    summary="Remove a field from a draft",
    responses=_responses(FieldNotFound, EnvelopeNotDraft),
)
async def delete_field(request: Request, caller: Writer, session: DbSession) -> Success:
    body = await _json(request, FieldIdIn)
    native = await _native(session, caller.organization_id, "field", body.fieldId)
    try:
        await editing.delete_field(session, caller.organization_id, native)
    except FieldNotFound:  # the mapping outlived its row: named by the caller's id
        raise FieldNotFound(f"No field {body.fieldId}.") from None
    return Success()


@router.get(
    "/envelope/field/{fieldId}",
    summary="Read one field by its numeric id",
    responses=_responses(FieldNotFound),
)
async def get_field(
    fieldId: Annotated[int, Path(ge=1, le=MAX_FOREIGN_ID)],
    request: Request,
    caller: Reader,
    session: DbSession,
) -> dict[str, Any]:
    native = await _native(session, caller.organization_id, "field", fieldId)
    field = await repository.get_field(session, caller.organization_id, native)
    if field is None:
        raise FieldNotFound(f"No field {fieldId}.")
    envelope = await service.get_envelope(session, caller.organization_id, field.envelope_id)
    return (await _fields_out(request, session, caller.organization_id, envelope, [field.id]))[0]
