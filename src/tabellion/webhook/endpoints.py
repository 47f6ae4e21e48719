"""HTTP endpoints of webhook endpoints and the events feed."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from sqlalchemy import select
from starlette.responses import Response

from tabellion.auth.dependencies import WebhooksScope
from tabellion.auth.subjects import InsufficientScope
from tabellion.db import DbSession, SessionRoute, writes_on_read
from tabellion.errors import InvalidParameter, Unauthorized, responses
from tabellion.kit.pagination import Cursor, Page, SequenceCursor, decode_cursor, encode_cursor
from tabellion.kit.schema import not_null
from tabellion.models.webhook import Event, WebhookEndpoint
from tabellion.runtime import Runtime
from tabellion.webhook import service
from tabellion.webhook.delivery import webhook_ledger
from tabellion.webhook.schemas import (
    AttemptOut,
    EndpointIn,
    EndpointOut,
    EndpointUpdate,
    EndpointWithSecret,
    EventFeed,
    EventOut,
    Redelivery,
    RotateIn,
    TestSent,
)
from tabellion.webhook.service import (
    EventNotFound,
    WebhookEndpointDisabled,
    WebhookEndpointNotFound,
    WebhookUrlRefused,
)

router = APIRouter(route_class=SessionRoute, tags=["webhooks"])


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _changed(request: Request, endpoint_id: str) -> None:
    """Sends from this process read the endpoint afresh (others within a few seconds)."""
    webhook_ledger(_runtime(request)).forget(endpoint_id)


def _event_types_schema(schema: dict[str, Any]) -> None:
    not_null(schema)  # a query parameter is absent, never null
    schema["items"] = {"type": "string", "enum": list(service.EVENT_TYPES)}


# Positions and attempt ids are 64-bit; anything else did not come from this API.
_MAX_POSITION = 2**63 - 1


def _position(cursor: str, field: str) -> int:
    try:
        (value,) = decode_cursor(cursor, size=1)
    except InvalidParameter as exc:
        raise InvalidParameter(field, exc.detail) from exc
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_POSITION:
        raise InvalidParameter(field, "The cursor is not one this API returned.")
    return value


def endpoint_out(endpoint: WebhookEndpoint) -> EndpointOut:
    return EndpointOut(
        id=endpoint.id,
        url=endpoint.url,
        events=endpoint.events,
        format=endpoint.format,
        description=endpoint.description,
        enabled=endpoint.enabled,
        disabled_reason=endpoint.disabled_reason,
        failing_since=endpoint.failing_since,
        created_at=endpoint.created_at,
        updated_at=endpoint.updated_at,
    )


def event_out(event: Event) -> EventOut:
    body = json.loads(event.body)
    return EventOut(id=event.id, type=event.type, timestamp=body["timestamp"], data=body["data"])


@router.post(
    "/webhook-endpoints",
    status_code=status.HTTP_201_CREATED,
    response_model=EndpointWithSecret,
    summary="Register a webhook endpoint; its signing secret is shown once",
    responses=responses(Unauthorized, InsufficientScope, WebhookUrlRefused),
)
async def create_endpoint(
    body: EndpointIn, request: Request, caller: WebhooksScope, session: DbSession
) -> EndpointWithSecret:
    settings = _runtime(request).settings
    await service.check_destination(body.url, settings.allowed_webhook_hosts)
    endpoint, secret = await service.create_endpoint(
        session,
        caller.organization_id,
        url=body.url,
        events=body.events,
        description=body.description,
        signing_key=settings.signing_key,
        format_=body.format,
    )
    return EndpointWithSecret(**endpoint_out(endpoint).model_dump(), secret=secret)


@router.get(
    "/webhook-endpoints",
    response_model=Page[EndpointOut],
    summary="List webhook endpoints",
    responses=responses(Unauthorized, InsufficientScope),
)
async def list_endpoints(
    caller: WebhooksScope,
    session: DbSession,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Cursor = None,
) -> Page[EndpointOut]:
    query = select(WebhookEndpoint).where(WebhookEndpoint.organization_id == caller.organization_id)
    if cursor:
        (last,) = decode_cursor(cursor, size=1)
        query = query.where(WebhookEndpoint.id > str(last))
    rows = (await session.scalars(query.order_by(WebhookEndpoint.id).limit(limit + 1))).all()
    next_cursor = encode_cursor([rows[limit - 1].id]) if len(rows) > limit else None
    return Page[EndpointOut](data=[endpoint_out(e) for e in rows[:limit]], next_cursor=next_cursor)


@router.get(
    "/webhook-endpoints/{endpoint_id}",
    response_model=EndpointOut,
    summary="Read a webhook endpoint",
    responses=responses(Unauthorized, InsufficientScope, WebhookEndpointNotFound),
)
async def get_endpoint(endpoint_id: str, caller: WebhooksScope, session: DbSession) -> EndpointOut:
    return endpoint_out(await service.get_endpoint(session, caller.organization_id, endpoint_id))


@router.patch(
    "/webhook-endpoints/{endpoint_id}",
    response_model=EndpointOut,
    summary="Change a webhook endpoint's URL, events, format, description or state",
    responses=responses(
        Unauthorized, InsufficientScope, WebhookEndpointNotFound, WebhookUrlRefused
    ),
)
async def update_endpoint(
    endpoint_id: str,
    body: EndpointUpdate,
    request: Request,
    caller: WebhooksScope,
    session: DbSession,
) -> EndpointOut:
    endpoint = await service.get_endpoint(session, caller.organization_id, endpoint_id)
    if body.url is not None:
        await service.check_destination(body.url, _runtime(request).settings.allowed_webhook_hosts)
        endpoint.url = body.url
    if body.events is not None:
        endpoint.events = service.validate_event_types(body.events)
    if "description" in body.model_fields_set:
        endpoint.description = body.description
    if body.enabled is not None:
        service.set_enabled(endpoint, body.enabled)
    if body.format is not None:
        endpoint.format = body.format
    await session.flush()
    _changed(request, endpoint.id)
    return endpoint_out(endpoint)


@router.delete(
    "/webhook-endpoints/{endpoint_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a webhook endpoint",
    responses=responses(Unauthorized, InsufficientScope, WebhookEndpointNotFound),
)
async def delete_endpoint(
    endpoint_id: str, request: Request, caller: WebhooksScope, session: DbSession
) -> Response:
    endpoint = await service.get_endpoint(session, caller.organization_id, endpoint_id)
    await session.delete(endpoint)
    await session.flush()
    _changed(request, endpoint.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def _toggle(
    endpoint_id: str, request: Request, caller: WebhooksScope, session: DbSession, on: bool
) -> EndpointOut:
    endpoint = await service.get_endpoint(session, caller.organization_id, endpoint_id)
    service.set_enabled(endpoint, on)
    await session.flush()
    _changed(request, endpoint.id)
    return endpoint_out(endpoint)


@router.post(
    "/webhook-endpoints/{endpoint_id}/disable",
    response_model=EndpointOut,
    summary="Stop sending to an endpoint (events are still recorded)",
    responses=responses(Unauthorized, InsufficientScope, WebhookEndpointNotFound),
)
async def disable_endpoint(
    endpoint_id: str, request: Request, caller: WebhooksScope, session: DbSession
) -> EndpointOut:
    return await _toggle(endpoint_id, request, caller, session, False)


@router.post(
    "/webhook-endpoints/{endpoint_id}/enable",
    response_model=EndpointOut,
    summary="Send to an endpoint again",
    responses=responses(Unauthorized, InsufficientScope, WebhookEndpointNotFound),
)
async def enable_endpoint(
    endpoint_id: str, request: Request, caller: WebhooksScope, session: DbSession
) -> EndpointOut:
    return await _toggle(endpoint_id, request, caller, session, True)


@router.post(
    "/webhook-endpoints/{endpoint_id}/rotate-secret",
    response_model=EndpointWithSecret,
    summary="New signing secret; the old one keeps signing during the overlap window",
    responses=responses(Unauthorized, InsufficientScope, WebhookEndpointNotFound),
)
async def rotate_secret(
    endpoint_id: str,
    request: Request,
    caller: WebhooksScope,
    session: DbSession,
    body: RotateIn | None = None,
) -> EndpointWithSecret:
    endpoint = await service.get_endpoint(session, caller.organization_id, endpoint_id)
    overlap = timedelta(hours=(body or RotateIn()).overlap_hours)
    secret = await service.rotate_secret(
        session, endpoint, signing_key=_runtime(request).settings.signing_key, overlap=overlap
    )
    _changed(request, endpoint.id)
    return EndpointWithSecret(**endpoint_out(endpoint).model_dump(), secret=secret)


@router.post(
    "/webhook-endpoints/{endpoint_id}/test",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TestSent,
    summary="Send a `webhook.test` ping to this endpoint",
    responses=responses(Unauthorized, InsufficientScope, WebhookEndpointNotFound),
)
async def test_endpoint(endpoint_id: str, caller: WebhooksScope, session: DbSession) -> TestSent:
    endpoint = await service.get_endpoint(session, caller.organization_id, endpoint_id)
    return TestSent(event_id=await service.send_test(session, endpoint))


@router.get(
    "/webhook-endpoints/{endpoint_id}/attempts",
    response_model=Page[AttemptOut],
    summary="Delivery attempts to this endpoint, newest first",
    responses=responses(Unauthorized, InsufficientScope, WebhookEndpointNotFound),
)
async def list_attempts(
    endpoint_id: str,
    caller: WebhooksScope,
    session: DbSession,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: SequenceCursor = None,
) -> Page[AttemptOut]:
    endpoint = await service.get_endpoint(session, caller.organization_id, endpoint_id)
    before = _position(cursor, "cursor") if cursor else None
    rows = await service.list_attempts(session, endpoint, limit=limit + 1, before=before)
    next_cursor = encode_cursor([rows[limit - 1].id]) if len(rows) > limit else None
    data = [AttemptOut.model_validate(a, from_attributes=True) for a in rows[:limit]]
    return Page[AttemptOut](data=data, next_cursor=next_cursor)


@router.get(
    "/events",
    response_model=EventFeed,
    summary="Every event in commit order; follow `next_cursor` to see each exactly once",
    responses=responses(Unauthorized, InsufficientScope),
)
@writes_on_read  # numbers newly committed events (service.sequence_events) before reading
async def list_events(
    caller: WebhooksScope,
    session: DbSession,
    after: SequenceCursor = None,
    type_: Annotated[
        list[str] | None,
        Query(alias="type", max_length=20, json_schema_extra=_event_types_schema),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 100,
) -> EventFeed:
    position = _position(after, "after") if after else 0
    events = await service.list_events(
        session, caller.organization_id, after=position, limit=limit + 1, types=type_ or ()
    )
    page = events[:limit]
    if page:
        position = int(page[-1].seq or position)
    return EventFeed(
        data=[event_out(e) for e in page],
        next_cursor=encode_cursor([position]),
        has_more=len(events) > limit,
    )


@router.get(
    "/events/{event_id}",
    response_model=EventOut,
    summary="Read an event",
    responses=responses(Unauthorized, InsufficientScope, EventNotFound),
)
async def get_event(event_id: str, caller: WebhooksScope, session: DbSession) -> EventOut:
    return event_out(await service.get_event(session, caller.organization_id, event_id))


@router.post(
    "/events/{event_id}/redeliver",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Redelivery,
    summary="Send an event again (same webhook-id) to its subscribers or to one endpoint",
    responses=responses(
        Unauthorized,
        InsufficientScope,
        EventNotFound,
        WebhookEndpointNotFound,
        WebhookEndpointDisabled,
    ),
)
async def redeliver(
    event_id: str,
    caller: WebhooksScope,
    session: DbSession,
    endpoint_id: Annotated[str | None, Query(max_length=40)] = None,
) -> Redelivery:
    targets = await service.redeliver(
        session, caller.organization_id, event_id, endpoint_id=endpoint_id
    )
    return Redelivery(event_id=event_id, endpoint_ids=targets)
