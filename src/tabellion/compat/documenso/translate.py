"""Native ⇄ Documenso: statuses, roles, field types, ids, errors.

Documenso answers errors as ``{"message", "code", "issues"}`` with its upper-case codes
(reference 006); ours map onto them by HTTP status, keeping our status.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.responses import Response

from tabellion.envelope.repository import EnvelopeParts
from tabellion.errors import NotFound, TabellionError, ValidationFailed
from tabellion.kit.time import isoformat_z
from tabellion.models.envelope import Envelope, EnvelopeField, EnvelopeRecipient

DIALECT = "documenso"
# Numeric ids stay below 2^53 so JavaScript clients keep them exact.
ID_DIGITS = 9

STATUS_OUT = {
    "draft": "DRAFT",
    "pending": "PENDING",
    "completed": "COMPLETED",
    "rejected": "REJECTED",
    "cancelled": "CANCELLED",
    # Documenso has no expiry of a whole envelope: it ended unsigned, as a rejection does.
    "expired": "REJECTED",
}
STATUS_IN = {"DRAFT": "draft", "PENDING": "pending", "COMPLETED": "completed",
             "REJECTED": "rejected", "CANCELLED": "cancelled"}  # fmt: skip
ROLE_IN = {"SIGNER": "signer", "APPROVER": "approver", "VIEWER": "viewer", "CC": "cc",
           "ASSISTANT": "assistant"}  # fmt: skip
ROLE_OUT = {native: foreign for foreign, native in ROLE_IN.items()}
FIELD_IN = {
    "SIGNATURE": "signature",
    "FREE_SIGNATURE": "signature",
    "INITIALS": "initials",
    "NAME": "name",
    "EMAIL": "email",
    "DATE": "date",
    "TEXT": "text",
    "NUMBER": "number",
    "RADIO": "radio",
    "CHECKBOX": "checkbox",
    "DROPDOWN": "dropdown",
}
FIELD_OUT = {native: foreign for foreign, native in FIELD_IN.items() if foreign != "FREE_SIGNATURE"}


class RecipientNotFound(NotFound):
    code = "recipient-not-found"
    title = "Recipient not found"


class FieldNotFound(NotFound):
    code = "field-not-found"
    title = "Field not found"


_CODES = {
    400: "INVALID_BODY",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "INVALID_REQUEST",
    409: "INVALID_REQUEST",
    413: "LIMIT_EXCEEDED",
    429: "TOO_MANY_REQUESTS",
}


def error_body(error: TabellionError) -> tuple[int, dict[str, Any]]:
    """Status and body of ``error`` as Documenso answers it."""
    status = error.status
    issues: list[dict[str, Any]] = []
    if isinstance(error, ValidationFailed):
        status = 400
        issues = [
            {
                "code": e.code,
                "message": e.message,
                "path": e.field.replace("[", ".").replace("]", "").split("."),
            }
            for e in error.errors
        ]
    if status == 409:
        # A state conflict (edit after distribute, cancel a draft): Documenso's BAD_REQUEST.
        status = 400
        code = "INVALID_REQUEST"
    else:
        code = _CODES.get(status, "UNKNOWN_ERROR" if status >= 500 else "INVALID_REQUEST")
    return status, {"message": error.detail, "code": code, "issues": issues}


def render_error(request: Request, error: TabellionError) -> Response:
    status, body = error_body(error)
    return JSONResponse(body, status_code=status, headers=error.headers)


def _time(value: Any) -> str | None:
    return isoformat_z(value) if value is not None else None


def recipient_out(
    envelope: Envelope, recipient: EnvelopeRecipient, ids: dict[str, str]
) -> dict[str, Any]:
    signed = {"signed": "SIGNED", "approved": "SIGNED", "viewed": "SIGNED", "rejected": "REJECTED"}
    return {
        "id": int(ids[recipient.id]),
        "envelopeId": envelope.id,
        "email": recipient.email,
        "name": recipient.name,
        "role": ROLE_OUT[recipient.role],
        "signingOrder": recipient.position,
        "readStatus": "OPENED" if recipient.opened_at is not None else "NOT_OPENED",
        "signingStatus": signed.get(recipient.status, "NOT_SIGNED"),
        "sendStatus": "SENT" if recipient.sent_at is not None else "NOT_SENT",
        "signedAt": _time(recipient.acted_at) if recipient.status != "rejected" else None,
        "rejectionReason": recipient.reason,
        "authOptions": None,
    }


def field_out(
    envelope: Envelope, field: EnvelopeField, ids: dict[str, str], recipient_ids: dict[str, str]
) -> dict[str, Any]:
    return {
        "id": int(ids[field.id]),
        "secondaryId": field.id,
        "envelopeId": envelope.id,
        "envelopeItemId": field.document_id,
        "recipientId": int(recipient_ids[field.recipient_id]),
        "type": FIELD_OUT[field.type],
        "page": field.page,
        # Documenso serialises its decimals as strings.
        "positionX": f"{field.x:g}",
        "positionY": f"{field.y:g}",
        "width": f"{field.width:g}",
        "height": f"{field.height:g}",
        "customText": "",
        "inserted": field.value is not None,
        "fieldMeta": field.meta or None,
    }


def envelope_out(
    envelope: Envelope,
    parts: EnvelopeParts,
    recipient_ids: dict[str, str],
    field_ids: dict[str, str],
) -> dict[str, Any]:
    return {
        "id": envelope.id,
        "internalVersion": 2,
        "type": "DOCUMENT",
        "status": STATUS_OUT[envelope.status],
        "source": "DOCUMENT",
        "visibility": "EVERYONE",
        "title": envelope.title,
        "externalId": envelope.reference,
        "folderId": None,
        "templateId": None,
        "authOptions": None,
        "formValues": None,
        "createdAt": _time(envelope.created_at),
        "updatedAt": _time(envelope.updated_at),
        "completedAt": _time(envelope.completed_at),
        "deletedAt": None,
        "recipients": [recipient_out(envelope, r, recipient_ids) for r in parts.recipients],
        "fields": [field_out(envelope, f, field_ids, recipient_ids) for f in parts.fields],
        "envelopeItems": [
            {"id": d.id, "envelopeId": envelope.id, "title": d.filename, "order": index + 1}
            for index, d in enumerate(parts.documents)
        ],
        "directLink": None,
        "documentMeta": {
            "subject": envelope.title,
            "message": envelope.message,
            "language": envelope.language,
            "signingOrder": envelope.signing_order.upper(),
        },
    }
