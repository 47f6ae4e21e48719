"""API schemas of retention, legal holds, erasures and exports."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, field_validator

from tabellion.kit.schema import EMAIL_SCHEMA, NO_CONTROL_PATTERN, Schema
from tabellion.message.rules import normalize_email


class LegalHoldIn(Schema):
    reason: Annotated[
        str | None,
        Field(
            max_length=500,
            json_schema_extra={"pattern": NO_CONTROL_PATTERN},
            description="Why (a case number, a claim): recorded in the hold's evidence.",
        ),
    ] = None


class AddressIn(Schema):
    email: Annotated[
        str,
        Field(
            max_length=320,
            json_schema_extra=EMAIL_SCHEMA,
            description="The recipient's address (compared without regard to case).",
        ),
    ]

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return normalize_email(value)


class ErasureOut(BaseModel):
    email_sha256: str = Field(description="The SHA-256 of the address (lower-cased).")
    evidence_id: str | None = Field(
        description="The RECIPIENT_ERASED proof (GET /v1/evidence/{id}); null if nothing held."
    )
    deliveries: list[str] = Field(description="Deliveries whose recipient data was erased.")
    messages_purged: list[str] = Field(
        description="Messages sent to this address alone: their content was deleted."
    )
    replies_purged: int
    files_purged: int
    envelope_recipients: list[str] = Field(
        description="Signing-envelope recipients (ended envelopes) whose data was erased."
    )
    held: list[str] = Field(description="Deliveries left as they are: their message is on hold.")
    in_progress: list[str] = Field(
        description="Deliveries left as they are: still under way; erase again once they end."
    )
