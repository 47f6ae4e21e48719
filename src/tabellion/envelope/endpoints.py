"""HTTP endpoints of envelopes (e-signature)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from starlette.responses import Response, StreamingResponse

from tabellion.auth.subjects import InsufficientScope
from tabellion.db import DbSession, SessionRoute, end_read_phase
from tabellion.document.encryption import put_for
from tabellion.document.multipart import (
    MalformedMultipart,
    MultipartReader,
    boundary_of,
    upload_body_doc,
)
from tabellion.document.sniff import content_disposition
from tabellion.document.storage import BlobTooLarge, StoredBlob
from tabellion.envelope import bulk, evidence, repository, service
from tabellion.envelope.auth import EnvelopesRead, EnvelopesWrite
from tabellion.envelope.bulk import BadBulkCsv
from tabellion.envelope.pdf import BrokenPdf, EncryptedPdf, NotAPdf, inspect_pdf_tags
from tabellion.envelope.placeholders import BadPlaceholder
from tabellion.envelope.schemas import (
    BulkSendRowOut,
    DocumentUploadOut,
    EnvelopeBulkSendOut,
    EnvelopeIn,
    EnvelopeOut,
    EvidenceItemOut,
    EvidenceListOut,
    FieldsIn,
    FieldsOut,
    ReassignIn,
)
from tabellion.envelope.service import (
    AccessAuthUnavailable,
    ActionAuthUnavailable,
    BadSigningOrder,
    EnvelopeDocumentNotFound,
    EnvelopeNotCompleted,
    EnvelopeNotDraft,
    EnvelopeNotFound,
    EnvelopeNotPending,
    FieldOffPage,
    NoDocuments,
    NoSigners,
    PageNotFound,
    PasskeyNeedsAccessCode,
    RecipientAlreadyActed,
    RecipientCannotFill,
    RecipientNotAUser,
    RecipientNotFound,
    SameRecipient,
    SignerWithoutSignatureField,
    TooManyDocuments,
    TooManyFields,
    UnknownDocument,
    UnknownRecipient,
)
from tabellion.envelope.views import document_out, envelope_out, field_out
from tabellion.errors import (
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    PayloadTooLarge,
    Unauthorized,
    ValidationFailed,
    responses,
)
from tabellion.identity.envelopes import check as identity_check
from tabellion.kit.pagination import Cursor, Page
from tabellion.retention import service as retention
from tabellion.retention.schemas import LegalHoldIn
from tabellion.runtime import Runtime

router = APIRouter(route_class=SessionRoute, tags=["envelopes"])

_AUTH_ERRORS = (Unauthorized, InsufficientScope, IdempotencyKeyReused, IdempotencyKeyInUse)
_UPLOAD_BODY_DOC = upload_body_doc("application/pdf", "The raw PDF; name it with ?filename=.")


class BulkCsvTooLarge(PayloadTooLarge):
    code = "bulk-csv-too-large"
    title = "The CSV is too large"


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def _view(session: DbSession, organization_id: str, envelope_id: str) -> EnvelopeOut:
    envelope = await service.get_envelope(session, organization_id, envelope_id)
    parts = await repository.parts_of(session, [envelope.id])
    return envelope_out(envelope, parts[envelope.id])


@router.post(
    "/envelopes",
    status_code=status.HTTP_201_CREATED,
    response_model=EnvelopeOut,
    summary="Create a draft envelope with its recipients",
    responses=responses(*_AUTH_ERRORS, BadSigningOrder),
)
async def create_envelope(
    body: EnvelopeIn, request: Request, caller: EnvelopesWrite, session: DbSession
) -> EnvelopeOut:
    identity_check(_runtime(request).settings, body.recipients)
    envelope = await service.create_envelope(
        session, caller, body, signing_key=_runtime(request).settings.signing_key
    )
    return await _view(session, caller.organization_id, envelope.id)


@router.get(
    "/envelopes",
    response_model=Page[EnvelopeOut],
    summary="List envelopes, newest first",
    responses=responses(Unauthorized, InsufficientScope),
)
async def list_envelopes(
    caller: EnvelopesRead,
    session: DbSession,
    status_: Annotated[
        str | None,
        Query(alias="status", pattern="^(draft|pending|completed|rejected|expired|cancelled)$"),
    ] = None,
    reference: Annotated[str | None, Query(max_length=255)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Cursor = None,
) -> Page[EnvelopeOut]:
    rows, next_cursor = await repository.list_envelopes(
        session,
        caller.organization_id,
        limit=limit,
        cursor=cursor,
        status=status_,
        reference=reference,
    )
    parts = await repository.parts_of(session, [e.id for e in rows])
    return Page[EnvelopeOut](
        data=[envelope_out(e, parts[e.id]) for e in rows], next_cursor=next_cursor
    )


@router.get(
    "/envelopes/{envelope_id}",
    response_model=EnvelopeOut,
    summary="Read an envelope with its recipients, documents and fields",
    responses=responses(Unauthorized, InsufficientScope, EnvelopeNotFound),
)
async def get_envelope(envelope_id: str, caller: EnvelopesRead, session: DbSession) -> EnvelopeOut:
    return await _view(session, caller.organization_id, envelope_id)


@router.delete(
    "/envelopes/{envelope_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a draft envelope",
    responses=responses(Unauthorized, InsufficientScope, EnvelopeNotFound, EnvelopeNotDraft),
)
async def delete_envelope(envelope_id: str, caller: EnvelopesWrite, session: DbSession) -> Response:
    await service.delete_draft(session, caller.organization_id, envelope_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/envelopes/{envelope_id}/legal-hold",
    response_model=EnvelopeOut,
    summary="Place a legal hold on an envelope: its documents are kept past their retention",
    description=(
        "While held, neither the retention timer nor the end of the proofs' period deletes "
        "the envelope's documents, signed files and certificate (docs/data.md). Evidence "
        "`LEGAL_HOLD_PLACED` records it (with the `reason` sent). Placing a hold on a held "
        "envelope changes nothing."
    ),
    responses=responses(Unauthorized, InsufficientScope, EnvelopeNotFound),
)
async def place_legal_hold(
    envelope_id: str,
    caller: EnvelopesWrite,
    session: DbSession,
    body: LegalHoldIn | None = None,
) -> EnvelopeOut:
    envelope = await service.get_envelope(
        session, caller.organization_id, envelope_id, for_update=True
    )
    await retention.set_envelope_legal_hold(
        session, envelope, held=True, reason=body.reason if body else None, caller=caller
    )
    return await _view(session, caller.organization_id, envelope_id)


@router.delete(
    "/envelopes/{envelope_id}/legal-hold",
    response_model=EnvelopeOut,
    summary="Release an envelope's legal hold",
    description="Evidence `LEGAL_HOLD_RELEASED` records it; an envelope not held is unchanged.",
    responses=responses(Unauthorized, InsufficientScope, EnvelopeNotFound),
)
async def release_legal_hold(
    envelope_id: str, caller: EnvelopesWrite, session: DbSession
) -> EnvelopeOut:
    envelope = await service.get_envelope(
        session, caller.organization_id, envelope_id, for_update=True
    )
    await retention.set_envelope_legal_hold(session, envelope, held=False, caller=caller)
    return await _view(session, caller.organization_id, envelope_id)


async def _raw_body(request: Request) -> AsyncIterator[bytes]:
    async for chunk in request.stream():
        if chunk:
            yield chunk


async def _receive_file(
    request: Request, limit: int, organization_id: str
) -> tuple[StoredBlob, str | None]:
    """Stream the one uploaded file into storage, under the organisation's key: a raw body or
    a multipart `file` part."""
    storage = _runtime(request).storage
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "multipart/form-data":
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise BlobTooLarge(f"The file is larger than the {limit}-byte limit.")
        blob = await put_for(
            storage, _raw_body(request), organization_id=organization_id, max_bytes=limit
        )
        return blob, None
    reader = MultipartReader(request.stream(), boundary_of(content_type))
    found: tuple[StoredBlob, str | None] | None = None
    while (part := await reader.next_part()) is not None:
        if part.name == "file" and found is None:
            blob = await put_for(
                storage, reader.data(), organization_id=organization_id, max_bytes=limit
            )
            found = (blob, part.filename)
        else:
            async for _ in reader.data():
                pass
    if found is None:
        raise ValidationFailed.field("file", "Send the PDF in a part named `file`.")
    return found


@router.post(
    "/envelopes/{envelope_id}/documents",
    status_code=status.HTTP_201_CREATED,
    response_model=DocumentUploadOut,
    summary="Upload a PDF to a draft envelope (raw body or multipart `file`), streamed",
    openapi_extra=_UPLOAD_BODY_DOC,
    responses=responses(
        *_AUTH_ERRORS,
        EnvelopeNotFound,
        EnvelopeNotDraft,
        TooManyDocuments,
        BlobTooLarge,
        MalformedMultipart,
        NotAPdf,
        EncryptedPdf,
        BrokenPdf,
        BadPlaceholder,
        RecipientCannotFill,
    ),
)
async def upload_document(
    envelope_id: str,
    request: Request,
    caller: EnvelopesWrite,
    session: DbSession,
    filename: Annotated[str | None, Query(max_length=1024)] = None,
    placeholders: Annotated[
        bool,
        Query(description="Turn text tags such as `{{signature, r1}}` into fields"),
    ] = True,
) -> DocumentUploadOut:
    runtime = _runtime(request)
    await service.check_uploadable(session, caller.organization_id, envelope_id)
    await end_read_phase(session)
    blob, part_name = await _receive_file(
        request, runtime.settings.max_attachment_bytes, caller.organization_id
    )
    pages, tags = await inspect_pdf_tags(runtime.storage, blob.key, blob.head, tags=placeholders)
    document = await service.record_document(
        session,
        caller.organization_id,
        envelope_id,
        blob,
        filename=filename or part_name or "document.pdf",
        pages=pages,
    )
    placed = await service.place_tags(session, caller.organization_id, document, tags)
    return DocumentUploadOut(**document_out(document).model_dump(), placeholders=len(placed))


@router.post(
    "/envelopes/{envelope_id}/fields",
    status_code=status.HTTP_201_CREATED,
    response_model=FieldsOut,
    summary="Place fields on the pages of a draft (percent coordinates, top-left origin)",
    responses=responses(
        *_AUTH_ERRORS,
        EnvelopeNotFound,
        EnvelopeNotDraft,
        UnknownRecipient,
        UnknownDocument,
        PageNotFound,
        FieldOffPage,
        RecipientCannotFill,
        TooManyFields,
    ),
)
async def add_fields(
    envelope_id: str, body: FieldsIn, caller: EnvelopesWrite, session: DbSession
) -> FieldsOut:
    rows = await service.add_fields(session, caller.organization_id, envelope_id, body.fields)
    return FieldsOut(data=[field_out(f) for f in rows])


@router.post(
    "/envelopes/{envelope_id}/send",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=EnvelopeOut,
    summary="Send a draft: the recipients whose turn it is are invited by e-mail",
    responses=responses(
        *_AUTH_ERRORS,
        EnvelopeNotFound,
        EnvelopeNotDraft,
        NoDocuments,
        NoSigners,
        SignerWithoutSignatureField,
        ActionAuthUnavailable,
        AccessAuthUnavailable,
        RecipientNotAUser,
        PasskeyNeedsAccessCode,
    ),
)
async def send_envelope(
    envelope_id: str, caller: EnvelopesWrite, session: DbSession
) -> EnvelopeOut:
    envelope = await service.send(session, caller.organization_id, envelope_id)
    return await _view(session, caller.organization_id, envelope.id)


@router.post(
    "/envelopes/{envelope_id}/cancel",
    response_model=EnvelopeOut,
    summary="Cancel a pending envelope",
    responses=responses(*_AUTH_ERRORS, EnvelopeNotFound, EnvelopeNotPending),
)
async def cancel_envelope(
    envelope_id: str, caller: EnvelopesWrite, session: DbSession
) -> EnvelopeOut:
    envelope = await service.cancel(session, caller.organization_id, envelope_id)
    return await _view(session, caller.organization_id, envelope.id)


@router.post(
    "/envelopes/{envelope_id}/remind",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=EnvelopeOut,
    summary="E-mail again the recipients who have not acted yet",
    responses=responses(*_AUTH_ERRORS, EnvelopeNotFound, EnvelopeNotPending),
)
async def remind_envelope(
    envelope_id: str, caller: EnvelopesWrite, session: DbSession
) -> EnvelopeOut:
    envelope = await service.remind(session, caller.organization_id, envelope_id)
    return await _view(session, caller.organization_id, envelope.id)


@router.post(
    "/envelopes/{envelope_id}/bulk-send",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=EnvelopeBulkSendOut,
    summary="Send one copy of this draft per row of a CSV (raw text/csv body)",
    description="The draft is the template and stays a draft. Columns: `rN.email`, "
    "`rN.name`, `rN.language` (the N-th recipient as the envelope lists them), `title`, "
    "`message`, `reference`, and a field's `meta.label` to fill that field, read-only. "
    "All rows are sent, or none.",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
    responses=responses(
        *_AUTH_ERRORS,
        EnvelopeNotFound,
        EnvelopeNotDraft,
        BadBulkCsv,
        BulkCsvTooLarge,
        NoDocuments,
        SignerWithoutSignatureField,
        RecipientNotAUser,
    ),
)
async def bulk_send(
    envelope_id: str, request: Request, caller: EnvelopesWrite, session: DbSession
) -> EnvelopeBulkSendOut:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > bulk.MAX_CSV_BYTES:
            raise BulkCsvTooLarge(f"A bulk CSV has at most {bulk.MAX_CSV_BYTES} bytes.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise bulk.BadBulkCsv.field(
            "file", "The CSV must be UTF-8 text.", code=bulk.BadBulkCsv.code
        ) from exc
    sent = await bulk.bulk_send(
        session,
        caller,
        envelope_id,
        text,
        signing_key=_runtime(request).settings.signing_key,
    )
    return EnvelopeBulkSendOut(
        data=[
            BulkSendRowOut(row=row.number, envelope_id=envelope.id, status=envelope.status)
            for row, envelope in sent
        ]
    )


@router.post(
    "/envelopes/{envelope_id}/recipients/{recipient_id}/reassign",
    response_model=EnvelopeOut,
    summary="Hand a recipient's part to another person before they act",
    description="The recipient keeps its id, role, order and fields; its signing link "
    "changes and the new person is invited if it was this recipient's turn. The previous "
    "person stays in the audit certificate.",
    responses=responses(
        *_AUTH_ERRORS,
        EnvelopeNotFound,
        RecipientNotFound,
        EnvelopeNotPending,
        RecipientAlreadyActed,
        SameRecipient,
        RecipientNotAUser,
    ),
)
async def reassign_recipient(
    envelope_id: str,
    recipient_id: str,
    body: ReassignIn,
    request: Request,
    caller: EnvelopesWrite,
    session: DbSession,
) -> EnvelopeOut:
    envelope = await service.reassign(
        session,
        caller.organization_id,
        envelope_id,
        recipient_id,
        body,
        signing_key=_runtime(request).settings.signing_key,
    )
    return await _view(session, caller.organization_id, envelope.id)


async def _pdf(request: Request, key: str, filename: str) -> Response:
    return StreamingResponse(
        _runtime(request).storage.open(key),
        media_type="application/pdf",
        headers={"Content-Disposition": content_disposition(filename)},
    )


@router.get(
    "/envelopes/{envelope_id}/documents/{document_id}/signed",
    response_class=Response,
    summary="The signed PDF: fields flattened, audit certificate appended, PAdES-sealed",
    responses={
        200: {"content": {"application/pdf": {}}},
        **responses(
            Unauthorized,
            InsufficientScope,
            EnvelopeNotFound,
            EnvelopeDocumentNotFound,
            EnvelopeNotCompleted,
        ),
    },
)
async def signed_document(
    envelope_id: str, document_id: str, request: Request, caller: EnvelopesRead, session: DbSession
) -> Response:
    key, name = await service.signed_file_key(
        session, caller.organization_id, envelope_id, document_id
    )
    return await _pdf(request, key, name)


@router.get(
    "/envelopes/{envelope_id}/certificate",
    response_class=Response,
    summary="The audit certificate alone (PDF)",
    responses={
        200: {"content": {"application/pdf": {}}},
        **responses(Unauthorized, InsufficientScope, EnvelopeNotFound, EnvelopeNotCompleted),
    },
)
async def envelope_certificate(
    envelope_id: str, request: Request, caller: EnvelopesRead, session: DbSession
) -> Response:
    key, name = await service.signed_file_key(session, caller.organization_id, envelope_id, None)
    return await _pdf(request, key, name)


@router.get(
    "/envelopes/{envelope_id}/evidence",
    summary="The envelope's evidence: each event's sealed proof in the organisation's chain",
    description="Oldest first. Each item's JSON proof is `GET /v1/evidence/{id}`; an item is "
    "`sealed` (chained, signed and in the transparency log) within seconds of its event.",
    responses=responses(Unauthorized, InsufficientScope, EnvelopeNotFound),
)
async def envelope_evidence(
    envelope_id: str, caller: EnvelopesRead, session: DbSession
) -> EvidenceListOut:
    envelope = await service.get_envelope(session, caller.organization_id, envelope_id)
    rows = await evidence.evidence_of(session, envelope.id)
    return EvidenceListOut(
        data=[
            EvidenceItemOut(
                id=r.id,
                type=r.type,
                occurred_at=r.occurred_at,
                recipient_id=r.recipient_id,
                sealed=r.sealed_at is not None,
                sequence=r.seq,
                hash=r.hash,
            )
            for r in rows
        ]
    )
