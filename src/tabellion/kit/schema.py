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
