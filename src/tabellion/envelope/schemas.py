"""API schemas of envelopes, their recipients, documents and fields."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, Field, field_validator, model_validator

from tabellion.identity.schemas import RecipientIdentification
from tabellion.kit.schema import EMAIL_SCHEMA, Schema, UTCDateTime
from tabellion.message.rules import normalize_email

Role = Literal["signer", "approver", "viewer", "cc", "assistant"]
SigningOrder = Literal["parallel", "sequential"]
Language = Literal["en", "fr", "nl", "de"]
AccessAuth = Literal["email_otp"]
ActionAuth = Literal["email_otp", "totp", "passkey", "password"]
FieldType = Literal[
    "signature",
    "initials",
    "name",
    "email",
    "date",
    "text",
    "number",
    "checkbox",
    "radio",
    "dropdown",
]
EnvelopeStatus = Literal["draft", "pending", "completed", "rejected", "expired", "cancelled"]
RecipientStatus = Literal[
    "waiting", "sent", "opened", "signed", "approved", "viewed", "assisted", "rejected"
]
Percent = Annotated[float, Field(ge=0, le=100)]
Extent = Annotated[float, Field(gt=0, le=100)]
MAX_RECIPIENTS = 100
MAX_FIELDS = 500
# Field types whose value is one of ``meta.options``.
CHOICE_TYPES = ("radio", "dropdown")


class RecipientIn(Schema):
    email: Annotated[
        str, Field(max_length=320, json_schema_extra=EMAIL_SCHEMA, examples=["sam@example.test"])
    ]
    name: Annotated[str, Field(min_length=1, max_length=255)]
    role: Role = "signer"
    order: Annotated[int, Field(ge=1, le=1000)] = 1
    language: Language | None = None
    access_auth: Annotated[list[AccessAuth], Field(max_length=1)] = []
    action_auth: Annotated[list[ActionAuth], Field(max_length=4)] = []
    identification: Annotated[
        RecipientIdentification | None,
        Field(description="Sign in with an identity provider before the documents show."),
    ] = None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return normalize_email(value)

    @field_validator("access_auth", "action_auth")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


class RemindersIn(Schema):
    """Automatic reminders to the recipients whose turn it is and who have not acted."""

    first_after_days: Annotated[int, Field(ge=1, le=365)] = 5
    every_days: Annotated[int, Field(ge=1, le=365)] = 2
    max: Annotated[int, Field(ge=0, le=20, description="0: no automatic reminder")] = 5


class EnvelopeIn(Schema):
    title: Annotated[str, Field(min_length=1, max_length=255)]
    message: Annotated[str | None, Field(max_length=10_000)] = None
    language: Language = "en"
    reference: Annotated[str | None, Field(max_length=255)] = None
    signing_order: SigningOrder = "parallel"
    expires_in_days: Annotated[int, Field(ge=1, le=365)] = 90
    reminders: RemindersIn = RemindersIn()
    recipients: Annotated[list[RecipientIn], Field(min_length=1, max_length=MAX_RECIPIENTS)]


class FieldMeta(Schema):
    label: Annotated[str | None, Field(max_length=255)] = None
    placeholder: Annotated[str | None, Field(max_length=255)] = None
    read_only: bool = False
    default: Annotated[str | None, Field(max_length=1000)] = None
    options: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=255)]], Field(max_length=100)
    ] = []
    min: float | None = None
    max: float | None = None
    max_length: Annotated[int | None, Field(ge=1, le=10_000)] = None
    font_size: Annotated[float | None, Field(ge=4, le=72)] = None

    @model_validator(mode="after")
    def _range(self) -> Self:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must not exceed max")
        return self


class FieldIn(Schema):
    recipient_id: Annotated[str, Field(max_length=40)]
    document_id: Annotated[str, Field(max_length=40)]
    type: FieldType
    page: Annotated[int, Field(ge=1, le=100_000)]
    x: Percent
    y: Percent
    width: Extent
    height: Extent
    required: bool = True
    meta: FieldMeta = FieldMeta()

    @model_validator(mode="after")
    def _choices(self) -> Self:
        if self.type in CHOICE_TYPES and len(self.meta.options) < 2:
            raise ValueError(f"a {self.type} field needs at least two meta.options")
        default = self.meta.default
        if self.type in CHOICE_TYPES and default is not None and default not in self.meta.options:
            raise ValueError("meta.default must be one of meta.options")
        return self


class FieldsIn(Schema):
    fields: Annotated[list[FieldIn], Field(min_length=1, max_length=MAX_FIELDS)]


class ReassignIn(Schema):
    """The person who takes a recipient's place."""

    email: Annotated[
        str, Field(max_length=320, json_schema_extra=EMAIL_SCHEMA, examples=["kim@example.test"])
    ]
    name: Annotated[str, Field(min_length=1, max_length=255)]
    language: Language | None = None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return normalize_email(value)


class RejectIn(Schema):
    reason: Annotated[str, Field(min_length=1, max_length=2000)]


class RecipientOut(BaseModel):
    id: str
    email: str
    name: str
    role: Role
    order: int
    language: Language
    status: RecipientStatus
    access_auth: list[AccessAuth]
    action_auth: list[ActionAuth]
    identification: dict[str, Any] | None = None
    sent_at: UTCDateTime | None
    opened_at: UTCDateTime | None
    acted_at: UTCDateTime | None
    reason: str | None


class DocumentOut(BaseModel):
    id: str
    filename: str
    pages: int
    size: int
    sha256: str
    signed_sha256: str | None = None


class DocumentUploadOut(DocumentOut):
    placeholders: int = Field(description="How many fields the PDF's text tags became")


class FieldOut(BaseModel):
    id: str
    recipient_id: str
    document_id: str
    type: FieldType
    page: int
    x: float
    y: float
    width: float
    height: float
    required: bool
    meta: dict[str, Any]
    value: dict[str, Any] | None


class RemindersOut(BaseModel):
    first_after_days: int
    every_days: int
    max: int
    sent: int
    next_at: UTCDateTime | None


class EnvelopeOut(BaseModel):
    id: str
    status: EnvelopeStatus
    title: str
    message: str | None
    language: Language
    reference: str | None
    signing_order: SigningOrder
    expires_in_days: int
    reminders: RemindersOut
    recipients: list[RecipientOut]
    documents: list[DocumentOut]
    fields: list[FieldOut]
    sent_at: UTCDateTime | None
    expires_at: UTCDateTime | None
    completed_at: UTCDateTime | None
    cancelled_at: UTCDateTime | None
    expired_at: UTCDateTime | None = None
    legal_hold: bool = Field(
        default=False,
        description="Held (POST /v1/envelopes/{id}/legal-hold): its documents are kept past "
        "their retention period.",
    )
    content_purged_at: UTCDateTime | None = Field(
        default=None,
        description="When its documents, signed files, certificate and field values were "
        "deleted (retention or erasure): downloads answer 410 `content-purged`; its proofs "
        "remain.",
    )
    proofs_expired_at: UTCDateTime | None = Field(
        default=None,
        description="When its proofs reached the end of the organisation's "
        "`proof_retention_days` (410 `proof-expired`; their hashes stay in the chain and log).",
    )
    created_at: UTCDateTime
    updated_at: UTCDateTime


class FieldsOut(BaseModel):
    data: list[FieldOut]


class BulkSendRowOut(BaseModel):
    row: int
    envelope_id: str
    status: EnvelopeStatus


class EnvelopeBulkSendOut(BaseModel):
    data: list[BulkSendRowOut]


class EvidenceItemOut(BaseModel):
    id: str = Field(description="The evidence id; its sealed JSON proof is /v1/evidence/{id}.")
    type: str = Field(description="`ENVELOPE_SENT`, `ENVELOPE_SIGNED`, … (see docs/evidence.md).")
    occurred_at: UTCDateTime
    recipient_id: str | None = None
    sealed: bool = Field(description="Whether the sealing job has chained and signed it yet.")
    sequence: int | None = Field(default=None, description="Its place in the organisation's chain.")
    hash: str | None = Field(default=None, description="SHA-256 of the sealed content.")


class EvidenceListOut(BaseModel):
    data: list[EvidenceItemOut]
