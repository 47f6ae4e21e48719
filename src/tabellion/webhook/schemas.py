"""API schemas of webhook endpoints, attempts and events."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field

from tabellion.kit.schema import Schema, UTCDateTime
from tabellion.webhook.formats import FORMATS, STANDARD
from tabellion.webhook.service import EVENT_TYPES

# Beyond its syntax, a URL is accepted only if its host resolves to public addresses (or is
# in TABELLION_WEBHOOK_ALLOWED_HOSTS), which no schema can say: the format "webhook-url" names
# that rule (docs/security.md, webhook destinations).
Url = Annotated[
    str,
    Field(
        min_length=8,
        max_length=2048,
        examples=["https://crm.example/hooks"],
        description="An http(s) URL whose host resolves to public addresses only.",
        json_schema_extra={
            "format": "webhook-url",
            "pattern": r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s\x00-\x1f\x7f]+$",
        },
    ),
]
EventType = Annotated[str, Field(json_schema_extra={"enum": ["*", *EVENT_TYPES]})]
EventList = Annotated[list[EventType], Field(min_length=1, max_length=50, examples=[["*"]])]


def _known_format(value: str | None) -> str | None:
    if value is not None and value not in FORMATS:
        raise ValueError(f"format must be one of: {', '.join(FORMATS)}")
    return value


Format = Annotated[
    str,
    Field(
        max_length=16,
        description="The payload format: `standard`, or a dialect's (`stampee`, `documenso`).",
        json_schema_extra={"enum": list(FORMATS)},
    ),
    AfterValidator(_known_format),
]


class EndpointIn(Schema):
    url: Url
    events: EventList
    description: Annotated[str | None, Field(max_length=500)] = None
    format: Format = STANDARD


class EndpointUpdate(Schema):
    url: Url | None = None
    events: EventList | None = None
    description: Annotated[str | None, Field(max_length=500)] = None
    enabled: bool | None = None
    format: Format | None = None


class RotateIn(Schema):
    overlap_hours: Annotated[int, Field(ge=0, le=168)] = 24


class EndpointOut(BaseModel):
    id: str
    url: str
    events: list[str]
    format: str
    description: str | None
    enabled: bool
    disabled_reason: str | None
    failing_since: UTCDateTime | None
    created_at: UTCDateTime
    updated_at: UTCDateTime


class EndpointWithSecret(EndpointOut):
    secret: str = Field(description="`whsec_...`: shown once; verify signatures with it.")


class AttemptOut(BaseModel):
    id: int
    event_id: str
    event_type: str
    attempt: int
    outcome: str
    status_code: int | None
    latency_ms: int | None
    error: str | None
    next_retry_at: UTCDateTime | None
    created_at: UTCDateTime


class EventOut(BaseModel):
    id: str
    type: str
    timestamp: str
    data: dict[str, Any]


class EventFeed(BaseModel):
    data: list[EventOut]
    next_cursor: str = Field(description="Pass as `after` to continue; stays put when empty.")
    has_more: bool


class Redelivery(BaseModel):
    event_id: str
    endpoint_ids: list[str]


class TestSent(BaseModel):
    event_id: str
