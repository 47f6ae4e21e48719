"""The Registered E-mail API's requests and answers, with its own field names.

Unknown fields are ignored, as the original does. Strings are strict: a number where text
belongs is a 400 naming the field, not silently turned into text.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator

from tabellion.kit.schema import EMAIL_SCHEMA, Schema
from tabellion.message.rules import MAX_BODY_BYTES, MAX_SUBJECT, normalize_email

Email = Annotated[StrictStr, Field(max_length=320, json_schema_extra=EMAIL_SCHEMA)]
Short = Annotated[StrictStr, Field(max_length=255)]


class ForeignIn(Schema):
    """Text the database cannot store is refused as in the native API; unknown fields are
    ignored, as the original does."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, populate_by_name=True)


class RegisteredEmailUserIn(ForeignIn):
    email_address: Email

    @field_validator("email_address")
    @classmethod
    def _email(cls, value: str) -> str:
        return normalize_email(value)


class RegisteredEmailUserOut(BaseModel):
    id: int = Field(examples=[154])


class RegisteredEmailAttachmentIn(ForeignIn):
    """An attachment. Its ``attachment`` (base64) is decoded into storage as it arrives, so
    the validated model never holds it."""

    attachment: Annotated[
        StrictStr | None,
        Field(description="The file, base64-encoded.", json_schema_extra={"format": "byte"}),
    ] = None
    attachment_name: Annotated[StrictStr, Field(min_length=1, max_length=1024)]
    attachment_type: Short | None = None


class RegisteredEmailSendIn(ForeignIn):
    message_body: Annotated[StrictStr, Field(max_length=MAX_BODY_BYTES)]
    sender_email: Email
    sender_real_name: Short | None = None
    subject: Annotated[StrictStr, Field(min_length=1, max_length=MAX_SUBJECT)]
    x_own_id: Annotated[Short | None, Field(alias="x-own-id")] = None
    x_own_guid: Annotated[Short | None, Field(alias="x-own-guid")] = None
    x_own_campaign: Annotated[Short | None, Field(alias="x-own-campaign")] = None
    recipient_email: Email
    recipient_language: Annotated[StrictStr, Field(max_length=16)]
    # Tabellion's extension (the original has no such fields): what the sender knows of the
    # recipient, compared with the identity iDIN returns when the organisation's
    # identification matches on it.
    recipient_first_name: Annotated[
        Short | None,
        Field(description="Extension: the recipient's first name(s), for iDIN matching."),
    ] = None
    recipient_last_name: Annotated[
        Short | None,
        Field(description="Extension: the recipient's last name, for iDIN matching."),
    ] = None
    recipient_birth_date: Annotated[
        StrictStr | None,
        Field(
            max_length=10,
            description="Extension: the recipient's birth date (YYYY-MM-DD), for iDIN matching.",
        ),
    ] = None
    attachments: list[RegisteredEmailAttachmentIn] = Field(default_factory=list)

    @field_validator("sender_email", "recipient_email")
    @classmethod
    def _email(cls, value: str) -> str:
        return normalize_email(value)


class RegisteredEmailSendOut(BaseModel):
    ticket_token: str
    ticket_url: str
    message: str = "OK"


class RegisteredEmailError(BaseModel):
    """Every error: ``message`` says what is wrong; ``errors`` names the fields at fault."""

    message: str
    detail: str
    code: str
    errors: dict[str, list[str]] = Field(default_factory=dict)
