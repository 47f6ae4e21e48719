"""STAMPEE ⇄ native: letter types, recipients, ids, statuses, evidence, customers, errors.

Every rule stays native: a STAMPEE request is renamed into the native schema and validated by
it, and its errors are renamed back to the STAMPEE fields.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from tabellion.compat import ids
from tabellion.compat.stampee.schemas import (
    BulkSendIn,
    BulkSendOut,
    CustomerOut,
    EvidenceOut,
    MessageOut,
    MessageRef,
)
from tabellion.errors import FieldError, TabellionError, ValidationFailed, validation_problem
from tabellion.evidence import links
from tabellion.evidence.events import EvidenceType
from tabellion.kit.time import isoformat_ms_z
from tabellion.message.schemas import MessageIn, RecipientIn
from tabellion.models.evidence import Evidence
from tabellion.models.message import Delivery, Message
from tabellion.models.organization import Organization
from tabellion.organization.schemas import CustomerIn

DIALECT = "stampee"
MESSAGE_KIND = "message"  # a STAMPEE message is one recipient's letter: a native delivery

MODES = {"LS": "simple", "LRE": "registered"}
TYPES = {mode: letter for letter, mode in MODES.items()}
# STAMPEE has no subject: the notice e-mail needs one (the reference, when given, follows it).
SUBJECTS = {"LS": "Lettre électronique", "LRE": "Lettre recommandée électronique"}
# STAMPEE writes to French recipients: the notice and the portal speak French.
LANGUAGE = "fr"

# A native delivery status → STAMPEE's (the latest proof's event).
STATUSES = {
    "pending": "SENT",
    "notified": "SENT",
    "undelivered": "UNDELIVERED",
    "received": "RECEIVED",
    "accepted": "ACCEPTED",
    "refused": "REFUSED",
    "expired": "EXPIRED",
}

RECIPIENT_FIELDS = {
    "email": "email",
    "first_name": "firstname",
    "last_name": "lastname",
    "company": "company",
    "siren": "companySiren",
}
MESSAGE_FIELDS = {
    "mode": "type",
    "body_html": "body",
    "reference": "customerReference",
    "campaign": "fileReference",
    "on_behalf_of": "sender",
}
CUSTOMER_FIELDS = {
    "name": "name",
    "email": "email",
    "is_paying": "isPaying",
    "will_send_registered": "willSendLre",
}


class BadContacts(ValidationFailed):
    code = "message-bad-contacts"
    title = "Some recipients are incomplete or incorrect"


# ---- errors ---------------------------------------------------------------------------------

# The reference's own wording, for the codes it documents.
REFERENCE_MESSAGES = {
    "unauthorized": "Unauthorized access",
    "customer-not-found": "Customer not found",
    "customer-not-registered": "Customer is not registered",
    "message-bad-contacts": "Some recipients are incomplete or incorrect",
}


def error_body(error: TabellionError) -> dict[str, str]:
    """``{"message", "code"}``: the reference's words, then which fields are at fault."""
    message = REFERENCE_MESSAGES.get(error.code, error.detail)
    if error.errors and error.code != "validation-failed":
        message += ": " + "; ".join(f"{e.field}: {e.message}" for e in error.errors)
    elif error.errors:
        message = "; ".join(f"{e.field}: {e.message}" for e in error.errors)
    return {"message": message, "code": error.code}


def _foreign_words(text: str, names: Mapping[str, str]) -> str:
    """A native rule's message, naming STAMPEE's fields ("first_name" → "firstname")."""
    renames = {native: foreign for native, foreign in names.items() if native != foreign}
    if not renames:
        return text
    pattern = r"\b(" + "|".join(map(re.escape, renames)) + r")\b"
    return re.sub(pattern, lambda m: renames[m.group(1)], text)


def _renamed(exc: ValidationError, names: Mapping[str, str], prefix: str = "") -> list[FieldError]:
    """The native schema's errors, with native field names made STAMPEE ones."""
    errors = validation_problem(RequestValidationError(exc.errors(include_url=False))).errors
    out = []
    for error in errors:
        head, dot, tail = error.field.partition(".")
        head_name, bracket, index = head.partition("[")
        field = names.get(head_name, head_name) + bracket + index + dot + tail
        if field == "body":  # a model-level rule: the whole object
            field = ""
        path = prefix + ("." + field if prefix and field else field)
        message = _foreign_words(error.message, names)
        out.append(error.model_copy(update={"field": path or "body", "message": message}))
    return out


def _validated(
    model: type[BaseModel],
    data: dict[str, Any],
    names: Mapping[str, str],
    *,
    prefix: str = "",
    error: type[ValidationFailed] = ValidationFailed,
) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = _renamed(exc, names, prefix)
        raise error(errors[0].message, errors=errors) from exc


def foreign_input(model: type[BaseModel], data: Any) -> Any:
    """A STAMPEE body checked against its own shape (unknown fields ignored)."""
    if not isinstance(data, dict):
        raise ValidationFailed.field("body", "The body must be a JSON object.")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = _renamed(exc, {})
        kind = BadContacts if errors[0].field.startswith("recipients") else ValidationFailed
        raise kind(errors[0].message, errors=errors) from exc


def _recipient(index: int, raw: dict[str, Any]) -> RecipientIn:
    data = {native: raw[foreign] for native, foreign in RECIPIENT_FIELDS.items() if foreign in raw}
    data = {k: v for k, v in data.items() if v is not None}
    recipient: RecipientIn = _validated(
        RecipientIn,
        {**data, "language": LANGUAGE},
        RECIPIENT_FIELDS,
        prefix=f"recipients[{index}]",
        error=BadContacts,
    )
    return recipient


def message_in(data: BulkSendIn) -> MessageIn:
    recipients = [_recipient(i, r) for i, r in enumerate(data.recipients)]
    subject = SUBJECTS[data.type]
    if data.customerReference:
        subject += f" — {data.customerReference}"
    native = {
        "mode": MODES[data.type],
        "subject": subject[:255],
        "body_html": data.body,
        "recipients": recipients,
        "reference": data.customerReference,
        "campaign": data.fileReference,
        "on_behalf_of": data.sender,
    }
    message: MessageIn = _validated(
        MessageIn, {k: v for k, v in native.items() if v is not None}, MESSAGE_FIELDS
    )
    return message


def customers_in(items: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for index, raw in enumerate(items):
        data = {
            native: raw[foreign] for native, foreign in CUSTOMER_FIELDS.items() if foreign in raw
        }
        customer: CustomerIn = _validated(
            CustomerIn, data, CUSTOMER_FIELDS, prefix=f"customers[{index}]"
        )
        out.append(customer.model_dump())
    return out


# ---- answers --------------------------------------------------------------------------------


def bulk_send_out(message: Message, foreign_ids: Iterable[str]) -> BulkSendOut:
    return BulkSendOut(
        body=message.body_html,
        createdAt=isoformat_ms_z(message.created_at),
        type=TYPES[message.mode],
        customerReference=message.reference,
        fileReference=message.campaign,
        messages=[MessageRef(id=i) for i in foreign_ids],
    )


def evidence_url(foreign_id: str, evidence: Evidence) -> str:
    """The sealed PDF by a signed link (no token, 24 hours), else by the STAMPEE route."""
    signer = links.current()
    if signer is not None:
        return signer.url("pdf", evidence.id)
    return f"/compat/stampee/messages/{foreign_id}/evidences/{evidence.type}"


def message_out(foreign_id: str, delivery: Delivery, evidence: Sequence[Evidence]) -> MessageOut:
    return MessageOut(
        id=foreign_id,
        type=TYPES[delivery.mode],
        status=STATUSES.get(delivery.status, delivery.status.upper()),
        createdAt=isoformat_ms_z(delivery.created_at),
        evidences=[
            EvidenceOut(
                url=evidence_url(foreign_id, e),
                eventType=e.type,
                createdAt=isoformat_ms_z(e.occurred_at),
            )
            for e in evidence
        ],
    )


def customer_out(customer: Organization) -> CustomerOut:
    return CustomerOut(
        id=customer.id,
        name=customer.name,
        email=customer.email,
        isPaying=customer.is_paying,
        willSendLre=customer.will_send_registered,
        state=customer.customer_state,
        createdAt=isoformat_ms_z(customer.created_at),
    )


# ---- webhooks (format "stampee": tabellion.webhook.formats) ---------------------------------

# Standard event type → STAMPEE's: message_<event> for each proof, customer_<state>.
WEBHOOK_NAMES = {
    **{f"delivery.{t.value.lower()}": f"message_{t.value.lower()}" for t in EvidenceType},
    **{
        f"customer.{s.lower()}": f"customer_{s.lower()}"
        for s in ("ACCEPTED", "REFUSED", "REVOKED", "CANCELLED")
    },
    "webhook.test": "webhook_test",
}
WEBHOOK_EVENTS = frozenset(WEBHOOK_NAMES)


def _ms(value: str | None) -> str | None:
    return None if value is None else isoformat_ms_z(datetime.fromisoformat(value))


async def render_webhook(
    session: AsyncSession, organization_id: str, event_type: str, standard: dict[str, Any]
) -> bytes | None:
    """``{type, timestamp, data}`` with STAMPEE's names; None for a letter not sent through
    STAMPEE (it has no STAMPEE id)."""
    data = standard["data"]
    if event_type.startswith("delivery."):
        delivery, evidence = data["delivery"], data["evidence"]
        foreign_id = await ids.foreign_of(
            session,
            dialect=DIALECT,
            kind=MESSAGE_KIND,
            native_id=delivery["id"],
            organization_id=organization_id,
        )
        if foreign_id is None:
            return None
        data = {
            "id": foreign_id,
            "type": TYPES[delivery["mode"]],
            "status": STATUSES.get(delivery["status"], delivery["status"].upper()),
            "eventType": evidence["type"],
            "createdAt": _ms(evidence["occurred_at"]),
            "url": evidence["pdf_url"],
        }
    elif event_type.startswith("customer."):
        customer = data["customer"]
        data = {
            "id": customer["id"],
            "name": customer["name"],
            "email": customer["email"],
            "isPaying": customer["is_paying"],
            "willSendLre": customer["will_send_registered"],
            "state": customer["state"],
            "createdAt": _ms(customer["created_at"]),
        }
    payload = {
        "type": WEBHOOK_NAMES[event_type],
        "timestamp": _ms(standard["timestamp"]),
        "data": data,
    }
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
