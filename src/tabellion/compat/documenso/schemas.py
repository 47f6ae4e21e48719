"""Documenso v2 request and response shapes, with its own (camelCase) field names."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tabellion.kit.schema import EMAIL_SCHEMA

Role = Literal["SIGNER", "APPROVER", "VIEWER", "CC", "ASSISTANT"]
FieldType = Literal[
    "SIGNATURE",
    "FREE_SIGNATURE",
    "INITIALS",
    "NAME",
    "EMAIL",
    "DATE",
    "TEXT",
    "NUMBER",
    "RADIO",
    "CHECKBOX",
    "DROPDOWN",
]
Status = Literal["DRAFT", "PENDING", "COMPLETED", "REJECTED", "CANCELLED"]
Coordinate = Annotated[float, Field(ge=0, le=100)]
Extent = Annotated[float, Field(gt=0, le=100)]


class Foreign(BaseModel):
    # Unknown fields are ignored, as the original's zod schemas strip them.
    model_config = ConfigDict(extra="ignore")


class FieldCreate(Foreign):
    # A file index (0-based) or a file name of the request's ``files``.
    identifier: int | str = 0
    type: FieldType
    page: Annotated[int, Field(ge=1)]
    positionX: Coordinate
    positionY: Coordinate
    width: Extent
    height: Extent
    fieldMeta: dict[str, Any] | None = None


class RecipientCreate(Foreign):
    email: Annotated[str, Field(max_length=320, json_schema_extra=EMAIL_SCHEMA)]
    name: Annotated[str, Field(max_length=255)] = ""
    role: Role = "SIGNER"
    signingOrder: Annotated[int | None, Field(ge=0, le=1000)] = None
    fields: Annotated[list[FieldCreate], Field(max_length=500)] = []


class Meta(Foreign):
    subject: Annotated[str | None, Field(max_length=255)] = None
    message: Annotated[str | None, Field(max_length=10_000)] = None
    signingOrder: Literal["PARALLEL", "SEQUENTIAL"] | None = None
    language: str | None = None


class EnvelopeCreate(Foreign):
    type: Literal["DOCUMENT", "TEMPLATE"]
    title: Annotated[str, Field(min_length=1, max_length=255)]
    externalId: Annotated[str | None, Field(max_length=255)] = None
    recipients: Annotated[list[RecipientCreate], Field(max_length=100)] = []
    meta: Meta = Meta()


class EnvelopeIdIn(Foreign):
    envelopeId: Annotated[str, Field(min_length=1, max_length=64)]


class CancelIn(EnvelopeIdIn):
    reason: Annotated[str | None, Field(max_length=2000)] = None


class Created(BaseModel):
    id: str


class Success(BaseModel):
    success: bool = True


class Error(BaseModel):
    """Documenso's error body (its tRPC OpenAPI adapter's)."""

    message: str
    code: str
    issues: list[dict[str, Any]] = []
