"""Base classes for API schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, PlainSerializer

from tabellion.kit.time import isoformat_z

UTCDateTime = Annotated[datetime, PlainSerializer(isoformat_z, return_type=str)]


class Schema(BaseModel):
    """Input schemas: unknown fields are refused so typos surface as errors."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ResponseSchema(BaseModel):
    model_config = ConfigDict(from_attributes=True)
