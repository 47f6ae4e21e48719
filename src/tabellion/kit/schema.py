"""Base classes for API schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, PlainSerializer, ValidationError, field_validator

from tabellion.kit.text import pydantic_errors
from tabellion.kit.time import isoformat_z

UTCDateTime = Annotated[datetime, PlainSerializer(isoformat_z, return_type=str)]


class Schema(BaseModel):
    """Input schemas: unknown fields are refused so typos surface as errors, and no string
    field (nested in lists or other schemas too) may hold text the database cannot store."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

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
