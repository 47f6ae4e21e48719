"""Documentd's request and response bodies, with its own field names."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from tabellion.kit.schema import EMAIL_SCHEMA
from tabellion.kit.text import pydantic_errors
from tabellion.message.rules import MAX_BODY_BYTES, MAX_SUBJECT, normalize_email


class Foreign(BaseModel):
    # As the original: fields it does not know are ignored, not refused.
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    @field_validator("*")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        # Text the database cannot store is refused here, naming the field, as in the native
        # API (a NUL in emailSubject reached the native MessageIn and was a 500).
        errors = pydantic_errors(value)
        if errors:
            raise ValidationError.from_exception_data(cls.__name__, errors)
        return value


class PrepareIn(Foreign):
    senderEmail: Annotated[
        str,
        Field(
            max_length=320,
            json_schema_extra=EMAIL_SCHEMA,
            description="A user of the organisation.",
        ),
    ]
    emailSubject: Annotated[str | None, Field(max_length=MAX_SUBJECT)] = None
    emailBody: Annotated[
        str | None,
        Field(max_length=MAX_BODY_BYTES, description="The message text (plain text)."),
    ] = None

    @field_validator("senderEmail")
    @classmethod
    def _email(cls, value: str) -> str:
        return normalize_email(value)


def _split(value: Any) -> Any:
    # A lone address, or several separated by commas or semicolons, as form posts send them.
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        return value  # the list validator names what is wrong
    return [part for item in items for part in item.replace(";", ",").split(",") if part.strip()]


class RecipientsIn(Foreign):
    emailToList: Annotated[
        list[
            Annotated[
                str,
                Field(max_length=320, json_schema_extra=EMAIL_SCHEMA),
                AfterValidator(normalize_email),
            ]
        ],
        BeforeValidator(_split),
        Field(min_length=1, description="Recipients' e-mail addresses."),
    ]

    @field_validator("emailToList")
    @classmethod
    def _once(cls, values: list[str]) -> list[str]:
        return list(dict.fromkeys(values))  # one delivery per address


class Success(BaseModel):
    success: Literal[True] = True


class Prepared(Success):
    emailRef: str = Field(description="The message's reference for the calls that follow.")


class ErrorDetail(BaseModel):
    code: str
    message: str


class Failure(BaseModel):
    success: Literal[False] = False
    error: ErrorDetail
