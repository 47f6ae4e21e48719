"""An envelope's history, step by step, read from its own rows (timestamps and each
recipient's trail) rather than from webhook events, which are purged after a while."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tabellion.envelope.repository import EnvelopeParts
from tabellion.kit.time import as_utc
from tabellion.models.envelope import Envelope, EnvelopeRecipient

# Steps a recipient's trail records, in the order they happen.
RECIPIENT_STEPS = ("opened", "signed", "approved", "viewed", "assisted", "rejected")
# A recipient still to act when the envelope expired.
_DONE = frozenset(RECIPIENT_STEPS) - {"opened"}
# Steps of one instant (the last signature completes the envelope) sort in this order.
_ORDER = ("created", "sent", "invited", *RECIPIENT_STEPS, "expired", "cancelled", "completed")
_RANK = {kind: rank for rank, kind in enumerate(_ORDER)}


@dataclass(frozen=True)
class Step:
    """``kind``: created, sent, invited, opened, signed, approved, viewed, assisted, rejected,
    expired (a recipient who had a link and had not acted when the envelope expired),
    cancelled, completed."""

    id: str
    kind: str
    at: datetime
    recipient: EnvelopeRecipient | None = None
    ip: str | None = None
    user_agent: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


def _moment(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return None


def steps(envelope: Envelope, parts: EnvelopeParts) -> list[Step]:
    """Every step so far, oldest first; ids are stable across reads."""
    found = [Step(f"{envelope.id}.created", "created", envelope.created_at)]
    if envelope.sent_at is not None:
        found.append(Step(f"{envelope.id}.sent", "sent", envelope.sent_at))
    for recipient in parts.recipients:
        if recipient.sent_at is not None:
            found.append(Step(f"{recipient.id}.invited", "invited", recipient.sent_at, recipient))
        trail: dict[str, Any] = recipient.trail or {}
        for kind in RECIPIENT_STEPS:
            entry = trail.get(kind)
            at = _moment(entry.get("at")) if isinstance(entry, dict) else None
            if entry is None or at is None:
                continue
            data: dict[str, Any] = {"reason": recipient.reason} if kind == "rejected" else {}
            if entry.get("external"):
                data["external"] = True
            found.append(
                Step(
                    f"{recipient.id}.{kind}",
                    kind,
                    at,
                    recipient,
                    ip=entry.get("ip"),
                    user_agent=entry.get("user_agent"),
                    data=data,
                )
            )
    if envelope.expired_at is not None:
        found += [
            Step(f"{r.id}.expired", "expired", envelope.expired_at, r)
            for r in parts.recipients
            if r.sent_at is not None and r.status not in _DONE
        ]
    if envelope.cancelled_at is not None:
        found.append(Step(f"{envelope.id}.cancelled", "cancelled", envelope.cancelled_at))
    if envelope.completed_at is not None:
        found.append(Step(f"{envelope.id}.completed", "completed", envelope.completed_at))
    return sorted(found, key=lambda s: (as_utc(s.at), _RANK[s.kind], s.id))
