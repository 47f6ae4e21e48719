"""What a proof says: the evidence content, built from the rows it is about.

The content is signed as RFC 8785 canonical JSON, so it must hold only JSON types (strings,
integers, booleans, null, lists, objects). Personal data appears once, in clear, because a
proof must name who did what; the message's subject and body appear only as digests.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from tabellion.config import Settings
from tabellion.kit.time import isoformat_z
from tabellion.models.evidence import Evidence
from tabellion.models.message import Attachment, Delivery, Message, recipient_fields
from tabellion.models.organization import Organization

FORMAT = "tabellion-evidence/1"
POLICY_ID = "urn:tabellion:policy:evidence:1"
RECIPIENT_ACTIONS = frozenset({"RECEIVED", "ACCEPTED", "REFUSED", "DOWNLOADED", "REPLIED"})


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


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


def reasons(evidence: Evidence) -> list[str]:
    details = evidence.details or {}
    found = [str(details["reason"])] if details.get("reason") else []
    if details.get("smtp_code"):
        found.append(f"smtp {details['smtp_code']}")
    return found


def build_content(
    settings: Settings,
    seal_fingerprint: str,
    evidence: Evidence,
    delivery: Delivery,
    message: Message,
    organization: Organization,
    attachments: list[Attachment],
    *,
    sequence: int,
    previous: str | None,
) -> dict[str, Any]:
    details = _jsonable(evidence.details or {})
    content: dict[str, Any] = {
        "format": FORMAT,
        "id": evidence.id,
        "type": evidence.type,
        "event": {"uri": evidence.event, "reasons": reasons(evidence)},
        "occurred_at": iso(evidence.occurred_at),
        "issuer": {
            "name": settings.issuer_name,
            "url": settings.base_url,
            "policy": POLICY_ID,
            "seal_certificate_sha256": seal_fingerprint,
        },
        "organization_id": evidence.organization_id,
        "message_id": evidence.message_id,
        "delivery_id": evidence.delivery_id,
        "mode": message.mode,
        "sender": {
            "organization": {"id": organization.id, "name": organization.name},
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
        "recipient": recipient_fields(delivery),
        "content": {
            "subject_sha256": sha256_text(message.subject),
            "body_sha256": sha256_text(message.body_html),
            "attachments": [
                {"id": a.id, "filename": a.filename, "size": a.size, "sha256": a.sha256}
                for a in attachments
            ],
        },
        "details": details,
        "chain": {"sequence": sequence, "previous": previous},
    }
    if evidence.type in RECIPIENT_ACTIONS:
        actor = details.get("actor") if isinstance(details, dict) else None
        content["recipient"]["action"] = _action(delivery, actor if isinstance(actor, dict) else {})
    return content


def _action(delivery: Delivery, actor: dict[str, Any]) -> dict[str, Any]:
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
