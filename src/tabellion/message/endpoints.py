"""HTTP endpoints of messages, attachments and deliveries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from pydantic_core import to_json
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response, StreamingResponse

from tabellion.auth.dependencies import MessagesRead, MessagesWrite, _bearer, api_key_subject
from tabellion.auth.subjects import InsufficientScope
from tabellion.db import DbSession, SessionRoute, end_read_phase
from tabellion.document.encryption import put_for
from tabellion.document.multipart import (
    BINARY,
    MalformedMultipart,
    MultipartReader,
    boundary_of,
    store_form,
    upload_body_doc,
)
from tabellion.document.service import require_blob
from tabellion.document.sniff import (
    ContentTypeMismatch,
    EmptyFile,
    ExecutableRefused,
    content_disposition,
)
from tabellion.document.storage import BlobTooLarge, StoredBlob, StoredFileUnavailable
from tabellion.errors import (
    Conflict,
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    NotFound,
    Unauthorized,
    UnsupportedMediaType,
    ValidationFailed,
    responses,
)
from tabellion.evidence import links
from tabellion.evidence.service import evidence_refs
from tabellion.kit.pagination import Cursor, Page
from tabellion.kit.schema import inline_schema
from tabellion.message import repository
from tabellion.message.schemas import (
    AttachmentOut,
    DeliveryOut,
    DeliveryStatus,
    MessageIn,
    MessageOut,
    MessageStatus,
    MessageUpdate,
    Mode,
    ReplyIn,
    ReplyOut,
)
from tabellion.message.service import message as service
from tabellion.message.service.delivery import NoticeNotResendable, resend_notice
from tabellion.message.service.message import (
    DeliveryNotFound,
    MessageNotDraft,
    MessageNotFound,
    NoRecipients,
    TooManyAttachments,
    TooManyRecipients,
)
from tabellion.message.views import (
    attachment_out,
    deliveries_json,
    delivery_json,
    message_out,
    reply_out,
)
from tabellion.models.message import Delivery, Reply
from tabellion.organization.service import get_organization
from tabellion.portal.replies import MAX_REPLY_FILES, add_reply, find_file, reply_file
from tabellion.retention.service import ContentPurged
from tabellion.runtime import Runtime

T = TypeVar("T", bound=BaseModel)

messages_router = APIRouter(route_class=SessionRoute, tags=["messages"])
deliveries_router = APIRouter(route_class=SessionRoute, tags=["deliveries"])

MAX_MESSAGE_PART = 16 * 1024 * 1024  # the JSON part of a multipart create: 10,000 recipients fit
_AUTH_ERRORS = (Unauthorized, InsufficientScope, IdempotencyKeyReused, IdempotencyKeyInUse)
_FILE_ERRORS = (EmptyFile, ContentTypeMismatch, ExecutableRefused)
_CREATE_ERRORS = (
    *_FILE_ERRORS,
    TooManyRecipients,
    NoRecipients,
    TooManyAttachments,
    BlobTooLarge,
    MalformedMultipart,
    UnsupportedMediaType,
)
_UPLOAD_ERRORS = (
    *_FILE_ERRORS,
    MessageNotFound,
    MessageNotDraft,
    TooManyAttachments,
    BlobTooLarge,
    MalformedMultipart,
)

_MESSAGE_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": inline_schema(MessageIn)},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["message"],
                    "properties": {
                        "message": {
                            **inline_schema(MessageIn),
                            "description": "The message as JSON (the application/json body).",
                        },
                        "attachments": {
                            "type": "array",
                            "items": BINARY,
                        },
                    },
                },
                "encoding": {"message": {"contentType": "application/json"}},
            },
        },
    }
}
_UPLOAD_BODY_DOC = upload_body_doc(
    "application/octet-stream", "The raw file; send its type as Content-Type and ?filename=."
)


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _json(data: Any) -> Response:
    """An answer already in its schema's JSON form (``views.delivery_json``, a view's
    ``representation``), serialised once: returned as a model, it would be validated into
    the schema and dumped again. The route's ``response_model`` still documents it."""
    return Response(to_json(data), media_type="application/json")


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _validate(model: type[T], raw: bytes | str, *, loc: tuple[str, ...]) -> T:
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        errors = [{**e, "loc": (*loc, *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from exc


def _check_declared_length(request: Request, limit: int) -> None:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BlobTooLarge(f"The file is larger than the {limit}-byte limit.")


async def _store_parts(
    request: Request,
    reader: MultipartReader,
    *,
    organization_id: str,
    file_field: str,
    max_bytes: int,
    json_field: str = "message",
    max_files: int = service.MAX_ATTACHMENTS,
) -> tuple[bytes | None, list[tuple[StoredBlob, str, str | None]]]:
    """Read a multipart body: the ``json_field`` part and every file part, into storage under
    the organisation's key."""
    form = await store_form(
        reader,
        _runtime(request).storage,
        text_fields=(json_field,),
        file_field=file_field,
        max_bytes=max_bytes,
        max_files=max_files,
        too_many=lambda: TooManyAttachments(f"Attach at most {max_files} files."),
        field_limit=MAX_MESSAGE_PART,
        organization_id=organization_id,
    )
    return form.fields.get(json_field), form.files


async def store_one_file(
    request: Request, session: AsyncSession, *, organization_id: str, field: str, max_bytes: int
) -> tuple[StoredBlob, str, str | None]:
    """The one file part ``field`` of a multipart body, streamed into storage.

    The request's read phase ends first: no database connection is held while a client sends.
    """
    reader = MultipartReader(request.stream(), boundary_of(request.headers["content-type"]))
    await end_read_phase(session)
    _, files = await _store_parts(
        request, reader, organization_id=organization_id, file_field=field, max_bytes=max_bytes
    )
    if len(files) != 1:
        raise ValidationFailed.field(field, f"Send exactly one part named `{field}`.")
    return files[0]


async def _json_or_multipart(
    request: Request,
    session: DbSession,
    model: type[T],
    *,
    organization_id: str,
    json_field: str,
    file_field: str,
    max_files: int = service.MAX_ATTACHMENTS,
) -> tuple[T, list[tuple[StoredBlob, str, str | None]]]:
    """A JSON body, or a multipart one: ``json_field`` holds the JSON, the files stream into
    storage with the database session released meanwhile."""
    media_type = _media_type(request)
    if media_type == "application/json":
        return _validate(model, await request.body(), loc=("body",)), []
    if media_type != "multipart/form-data":
        raise UnsupportedMediaType("Send application/json, or multipart/form-data.")
    reader = MultipartReader(request.stream(), boundary_of(request.headers["content-type"]))
    await end_read_phase(session)
    raw, files = await _store_parts(
        request,
        reader,
        organization_id=organization_id,
        file_field=file_field,
        json_field=json_field,
        max_files=max_files,
        max_bytes=_runtime(request).settings.max_attachment_bytes,
    )
    if raw is None:
        raise ValidationFailed.field(json_field, f"The multipart body needs a `{json_field}` part.")
    return _validate(model, raw, loc=(json_field,)), files


@messages_router.post(
    "/messages",
    status_code=status.HTTP_201_CREATED,
    response_model=MessageOut,
    summary="Create a message (JSON), or create, attach and dispatch in one call (multipart)",
    openapi_extra=_MESSAGE_BODY_DOC,
    responses={
        202: {"model": MessageOut, "description": "Created and dispatched (`?dispatch=true`)"},
        **responses(*_AUTH_ERRORS, *_CREATE_ERRORS),
    },
)
async def create_message(
    request: Request,
    caller: MessagesWrite,
    session: DbSession,
    dispatch: Annotated[bool, Query(description="Dispatch at once.")] = False,
) -> Response:
    runtime = _runtime(request)
    data, files = await _json_or_multipart(
        request,
        session,
        MessageIn,
        organization_id=caller.organization_id,
        json_field="message",
        file_field="attachments",
    )
    view = await service.create_with_files(
        session, caller, data, files, settings=runtime.settings, dispatch_now=dispatch
    )
    code = status.HTTP_202_ACCEPTED if dispatch else status.HTTP_201_CREATED
    return Response(to_json(view.representation), status_code=code, media_type="application/json")


@messages_router.get(
    "/messages",
    response_model=Page[MessageOut],
    summary="List messages, newest first",
    responses=responses(Unauthorized, InsufficientScope),
)
async def list_messages(
    caller: MessagesRead,
    session: DbSession,
    status_: Annotated[MessageStatus | None, Query(alias="status")] = None,
    mode: Annotated[Mode | None, Query()] = None,
    campaign: Annotated[str | None, Query(max_length=255)] = None,
    reference: Annotated[str | None, Query(max_length=255)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Cursor = None,
) -> Page[MessageOut]:
    rows, next_cursor = await repository.list_messages(
        session,
        caller.organization_id,
        limit=limit,
        cursor=cursor,
        status=status_,
        mode=mode,
        campaign=campaign,
        reference=reference,
    )
    views = await service.list_message_views(session, rows)
    return Page[MessageOut](data=[message_out(v) for v in views], next_cursor=next_cursor)


@messages_router.get(
    "/messages/{message_id}",
    response_model=MessageOut,
    summary="Read a message with its deliveries",
    responses=responses(Unauthorized, InsufficientScope, MessageNotFound),
)
async def get_message(message_id: str, caller: MessagesRead, session: DbSession) -> Response:
    view = await service.get_message_view(session, caller.organization_id, message_id)
    return _json(view.representation)


@messages_router.patch(
    "/messages/{message_id}",
    response_model=MessageOut,
    summary="Change a draft: what POST /v1/messages takes, except its mode and on_behalf_of",
    description=(
        "Only the fields sent change; `null` clears an optional one. The draft as changed "
        "follows the creation rules (named recipients for registered and simple messages, "
        "options of registered messages, a sender to notify, an `identification` its "
        "providers can give)."
    ),
    responses=responses(
        *_AUTH_ERRORS,
        MessageNotFound,
        MessageNotDraft,
        TooManyRecipients,
    ),
)
async def update_message(
    message_id: str,
    body: MessageUpdate,
    request: Request,
    caller: MessagesWrite,
    session: DbSession,
) -> MessageOut:
    settings = _runtime(request).settings
    await service.update_draft(session, caller.organization_id, message_id, body, settings=settings)
    return message_out(await service.get_message_view(session, caller.organization_id, message_id))


@messages_router.delete(
    "/messages/{message_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a draft",
    responses=responses(Unauthorized, InsufficientScope, MessageNotFound, MessageNotDraft),
)
async def delete_message(message_id: str, caller: MessagesWrite, session: DbSession) -> Response:
    await service.delete_draft(session, caller.organization_id, message_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@messages_router.post(
    "/messages/{message_id}/attachments",
    status_code=status.HTTP_201_CREATED,
    response_model=AttachmentOut,
    summary="Upload an attachment to a draft (raw body or multipart `file`), streamed",
    openapi_extra=_UPLOAD_BODY_DOC,
    responses=responses(*_AUTH_ERRORS, *_UPLOAD_ERRORS),
)
async def upload_attachment(
    message_id: str,
    request: Request,
    caller: MessagesWrite,
    session: DbSession,
    filename: Annotated[str | None, Query(max_length=1024)] = None,
) -> AttachmentOut:
    runtime = _runtime(request)
    limit = runtime.settings.max_attachment_bytes
    await service.check_attachable(session, caller.organization_id, message_id)
    media_type = _media_type(request)
    if media_type == "multipart/form-data":
        blob, name, declared = await store_one_file(
            request, session, organization_id=caller.organization_id, field="file", max_bytes=limit
        )
        if filename:
            name = filename
    else:
        _check_declared_length(request, limit)
        await end_read_phase(session)
        blob = await put_for(
            runtime.storage, _body(request), organization_id=caller.organization_id, max_bytes=limit
        )
        name, declared = filename or "attachment", media_type or None
    message = await service.draft_for_attachment(session, caller.organization_id, message_id)
    attachment = await service.record_attachment(session, message, blob, name, declared)
    return attachment_out(attachment)


@messages_router.post(
    "/messages/{message_id}/dispatch",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=MessageOut,
    summary="Dispatch a draft: one delivery per recipient, each notified by e-mail",
    responses=responses(*_AUTH_ERRORS, MessageNotFound, MessageNotDraft, NoRecipients),
)
async def dispatch_message(
    message_id: str, request: Request, caller: MessagesWrite, session: DbSession
) -> Response:
    view = await service.dispatch(session, caller, message_id, settings=_runtime(request).settings)
    return Response(
        to_json(view.representation),
        status_code=status.HTTP_202_ACCEPTED,
        media_type="application/json",
    )


async def _body(request: Request) -> AsyncIterator[bytes]:
    async for chunk in request.stream():
        if chunk:
            yield chunk


@deliveries_router.get(
    "/deliveries",
    response_model=Page[DeliveryOut],
    summary="List deliveries; with `updated_after`, oldest change first",
    responses=responses(Unauthorized, InsufficientScope),
)
async def list_deliveries(
    caller: MessagesRead,
    session: DbSession,
    message_id: Annotated[str | None, Query(max_length=40)] = None,
    status_: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
    updated_after: Annotated[datetime | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Cursor = None,
) -> Response:
    if updated_after is not None and updated_after.tzinfo is None:
        raise ValidationFailed.field(
            "updated_after", "Give a time zone, e.g. 2026-11-22T10:00:00Z."
        )
    rows, next_cursor = await repository.list_deliveries(
        session,
        caller.organization_id,
        limit=limit,
        cursor=cursor,
        message_id=message_id,
        status=status_,
        updated_after=updated_after,
    )
    evidence = await evidence_refs(session, [d.id for d in rows])
    return _json({"data": deliveries_json(rows, evidence), "next_cursor": next_cursor})


@deliveries_router.get(
    "/deliveries/{delivery_id}",
    response_model=DeliveryOut,
    summary="Read a delivery with its evidence",
    responses=responses(Unauthorized, InsufficientScope, DeliveryNotFound),
)
async def get_delivery(delivery_id: str, caller: MessagesRead, session: DbSession) -> Response:
    delivery, evidence = await service.get_delivery_view(
        session, caller.organization_id, delivery_id
    )
    return _json(delivery_json(delivery, evidence))


@deliveries_router.post(
    "/deliveries/{delivery_id}/resend-notice",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryOut,
    summary="E-mail the delivery's notice again: the same link and deadline",
    description=(
        "For a recipient who did not see the first notice: only while the delivery awaits "
        "them (`notified`, before a registered letter's deadline), else 409 "
        "`notice-not-resendable` with the reason. The e-mail leaves from the worker with its "
        "own Message-ID. It is not evidence (the first NOTIFIED stays the proof of "
        "notification) and emits no event."
    ),
    responses=responses(*_AUTH_ERRORS, DeliveryNotFound, NoticeNotResendable),
)
async def resend_delivery_notice(
    delivery_id: str, caller: MessagesWrite, session: DbSession
) -> Response:
    delivery = await service.get_delivery(session, caller.organization_id, delivery_id)
    resend_notice(
        session,
        delivery,
        requested_by={"requested_by": caller.api_key_id, "method": caller.authentication},
    )
    evidence = await evidence_refs(session, [delivery.id])
    return Response(
        to_json(delivery_json(delivery, evidence[delivery.id])),
        status_code=status.HTTP_202_ACCEPTED,
        media_type="application/json",
    )


class DeliveryNotSecure(Conflict):
    code = "delivery-not-secure"
    title = "Only secure deliveries have a conversation"


@deliveries_router.get(
    "/deliveries/{delivery_id}/replies",
    response_model=Page[ReplyOut],
    summary="The conversation of a secure delivery, oldest first",
    responses=responses(Unauthorized, InsufficientScope, DeliveryNotFound),
)
async def list_replies(
    delivery_id: str, caller: MessagesRead, session: DbSession
) -> Page[ReplyOut]:
    delivery = await service.get_delivery(session, caller.organization_id, delivery_id)
    rows = await session.scalars(
        select(Reply).where(Reply.delivery_id == delivery.id).order_by(Reply.created_at, Reply.id)
    )
    return Page[ReplyOut](data=[reply_out(r) for r in rows], next_cursor=None)


_REPLY_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": inline_schema(ReplyIn)},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["reply"],
                    "properties": {
                        "reply": {
                            **inline_schema(ReplyIn),
                            "description": "The reply as JSON (the application/json body).",
                        },
                        "files": {
                            "type": "array",
                            "maxItems": MAX_REPLY_FILES,
                            "items": BINARY,
                        },
                    },
                },
                "encoding": {"reply": {"contentType": "application/json"}},
            },
        },
    }
}


async def _secure_delivery(session: DbSession, organization_id: str, delivery_id: str) -> Delivery:
    delivery = await service.get_delivery(session, organization_id, delivery_id)
    if delivery.mode != "secure":
        raise DeliveryNotSecure(f"Delivery {delivery_id} is {delivery.mode}, not secure.")
    return delivery


@deliveries_router.post(
    "/deliveries/{delivery_id}/replies",
    status_code=status.HTTP_201_CREATED,
    response_model=ReplyOut,
    summary="Answer the recipient of a secure delivery, with files (multipart); they are "
    "notified by e-mail",
    openapi_extra=_REPLY_BODY_DOC,
    responses=responses(
        *_AUTH_ERRORS,
        *_FILE_ERRORS,
        TooManyAttachments,
        BlobTooLarge,
        MalformedMultipart,
        UnsupportedMediaType,
        DeliveryNotFound,
        DeliveryNotSecure,
    ),
)
async def post_reply(
    delivery_id: str, request: Request, caller: MessagesWrite, session: DbSession
) -> ReplyOut:
    if _media_type(request) == "multipart/form-data":
        # Refuse early, before a client streams files for nothing.
        await _secure_delivery(session, caller.organization_id, delivery_id)
    body, files = await _json_or_multipart(
        request,
        session,
        ReplyIn,
        organization_id=caller.organization_id,
        json_field="reply",
        file_field="files",
        max_files=MAX_REPLY_FILES,
    )
    # (Again after a multipart body: the session was released while its files streamed in.)
    delivery = await _secure_delivery(session, caller.organization_id, delivery_id)
    organization = await get_organization(session, caller.organization_id)
    allow_executables = organization.allow_executable_attachments
    stored = [
        reply_file(
            blob, name, declared, allow_executables=allow_executables, field=f"files[{index}]"
        )
        for index, (blob, name, declared) in enumerate(files)
    ]
    reply = await add_reply(
        session,
        delivery,
        author="sender",
        body_html=body.body_html,
        body_text=body.body_text,
        files=stored,
        # Who submitted the answer, as a message's proofs name it.
        submitted_by={
            "method": caller.authentication,
            "api_key_id": caller.api_key_id,
            "organization_id": caller.organization_id,
        },
    )
    return reply_out(reply)


class ReplyFileNotFound(NotFound):
    code = "reply-file-not-found"
    title = "Reply file not found"


@deliveries_router.get(
    "/deliveries/{delivery_id}/replies/{reply_id}/files/{file_id}",
    summary="Download a file attached to a reply (either side's), streamed",
    description=(
        "Authenticate with an API key, or use the file's signed `download_url` (in the reply "
        "and in the `delivery.replied` event; valid 24 hours, then 410 `link-expired`)."
    ),
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/octet-stream": {}}, "description": "The file"},
        **responses(
            Unauthorized,
            InsufficientScope,
            DeliveryNotFound,
            ReplyFileNotFound,
            links.LinkExpired,
            links.LinkInvalid,
            ContentPurged,
            StoredFileUnavailable,
        ),
    },
)
async def download_reply_file(
    delivery_id: str,
    reply_id: str,
    file_id: str,
    request: Request,
    session: DbSession,
    expires: Annotated[str | None, Query(description=links.LINK_PARAMS["expires"])] = None,
    signature: Annotated[str | None, Query(description=links.LINK_PARAMS["signature"])] = None,
) -> StreamingResponse:
    if expires is not None or signature is not None:
        signer = links.current()
        if signer is None:
            raise Unauthorized("Signed links are not enabled.")
        signer.check(
            links.REPLY_FILE, f"{delivery_id}/{reply_id}/{file_id}", expires or "", signature or ""
        )
    else:
        caller = await api_key_subject(request, session, await _bearer(request))
        caller.require("messages:read")
        # Scoped to the caller's organisation (404 for another's delivery).
        await service.get_delivery(session, caller.organization_id, delivery_id)
    reply = await session.scalar(
        select(Reply).where(Reply.id == reply_id, Reply.delivery_id == delivery_id)
    )
    found = find_file([reply], file_id) if reply is not None else None
    if found is None:
        raise ReplyFileNotFound(f"No file {file_id} in reply {reply_id}.")
    if found.get("purged") or "storage_key" not in found:
        raise ContentPurged(f"The file {file_id} was deleted at the end of its retention period.")
    storage = _runtime(request).storage
    key = found["storage_key"]
    # Whole and matching its hash, as the portal checks before handing a file over.
    await require_blob(storage, key, found.get("sha256", key), what=f"reply file {file_id}")
    return StreamingResponse(
        storage.open(key),
        media_type=found["content_type"],
        headers={
            "Content-Disposition": content_disposition(found["filename"]),
            "Content-Length": str(found["size"]),
            "X-Content-Type-Options": "nosniff",
        },
    )
