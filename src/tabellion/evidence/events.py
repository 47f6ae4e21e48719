"""Evidence types and the ETSI EN 319 522 events they stand for."""

from __future__ import annotations

from enum import StrEnum

ETSI_EVENT_BASE = "http://uri.etsi.org/19522/Event/"


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


# EN 319 522-1 clause 8 evidence set; REM "consignment" is the placing of content at the
# recipient's disposal, "handover" the recipient taking it.
ETSI_EVENTS: dict[EvidenceType, str] = {
    EvidenceType.SENT: "SubmissionAcceptance",
    EvidenceType.NOTIFIED: "NotificationForAcceptance",
    EvidenceType.UNDELIVERED: "NotificationForAcceptanceFailure",
    EvidenceType.RECEIVED: "ContentHandover",
    EvidenceType.ACCEPTED: "AcceptanceByRecipient",
    EvidenceType.REFUSED: "RejectionByRecipient",
    EvidenceType.EXPIRED: "ContentHandoverFailure",
    EvidenceType.DOWNLOADED: "ContentHandover",
    EvidenceType.REPLIED: "SubmissionAcceptance",
}


def etsi_event_uri(evidence_type: EvidenceType) -> str:
    return ETSI_EVENT_BASE + ETSI_EVENTS[evidence_type]
