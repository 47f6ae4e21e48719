"""API schemas of organisations, API keys, users and customers."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, field_validator

from tabellion.identity.schemas import Identification
from tabellion.kit.schema import (
    EMAIL_SCHEMA,
    NO_CONTROL_PATTERN,
    SIREN_SCHEMA,
    TEXT_PATTERN,
    Schema,
    UTCDateTime,
    not_null,
)
from tabellion.kit.time import utcnow
from tabellion.message.rules import clean_siren, normalize_email

Scope = Literal["messages:write", "messages:read", "webhooks", "customers", "users", "admin"]
Role = Literal["admin", "sender", "viewer"]
CustomerState = Literal["PENDING", "ACCEPTED", "REFUSED", "REVOKED", "CANCELLED"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _no_control_characters(value: str | None) -> str | None:
    # Names end up in e-mail headers and pages, and PostgreSQL refuses NUL outright.
    if value is not None and _CONTROL.search(value):
        raise ValueError("must not contain control characters (line breaks, tabs, NUL)")
    return value


Name = Annotated[
    str,
    Field(min_length=1, max_length=255, json_schema_extra={"pattern": TEXT_PATTERN}),
    AfterValidator(_no_control_characters),
]
OptionalName = Annotated[
    str | None,
    Field(max_length=255, json_schema_extra={"pattern": NO_CONTROL_PATTERN}),
    AfterValidator(_no_control_characters),
]


class Identifiers(Schema):
    siren: Annotated[str | None, Field(examples=["732829320"], json_schema_extra=SIREN_SCHEMA)] = (
        None
    )
    kvk: Annotated[str | None, Field(pattern=r"^[0-9]{8}$", examples=["69599084"])] = None
    vat: Annotated[
        str | None, Field(pattern=r"^[A-Z]{2}[0-9A-Z]{2,13}$", examples=["FR40732829320"])
    ] = None

    @field_validator("siren")
    @classmethod
    def _siren(cls, value: str | None) -> str | None:
        return clean_siren(value)


class OrganizationUpdate(Schema):
    """Only the fields sent change; ``null`` clears the optional ones."""

    name: Annotated[
        Name | None,
        Field(
            description="The sender recipients see in e-mails and pages.",
            json_schema_extra=not_null,
        ),
    ] = None
    legal_name: OptionalName = None
    identifiers: Annotated[
        Identifiers | None, Field(description="Each identifier sent replaces the stored one.")
    ] = None
    brand_color: Annotated[
        str | None,
        Field(
            pattern=r"^#[0-9a-fA-F]{6}$",
            examples=["#1d4ed8"],
            description="#RRGGBB: buttons in e-mails and pages (with black or white text, "
            "whichever contrasts more); links use it darkened to 4.5:1 on white if needed.",
        ),
    ] = None
    allow_executable_attachments: Annotated[bool | None, Field(json_schema_extra=not_null)] = None
    identification: Annotated[
        Identification | None,
        Field(
            description="What registered letters ask of recipients when their message does "
            "not say (see docs/identity.md); null: nothing beyond the e-mail code."
        ),
    ] = None

    content_retention_days: Annotated[
        int | None,
        Field(
            ge=1,
            le=36500,
            description="Delete a message's content (bodies, files, replies) this many days "
            "after its deliveries ended; null: keep it (docs/data.md).",
        ),
    ] = None
    proof_retention_days: Annotated[
        int | None,
        Field(
            ge=1,
            le=36500,
            description="Keep proofs at least this many days (default 3650); not less than "
            "`content_retention_days`.",
            json_schema_extra=not_null,
        ),
    ] = None

    @field_validator("name", "allow_executable_attachments", "proof_retention_days")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("cannot be null; omit the field to keep its value")
        return value


class OrganizationOut(BaseModel):
    id: str
    name: str
    legal_name: str | None = None
    identifiers: Identifiers = Field(default_factory=Identifiers)
    brand_color: str | None = None
    logo_url: str | None = Field(
        default=None,
        description="The logo's public URL (set with PUT /v1/organization/logo); it names the "
        "logo's SHA-256, so a new logo has a new URL.",
    )
    allow_executable_attachments: bool = False
    identification: Identification | None = None
    content_retention_days: int | None = Field(
        default=None,
        description="Days after a delivery's end when its message's content is deleted; "
        "null: kept.",
    )
    proof_retention_days: int = Field(default=3650, description="Days proofs are kept at least.")
    email: str | None
    timezone: str
    reseller_id: str | None
    customer_state: CustomerState | None
    created_at: UTCDateTime


class ApiKeyIn(Schema):
    name: Name
    scopes: Annotated[list[Scope], Field(min_length=1)]
    expires_at: datetime | None = None

    @field_validator("expires_at")
    @classmethod
    def _aware_and_future(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return value
        if value.tzinfo is None:
            raise ValueError("give a time zone, e.g. 2027-01-01T00:00:00Z")
        if value <= utcnow():
            raise ValueError("must be in the future")
        return value


class ApiKeyOut(BaseModel):
    id: str
    name: str
    prefix: str = Field(description="The key's first characters, to recognise it.")
    scopes: list[str]
    created_at: UTCDateTime
    last_used_at: UTCDateTime | None
    expires_at: UTCDateTime | None
    revoked_at: UTCDateTime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="`tbl_...`: shown once, never stored.")


class UserIn(Schema):
    email: Annotated[str, Field(max_length=320, json_schema_extra=EMAIL_SCHEMA)]
    name: OptionalName = None
    role: Role = "sender"

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return normalize_email(value)


class UserUpdate(Schema):
    name: OptionalName = None
    role: Role | None = None


class UserOut(BaseModel):
    id: str
    email: str
    name: str | None
    role: Role
    status: Literal["invited", "active", "deactivated"]
    activation_expires_at: UTCDateTime | None
    activated_at: UTCDateTime | None
    deactivated_at: UTCDateTime | None
    created_at: UTCDateTime
    updated_at: UTCDateTime


class CustomerIn(Schema):
    name: Name
    email: Annotated[str, Field(max_length=320, json_schema_extra=EMAIL_SCHEMA)]
    is_paying: bool = False
    will_send_registered: bool = False

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return normalize_email(value)


class CustomersIn(Schema):
    customers: Annotated[list[CustomerIn], Field(min_length=1, max_length=100)]


class CustomerOut(BaseModel):
    id: str
    name: str
    email: str | None
    state: CustomerState
    state_changed_at: UTCDateTime | None
    is_paying: bool | None
    will_send_registered: bool | None
    created_at: UTCDateTime


class CustomersOut(BaseModel):
    customers: list[CustomerOut]


class ClientKeyIn(Schema):
    name: Name
    public_key_pem: Annotated[
        str,
        Field(
            min_length=1,
            max_length=16_384,
            description="An RSA (≥ 2048 bits) or EC P-256 public key, PEM "
            "(-----BEGIN PUBLIC KEY-----).",
            # The key inside must be one of those: the format names the rule.
            json_schema_extra={
                "format": "pem-public-key",
                "pattern": r"^\s*-----BEGIN PUBLIC KEY-----[\s\S]+-----END PUBLIC KEY-----\s*$",
            },
        ),
    ]
    scopes: Annotated[
        list[Scope],
        Field(min_length=1, description="As for API keys; `messages:write` when not given."),
    ] = ["messages:write"]


class ClientKeyCreated(BaseModel):
    id: str
    issuer: str = Field(
        description="The `iss` of the client's JWTs (Documentd: its company API id)."
    )


class ClientKeyOut(ClientKeyCreated):
    name: str
    key_type: Literal["RSA", "EC"]
    algorithms: list[str] = Field(description="The JWT algorithms this key may sign with.")
    thumbprint: str = Field(description="RFC 7638 SHA-256 thumbprint of the key, base64url.")
    public_key_pem: str
    scopes: list[str]
    created_at: UTCDateTime
    last_used_at: UTCDateTime | None
    revoked_at: UTCDateTime | None
