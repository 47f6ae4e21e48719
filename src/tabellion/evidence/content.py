"""What a proof says: the evidence content, built from the rows it is about.

The content is signed as RFC 8785 canonical JSON, so it must hold only JSON types (strings,
integers, booleans, null, lists, objects). Personal data appears once, in clear, because a
proof must name who did what; the message's subject and bodies appear only as digests, each
with its media type, its digest algorithm and the file of the bundle that holds its bytes.

Format versions: ``tabellion-evidence/1`` (until December 2026: reasons as words, the subject
and sanitised body as bare digests) and ``tabellion-evidence/2``; the verifier reads both.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID
from sqlalchemy import Row

from tabellion.config import Settings
from tabellion.evidence.events import REASON_BASE, reasons_of
from tabellion.evidence.sealing.keys import Seal
from tabellion.kit.time import isoformat_z
from tabellion.models.envelope import Envelope, EnvelopeDocument
from tabellion.models.evidence import Evidence
from tabellion.models.message import (
    RECIPIENT_FIELDS,
    Attachment,
    Delivery,
    Message,
    recipient_fields,
)
from tabellion.models.organization import Organization

FORMAT = "tabellion-evidence/2"
FORMATS = frozenset({"tabellion-evidence/1", FORMAT})
# The XML Encryption identifier EN 319 522-3 uses for SHA-256 digests of parts.
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
TEXT = "text/plain; charset=utf-8"
HTML = "text/html; charset=utf-8"
# Where the evidence bundle keeps the bytes each digest is computed over.
SUBJECT_FILE = "content/subject.txt"
BODY_SUBMITTED_FILE = "content/body-submitted.html"
BODY_FILE = "content/body.html"
BODY_TEXT_FILE = "content/body.txt"
POLICY_ID = "urn:tabellion:policy:evidence:1"
RECIPIENT_ACTIONS = frozenset({"RECEIVED", "ACCEPTED", "REFUSED", "DOWNLOADED", "REPLIED"})

# The columns a proof's content is built from: the sealing batch reads these alone, as rows.
EVIDENCE_COLUMNS = (
    Evidence.id,
    Evidence.organization_id,
    Evidence.delivery_id,
    Evidence.message_id,
    Evidence.envelope_id,
    Evidence.recipient_id,
    Evidence.type,
    Evidence.event,
    Evidence.occurred_at,
    Evidence.details,
)
DELIVERY_COLUMNS = (
    Delivery.id,
    *(getattr(Delivery, name) for name in RECIPIENT_FIELDS),
    Delivery.identity,
)
MESSAGE_COLUMNS = (
    Message.id,
    Message.mode,
    Message.sender_name,
    Message.sender_email,
    Message.sender_user_id,
    Message.submitted_by_key_id,
    Message.submitted_by_organization_id,
    Message.subject,
    Message.body_submitted,
    Message.body_html,
    Message.body_text,
    Message.purged_parts,
)
ORGANIZATION_COLUMNS = (
    Organization.id,
    Organization.name,
    Organization.legal_name,
    Organization.siren,
    Organization.kvk,
    Organization.vat,
)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _jsonable(value: Any) -> Any:
    """Details as recorded, with anything outside plain JSON turned into a string."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return str(value)
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return str(value)


def text_part(text: str, media_type: str, file: str) -> dict[str, Any]:
    data = text.encode("utf-8")
    return {
        "media_type": media_type,
        "size": len(data),
        "digest_algorithm": SHA256,
        "sha256": hashlib.sha256(data).hexdigest(),
        "file": file,
    }


def message_parts(message: Message | Row[Any], attachments: list[Attachment]) -> dict[str, Any]:
    """The subject, the bodies and the attached files: what the sender sent and what the
    recipient was shown (the sanitised HTML body, its plain-text alternative). Once its
    content was purged, the digests recorded as it was (docs/data.md)."""
    purged = getattr(message, "purged_parts", None)
    if purged is not None:
        return dict(purged)
    parts: dict[str, Any] = {"subject": text_part(message.subject, TEXT, SUBJECT_FILE)}
    if message.body_submitted is not None:
        parts["body_submitted"] = text_part(message.body_submitted, HTML, BODY_SUBMITTED_FILE)
    parts["body"] = text_part(message.body_html, HTML, BODY_FILE)
    parts["body_text"] = text_part(message.body_text, TEXT, BODY_TEXT_FILE)
    parts["attachments"] = [
        {
            "id": a.id,
            "filename": a.filename,
            "media_type": a.content_type,
            "size": a.size,
            "digest_algorithm": SHA256,
            "sha256": a.sha256,
        }
        for a in attachments
    ]
    return parts


def issuer_of(settings: Settings, seal: Seal) -> dict[str, Any]:
    """The provider: its name, and its legal name and identifier from the settings or else
    from a configured seal's certificate (a qualified seal names its organisation and, per
    EN 319 412-1, its organizationIdentifier). A self-issued seal vouches for neither."""
    certificate = None if seal.self_issued else seal.certificate
    legal_name = settings.issuer_legal_name or _attribute(certificate, NameOID.ORGANIZATION_NAME)
    identifier = settings.issuer_identifier or _attribute(
        certificate, NameOID.ORGANIZATION_IDENTIFIER
    )
    issuer: dict[str, Any] = {"name": settings.issuer_name}
    if legal_name:
        issuer["legal_name"] = legal_name
    if identifier:
        issuer["identifier"] = identifier
    issuer.update(url=settings.base_url, policy=POLICY_ID, seal_certificate_sha256=seal.fingerprint)
    return issuer


def _attribute(certificate: x509.Certificate | None, oid: x509.ObjectIdentifier) -> str | None:
    if certificate is None:
        return None
    values = certificate.subject.get_attributes_for_oid(oid)
    return str(values[0].value) if values else None


def organization_of(organization: Organization | Row[Any]) -> dict[str, Any]:
    """The sender organisation, with its legal name and registered identifiers when known."""
    out: dict[str, Any] = {"id": organization.id, "name": organization.name}
    if organization.legal_name:
        out["legal_name"] = organization.legal_name
    identifiers = {
        scheme: value
        for scheme, value in (
            ("siren", organization.siren),
            ("kvk", organization.kvk),
            ("vat", organization.vat),
        )
        if value
    }
    if identifiers:
        out["identifiers"] = identifiers
    return out


def message_members(
    issuer: dict[str, Any],
    evidence: Evidence | Row[Any],
    message: Message | Row[Any],
    organization: Organization | Row[Any],
    parts: dict[str, Any],
) -> dict[str, Any]:
    """The members every proof of a message's deliveries shares (the sealing batch
    canonicalises them once per message; a delivery's proof is these and
    :func:`delivery_members`): who sent what, and who attests it. Each argument is a model
    instance or a row of at least the columns ``EVIDENCE_COLUMNS``, ``MESSAGE_COLUMNS`` and
    ``ORGANIZATION_COLUMNS`` name; ``parts`` is ``message_parts`` of the message."""
    return {
        "format": FORMAT,
        "issuer": issuer,
        "organization_id": evidence.organization_id,
        "message_id": evidence.message_id,
        "mode": message.mode,
        "sender": {
            "organization": organization_of(organization),
            "name": message.sender_name or organization.name,
            "email": message.sender_email,
            "user_id": message.sender_user_id,
            "authentication": {
                # A client key's id (ckey_) when a JWT it signed submitted the message.
                "method": "client-key-jwt"
                if (message.submitted_by_key_id or "").startswith("ckey_")
                else "api-key",
                "api_key_id": message.submitted_by_key_id,
                "submitted_by_organization_id": message.submitted_by_organization_id,
                "vouched_by_organization": message.sender_user_id is not None,
            },
        },
        "content": parts,
    }


def delivery_members(
    evidence: Evidence | Row[Any],
    delivery: Delivery | Row[Any],
    *,
    sequence: int,
    previous: str | None,
) -> dict[str, Any]:
    """The members of a delivery's proof its own: the event, its recipient, its chain link."""
    details = _jsonable(evidence.details or {})
    members: dict[str, Any] = {
        "id": evidence.id,
        "type": evidence.type,
        "event": {
            "uri": evidence.event,
            "reasons": reasons_of(evidence.type, evidence.details or {}),
        },
        "occurred_at": iso(evidence.occurred_at),
        "delivery_id": evidence.delivery_id,
        "recipient": recipient_fields(delivery),
        "details": details,
        "chain": {"sequence": sequence, "previous": previous},
    }
    if evidence.type in RECIPIENT_ACTIONS:
        actor = details.get("actor") if isinstance(details, dict) else None
        members["recipient"]["action"] = _action(delivery, actor if isinstance(actor, dict) else {})
    return members


def _action(delivery: Delivery | Row[Any], actor: dict[str, Any]) -> dict[str, Any]:
    """How the recipient was authenticated for this action, when, from where.

    A confirmed identity (a one-time code sent to the address) is the strongest; without one,
    the channel the action came through (the personal link, a vault session).
    """
    identity = _jsonable(delivery.identity) if delivery.identity else None
    if isinstance(identity, dict) and identity.get("confirmed"):
        authentication: dict[str, Any] = {**identity, "channel": actor.get("method")}
        authentication["time"] = _iso_text(identity.get("at"))
        authentication.pop("at", None)
    else:
        authentication = {"method": actor.get("method") or "personal-link"}
    return {
        "authentication": authentication,
        "time": _iso_text(actor.get("at")),
        "ip": actor.get("ip"),
        "user_agent": actor.get("user_agent"),
    }


def _iso_text(value: Any) -> str | None:
    """An ISO 8601 time as recorded, in the proof's form (UTC, ``Z``)."""
    if not isinstance(value, str):
        return None
    try:
        return isoformat_z(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return value


def build_data_content(
    issuer: dict[str, Any],
    evidence: Evidence | Row[Any],
    organization: Organization | Row[Any],
    *,
    sequence: int,
    previous: str | None,
) -> dict[str, Any]:
    """What happened to the data (``DataEvidenceType``): a legal hold, a purge, an erasure.
    The details say what (ids, digests), never the content itself."""
    return {
        "format": FORMAT,
        "id": evidence.id,
        "type": evidence.type,
        "event": {"uri": evidence.event, "reasons": []},
        "occurred_at": iso(evidence.occurred_at),
        "issuer": issuer,
        "organization_id": evidence.organization_id,
        "organization": organization_of(organization),
        "message_id": evidence.message_id,
        "details": _jsonable(evidence.details or {}),
        "chain": {"sequence": sequence, "previous": previous},
    }


def build_envelope_content(
    issuer: dict[str, Any],
    evidence: Evidence | Row[Any],
    envelope: Envelope,
    organization: Organization | Row[Any],
    documents: list[EnvelopeDocument],
    *,
    sequence: int,
    previous: str | None,
) -> dict[str, Any]:
    """A signing envelope's event: the envelope and its documents (as uploaded, by digest),
    the recipient who acted (as recorded with the event) and how, from where."""
    details = _jsonable(evidence.details or {})
    assert isinstance(details, dict)
    recipient = details.pop("recipient", None)
    reason = details.get("reason")
    return {
        "format": FORMAT,
        "id": evidence.id,
        "type": evidence.type,
        "event": {
            "uri": evidence.event,
            "reasons": [{"uri": REASON_BASE + "rejected-by-recipient", "text": reason}]
            if evidence.type == "ENVELOPE_REJECTED"
            else [],
        },
        "occurred_at": iso(evidence.occurred_at),
        "issuer": issuer,
        "organization_id": evidence.organization_id,
        "envelope_id": evidence.envelope_id,
        "recipient_id": evidence.recipient_id,
        "envelope": {
            "id": envelope.id,
            "title": envelope.title,
            "reference": envelope.reference,
            "signing_order": envelope.signing_order,
            "documents": [
                {
                    "id": d.id,
                    "filename": d.filename,
                    "pages": d.pages,
                    "media_type": "application/pdf",
                    "size": d.size,
                    "digest_algorithm": SHA256,
                    "sha256": d.sha256,
                }
                for d in documents
            ],
        },
        "sender": {
            "organization": organization_of(organization),
            "authentication": {"method": "api-key", "api_key_id": envelope.submitted_by_key_id},
        },
        "recipient": recipient,
        "details": details,
        "chain": {"sequence": sequence, "previous": previous},
    }
