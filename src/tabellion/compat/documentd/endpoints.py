"""StayPrivate Documentd API 1.0 under ``/compat/documentd``: the original's paths after its
base URL, its ``{"success": ...}`` envelopes, its auth (a company API id and a JWT signed by the
company's registered key). Everything else is the native message service's.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ValidationError

from tabellion.auth.dependencies import ISSUER_HEADER
from tabellion.auth.subjects import ApiKeySubject
from tabellion.compat.documentd.schemas import Failure, Prepared, PrepareIn, RecipientsIn, Success
from tabellion.compat.documentd.translate import render_error
from tabellion.db import DbSession, SessionRoute
from tabellion.document.multipart import BINARY, MalformedMultipart, multipart_body_doc
from tabellion.document.storage import BlobTooLarge
from tabellion.errors import TabellionError, Unauthorized, ValidationFailed
from tabellion.kit.ratelimit import limit_credential
from tabellion.kit.schema import inline_schema
from tabellion.kit.text import guard_request
from tabellion.message.endpoints import store_one_file
from tabellion.message.rules import text_to_html
from tabellion.message.schemas import MessageIn, Mode, RecipientIn, SenderIn
from tabellion.message.service import message as messages
from tabellion.message.service.message import (
    MessageNotDraft,
    MessageNotFound,
    TooManyAttachments,
)
from tabellion.organization.accounts import SenderNotRegistered
from tabellion.organization.client_keys import authenticate_jwt
from tabellion.organization.service import get_organization
from tabellion.runtime import Runtime

__all__ = ["PREFIX", "render_error", "router"]

PREFIX = "/compat/documentd"
TAG = "documentd"
M = TypeVar("M", bound=BaseModel)

_bearer = HTTPBearer(
    auto_error=False, description="A JWT signed by the company's registered client key."
)


def _responses(*errors: type[TabellionError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses: every error in Documentd's envelope, by the status it answers."""
    statuses = {400 if issubclass(e, ValidationFailed) else e.status for e in errors}
    return {
        status: {"model": Failure, "description": '`{"success": false, "error": {...}}`'}
        for status in sorted({400, 401, 403, *statuses})
    }


async def company(
    request: Request,
    session: DbSession,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    company_api_id: Annotated[
        str | None,
        Header(alias=ISSUER_HEADER, description="The issuer of the company's client key."),
    ] = None,
) -> ApiKeySubject:
    """As the original: ``SP-Company-Api-Id`` and a JWT whose ``iss`` is that id."""
    if not company_api_id:
        raise Unauthorized(f"Send the company API id as the `{ISSUER_HEADER}` header.")
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("Send a JWT signed by the company's key as `Authorization: Bearer`.")
    subject = await authenticate_jwt(session, credentials.credentials, issuer=company_api_id)
    await limit_credential(request, subject.api_key_id)
    subject.require("messages:write")
    request.state.subject = subject
    return subject


Company = Annotated[ApiKeySubject, Depends(company)]

# A reference that cannot be an id (a NUL, say) is not found, before anything is looked up.
router = APIRouter(
    route_class=SessionRoute,
    tags=[TAG],
    dependencies=[Depends(guard_request({"emailRef": MessageNotFound}))],
)


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def _fields(request: Request, model: type[M]) -> M:
    """The body as JSON, or as a form (the original's cURL examples post either)."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    data: Any
    if media_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.form()
        data = {key: form.getlist(key) if key == "emailToList" else form[key] for key in form}
    else:
        raw = await request.body()
        try:
            data = json.loads(raw) if raw.strip() else {}
        except ValueError as exc:
            raise ValidationFailed.field("body", "The body is not valid JSON.") from exc
    if not isinstance(data, dict):
        raise ValidationFailed.field("body", "The body must be a JSON object.")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from exc


@router.post(
    "/1.0/emails/prepare",
    response_model=Prepared,
    summary="Prepare Message: a draft from senderEmail, with emailSubject and emailBody",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": inline_schema(PrepareIn)},
                "application/x-www-form-urlencoded": {"schema": inline_schema(PrepareIn)},
            },
        }
    },
    responses=_responses(SenderNotRegistered),
)
async def prepare(request: Request, caller: Company, session: DbSession) -> Prepared:
    body = await _fields(request, PrepareIn)
    organization = await get_organization(session, caller.organization_id)
    text = body.emailBody or ""
    draft = MessageIn(
        # Deliver or send is said later (deliver / send); a draft's mode is set then.
        mode="deliver",
        subject=body.emailSubject or f"Message from {organization.name}",
        body_html=text_to_html(text),
        body_text=text,
        sender=SenderIn(email=body.senderEmail),
    )
    message = await messages.create_message(
        session, caller, draft, settings=_runtime(request).settings
    )
    return Prepared(emailRef=message.id)


@router.post(
    "/1.0/emails/{emailRef}/attachments/upload",
    response_model=Success,
    summary="Attach Document: one multipart part `emailAttachment`, streamed to storage",
    openapi_extra=multipart_body_doc({"emailAttachment": BINARY}, ["emailAttachment"]),
    responses=_responses(
        MessageNotFound, MessageNotDraft, TooManyAttachments, BlobTooLarge, MalformedMultipart
    ),
)
async def upload(emailRef: str, request: Request, caller: Company, session: DbSession) -> Success:
    limit = _runtime(request).settings.max_attachment_bytes
    await messages.check_attachable(session, caller.organization_id, emailRef)
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise ValidationFailed.field(
            "emailAttachment", "Send the file as multipart/form-data, part `emailAttachment`."
        )
    blob, name, declared = await store_one_file(
        request,
        session,
        organization_id=caller.organization_id,
        field="emailAttachment",
        max_bytes=limit,
    )
    message = await messages.draft_for_attachment(session, caller.organization_id, emailRef)
    await messages.record_attachment(session, message, blob, name, declared)
    return Success()


async def _dispatch(
    request: Request, caller: ApiKeySubject, session: DbSession, email_ref: str, mode: Mode
) -> Success:
    body = await _fields(request, RecipientsIn)
    settings = _runtime(request).settings
    await messages.readdress_draft(
        session,
        caller.organization_id,
        email_ref,
        mode=mode,
        recipients=[RecipientIn(email=address) for address in body.emailToList],
        settings=settings,
    )
    await messages.dispatch(session, caller, email_ref, settings=settings)
    return Success()


_DISPATCH_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": inline_schema(RecipientsIn)}},
    }
}


@router.post(
    "/1.0/emails/{emailRef}/deliver",
    response_model=Success,
    summary="Deliver Message: the documents into each recipient's vault (native `deliver`)",
    openapi_extra=_DISPATCH_DOC,
    responses=_responses(MessageNotFound, MessageNotDraft),
)
async def deliver(emailRef: str, request: Request, caller: Company, session: DbSession) -> Success:
    return await _dispatch(request, caller, session, emailRef, "deliver")


@router.post(
    "/1.0/emails/{emailRef}/send",
    response_model=Success,
    summary="Send Message: a secure message the recipient reads and answers (native `secure`)",
    openapi_extra=_DISPATCH_DOC,
    responses=_responses(MessageNotFound, MessageNotDraft),
)
async def send(emailRef: str, request: Request, caller: Company, session: DbSession) -> Success:
    return await _dispatch(request, caller, session, emailRef, "secure")
