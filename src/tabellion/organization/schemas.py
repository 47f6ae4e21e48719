"""API schemas of organisations, API keys, users and customers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator

from tabellion.kit.schema import Schema, UTCDateTime
from tabellion.message.rules import normalize_email

Scope = Literal["messages:write", "messages:read", "webhooks", "customers", "users", "admin"]
Role = Literal["admin", "sender", "viewer"]
CustomerState = Literal["PENDING", "ACCEPTED", "REFUSED", "REVOKED", "CANCELLED"]


class OrganizationOut(BaseModel):
    id: str
    name: str
    email: str | None
    timezone: str
    reseller_id: str | None
    customer_state: CustomerState | None
    created_at: UTCDateTime


class ApiKeyIn(Schema):
    name: Annotated[str, Field(min_length=1, max_length=255)]
    scopes: Annotated[list[Scope], Field(min_length=1)]
    expires_at: datetime | None = None

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give a time zone, e.g. 2027-01-01T00:00:00Z")
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
    email: Annotated[str, Field(max_length=320)]
    name: Annotated[str | None, Field(max_length=255)] = None
    role: Role = "sender"

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return normalize_email(value)


class UserUpdate(Schema):
    name: Annotated[str | None, Field(max_length=255)] = None
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
    name: Annotated[str, Field(min_length=1, max_length=255)]
    email: Annotated[str, Field(max_length=320)]
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
