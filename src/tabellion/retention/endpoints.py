"""HTTP of retention: a message's legal hold, a recipient's erasure, an access request's export."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from tabellion.auth.dependencies import AdminScope, MessagesRead, MessagesWrite
from tabellion.auth.subjects import InsufficientScope
from tabellion.db import DbSession, SessionRoute, end_read_phase
from tabellion.errors import IdempotencyKeyInUse, IdempotencyKeyReused, Unauthorized, responses
from tabellion.message.schemas import MessageOut
from tabellion.message.service import message as message_service
from tabellion.message.service.message import MessageNotFound
from tabellion.message.views import message_out
from tabellion.retention import erasure, export, service
from tabellion.retention.schemas import AddressIn, ErasureOut, LegalHoldIn
from tabellion.runtime import Runtime

router = APIRouter(route_class=SessionRoute)

_AUTH = (Unauthorized, InsufficientScope)
_POST = (*_AUTH, IdempotencyKeyReused, IdempotencyKeyInUse)


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


@router.post(
    "/messages/{message_id}/legal-hold",
    response_model=MessageOut,
    tags=["messages"],
    summary="Place a legal hold on a message: its content is kept past its retention period",
    description=(
        "While held, neither the retention timer nor an erasure deletes the message's content "
        "(docs/data.md). Evidence `LEGAL_HOLD_PLACED` records it (with the `reason` sent). "
        "Placing a hold on a held message changes nothing."
    ),
    responses=responses(*_POST, MessageNotFound),
)
async def place_legal_hold(
    message_id: str,
    caller: MessagesWrite,
    session: DbSession,
    body: LegalHoldIn | None = None,
) -> MessageOut:
    await service.set_legal_hold(
        session,
        caller.organization_id,
        message_id,
        held=True,
        reason=body.reason if body is not None else None,
        caller=caller,
    )
    view = await message_service.get_message_view(session, caller.organization_id, message_id)
    return message_out(view)


@router.delete(
    "/messages/{message_id}/legal-hold",
    response_model=MessageOut,
    tags=["messages"],
    summary="Release a message's legal hold",
    description="Evidence `LEGAL_HOLD_RELEASED` records it; a message not held is unchanged.",
    responses=responses(*_AUTH, MessageNotFound),
)
async def release_legal_hold(
    message_id: str, caller: MessagesWrite, session: DbSession
) -> MessageOut:
    await service.set_legal_hold(
        session, caller.organization_id, message_id, held=False, caller=caller
    )
    view = await message_service.get_message_view(session, caller.organization_id, message_id)
    return message_out(view)


@router.post(
    "/erasures",
    response_model=ErasureOut,
    tags=["retention"],
    summary="Erase what the organisation holds about a recipient's address",
    description=(
        "Deletes the content of the messages sent to this address alone and the recipient's "
        "replies and files, and replaces the recipient's personal data (address, names, "
        "identifiers, identity checks) with a pseudonym. Deliveries under way and messages on "
        "legal hold are left as they are and listed. Proofs stay (they hold digests); the "
        "erasure is itself a proof, `RECIPIENT_ERASED`, naming the address by its SHA-256. "
        "See docs/data.md for what an erasure cannot reach (copies of the storage)."
    ),
    responses=responses(*_POST),
)
async def erase_recipient(
    body: AddressIn, caller: AdminScope, session: DbSession, request: Request
) -> ErasureOut:
    # Sealing and the erasure work in transactions of their own.
    await end_read_phase(session)
    report = await erasure.erase_recipient(
        _runtime(request), caller.organization_id, body.email, caller=caller
    )
    return ErasureOut.model_validate(report, from_attributes=True)


@router.post(
    "/exports",
    tags=["retention"],
    summary="Everything the organisation holds about an address, as a zip (access requests)",
    description=(
        "Answers the zip at once: `manifest.json` (what is inside, with each file's SHA-256), "
        "then per delivery its representation, its message, its sealed JSON proofs, its files "
        "(unless purged) and its replies; and the signing-envelope roles of the address. "
        "Only the caller's organisation's data. Layout: docs/data.md."
    ),
    response_class=Response,
    responses={
        200: {"content": {"application/zip": {}}, "description": "The export"},
        **responses(*_POST),
    },
)
async def export_address(
    body: AddressIn, caller: MessagesRead, session: DbSession, request: Request
) -> Response:
    await end_read_phase(session)
    data = await export.export_recipient(_runtime(request), caller.organization_id, body.email)
    return Response(
        data,
        media_type="application/zip",
        headers={"Content-Disposition": 'attachment; filename="export.zip"'},
    )
