"""Evidence types, the ETSI EN 319 522 events they stand for, and the reasons of failures."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

ETSI_EVENT_BASE = "http://uri.etsi.org/19522/Event/"
# Events and reasons EN 319 522 does not name get URIs in Tabellion's own namespace.
TABELLION_EVENT_BASE = "urn:tabellion:evidence:event:"
REASON_BASE = "urn:tabellion:evidence:reason:"


class EvidenceType(StrEnum):
    SENT = "SENT"
    NOTIFIED = "NOTIFIED"
    UNDELIVERED = "UNDELIVERED"
    RECEIVED = "RECEIVED"
    ACCEPTED = "ACCEPTED"
    REFUSED = "REFUSED"
    EXPIRED = "EXPIRED"
    DOWNLOADED = "DOWNLOADED"
    REPLIED = "REPLIED"
    # The sender's answer in a secure conversation, with its files (since December 2026).
    SENDER_REPLIED = "SENDER_REPLIED"


# EN 319 522-1 events (their names, as EN 319 522-3 Table 2 spells them in the URIs).
# RECEIVED is the handover: the recipient opened the content. ACCEPTED and REFUSED are the
# recipient's consent or refusal of a consignment that asks for it (registered letters).
# DOWNLOADED (one attached file taken, after the handover or the acceptance) is the tracking
# of access to content already handed over, so that it is never mistaken for the handover.
# A reply is a new submission: REPLIED by the recipient, SENDER_REPLIED by the sender (an
# answer submitted through the API, accepted like the message itself was).
ETSI_EVENTS: dict[EvidenceType, str] = {
    EvidenceType.SENT: "SubmissionAcceptance",
    EvidenceType.NOTIFIED: "NotificationForAcceptance",
    EvidenceType.UNDELIVERED: "NotificationForAcceptanceFailure",
    EvidenceType.RECEIVED: "ContentHandover",
    EvidenceType.ACCEPTED: "ConsignmentAcceptance",
    EvidenceType.REFUSED: "ConsignmentRejection",
    EvidenceType.EXPIRED: "AcceptanceRejectionExpiry",
    EvidenceType.DOWNLOADED: "ContentAccessTracking",
    EvidenceType.REPLIED: "SubmissionAcceptance",
    EvidenceType.SENDER_REPLIED: "SubmissionAcceptance",
}
# Events EN 319 522 does not name (none today) get URIs in Tabellion's own namespace.
TABELLION_EVENTS: dict[EvidenceType, str] = {}


class EnvelopeEvidenceType(StrEnum):
    """A signing envelope's events. EN 319 522 is about delivery, not signing: these are
    Tabellion's events (``urn:tabellion:evidence:event:envelope-…``)."""

    SENT = "ENVELOPE_SENT"
    INVITED = "ENVELOPE_INVITED"
    OPENED = "ENVELOPE_OPENED"
    AUTHENTICATED = "ENVELOPE_AUTHENTICATED"
    VIEWED = "ENVELOPE_VIEWED"
    ASSISTED = "ENVELOPE_ASSISTED"
    SIGNED = "ENVELOPE_SIGNED"
    APPROVED = "ENVELOPE_APPROVED"
    REJECTED = "ENVELOPE_REJECTED"
    REASSIGNED = "ENVELOPE_REASSIGNED"
    COMPLETED = "ENVELOPE_COMPLETED"
    EXPIRED = "ENVELOPE_EXPIRED"
    CANCELLED = "ENVELOPE_CANCELLED"
    # The completion job's result: the signed PDFs and the certificate, by digest.
    SEALED = "ENVELOPE_SEALED"


class DataEvidenceType(StrEnum):
    """What happened to the data itself (docs/data.md): a message's legal hold, the purge of
    its content, the end of its proofs' period, an erasure. Tabellion's events
    (``urn:tabellion:evidence:event:…``), about a message (``message_id`` set), an envelope
    (``envelope_id``) or the organisation (neither a delivery nor an envelope)."""

    LEGAL_HOLD_PLACED = "LEGAL_HOLD_PLACED"
    LEGAL_HOLD_RELEASED = "LEGAL_HOLD_RELEASED"
    CONTENT_PURGED = "CONTENT_PURGED"
    PROOFS_EXPIRED = "PROOFS_EXPIRED"
    RECIPIENT_ERASED = "RECIPIENT_ERASED"
    ORGANIZATION_ERASED = "ORGANIZATION_ERASED"


def event_uri(evidence_type: EvidenceType | EnvelopeEvidenceType | DataEvidenceType) -> str:
    if isinstance(evidence_type, EnvelopeEvidenceType | DataEvidenceType):
        return TABELLION_EVENT_BASE + evidence_type.value.lower().replace("_", "-")
    if evidence_type in ETSI_EVENTS:
        return ETSI_EVENT_BASE + ETSI_EVENTS[evidence_type]
    return TABELLION_EVENT_BASE + TABELLION_EVENTS[evidence_type]


class Reason(StrEnum):
    """Why an event ended a delivery, as ``REASON_BASE + value``."""

    REFUSED_BY_RECIPIENT = "refused-by-recipient"
    ACCEPTANCE_PERIOD_EXPIRED = "acceptance-period-expired"
    # The recipient's mail server refused the notification during the SMTP session (5xx).
    NOTIFICATION_REJECTED = "notification-rejected"
    # It accepted it, then sent back a delivery status notification (RFC 3464) of failure.
    NOTIFICATION_BOUNCED = "notification-bounced"
    NOTIFICATION_UNDELIVERABLE = "notification-undeliverable"


BOUNCE_PREFIX = "The recipient's mail server bounced"


def reasons_of(evidence_type: str, details: dict[str, Any]) -> list[dict[str, Any]]:
    """The reasons of a refusal, an expiry or a failed notification, each a URI with the words
    recorded (and the SMTP reply code when a mail server gave one)."""
    text = str(details["reason"]) if details.get("reason") else None
    code: Reason | None = None
    if evidence_type == EvidenceType.REFUSED:
        code = Reason.REFUSED_BY_RECIPIENT
    elif evidence_type == EvidenceType.EXPIRED:
        code = Reason.ACCEPTANCE_PERIOD_EXPIRED
    elif evidence_type == EvidenceType.UNDELIVERED:
        if text and text.startswith(BOUNCE_PREFIX):
            code = Reason.NOTIFICATION_BOUNCED
        elif details.get("smtp_code"):
            code = Reason.NOTIFICATION_REJECTED
        else:
            code = Reason.NOTIFICATION_UNDELIVERABLE
    if code is None:
        return []
    reason: dict[str, Any] = {"uri": REASON_BASE + code.value, "text": text}
    if details.get("smtp_code"):
        reason["smtp_code"] = int(details["smtp_code"])
    return [reason]
