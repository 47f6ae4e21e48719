"""Registered E-mail ⇄ native: languages, bodies, statuses, the XML status document, errors."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib.resources import files
from typing import get_args
from xml.etree import ElementTree as etree

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from tabellion.errors import FieldError, TabellionError, ValidationFailed, validation_problem
from tabellion.evidence import links
from tabellion.kit.time import as_utc
from tabellion.message.schemas import Language, MessageIn
from tabellion.message.views import EvidenceLike
from tabellion.models.message import Attachment, Delivery, Message

from .schemas import RegisteredEmailSendIn

DIALECT = "registered_email"
USER_KIND = "user"
USER_ID_DIGITS = 9
LANGUAGES: tuple[str, ...] = get_args(Language)

# Native delivery status → the status this dialect reports.
STATUSES = {
    "pending": "queued",
    "notified": "announced",
    "accepted": "accepted",
    "refused": "rejected",
    "expired": "expired",
    "undelivered": "undeliverable",
}

XSD_NAME = "status.xsd"


def language(value: str) -> Language:
    """``nl``, ``NL``, ``nl-NL`` and ``nl_NL`` are Dutch; a language we do not speak is a 400."""
    code = value.strip().lower().replace("_", "-").split("-")[0]
    if code not in LANGUAGES:
        raise ValidationFailed.field(
            "recipient_language",
            f"{value!r} is not a supported language; use one of {', '.join(LANGUAGES)}.",
            code="invalid-choice",
        )
    return code  # type: ignore[return-value]


def bodies(message_body: str) -> tuple[str, str | None]:
    """``message_body`` is HTML when it has tags, else plain text kept as written."""
    if "<" in message_body and ">" in message_body:
        return message_body, None
    paragraphs = [p for p in message_body.replace("\r\n", "\n").split("\n\n") if p.strip()]
    rendered = "".join(
        "<p>" + "<br>".join(html.escape(line) for line in p.split("\n")) + "</p>"
        for p in paragraphs
    )
    return rendered, message_body


def message_in(send: RegisteredEmailSendIn) -> MessageIn:
    """The native registered letter: one recipient, known by address, copied to their mailbox
    after acceptance, its sender told of each outcome by e-mail (as the original does)."""
    body_html, body_text = bodies(send.message_body)
    recipient: dict[str, str] = {
        "email": send.recipient_email,
        "language": language(send.recipient_language),
    }
    first, last = send.recipient_first_name, send.recipient_last_name
    if bool(first) != bool(last):
        # A person is named by both (as in /v1); say which one is missing.
        missing = "recipient_last_name" if first else "recipient_first_name"
        raise ValidationFailed.field(
            missing,
            "Give recipient_first_name and recipient_last_name together.",
            code="missing-attribute",
        )
    # Declared only when sent (an extension): compared with iDIN's answer if the
    # organisation's identification matches on them.
    for attribute, value in (
        ("first_name", send.recipient_first_name),
        ("last_name", send.recipient_last_name),
        ("birth_date", send.recipient_birth_date),
    ):
        if value:
            recipient[attribute] = value
    sender = {"email": send.sender_email, "name": send.sender_real_name or None}
    try:
        return MessageIn.model_validate(
            {
                "mode": "registered",
                "subject": send.subject,
                "body_html": body_html,
                "body_text": body_text,
                "sender": sender,
                "recipients": [recipient],
                "reference": send.x_own_id,
                "campaign": send.x_own_campaign,
                "guid": send.x_own_guid,
                "copy_to_mailbox_after_acceptance": True,
                "notify_sender": True,
            },
        )
    except ValidationError as exc:
        raise _foreign_errors(exc) from exc


# Native field → the field of the send request it came from.
_FIELDS = {
    "body_html": "message_body",
    "body_text": "message_body",
    "subject": "subject",
    "sender.email": "sender_email",
    "sender.name": "sender_real_name",
    "recipients[0].email": "recipient_email",
    "recipients[0].language": "recipient_language",
    "recipients[0].first_name": "recipient_first_name",
    "recipients[0].last_name": "recipient_last_name",
    "recipients[0].birth_date": "recipient_birth_date",
    "reference": "x-own-id",
    "campaign": "x-own-campaign",
    "guid": "x-own-guid",
}


def _foreign_errors(exc: ValidationError) -> TabellionError:
    return foreign_error(validation_problem(RequestValidationError(exc.errors(include_url=False))))


class IdentificationUnavailable(TabellionError):
    """The organisation asks its recipients to identify (iDIN), and this server cannot."""

    status = 412
    code = "identification-unavailable"
    title = "The organisation's identification cannot be honoured"


def foreign_error(native: ValidationFailed) -> TabellionError:
    """A native validation error with the send request's field names (and its code kept).

    The identification comes from the organisation's default, not from the request: one
    this server cannot honour (no iDIN provider configured any more, none at its level) is a
    failed precondition (412), not a bad request."""
    unavailable = [e for e in native.errors if e.field.startswith("identification")]
    if unavailable:
        first = unavailable[0]
        text = (
            "Your organisation asks recipients to identify (iDIN) before they see a registered "
            f"e-mail, and this server cannot: {first.message} Ask the operator to configure "
            "the identity provider, or change the organisation's identification "
            "(PATCH /v1/organization)."
        )
        return IdentificationUnavailable(
            text, errors=[FieldError(field="identification", code=first.code, message=text)]
        )
    errors = []
    for e in native.errors:
        message = e.message
        if e.code == "sender-not-registered":
            message = (
                "This address is not a sender of your organisation; "
                "create it with POST /api/user/ first."
            )
        elif e.code == "missing-attribute" and e.field in _FIELDS:
            message = (
                "Your organisation's identification (iDIN) compares this with the identity "
                f"the bank confirms: send {_FIELDS[e.field]}."
            )
        errors.append(FieldError(field=_FIELDS.get(e.field, e.field), code=e.code, message=message))
    if not errors:
        return native
    error = ValidationFailed(f"{errors[0].field}: {errors[0].message}", errors=errors)
    error.code = native.code
    return error


# ---- the XML status document ------------------------------------------------------------------


@dataclass(frozen=True)
class Ticket:
    """One delivery as the status document shows it."""

    token: str
    url: str
    delivery: Delivery
    message: Message
    attachments: Sequence[Attachment]
    evidence: Sequence[EvidenceLike]


def foreign_time(value: datetime) -> str:
    """UTC, ISO 8601 with milliseconds and ``Z``."""
    moment = as_utc(value)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _when(value: datetime | None) -> str | None:
    return foreign_time(value) if value is not None else None


def _text(parent: etree.Element, tag: str, value: str | None) -> None:
    if value is not None:
        etree.SubElement(parent, tag).text = value


def status_document(tickets: Iterable[Ticket], *, generated_at: datetime) -> bytes:
    root = etree.Element("status_response", generated=foreign_time(generated_at))
    signer = links.current()
    for ticket in tickets:
        delivery, message = ticket.delivery, ticket.message
        node = etree.SubElement(root, "ticket")
        _text(node, "ticket_token", ticket.token)
        _text(node, "ticket_url", ticket.url)
        _text(node, "status", STATUSES.get(delivery.status, delivery.status))
        _text(node, "status_reason", delivery.status_reason)
        _text(node, "subject", message.subject)
        _text(node, "sender_email", message.sender_email)
        _text(node, "recipient_email", delivery.email)
        _text(node, "recipient_language", delivery.language)
        _text(node, "x-own-id", message.reference)
        _text(node, "x-own-guid", message.guid)
        _text(node, "x-own-campaign", message.campaign)
        _text(node, "created_at", _when(delivery.created_at))
        _text(node, "updated_at", _when(delivery.updated_at))
        _text(node, "announced_at", _when(delivery.notified_at))
        _text(node, "deadline_at", _when(delivery.deadline_at))
        _text(node, "answered_at", _when(delivery.answered_at))
        _identification(node, delivery)
        files_node = etree.SubElement(node, "attachments")
        for attachment in ticket.attachments:
            etree.SubElement(
                files_node,
                "attachment",
                name=attachment.filename,
                type=attachment.content_type,
                size=str(attachment.size),
                sha256=attachment.sha256,
            )
        events = etree.SubElement(node, "events")
        for evidence in ticket.evidence:
            event = etree.SubElement(
                events,
                "event",
                type=evidence.type,
                at=foreign_time(evidence.occurred_at),
                proof_id=evidence.id,
            )
            if signer is not None:
                event.set("proof_pdf", signer.url("pdf", evidence.id))
                event.set("proof_json", signer.url("json", evidence.id))
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


IDENTIFICATION_FAILED = "identification-failed"


def identification_state(delivery: Delivery) -> str | None:
    """``waiting`` (asked, not yet done), ``identified`` or ``mismatch`` (the last sign-in
    gave someone else; the recipient may try again); None when none was asked."""
    if not delivery.identification:
        return None
    if (delivery.identity or {}).get("method") == "oidc":
        return "identified"
    if (delivery.status_reason or "").startswith(IDENTIFICATION_FAILED):
        return "mismatch"
    return "waiting"


def _identification(parent: etree.Element, delivery: Delivery) -> None:
    """What the sender asked of the recipient's identity, and what came of it."""
    state = identification_state(delivery)
    if state is None:
        return
    asked = delivery.identification or {}
    node = etree.SubElement(
        parent, "identification", status=state, level=str(asked.get("level", "substantial"))
    )
    for name in asked.get("providers", []):
        _text(node, "provider", str(name))
    for attribute in asked.get("match", []):
        _text(node, "match", str(attribute))
    if state != "identified":
        return
    identity = delivery.identity or {}
    provider = identity.get("provider") or {}
    done = etree.SubElement(
        node,
        "identified",
        provider=str(provider.get("name", "")),
        label=str(provider.get("label", "")),
        preset=str(provider.get("preset", "")),
        level_of_assurance=str(identity.get("level_of_assurance", "")),
    )
    if identity.get("at"):
        done.set("at", foreign_time(datetime.fromisoformat(str(identity["at"]))))
    for attribute, value in (identity.get("attributes") or {}).items():
        if attribute in identity.get("matched", []) and value is not None:
            etree.SubElement(done, "matched", name=attribute).text = str(value)


def error_document(status: int, code: str, message: str) -> bytes:
    root = etree.Element("error_response", status=str(status), code=code)
    etree.SubElement(root, "message").text = message
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def xsd_text() -> bytes:
    return files(__package__).joinpath(XSD_NAME).read_bytes()
