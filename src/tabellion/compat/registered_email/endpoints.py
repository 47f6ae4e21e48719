"""The Registered E-mail API: create users, send registered e-mails, read their status in XML.

Paths are the original's, after its host: ``/api/user/``, ``/webservice/mailsender/send`` and
``/webservice/mailsender/status``. Callers authenticate with HTTP Basic (user name: the key
id, password: the API key; see ``tabellion key create --basic``) or ``Bearer <API key>``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import JSONResponse, Response

from tabellion.auth.subjects import ApiKeySubject
from tabellion.compat import ids
from tabellion.db import DbSession, SessionRoute, end_read_phase
from tabellion.document.encryption import put_for
from tabellion.document.jsonstream import (
    Base64Decoder,
    Base64Error,
    JsonReader,
    JsonSyntaxError,
    ValueTooLarge,
)
from tabellion.document.storage import BlobTooLarge, StoredBlob
from tabellion.errors import (
    FieldError,
    NotFound,
    PayloadTooLarge,
    TabellionError,
    Unauthorized,
    UnsupportedMediaType,
    ValidationFailed,
)
from tabellion.evidence.service import evidence_for_deliveries
from tabellion.kit.ratelimit import limit_credential
from tabellion.kit.schema import inline_schema
from tabellion.kit.time import as_utc, utcnow
from tabellion.message import repository
from tabellion.message.service import message as messages
from tabellion.message.service.message import TooManyAttachments
from tabellion.message.service.tracking import delivery_for_tracking, tracking_url
from tabellion.models.message import Attachment, Delivery
from tabellion.organization import accounts
from tabellion.organization.accounts import UserExists
from tabellion.organization.service import authenticate_api_key
from tabellion.runtime import Runtime

from . import translate
from .schemas import (
    RegisteredEmailError,
    RegisteredEmailSendIn,
    RegisteredEmailSendOut,
    RegisteredEmailUserIn,
    RegisteredEmailUserOut,
)

PREFIX = "/compat/registered-email"
TAG = "registered-email"
STATUS_PATH = "/webservice/mailsender/status"
# Every value but an attachment's base64 is read whole: the largest, message_body, is 1 MiB
# of text, which JSON escapes may double.
MAX_VALUE_BYTES = 4 * 1024 * 1024
MAX_STATUS_TICKETS = 1000

router = APIRouter(route_class=SessionRoute, tags=[TAG])

# Statuses the original does not list become the nearest it does.
_STATUS_MAP = {409: 400, 410: 404, 415: 400, 422: 400}
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": RegisteredEmailError, "description": text}
    for code, text in {
        400: "Bad request: `errors` names each field at fault",
        401: "Unauthorized: no or a wrong credential",
        403: "Forbidden: the credential lacks the scope",
    }.items()
}


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


# ---- errors -----------------------------------------------------------------------------------


def render_error(request: Request, error: TabellionError) -> Response:
    """Any error as this dialect shows it: JSON, or XML on the XML status interface."""
    status_code = _STATUS_MAP.get(error.status, error.status)
    headers = dict(error.headers)
    if error.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="Registered E-mail", charset="UTF-8"'
    if request.url.path.endswith(STATUS_PATH):
        return Response(
            translate.error_document(status_code, error.code, error.detail),
            status_code=status_code,
            media_type="application/xml",
            headers=headers,
        )
    fields: dict[str, list[str]] = {}
    for field_error in error.errors:
        fields.setdefault(field_error.field, []).append(field_error.message)
    body = RegisteredEmailError(
        message=error.detail, detail=error.detail, code=error.code, errors=fields
    )
    return JSONResponse(body.model_dump(), status_code=status_code, headers=headers)


# ---- authentication ---------------------------------------------------------------------------


def _credentials(header: str) -> tuple[str | None, str] | None:
    """``(user name or None, API key)`` from an Authorization header."""
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() == "bearer":
        return None, value.strip()
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, colon, password = decoded.partition(":")
    return (user, password) if colon else None


def _caller(scope: str) -> Any:
    async def dependency(request: Request, session: DbSession) -> ApiKeySubject:
        given = _credentials(request.headers.get("authorization", ""))
        subject = await authenticate_api_key(session, given[1]) if given else None
        # Basic: the password is the key. The user name should be the key's id; a client that
        # keeps its old user name still works, but another key's id is a mix-up: refused.
        user = given[0] if given else None
        if subject is not None and user and user.startswith("key_") and user != subject.api_key_id:
            subject = None
        if subject is None:
            raise Unauthorized(
                "Authenticate with HTTP Basic (user name: the key id, password: the API key) "
                "or Authorization: Bearer <API key>."
            )
        await limit_credential(request, subject.api_key_id)
        subject.require(scope)
        request.state.subject = subject
        return subject

    dependency.__name__ = f"registered_email_{scope.replace(':', '_')}"
    return Depends(dependency)


UsersCaller = Annotated[ApiKeySubject, _caller("users")]
SendCaller = Annotated[ApiKeySubject, _caller("messages:write")]
ReadCaller = Annotated[ApiKeySubject, _caller("messages:read")]


# ---- users ------------------------------------------------------------------------------------


# Also without the final slash: a client that drops it must not get a redirect to follow.
@router.post("/api/user", status_code=status.HTTP_201_CREATED, include_in_schema=False)
@router.post(
    "/api/user/",
    status_code=status.HTTP_201_CREATED,
    response_model=RegisteredEmailUserOut,
    summary="Create a sender user; they get an e-mail to activate their account",
    responses=_ERRORS,
)
async def create_user(
    body: RegisteredEmailUserIn, request: Request, caller: UsersCaller, session: DbSession
) -> RegisteredEmailUserOut:
    try:
        user = await accounts.create_user(
            session,
            caller,
            email=body.email_address,
            name=None,
            role="sender",
            signing_key=_runtime(request).settings.signing_key,
        )
    except UserExists as exc:
        # The original answers a taken address as a bad request naming the field.
        error = ValidationFailed.field(
            "email_address", "A user with this e-mail address already exists.", code=exc.code
        )
        error.code = exc.code
        raise error from exc
    foreign = await ids.allocate(
        session,
        dialect=translate.DIALECT,
        kind=translate.USER_KIND,
        native_id=user.id,
        organization_id=caller.organization_id,
        digits=translate.USER_ID_DIGITS,
    )
    return RegisteredEmailUserOut(id=int(foreign))


# ---- sending ----------------------------------------------------------------------------------


_SEND_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": inline_schema(RegisteredEmailSendIn)}},
    }
}


async def _chunks(request: Request) -> AsyncIterator[bytes]:
    async for chunk in request.stream():
        if chunk:
            yield chunk


class _Body:
    """The send request read as it arrives: attachments' base64 straight into storage."""

    def __init__(self, request: Request, organization_id: str) -> None:
        self.runtime = _runtime(request)
        self.organization_id = organization_id
        self.reader = JsonReader(_chunks(request), max_value_bytes=MAX_VALUE_BYTES)
        self.fields: dict[str, Any] = {}
        self.blobs: list[StoredBlob | None] = []

    async def read(self) -> None:
        try:
            if await self.reader.peek() != "{":
                raise JsonSyntaxError("the body must be a JSON object")
            async for key in self.reader.members():
                if key == "attachments" and await self.reader.peek() == "[":
                    self.blobs = []  # a repeated key replaces the list, as in json.loads
                    self.fields[key] = [item async for item in self._attachments()]
                else:
                    self.fields[key] = await self.reader.value()
            await self.reader.end()
        except JsonSyntaxError as exc:
            raise ValidationFailed.field(
                "body", f"The body is not valid JSON: {exc}.", code="invalid-json"
            ) from exc
        except ValueTooLarge as exc:
            raise PayloadTooLarge(f"The body has {exc}.") from exc

    async def _attachments(self) -> AsyncIterator[Any]:
        async for index in self.reader.items():
            if index >= messages.MAX_ATTACHMENTS:
                raise TooManyAttachments(
                    f"A message may have at most {messages.MAX_ATTACHMENTS} attachments."
                )
            self.blobs.append(None)
            if await self.reader.peek() != "{":
                yield await self.reader.value()  # not an object: the schema says so
                continue
            item: dict[str, Any] = {}
            async for key in self.reader.members():
                if key == "attachment" and await self.reader.peek() == '"':
                    self.blobs[index] = await self._store(index)
                else:
                    item[key] = await self.reader.value()
            yield item

    async def _store(self, index: int) -> StoredBlob:
        decoded = Base64Decoder().decode(self.reader.string_chunks())
        try:
            return await put_for(
                self.runtime.storage,
                decoded,
                organization_id=self.organization_id,
                max_bytes=self.runtime.settings.max_attachment_bytes,
            )
        except Base64Error as exc:
            raise ValidationFailed.field(
                f"attachments[{index}].attachment",
                f"The attachment is not valid base64 ({exc}).",
                code="invalid-base64",
            ) from exc
        except BlobTooLarge as exc:
            raise BlobTooLarge(
                f"attachments[{index}].attachment: the file is larger than the "
                f"{self.runtime.settings.max_attachment_bytes}-byte limit."
            ) from exc

    def validated(self) -> RegisteredEmailSendIn:
        try:
            send = RegisteredEmailSendIn.model_validate(self.fields)
        except ValidationError as exc:
            raise RequestValidationError(
                [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
            ) from exc
        missing = [
            FieldError(
                field=f"attachments[{i}].attachment",
                code="required",
                message="Give the file as a base64 string.",
            )
            for i, blob in enumerate(self.blobs)
            if blob is None
        ]
        if missing:
            raise ValidationFailed(f"{missing[0].field}: {missing[0].message}", errors=missing)
        return send


@router.post(
    "/webservice/mailsender/send",
    response_model=RegisteredEmailSendOut,
    summary="Send a registered e-mail (attachments in base64)",
    openapi_extra=_SEND_DOC,
    responses={
        **_ERRORS,
        412: {
            "model": RegisteredEmailError,
            "description": "The sender has not activated their account",
        },
        413: {
            "model": RegisteredEmailError,
            "description": "An attachment or a value is too large",
        },
    },
)
async def send(request: Request, caller: SendCaller, session: DbSession) -> RegisteredEmailSendOut:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type and media_type != "application/json" and not media_type.endswith("+json"):
        raise UnsupportedMediaType("Send the registered e-mail as application/json.")
    runtime = _runtime(request)
    declared = request.headers.get("content-length", "")
    limit = runtime.settings.max_attachment_bytes * messages.MAX_ATTACHMENTS * 4 // 3
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The body is larger than the {limit}-byte limit.")
    await end_read_phase(session)
    body = _Body(request, caller.organization_id)
    await body.read()
    data = body.validated()
    try:
        message = await messages.create_message(
            session,
            caller,
            translate.message_in(data),
            settings=runtime.settings,
            active_sender=True,
            named_recipients=False,
        )
    except ValidationFailed as exc:
        raise translate.foreign_error(exc) from exc
    for described, blob in zip(data.attachments, body.blobs, strict=True):
        assert blob is not None
        # The foreign API's own examples send text declared as PDF: its clients expect that
        # to pass, so only empty files and executables are refused here.
        await messages.record_attachment(
            session,
            message,
            blob,
            described.attachment_name,
            described.attachment_type,
            trust_declared=True,
        )
    view = await messages.dispatch(session, caller, message.id, settings=runtime.settings)
    [new] = view.deliveries or []
    delivery = await repository.get_delivery(session, caller.organization_id, new.id)
    assert delivery is not None
    url = tracking_url(runtime.settings.base_url, runtime.settings.signing_key, delivery)
    return RegisteredEmailSendOut(ticket_token=url.rsplit("/", 1)[1], ticket_url=url, message="OK")


# ---- status (XML) -----------------------------------------------------------------------------


@router.get(
    STATUS_PATH,
    summary="Status of registered e-mails as XML (by ticket, or by x-own-* since a time)",
    response_class=Response,
    responses={
        200: {
            "content": {"application/xml": {}},
            "description": "A status_response (see the XSD in docs/compat/registered-email.md)",
        },
        400: {"description": "No or a wrong filter (XML error_response)"},
        401: {"description": "No or a wrong credential (XML error_response)"},
        404: {"description": "No such ticket (XML error_response)"},
    },
)
async def status_xml(
    request: Request,
    caller: ReadCaller,
    session: DbSession,
    ticket_token: Annotated[str | None, Query(max_length=200)] = None,
    x_own_campaign: Annotated[str | None, Query(alias="x-own-campaign", max_length=255)] = None,
    x_own_id: Annotated[str | None, Query(alias="x-own-id", max_length=255)] = None,
    x_own_guid: Annotated[str | None, Query(alias="x-own-guid", max_length=255)] = None,
    since: Annotated[datetime | None, Query()] = None,
) -> Response:
    settings = _runtime(request).settings
    if ticket_token is not None:
        found = await delivery_for_tracking(
            session, settings.signing_keys, ticket_token, organization_id=caller.organization_id
        )
        if found is None:
            raise NotFound("No registered e-mail has this ticket token.")
        deliveries = [found]
    elif not (x_own_campaign or x_own_id or x_own_guid or since):
        raise ValidationFailed.field(
            "ticket_token",
            "Give ticket_token, or any of x-own-campaign, x-own-id, x-own-guid and since.",
        )
    else:
        # An empty parameter (``?x-own-campaign=&since=...``) filters nothing.
        deliveries = list(
            await repository.deliveries_by_reference(
                session,
                caller.organization_id,
                campaign=x_own_campaign or None,
                reference=x_own_id or None,
                guid=x_own_guid or None,
                updated_after=as_utc(since) if since is not None else None,
                limit=MAX_STATUS_TICKETS,
            )
        )
    tickets = await _tickets(session, settings.base_url, settings.signing_key, deliveries)
    return Response(
        translate.status_document(tickets, generated_at=utcnow()),
        media_type="application/xml",
    )


async def _tickets(
    session: AsyncSession, base_url: str, signing_key: bytes, deliveries: list[Delivery]
) -> list[translate.Ticket]:
    message_ids = list({d.message_id for d in deliveries})
    by_id = {m.id: m for m in await repository.messages_by_ids(session, message_ids)}
    files: dict[str, list[Attachment]] = {m: [] for m in message_ids}
    for attachment in await repository.attachments_of(session, message_ids):
        files[attachment.message_id].append(attachment)
    evidence = await evidence_for_deliveries(session, [d.id for d in deliveries])
    tickets = []
    for delivery in deliveries:
        url = tracking_url(base_url, signing_key, delivery)
        tickets.append(
            translate.Ticket(
                token=url.rsplit("/", 1)[1],
                url=url,
                delivery=delivery,
                message=by_id[delivery.message_id],
                attachments=files[delivery.message_id],
                evidence=evidence[delivery.id],
            )
        )
    return tickets
