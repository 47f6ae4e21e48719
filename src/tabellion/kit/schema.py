"""Base classes for API schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, PlainSerializer, ValidationError, field_validator

from tabellion.kit.text import pydantic_errors
from tabellion.kit.time import isoformat_z

UTCDateTime = Annotated[datetime, PlainSerializer(isoformat_z, return_type=str)]


# What every string of an input schema accepts, in the document: no NUL (the database cannot
# store it), and, when the field needs a character, one that is left after stripping.
STORABLE_PATTERN = r"^[^\x00]*$"
FILLED_PATTERN = r"^[^\x00]*[^\x00\s][^\x00]*$"


_NOT_TEXT = ("binary", "date-time", "date")


def _string_patterns(node: Any) -> None:
    """Give each string schema under ``node`` (not nested models: they have their own) the
    pattern of what the server keeps, unless it states a stricter one."""
    if isinstance(node, list):
        for item in node:
            _string_patterns(item)
        return
    if not isinstance(node, dict) or "$ref" in node:
        return
    free = not ({"pattern", "enum"} & node.keys())
    if free and node.get("type") == "string" and node.get("format") not in _NOT_TEXT:
        filled = node.get("minLength", 0) >= 1
        node["pattern"] = FILLED_PATTERN if filled else STORABLE_PATTERN
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        _string_patterns(node.get(key))
    for key in ("items", "additionalProperties"):
        _string_patterns(node.get(key))
    _string_patterns(list((node.get("properties") or {}).values()))


def document_strings(schema: dict[str, Any]) -> None:
    """The ``json_schema_extra`` of input schemas (see ``_string_patterns``)."""
    _string_patterns(list((schema.get("properties") or {}).values()))


class Schema(BaseModel):
    """Input schemas: unknown fields are refused so typos surface as errors, and no string
    field (nested in lists or other schemas too) may hold text the database cannot store."""

    model_config = ConfigDict(
        extra="forbid", str_strip_whitespace=True, json_schema_extra=document_strings
    )

    @field_validator("*")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        # Each error is located inside the field (recipients[3].name, events[0]).
        errors = pydantic_errors(value)
        if errors:
            raise ValidationError.from_exception_data(cls.__name__, errors)
        return value


class ResponseSchema(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with its nested models written in place, for a body read by
    hand: FastAPI lists only the models its routes declare among the document's components,
    so a ``$ref`` to any other would dangle."""
    schema = model.model_json_schema(by_alias=True)
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    return dict(inline(schema))


# ---- what the OpenAPI document promises about common strings ----------------------------
# The addresses every client may rely on: ASCII, at most 3 dots before the @, one to three
# labels then a top-level domain. A subset of what email-validator (message.rules.
# normalize_email) accepts, by construction: no special-use domains (.local, .localhost,
# .invalid, .onion, .arpa), no "--" in a label, the local part at most 64 characters. The
# server accepts more (internationalised addresses, more dots), so the document's promise holds.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_LOCAL = (
    rf"(?:{_ATOM}{{1,64}}|{_ATOM}{{1,31}}\.{_ATOM}{{1,32}}"
    rf"|{_ATOM}{{1,20}}\.{_ATOM}{{1,20}}\.{_ATOM}{{1,22}}|{_ATOM}{{1,15}}(?:\.{_ATOM}{{1,15}}){{3}})"
)
_LABEL = r"[A-Za-z0-9]{1,20}(?:-[A-Za-z0-9]{1,20}){0,2}"
# Top-level domains of any length but those of the special-use names, plus .test and .info.
_TLD = (
    r"(?:[A-Za-z]{2,3}|[A-Za-z]{6}|[A-Za-z]{8}|[A-Za-z]{10,24}|[Tt][Ee][Ss][Tt]|[Ii][Nn][Ff][Oo])"
)
EMAIL_PATTERN = rf"^{_LOCAL}@(?:{_LABEL}\.){{1,3}}{_TLD}$"
EMAIL_SCHEMA: dict[str, Any] = {"format": "email", "pattern": EMAIL_PATTERN, "maxLength": 254}

# A SIREN: nine digits (spaces between them allowed) passing the Luhn check, which the
# format "siren" names.
SIREN_SCHEMA: dict[str, Any] = {"format": "siren", "pattern": r"^[0-9 ]+$"}

# Names and titles: no control character (they reach e-mail headers), and something left
# once the surrounding whitespace is stripped (Schema strips it).
NO_CONTROL_PATTERN = r"^[^\x00-\x1f\x7f]*$"
TEXT_PATTERN = r"^[^\x00-\x1f\x7f]*[^\x00-\x1f\x7f\s][^\x00-\x1f\x7f]*$"


def not_null(schema: dict[str, Any]) -> None:
    """``json_schema_extra`` of an optional field that may be omitted but not sent as null
    (a PATCH field whose null would mean nothing): the document drops the null branch."""
    branches = schema.pop("anyOf", None)
    if branches is None:
        return
    kept = [branch for branch in branches if branch.get("type") != "null"]
    if len(kept) == 1:
        schema.update(kept[0])
    else:
        schema["anyOf"] = kept
