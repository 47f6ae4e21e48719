"""Cursor pagination: ``?limit=&cursor=`` in, ``{"data", "next_cursor"}`` out."""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from tabellion.errors import InvalidParameter
from tabellion.kit.text import storable

T = TypeVar("T")

MAX_LIMIT = 200


class Page(BaseModel, Generic[T]):
    data: list[T]
    next_cursor: str | None


class PageParams(BaseModel):
    limit: int
    cursor: str | None


def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size, at most 200.")] = 50,
    cursor: Annotated[str | None, Query(max_length=512, description="From `next_cursor`.")] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


def encode_cursor(values: list[Any]) -> str:
    raw = json.dumps(values, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *, size: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidParameter("cursor", "The cursor is not one this API returned.") from exc
    if not isinstance(values, list) or len(values) != size:
        raise InvalidParameter("cursor", "The cursor is not one this API returned.")
    # Its values end up in queries: PostgreSQL refuses a NUL character outright.
    if any(isinstance(v, str) and not storable(v) for v in values):
        raise InvalidParameter("cursor", "The cursor is not one this API returned.")
    return values
