"""Native ⇄ Documenso: statuses, roles, field types, ids, errors.

Documenso answers errors as ``{"message", "code", "issues"}`` with its upper-case codes
(reference 006); ours map onto them by HTTP status, keeping our status.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from tabellion.compat import ids as compat_ids
from tabellion.envelope import repository
from tabellion.envelope.history import Step
from tabellion.envelope.placeholders import Tag, field_data, tag_error
from tabellion.envelope.repository import EnvelopeParts
from tabellion.envelope.service import EnvelopeNotDraft, signing_token_of
from tabellion.errors import Conflict, TabellionError, ValidationFailed
from tabellion.kit.time import isoformat_ms_z
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


class EnvelopeState(Conflict):
    """The envelope's state forbids the call; Documenso names the state in its code."""

    code = "envelope-state"
    title = "The envelope's state forbids this"

    def __init__(self, envelope_id: str, status: str, allowed: tuple[str, ...]) -> None:
        wanted = " or ".join(STATUS_OUT[a] for a in allowed)
        state = STATUS_OUT[status]
        if status == "expired":
            super().__init__(
                f"Envelope {envelope_id} expired: its signing links no longer work; this "
                f"needs it {wanted}. Send a new envelope."
            )
            self.foreign_code = "RECIPIENT_EXPIRED"
            return
        super().__init__(f"Envelope {envelope_id} is {state}; this needs it {wanted}.")
        self.foreign_code = _STATE_CODES.get(state, "INVALID_REQUEST")


_STATE_CODES = {"DRAFT": "ENVELOPE_DRAFT", "COMPLETED": "ENVELOPE_COMPLETED",
                "REJECTED": "ENVELOPE_REJECTED"}  # fmt: skip
_CONFLICT_CODES = {"recipient-exists": "ALREADY_EXISTS", "envelope-expired": "RECIPIENT_EXPIRED"}
_CODES = {
    400: "INVALID_BODY",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "INVALID_REQUEST",
    409: "INVALID_REQUEST",
    410: "NOT_FOUND",  # a file deleted at the end of its retention period (docs/data.md)
    413: "LIMIT_EXCEEDED",
    429: "TOO_MANY_REQUESTS",
}


def error_body(error: TabellionError) -> tuple[int, dict[str, Any]]:
    """Status and body of ``error`` as Documenso answers it."""
    status = error.status
    issues: list[dict[str, Any]] = []
    if isinstance(error, EnvelopeNotDraft) and error.envelope_id and error.status_now:
        # The editing service's refusal, named as Documenso names the state it found.
        error = EnvelopeState(error.envelope_id, error.status_now, ("draft",))
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
        # A state conflict (edit after distribute, cancel a draft): Documenso's BAD_REQUEST,
        # with ENVELOPE_COMPLETED / ENVELOPE_REJECTED / ENVELOPE_DRAFT where it names the state.
        status = 400
        code = getattr(error, "foreign_code", _CONFLICT_CODES.get(error.code, "INVALID_REQUEST"))
    else:
        code = _CODES.get(status, "UNKNOWN_ERROR" if status >= 500 else "INVALID_REQUEST")
    return status, {"message": error.detail, "code": code, "issues": issues}


def render_error(request: Request, error: TabellionError) -> Response:
    status, body = error_body(error)
    return JSONResponse(body, status_code=status, headers=error.headers)


def _time(value: Any) -> str | None:
    return isoformat_ms_z(value) if value is not None else None


# Documenso's authentication names ⇄ ours. ACCOUNT needs a Documenso account: nothing here.
ACCESS_AUTH_IN = {"TWO_FACTOR_AUTH": "email_otp"}
ACTION_AUTH_IN = {"TWO_FACTOR_AUTH": "totp", "PASSKEY": "passkey", "PASSWORD": "password"}
ACCESS_AUTH_OUT = {"email_otp": "TWO_FACTOR_AUTH"}
ACTION_AUTH_OUT = {"totp": "TWO_FACTOR_AUTH", "email_otp": "TWO_FACTOR_AUTH",
                   "passkey": "PASSKEY", "password": "PASSWORD"}  # fmt: skip


def auth_in(
    access: Sequence[str] | None, action: Sequence[str] | None, where: str
) -> dict[str, Any]:
    """Native ``access_auth`` / ``action_auth`` of Documenso's lists (only those given)."""
    native: dict[str, Any] = {}
    for name, given, table in (
        ("access_auth", access, ACCESS_AUTH_IN),
        ("action_auth", action, ACTION_AUTH_IN),
    ):
        if given is None:
            continue
        foreign = "accessAuth" if name == "access_auth" else "actionAuth"
        if "ACCOUNT" in given:
            raise ValidationFailed.field(
                f"{where}.{foreign}",
                "ACCOUNT is not available: Tabellion recipients have no account to log in "
                "with. Use TWO_FACTOR_AUTH (a one-time code) instead.",
                code="auth-unavailable",
            )
        # EXPLICIT_NONE: no authentication beyond the link, which is what an empty list says.
        native[name] = list(dict.fromkeys(table[a] for a in given if a != "EXPLICIT_NONE"))
    return native


def auth_out(recipient: EnvelopeRecipient) -> dict[str, list[str]]:
    return {
        "accessAuth": list(dict.fromkeys(ACCESS_AUTH_OUT[a] for a in recipient.access_auth)),
        "actionAuth": list(dict.fromkeys(ACTION_AUTH_OUT[a] for a in recipient.action_auth)),
    }


def order_in(signing_order: int | None, index: int) -> int:
    """Documenso counts from 0 (an approver first at 0), we from 1: shift by one."""
    return (signing_order if signing_order is not None else index + 1) + 1


def recipient_out(
    envelope: Envelope,
    recipient: EnvelopeRecipient,
    ids: dict[str, str],
    *,
    keys: Sequence[bytes] | None = None,
) -> dict[str, Any]:
    # Documenso marks every role's completed action SIGNED (an assistant's too).
    signed = {"signed": "SIGNED", "approved": "SIGNED", "viewed": "SIGNED", "assisted": "SIGNED",
              "rejected": "REJECTED"}  # fmt: skip
    # Recipients still to act when the envelope expired: their signing window closed then.
    expired = (
        _time(envelope.expired_at)
        if envelope.status == "expired"
        and recipient.sent_at is not None
        and recipient.status not in signed
        else None
    )
    token = signing_token_of(keys, recipient) if keys else ""
    return {
        "id": int(ids[recipient.id]),
        "envelopeId": envelope.id,
        "email": recipient.email,
        "name": recipient.name,
        "token": token,
        "role": ROLE_OUT[recipient.role],
        "signingOrder": recipient.position - 1,
        "readStatus": "OPENED" if recipient.opened_at is not None else "NOT_OPENED",
        "signingStatus": signed.get(recipient.status, "NOT_SIGNED"),
        "sendStatus": "SENT" if recipient.sent_at is not None else "NOT_SENT",
        "signedAt": _time(recipient.acted_at),
        "rejectionReason": recipient.reason,
        "documentDeletedAt": None,
        "expired": expired,
        "expiresAt": _time(envelope.expires_at),
        "expirationNotifiedAt": expired,
        "authOptions": auth_out(recipient),
    }


def _number(value: Any, where: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValidationFailed.field(where, "A number is expected.") from None


def meta_in(field_type: str, raw: dict[str, Any] | None, where: str) -> tuple[dict[str, Any], bool]:
    """Native ``meta`` and ``required`` of Documenso's ``fieldMeta`` for a field type."""
    raw = raw or {}
    kind = field_type.lower()
    if raw.get("type") not in (None, kind) and not (
        field_type == "FREE_SIGNATURE" and raw.get("type") == "signature"
    ):
        raise ValidationFailed.field(
            f"{where}.fieldMeta.type", f"fieldMeta.type must be `{kind}` for a {field_type} field."
        )
    meta: dict[str, Any] = {
        "label": raw.get("label") or None,
        "placeholder": raw.get("placeholder") or None,
        "read_only": bool(raw.get("readOnly", False)),
    }
    size = _number(raw.get("fontSize"), f"{where}.fieldMeta.fontSize")
    if size is not None:
        # Documenso allows 8-96 points; our renderer 4-72: larger sizes are drawn at 72.
        meta["font_size"] = min(max(size, 4.0), 72.0)
    values = raw.get("values") or []
    if not isinstance(values, list) or not all(isinstance(v, dict) for v in values):
        raise ValidationFailed.field(f"{where}.fieldMeta.values", "A list of objects is expected.")
    options = [str(v.get("value", "")) for v in values if str(v.get("value", ""))]
    if field_type == "TEXT":
        meta["default"] = raw.get("text") or None
        limit = _number(raw.get("characterLimit"), f"{where}.fieldMeta.characterLimit")
        meta["max_length"] = int(limit) if limit else None
    elif field_type == "NUMBER":
        meta["default"] = raw.get("value") or None
        meta["min"] = _number(raw.get("minValue"), f"{where}.fieldMeta.minValue")
        meta["max"] = _number(raw.get("maxValue"), f"{where}.fieldMeta.maxValue")
    elif field_type == "RADIO":
        meta["options"] = options
        checked = [str(v.get("value")) for v in values if v.get("checked") and v.get("value")]
        meta["default"] = checked[0] if checked else None
    elif field_type == "DROPDOWN":
        meta["options"] = options
        meta["default"] = raw.get("defaultValue") or None
    elif field_type == "CHECKBOX":
        if len(values) > 1:
            raise ValidationFailed.field(
                f"{where}.fieldMeta.values",
                "A Tabellion CHECKBOX field is one box: create one field per box.",
            )
        if values:
            meta["label"] = meta["label"] or options[0] if options else meta["label"]
            meta["default"] = "true" if values[0].get("checked") else None
    return {k: v for k, v in meta.items() if v is not None}, bool(raw.get("required", True))


# Documenso's placeholder options (``{{text, r1, required=true, label=Company}}``) by the
# lower-case names the native tag reader gives them, as ``fieldMeta`` spells them.
_TAG_OPTIONS = {name.lower(): name for name in (
    "required", "readOnly", "fontSize", "textAlign", "label", "placeholder", "text",
    "characterLimit", "value", "minValue", "maxValue", "numberFormat")}  # fmt: skip
TAG_TYPES = frozenset(t.lower() for t in FIELD_IN)


def tag_field(tag: Tag) -> dict[str, Any]:
    """The native field of one of Documenso's placeholders: the native tag's box, and its
    options read as Documenso reads them (``required=true``; signatures take none)."""
    field_type = tag.type.upper()
    raw: dict[str, Any] = {}
    if field_type not in ("SIGNATURE", "FREE_SIGNATURE"):
        for key, value in tag.options.items():
            name = _TAG_OPTIONS.get(key)
            if name is None:
                continue
            if name in ("required", "readOnly"):
                value = value is True or str(value).lower() == "true"
            raw[name] = value
    if field_type == "TEXT" and "text" in raw:
        raw["text"] = str(raw["text"])
    try:
        meta, required = meta_in(field_type, raw, "file")
    except ValidationFailed as exc:
        raise tag_error(tag, exc.errors[0].message if exc.errors else exc.detail) from exc
    return {**field_data(tag), "type": FIELD_IN[field_type], "required": required, "meta": meta}


def meta_out(field: EnvelopeField) -> dict[str, Any]:
    """Documenso's ``fieldMeta`` of a native field."""
    meta: dict[str, Any] = field.meta or {}
    foreign = FIELD_OUT[field.type]
    out: dict[str, Any] = {
        "type": foreign.lower(),
        "required": field.required,
        "readOnly": bool(meta.get("read_only", False)),
    }
    for native, name in (("label", "label"), ("placeholder", "placeholder"),
                         ("font_size", "fontSize")):  # fmt: skip
        if meta.get(native) is not None:
            out[name] = meta[native]
    default = meta.get("default")
    if foreign == "TEXT":
        out["text"] = default or ""
        if meta.get("max_length"):
            out["characterLimit"] = meta["max_length"]
    elif foreign == "NUMBER":
        out.update(value=default or "", minValue=meta.get("min"), maxValue=meta.get("max"))
    elif foreign == "RADIO":
        out["values"] = [
            {"id": i + 1, "checked": v == default, "value": v}
            for i, v in enumerate(meta.get("options", []))
        ]
    elif foreign == "DROPDOWN":
        out["values"] = [{"value": v} for v in meta.get("options", [])]
        out["defaultValue"] = default or ""
    elif foreign == "CHECKBOX":
        out["values"] = [{"id": 1, "checked": bool(default), "value": meta.get("label") or ""}]
    return out


def _inserted_text(field: EnvelopeField) -> str:
    value = field.value or {}
    if "checked" in value:
        return "true" if value["checked"] else ""
    if value.get("kind") == "image":
        return ""  # a drawn signature is an image, not text
    return str(value.get("text") or "")


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
        "customText": _inserted_text(field),
        "inserted": field.value is not None,
        "fieldMeta": meta_out(field),
    }


def envelope_lite(envelope: Envelope, number: str | None = None) -> dict[str, Any]:
    """The envelope without recipients, fields or items (Documenso's ``ZEnvelopeLiteSchema``).
    ``secondaryId`` is ``document_<n>``, n the legacy numeric id (webhooks' ``payload.id``)."""
    return {
        "id": envelope.id,
        "secondaryId": f"document_{number}" if number else envelope.id,
        "internalVersion": 2,
        "type": "DOCUMENT",
        "status": STATUS_OUT[envelope.status],
        "source": "DOCUMENT",
        "visibility": "EVERYONE",
        "templateType": "PRIVATE",
        "title": envelope.title,
        "externalId": envelope.reference,
        "folderId": None,
        "templateId": None,
        "authOptions": None,
        "formValues": None,
        "publicTitle": "",
        "publicDescription": "",
        "userId": None,
        "teamId": None,
        "createdAt": _time(envelope.created_at),
        "updatedAt": _time(envelope.updated_at),
        "completedAt": _time(envelope.completed_at),
        "deletedAt": None,
    }


def document_meta(envelope: Envelope) -> dict[str, Any]:
    return {
        "id": envelope.id,
        "subject": envelope.title,
        "message": envelope.message,
        "language": envelope.language,
        "signingOrder": envelope.signing_order.upper(),
        "distributionMethod": "EMAIL",
        "timezone": "Etc/UTC",
        "dateFormat": "yyyy-MM-dd hh:mm a",
        "redirectUrl": None,
        "typedSignatureEnabled": True,
        "uploadSignatureEnabled": True,
        "drawSignatureEnabled": True,
        "allowDictateNextSigner": False,
        "emailSettings": None,
        "emailId": None,
        "emailReplyTo": None,
        "envelopeExpirationPeriod": None,
    }


def envelope_out(
    envelope: Envelope,
    parts: EnvelopeParts,
    recipient_ids: dict[str, str],
    field_ids: dict[str, str],
    *,
    keys: Sequence[bytes] | None = None,
    number: str | None = None,
) -> dict[str, Any]:
    return {
        **envelope_lite(envelope, number),
        "recipients": [
            recipient_out(envelope, r, recipient_ids, keys=keys) for r in parts.recipients
        ],
        "fields": [field_out(envelope, f, field_ids, recipient_ids) for f in parts.fields],
        "envelopeItems": [
            {
                "id": d.id,
                "envelopeId": envelope.id,
                "title": d.filename,
                "order": index + 1,
                "documentDataId": d.id,
            }
            for index, d in enumerate(parts.documents)
        ],
        "directLink": None,
        "team": None,
        "user": None,
        "documentMeta": document_meta(envelope),
    }


# ---- audit log -------------------------------------------------------------------------------

_AUDIT_TYPES = {
    "created": "DOCUMENT_CREATED",
    "sent": "DOCUMENT_SENT",
    "invited": "EMAIL_SENT",
    "opened": "DOCUMENT_OPENED",
    "signed": "DOCUMENT_RECIPIENT_COMPLETED",
    "approved": "DOCUMENT_RECIPIENT_COMPLETED",
    "viewed": "DOCUMENT_RECIPIENT_COMPLETED",
    "assisted": "DOCUMENT_RECIPIENT_COMPLETED",
    "rejected": "DOCUMENT_RECIPIENT_REJECTED",
    "expired": "DOCUMENT_RECIPIENT_EXPIRED",
    "cancelled": "DOCUMENT_CANCELLED",
    "completed": "DOCUMENT_COMPLETED",
}
_EMAIL_TYPES = {"signer": "SIGNING_REQUEST", "approver": "APPROVE_REQUEST",
                "viewer": "VIEW_REQUEST", "assistant": "ASSISTING_REQUEST", "cc": "CC"}  # fmt: skip


def audit_out(envelope: Envelope, step: Step, recipient_ids: dict[str, str]) -> dict[str, Any]:
    """One of Documenso's audit log entries (``ZDocumentAuditLogSchema``)."""
    data: dict[str, Any] = {}
    recipient = step.recipient
    if recipient is not None:
        data = {
            "recipientEmail": recipient.email,
            "recipientName": recipient.name,
            "recipientId": int(recipient_ids[recipient.id]),
            "recipientRole": ROLE_OUT[recipient.role],
        }
        auth = auth_out(recipient)
        if step.kind == "opened":
            data["accessAuth"] = auth["accessAuth"]
        elif step.kind in ("signed", "approved", "viewed", "assisted"):
            data["actionAuth"] = auth["actionAuth"]
        elif step.kind == "invited":
            data.update(emailType=_EMAIL_TYPES[recipient.role], isResending=False)
        elif step.kind == "rejected":
            data["reason"] = step.data.get("reason") or ""
            if step.data.get("external"):
                data["isExternal"] = True
    elif step.kind == "created":
        data = {"title": envelope.title, "source": {"type": "DOCUMENT"}}
    elif step.kind == "completed":
        data = {"transactionId": envelope.id}
    return {
        "id": step.id,
        "createdAt": _time(step.at),
        "envelopeId": envelope.id,
        "type": _AUDIT_TYPES[step.kind],
        "name": recipient.name if recipient is not None else None,
        "email": recipient.email if recipient is not None else None,
        "userId": None,
        "userAgent": step.user_agent,
        "ipAddress": step.ip,
        "data": data,
    }


# ---- webhooks (format "documenso": tabellion.webhook.formats) -------------------------------

# Standard event type → Documenso's. One stored event gives one call: a signature is
# DOCUMENT_SIGNED, an approval DOCUMENT_RECIPIENT_COMPLETED.
WEBHOOK_NAMES = {
    "envelope.created": "DOCUMENT_CREATED",
    "envelope.sent": "DOCUMENT_SENT",
    "envelope.opened": "DOCUMENT_OPENED",
    "envelope.signed": "DOCUMENT_SIGNED",
    "envelope.approved": "DOCUMENT_RECIPIENT_COMPLETED",
    "envelope.rejected": "DOCUMENT_REJECTED",
    "envelope.completed": "DOCUMENT_COMPLETED",
    "envelope.cancelled": "DOCUMENT_CANCELLED",
    # Documenso tells of each recipient's deadline; here the whole envelope expires at once,
    # and its recipients still to act show ``expirationNotifiedAt``.
    "envelope.expired": "RECIPIENT_EXPIRED",
    "envelope.reminded": "DOCUMENT_REMINDER_SENT",
    "webhook.test": "WEBHOOK_TEST",
}
WEBHOOK_EVENTS = frozenset(WEBHOOK_NAMES)
WEBHOOK_WITH_CONTEXT = True


def webhook_headers(secrets: list[str]) -> list[tuple[str, str]]:
    """Documenso receivers compare ``X-Documenso-Secret`` with the secret they were given:
    the endpoint's newest one. (The Standard Webhooks signature headers go too.)"""
    return [("X-Documenso-Secret", secrets[0])] if secrets else []


def _ms(value: str) -> str:
    return isoformat_ms_z(datetime.fromisoformat(value.replace("Z", "+00:00")))


async def render_webhook(
    session: AsyncSession,
    organization_id: str,
    event_type: str,
    standard: dict[str, Any],
    *,
    url: str = "",
    keys: Sequence[bytes] = (),
) -> bytes | None:
    """``{event, payload, createdAt, webhookEndpoint}`` as Documenso sends it (reference 007);
    None for an envelope this dialect has never seen (it has no Documenso number)."""
    data: dict[str, Any] = standard["data"]
    payload: dict[str, Any] = data
    if event_type.startswith("envelope."):
        envelope = await repository.get_envelope(session, organization_id, data["envelope_id"])
        number = await compat_ids.foreign_of(
            session,
            dialect=DIALECT,
            kind="envelope",
            native_id=data["envelope_id"],
            organization_id=organization_id,
        )
        if envelope is None or number is None:
            return None
        parts = (await repository.parts_of(session, [envelope.id]))[envelope.id]
        recipient_ids = await compat_ids.foreign_map(
            session,
            dialect=DIALECT,
            kind="recipient",
            native_ids=[r.id for r in parts.recipients],
            organization_id=organization_id,
        )
        recipients = [
            {**recipient_out(envelope, r, recipient_ids, keys=keys or None),
             "documentId": int(number),
             "templateId": None}
            for r in parts.recipients
            if r.id in recipient_ids
        ]  # fmt: skip
        # As reference 007 shows them: a reminder names the recipients reminded, an expiry
        # those whose window closed.
        if event_type == "envelope.reminded":
            named = {recipient_ids.get(n) for n in data.get("recipient_ids", [])}
            recipients = [r for r in recipients if str(r["id"]) in named]
        elif event_type == "envelope.expired":
            recipients = [r for r in recipients if r["expirationNotifiedAt"] is not None]
        elif event_type == "envelope.created":
            # A new draft, however late the call: nobody was sent, opened or signed yet.
            recipients = [{**r, **_AS_CREATED} for r in recipients]
        lite = envelope_lite(envelope, number)
        if event_type == "envelope.created":
            lite = {**lite, "updatedAt": lite["createdAt"], "completedAt": None}
        payload = {
            "id": int(number),
            "envelopeId": envelope.id,
            **{k: lite[k] for k in _PAYLOAD_KEYS},
            # The state when it happened, not when the call is made.
            "status": STATUS_OUT.get(str(data.get("status")), lite["status"]),
            "documentMeta": document_meta(envelope),
            "recipients": recipients,
            "Recipient": recipients,
        }
    body = {
        "event": WEBHOOK_NAMES[event_type],
        "payload": payload,
        "createdAt": _ms(standard["timestamp"]),
        "webhookEndpoint": url,
    }
    return json.dumps(body, separators=(",", ":")).encode()


_AS_CREATED = {"readStatus": "NOT_OPENED", "signingStatus": "NOT_SIGNED", "sendStatus": "NOT_SENT",
               "signedAt": None, "rejectionReason": None, "expired": None, "expiresAt": None,
               "expirationNotifiedAt": None}  # fmt: skip
_PAYLOAD_KEYS = ("externalId", "userId", "authOptions", "formValues", "visibility", "title",
                 "createdAt", "updatedAt", "completedAt", "deletedAt", "teamId", "templateId",
                 "source")  # fmt: skip
