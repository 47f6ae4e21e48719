"""Cursor pagination: ``?limit=&cursor=`` in, ``{"data", "next_cursor"}`` out."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from tabellion.errors import InvalidParameter
from tabellion.kit.schema import not_null
from tabellion.kit.text import storable

T = TypeVar("T")

MAX_LIMIT = 200


class Page(BaseModel, Generic[T]):
    data: list[T]
    next_cursor: str | None


class PageParams(BaseModel):
    limit: int
    cursor: str | None


# A cursor is opaque: base64url, and only a `next_cursor` this API returned for the same list
# and filters is accepted (422 otherwise). The document says so with a format of its own
# ("cursor"; "sequence-cursor" for the lists that follow a sequence: events, attempts).
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+$"
_CURSOR_RE = re.compile(CURSOR_PATTERN)
_CURSOR_TEXT = "The `next_cursor` of the previous page of this list, with the same filters."


def _cursor_schema(format_: str) -> Callable[[dict[str, Any]], None]:
    def extra(schema: dict[str, Any]) -> None:
        not_null(schema)  # a query parameter is absent, never null
        # Checked by decode_cursor, which names the cursor as not ours whatever is wrong.
        schema["pattern"] = CURSOR_PATTERN
        schema["format"] = format_

    return extra


Cursor = Annotated[
    str | None,
    Query(
        max_length=512,
        description=_CURSOR_TEXT,
        json_schema_extra=_cursor_schema("cursor"),
    ),
]
SequenceCursor = Annotated[
    str | None,
    Query(
        max_length=512,
        description=_CURSOR_TEXT,
        json_schema_extra=_cursor_schema("sequence-cursor"),
    ),
]


def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size, at most 200.")] = 50,
    cursor: Cursor = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


def encode_cursor(values: list[Any]) -> str:
    raw = json.dumps(values, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *, size: int) -> list[Any]:
    if not _CURSOR_RE.fullmatch(cursor):
        # base64 decoding would skip what is not base64url: refused as the document says.
        raise InvalidParameter("cursor", "The cursor is not one this API returned.")
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
