"""STAMPEE's routes: ``X-API-TOKEN`` auth, bulk send (JSON or multipart), message status and
proofs, reseller customers. Each translates and calls the native services."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader

from tabellion.auth.mtls import require_client_certificate
from tabellion.auth.subjects import ApiKeySubject
from tabellion.compat import ids
from tabellion.compat.stampee import translate
from tabellion.compat.stampee.schemas import (
    BulkSendIn,
    BulkSendOut,
    CustomersIn,
    CustomersOut,
    CustomerState,
    ErrorOut,
    EventType,
    MessageOut,
)
from tabellion.db import DbSession, SessionRoute, end_read_phase
from tabellion.document.multipart import MultipartReader, boundary_of, store_form
from tabellion.document.storage import StoredBlob
from tabellion.errors import TabellionError, Unauthorized, UnsupportedMediaType
from tabellion.evidence.endpoints import pdf_response
from tabellion.evidence.proofs import EvidenceNotFound
from tabellion.evidence.service import evidence_for_deliveries, latest_of_type
from tabellion.kit.ratelimit import limit_credential
from tabellion.kit.schema import inline_schema
from tabellion.message.service import message as messages
from tabellion.message.service.message import MessageNotFound
from tabellion.models.message import Delivery
from tabellion.organization import accounts
from tabellion.organization.service import authenticate_api_key
from tabellion.runtime import Runtime

PREFIX = "/compat/stampee"
TAG = "STAMPEE"
router = APIRouter(route_class=SessionRoute, tags=[TAG])

_token = APIKeyHeader(
    name="X-API-TOKEN", auto_error=False, description="An organisation's API key (`tbl_...`)."
)
# Fields of a multipart bulk send that are form values (the rest are files or ignored).
_FORM_FIELDS = ("type", "body", "recipients", "customerReference", "fileReference", "sender")
_FORM_FIELD_LIMIT = 16 * 1024 * 1024


def render_error(request: Request, error: TabellionError) -> Response:
    return JSONResponse(
        translate.error_body(error), status_code=error.status, headers=error.headers
    )


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {s: {"model": ErrorOut, "description": "`{message, code}`"} for s in (401, *statuses)}


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _scoped(scope: str) -> Callable[..., Awaitable[ApiKeySubject]]:
    async def dependency(
        request: Request, session: DbSession, token: Annotated[str | None, Depends(_token)]
    ) -> ApiKeySubject:
        subject = await authenticate_api_key(session, token) if token else None
        if subject is None:
            raise Unauthorized("Unauthorized access")
        await limit_credential(request, subject.api_key_id)
        subject.require(scope)
        request.state.subject = subject
        return subject

    return dependency


Writer = Annotated[ApiKeySubject, Depends(_scoped("messages:write"))]
Reader = Annotated[ApiKeySubject, Depends(_scoped("messages:read"))]
Reseller = Annotated[ApiKeySubject, Depends(_scoped("customers"))]


async def _bulk_send_input(
    request: Request, session: DbSession, organization_id: str
) -> tuple[BulkSendIn, list[tuple[StoredBlob, str, str | None]]]:
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";")[0].strip().lower()
    if media_type == "application/json":
        try:
            raw = json.loads(await request.body())
        except ValueError:
            raw = None
        return translate.foreign_input(BulkSendIn, raw), []
    if media_type != "multipart/form-data":
        raise UnsupportedMediaType("Send application/json, or multipart/form-data.")
    runtime = _runtime(request)
    reader = MultipartReader(request.stream(), boundary_of(content_type))
    await end_read_phase(session)
    form = await store_form(
        reader,
        runtime.storage,
        text_fields=_FORM_FIELDS,
        file_field="attachments",
        max_bytes=runtime.settings.max_attachment_bytes,
        max_files=messages.MAX_ATTACHMENTS,
        too_many=messages.too_many_attachments,
        field_limit=_FORM_FIELD_LIMIT,
        organization_id=organization_id,
    )
    values: dict[str, Any] = {k: v.decode("utf-8", "replace") for k, v in form.fields.items()}
    if "recipients" in values:
        try:
            values["recipients"] = json.loads(values["recipients"])
        except ValueError as exc:
            raise translate.BadContacts.field(
                "recipients", "recipients must be a JSON array of recipients"
            ) from exc
    return translate.foreign_input(BulkSendIn, values), form.files


@router.post(
    "/messages/bulk_send",
    status_code=status.HTTP_201_CREATED,
    response_model=BulkSendOut,
    summary="Send a letter (LS simple, LRE registered) to each recipient",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": inline_schema(BulkSendIn)},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            **{name: {"type": "string"} for name in _FORM_FIELDS},
                            "attachments": {
                                "type": "array",
                                "items": {"type": "string", "format": "binary"},
                            },
                        },
                    }
                },
            },
        }
    },
    responses=_errors(403, 413, 415, 422),
)
async def bulk_send(request: Request, caller: Writer, session: DbSession) -> BulkSendOut:
    data, files = await _bulk_send_input(request, session, caller.organization_id)
    if data.type == "LRE":
        require_client_certificate(request)
    view = await messages.create_with_files(
        session,
        caller,
        translate.message_in(data),
        files,
        settings=_runtime(request).settings,
        dispatch_now=True,
    )
    foreign_ids = [
        await ids.allocate(
            session,
            dialect=translate.DIALECT,
            kind=translate.MESSAGE_KIND,
            native_id=delivery.id,
            organization_id=caller.organization_id,
        )
        for delivery in view.deliveries or ()
    ]
    return translate.bulk_send_out(view.message, foreign_ids)


async def _delivery(session: DbSession, caller: ApiKeySubject, message_id: str) -> Delivery:
    native = await ids.native_of(
        session,
        dialect=translate.DIALECT,
        kind=translate.MESSAGE_KIND,
        foreign_id=message_id,
        organization_id=caller.organization_id,
    )
    if native is None:
        raise MessageNotFound(f"No message {message_id}.")
    return await messages.get_delivery(session, caller.organization_id, native)


@router.get(
    "/messages/{message_id}",
    response_model=MessageOut,
    summary="A message's status and its proofs (PDF links valid 24 hours, no token needed)",
    responses=_errors(403, 404),
)
async def get_message(message_id: str, caller: Reader, session: DbSession) -> MessageOut:
    delivery = await _delivery(session, caller, message_id)
    evidence = await evidence_for_deliveries(session, [delivery.id])
    return translate.message_out(message_id, delivery, evidence[delivery.id])


@router.get(
    "/messages/{message_id}/evidences/{event_type}",
    summary="The sealed PDF proof of one event of a message",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}, "description": "The sealed PDF"},
        **_errors(403, 404, 503),
    },
)
async def get_evidence(
    message_id: str, event_type: EventType, request: Request, caller: Reader, session: DbSession
) -> Response:
    delivery = await _delivery(session, caller, message_id)
    evidence = await latest_of_type(session, delivery.id, event_type)
    if evidence is None:
        raise EvidenceNotFound(f"Message {message_id} has no {event_type} evidence.")
    return await pdf_response(
        _runtime(request), session, evidence, f"{message_id}-{event_type}.pdf"
    )


@router.post(
    "/customers/bulk_store",
    status_code=status.HTTP_201_CREATED,
    response_model=CustomersOut,
    summary="Register customers; each is asked by e-mail to accept your management",
    responses=_errors(403, 422),
)
async def bulk_store(request: Request, caller: Reseller, session: DbSession) -> CustomersOut:
    try:
        raw = json.loads(await request.body())
    except ValueError:
        raw = None
    body: CustomersIn = translate.foreign_input(CustomersIn, raw)
    settings = _runtime(request).settings
    customers = await accounts.create_customers(
        session,
        caller,
        translate.customers_in(body.customers),
        signing_key=settings.signing_key,
        timezone=settings.timezone,
    )
    return CustomersOut(customers=[translate.customer_out(c) for c in customers])


@router.get(
    "/customers",
    response_model=CustomersOut,
    summary="Your customers, optionally in one delegation state",
    responses=_errors(403, 422),
)
async def list_customers(
    caller: Reseller, session: DbSession, state: Annotated[CustomerState | None, Query()] = None
) -> CustomersOut:
    rows = await accounts.list_customers(session, caller.organization_id, state=state)
    return CustomersOut(customers=[translate.customer_out(c) for c in rows])
