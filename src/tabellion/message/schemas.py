"""API schemas of messages and deliveries."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from tabellion.identity.schemas import Identification
from tabellion.identity.sms import normalize_phone
from tabellion.kit.schema import (
    EMAIL_SCHEMA,
    SIREN_SCHEMA,
    Schema,
    UTCDateTime,
    document_strings,
    not_null,
)
from tabellion.message.rules import (
    MAX_BODY_BYTES,
    MAX_SUBJECT,
    clean_siren,
    normalize_email,
)

Mode = Literal["registered", "simple", "deliver", "secure"]
MessageStatus = Literal["draft", "dispatched"]
DeliveryStatus = Literal[
    "pending", "notified", "accepted", "refused", "expired", "received", "undelivered"
]
Language = Literal["en", "fr", "nl", "de"]
Name = Annotated[str, Field(min_length=1, max_length=255)]


def _recipient_schema(schema: dict[str, Any]) -> None:
    document_strings(schema)
    # The rule of ``_person``: one of three shapes (absent and null are the same).
    none: dict[str, Any] = {"type": "null"}
    text: dict[str, Any] = {"type": "string"}
    schema["anyOf"] = [
        {
            "title": "A natural person",
            "required": ["first_name", "last_name"],
            "properties": {"first_name": text, "last_name": text, "company": none, "siren": none},
        },
        {
            "title": "A legal person",
            "required": ["company", "siren"],
            "properties": {"company": text, "siren": text, "first_name": none, "last_name": none},
        },
        {
            "title": "An address alone (deliver and secure messages)",
            "properties": {"first_name": none, "last_name": none, "company": none, "siren": none},
        },
    ]


class RecipientIn(Schema):
    model_config = ConfigDict(json_schema_extra=_recipient_schema)

    email: Annotated[
        str, Field(max_length=320, json_schema_extra=EMAIL_SCHEMA, examples=["jane@example.test"])
    ]
    first_name: Name | None = None
    last_name: Name | None = None
    company: Name | None = None
    siren: Annotated[str | None, Field(examples=["732829320"], json_schema_extra=SIREN_SCHEMA)] = (
        None
    )
    language: Language = "en"
    birth_date: Annotated[
        str | None,
        Field(
            examples=["1980-04-27"],
            description="ISO 8601 date (YYYY-MM-DD, from 1900-01-01 to today); declared for an "
            "identification that matches it.",
            json_schema_extra={"format": "birth-date", "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
        ),
    ] = None

    @field_validator("birth_date")
    @classmethod
    def _birth_date(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise ValueError("birth_date must be a date written YYYY-MM-DD") from None
        if len(value) != 10 or not date(1900, 1, 1) <= day <= date.today():
            raise ValueError("birth_date must be a past date written YYYY-MM-DD")
        return day.isoformat()

    phone: Annotated[
        str | None,
        Field(
            max_length=32,
            examples=["+32470123456"],
            # E.164, as stored; spaces, dots, dashes, brackets and a leading 00 are accepted
            # too and dropped.
            json_schema_extra={"pattern": r"^\+[1-9][0-9]{6,14}$"},
            description="Mobile number in international form: the recipient may then ask for "
            "their one-time code by text message (when the operator configured an SMS provider).",
        ),
    ] = None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return normalize_email(value)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return normalize_phone(value) if value is not None else None

    @field_validator("siren")
    @classmethod
    def _siren(cls, value: str | None) -> str | None:
        return clean_siren(value)

    @model_validator(mode="after")
    def _person(self, info: ValidationInfo) -> Self:
        natural = self.first_name is not None or self.last_name is not None
        legal = self.company is not None or self.siren is not None
        if natural and legal:
            raise ValueError(
                "a recipient is either a natural person (first_name, last_name) "
                "or a legal person (company, siren), not both"
            )
        if legal and (self.company is None or self.siren is None):
            raise ValueError("a legal person needs both company and siren")
        if natural and (self.first_name is None or self.last_name is None):
            raise ValueError(
                "a natural person needs first_name and last_name "
                "(or give company and siren for a legal person)"
            )
        # Neither: an address alone, which only deliver and secure messages accept (the
        # service checks, knowing the mode).
        return self

    @property
    def address_only(self) -> bool:
        return self.first_name is None and self.company is None


class SenderIn(Schema):
    email: Annotated[str, Field(max_length=320, json_schema_extra=EMAIL_SCHEMA)]
    name: Name | None = None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return normalize_email(value)


def _body_bytes(value: str | None) -> str | None:
    if value is not None and len(value.encode()) > MAX_BODY_BYTES:
        raise ValueError("the body may be at most 1 MiB")
    return value


class MessageIn(Schema):
    mode: Mode
    subject: Annotated[str, Field(min_length=1, max_length=MAX_SUBJECT)]
    body_html: Annotated[str, Field(max_length=MAX_BODY_BYTES)] = ""
    body_text: Annotated[str | None, Field(max_length=MAX_BODY_BYTES)] = None
    sender: SenderIn | None = None
    recipients: list[RecipientIn] = Field(default_factory=list)
    reference: Annotated[str | None, Field(max_length=255)] = None
    campaign: Annotated[str | None, Field(max_length=255)] = None
    guid: Annotated[
        str | None, Field(max_length=255, description="Your own identifier of the message.")
    ] = None
    acceptance_days: Annotated[int | None, Field(ge=1, le=365)] = None
    copy_to_mailbox_after_acceptance: Annotated[
        bool,
        Field(
            description="Registered only: once a recipient accepts, e-mail them the message, "
            "its attachments (links above TABELLION_MAILBOX_COPY_MAX_BYTES) and the proof."
        ),
    ] = False
    notify_sender: Annotated[
        bool,
        Field(
            description="E-mail the sender when a delivery is accepted, refused or expires "
            "(registered), or undelivered."
        ),
    ] = False
    on_behalf_of: Annotated[
        str | None,
        Field(max_length=40, description="A customer organisation's id (resellers)."),
    ] = None
    identification: Annotated[
        Identification | None,
        Field(
            description="Registered only: recipients sign in with an identity provider and "
            "must match what you declared. Default: the organisation's, else none (e-mail code)."
        ),
    ] = None

    @field_validator("body_html", "body_text")
    @classmethod
    def _body_bytes(cls, value: str | None) -> str | None:
        return _body_bytes(value)

    @model_validator(mode="after")
    def _registered_only(self) -> Self:
        if self.acceptance_days is not None and self.mode != "registered":
            raise ValueError("acceptance_days applies to registered messages only")
        if self.copy_to_mailbox_after_acceptance and self.mode != "registered":
            raise ValueError("copy_to_mailbox_after_acceptance applies to registered messages only")
        if self.notify_sender and self.sender is None:
            raise ValueError("notify_sender needs a sender to notify")
        return self


class MessageUpdate(Schema):
    """A change to a draft: only the fields sent change; ``null`` clears the optional ones."""

    subject: Annotated[
        str | None, Field(min_length=1, max_length=MAX_SUBJECT, json_schema_extra=not_null)
    ] = None
    body_html: Annotated[
        str | None,
        Field(
            max_length=MAX_BODY_BYTES,
            json_schema_extra=not_null,
            description="When sent without body_text, the text version is made from it again.",
        ),
    ] = None
    body_text: Annotated[str | None, Field(max_length=MAX_BODY_BYTES)] = None
    recipients: Annotated[
        list[RecipientIn] | None,
        Field(description="The whole list: it replaces the draft's.", json_schema_extra=not_null),
    ] = None
    reference: Annotated[str | None, Field(max_length=255)] = None
    campaign: Annotated[str | None, Field(max_length=255)] = None
    acceptance_days: Annotated[
        int | None, Field(ge=1, le=365, description="Registered only; null restores the default.")
    ] = None
    guid: Annotated[
        str | None, Field(max_length=255, description="Your own identifier of the message.")
    ] = None
    sender: Annotated[
        SenderIn | None,
        Field(description="A user of the organisation; null makes the organisation the sender."),
    ] = None
    copy_to_mailbox_after_acceptance: Annotated[
        bool | None,
        Field(description="Registered only (see POST /v1/messages).", json_schema_extra=not_null),
    ] = None
    notify_sender: Annotated[
        bool | None,
        Field(description="Needs a sender (see POST /v1/messages).", json_schema_extra=not_null),
    ] = None
    identification: Annotated[
        Identification | None,
        Field(description="Registered only; null asks for no identification (e-mail code)."),
    ] = None

    @field_validator("body_html", "body_text")
    @classmethod
    def _body_bytes(cls, value: str | None) -> str | None:
        return _body_bytes(value)

    @field_validator("copy_to_mailbox_after_acceptance", "notify_sender")
    @classmethod
    def _flag_not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("cannot be null; send true or false, or omit the field")
        return value

    @field_validator("subject", "body_html", "recipients")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Runs only on values sent: an omitted field keeps the draft's value.
        if value is None:
            raise ValueError("cannot be null; omit the field to keep its value")
        return value


class Recipient(BaseModel):
    email: str
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    siren: str | None = None
    language: Language = "en"


class Sender(BaseModel):
    email: str | None
    name: str | None


class AttachmentOut(BaseModel):
    id: str
    filename: str
    content_type: str
    size: int
    sha256: str
    created_at: UTCDateTime
    purged_at: UTCDateTime | None = Field(
        default=None, description="When its file was deleted (retention, erasure)."
    )


class EvidenceRef(BaseModel):
    id: str
    type: str
    event: str
    occurred_at: UTCDateTime
    pdf_url: str | None
    json_url: str | None


class DeliveryOut(BaseModel):
    id: str
    message_id: str
    mode: Mode
    status: DeliveryStatus
    status_reason: str | None
    recipient: Recipient
    deadline_at: UTCDateTime | None
    notified_at: UTCDateTime | None
    created_at: UTCDateTime
    updated_at: UTCDateTime
    tracking_url: str | None = Field(
        default=None,
        description="The sender's track-and-trace page: no API key needed, keep it private.",
    )
    evidence: list[EvidenceRef]


class MessageOut(BaseModel):
    id: str
    mode: Mode
    status: MessageStatus
    subject: str
    body_html: str
    body_text: str
    sender: Sender
    recipients: list[Recipient]
    recipient_count: int
    on_behalf_of: str | None = Field(
        default=None, description="The customer sent for, when a reseller submitted it."
    )
    submitted_by: str | None = Field(
        default=None, description="The reseller organisation that submitted it on behalf."
    )
    reference: str | None
    campaign: str | None
    guid: str | None = None
    acceptance_days: int | None
    copy_to_mailbox_after_acceptance: bool = False
    notify_sender: bool = False
    identification: Identification | None = None
    attachments: list[AttachmentOut]
    legal_hold: bool = Field(
        default=False,
        description="Held (POST /v1/messages/{id}/legal-hold): its content is kept past "
        "its retention period.",
    )
    content_purged_at: UTCDateTime | None = Field(
        default=None,
        description="When its bodies, files and replies were deleted (retention or erasure); "
        "its proofs remain.",
    )
    proofs_expired_at: UTCDateTime | None = Field(
        default=None,
        description="When its proofs reached the end of the organisation's "
        "`proof_retention_days`: their content was deleted (410 `proof-expired`); their "
        "hashes stay in the chain and the transparency log, so a copy still verifies.",
    )
    created_at: UTCDateTime
    updated_at: UTCDateTime
    dispatched_at: UTCDateTime | None
    deliveries: list[DeliveryOut] | None = Field(
        default=None,
        description="One per recipient once dispatched; included when one message is read.",
    )


class MessageFilters(BaseModel):
    status: MessageStatus | None = None
    mode: Mode | None = None
    campaign: str | None = None
    reference: str | None = None


class DeliveryFilters(BaseModel):
    message_id: str | None = None
    status: DeliveryStatus | None = None
    updated_after: datetime | None = None


class ReplyIn(Schema):
    body_html: Annotated[str, Field(min_length=1, max_length=MAX_BODY_BYTES)]
    body_text: Annotated[str | None, Field(max_length=MAX_BODY_BYTES)] = None


class ReplyFile(BaseModel):
    id: str
    filename: str
    content_type: str
    size: int
    sha256: str
    download_url: str | None = Field(
        default=None,
        description="A signed link to the file that works without an API key for 24 hours "
        "(then 410 `link-expired`; the API route with a key always works).",
    )


class ReplyOut(BaseModel):
    id: str
    delivery_id: str
    author: Literal["recipient", "sender"]
    body_html: str
    body_text: str
    attachments: list[ReplyFile]
    created_at: UTCDateTime
