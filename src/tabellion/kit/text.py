"""Text a database can store, and the checks that keep anything else out of queries.

PostgreSQL refuses a NUL character in text; SQLite stores it. Such input is turned away where
it enters, naming where it was, so the answer is the same on both databases and never a 500: a
path id that holds one cannot name anything (404), a query parameter or a body field holding
one is a 422. (A lone surrogate, the other text no database stores as UTF-8, cannot come from a
URL, and Pydantic refuses it in bodies as ``string_unicode``.)
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterator, Mapping
from typing import Any

from fastapi import FastAPI, Request
from pydantic_core import InitErrorDetails, PydanticCustomError

from tabellion.errors import FieldError, NotFound, ValidationFailed
from tabellion.kit.ids import possible_id

INVALID_CHARACTERS = "invalid-characters"
MESSAGE = "must not contain a NUL character"


def storable(value: str) -> bool:
    return "\x00" not in value


def unstorable_strings(
    value: Any, loc: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Where ``value`` (a validated field) holds a string that cannot be stored, and the string.

    Anything else is left alone; a nested input schema checks its own fields.
    """
    if isinstance(value, str):
        if not storable(value):
            yield loc, value
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from unstorable_strings(item, (*loc, index))
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and not storable(key):
                yield (*loc, key), key
            yield from unstorable_strings(item, (*loc, str(key)))
    elif isinstance(value, set | frozenset):
        for item in value:
            if isinstance(item, str) and not storable(item):
                yield loc, item


def pydantic_errors(value: Any) -> list[InitErrorDetails]:
    """:func:`unstorable_strings` as Pydantic line errors, located relative to the field."""
    return [
        InitErrorDetails(
            type=PydanticCustomError("invalid_characters", MESSAGE), loc=loc, input=text
        )
        for loc, text in unstorable_strings(value)
    ]


def guard_request(
    not_found: Mapping[str, type[NotFound]],
) -> Callable[[Request], Coroutine[Any, Any, None]]:
    """A dependency of API routes, run before the route's own: a path parameter that cannot be
    an id is the 404 that ``not_found`` names for it, and a query parameter that cannot be
    stored is a 422 naming it.

    The 404 comes before authentication, as an unknown path's does: it depends on the URL
    alone and tells nothing about what is stored.
    """

    async def guard(request: Request) -> None:  # async: no worker-thread hop per request
        for name, value in request.path_params.items():
            if isinstance(value, str) and not possible_id(value):
                raise not_found.get(name, NotFound)()
        if not request.scope.get("query_string"):
            return  # most calls: no query to parse
        bad = [name for name, value in request.query_params.multi_items() if not storable(value)]
        if bad:
            fields = list(dict.fromkeys(bad))
            raise ValidationFailed(
                f"{fields[0]}: {MESSAGE}",
                errors=[
                    FieldError(field=f, code=INVALID_CHARACTERS, message=MESSAGE) for f in fields
                ],
            )

    return guard


STORABLE_QUERY_PATTERN = r"^[^\x00]*$"


def document_query_text(app: FastAPI, prefix: str = "/v1/") -> None:
    """Say in the OpenAPI document what ``guard_request`` refuses: a query parameter of the
    API (``prefix``) holding a NUL character (each free-text one gets the pattern)."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()
        for path, operations in document.get("paths", {}).items():
            if not path.startswith(prefix):
                continue
            for operation in operations.values():
                for parameter in operation.get("parameters", []):
                    if parameter.get("in") == "query":
                        _storable_text(parameter.get("schema", {}))
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _storable_text(schema: dict[str, Any]) -> None:
    for branch in schema.get("anyOf", []):
        _storable_text(branch)
    if schema.get("type") == "array":
        _storable_text(schema.get("items", {}))
    free = not ({"pattern", "enum", "format", "const"} & schema.keys())
    if schema.get("type") == "string" and free:
        schema["pattern"] = STORABLE_QUERY_PATTERN
