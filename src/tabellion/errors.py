"""The error hierarchy and the one place that renders errors as RFC 9457 problems.

Every error carries its HTTP status and a stable kebab-case ``code``; validation errors also
name the field at fault. Unexpected exceptions become a bare 500 problem: no stack trace or
database message ever reaches a client.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DataError, DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response

log = logging.getLogger("tabellion.errors")

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:tabellion:problem:"


class FieldError(BaseModel):
    field: str
    code: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details, with a stable machine ``code``."""

    type: str
    title: str
    status: int
    code: str
    detail: str
    errors: list[FieldError] = []


class TabellionError(Exception):
    status: int = 400
    code: str = "bad-request"
    title: str = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: Sequence[FieldError] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        self.detail = detail or self.title
        self.errors = list(errors)
        self.headers = headers or {}
        super().__init__(self.detail)

    def to_problem(self) -> Problem:
        return Problem(
            type=TYPE_PREFIX + self.code,
            title=self.title,
            status=self.status,
            code=self.code,
            detail=self.detail,
            errors=self.errors,
        )


class Unauthorized(TabellionError):
    status = 401
    code = "unauthorized"
    title = "Authentication required"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="tabellion"'})


class Forbidden(TabellionError):
    status = 403
    code = "forbidden"
    title = "Not allowed"


class NotFound(TabellionError):
    status = 404
    code = "not-found"
    title = "Not found"


class Conflict(TabellionError):
    status = 409
    code = "conflict"
    title = "Conflict"


class Gone(TabellionError):
    status = 410
    code = "gone"
    title = "Gone"


class PayloadTooLarge(TabellionError):
    status = 413
    code = "payload-too-large"
    title = "Payload too large"


class UnsupportedMediaType(TabellionError):
    status = 415
    code = "unsupported-media-type"
    title = "Unsupported media type"


class ValidationFailed(TabellionError):
    status = 422
    code = "validation-failed"
    title = "The request is not valid"

    @classmethod
    def field(cls, field: str, message: str, *, code: str = "invalid") -> ValidationFailed:
        return cls(message, errors=[FieldError(field=field, code=code, message=message)])


class InvalidParameter(ValidationFailed):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, errors=[FieldError(field=field, code="invalid", message=message)])


class IdempotencyKeyReused(TabellionError):
    status = 409
    code = "idempotency-key-reused"
    title = "Idempotency key reused"


class IdempotencyKeyInUse(TabellionError):
    status = 409
    code = "idempotency-key-in-use"
    title = "A request with this idempotency key is still running"


class InternalError(TabellionError):
    status = 500
    code = "internal-error"
    title = "Internal error"


class ServiceUnavailable(TabellionError):
    status = 503
    code = "service-unavailable"
    title = "Service unavailable"


class DatabaseUnavailable(ServiceUnavailable):
    """The database cannot be reached, is locked past its timeout, or refuses writes."""

    code = "unavailable"
    title = "Temporarily unavailable"


# Seconds a client should wait before retrying: a lock or a failover passes in seconds; a
# database being restarted or restored takes longer.
RETRY_AFTER_LOCKED = 5
RETRY_AFTER_DOWN = 30
# SQLSTATEs of a database that is there but will not do the work now: read-only transaction,
# shutting down, starting up, too many connections, lock not available, deadlock,
# serialization failure.
_TRANSIENT_SQLSTATES = frozenset(
    {"25006", "57P01", "57P02", "57P03", "53300", "55P03", "40P01", "40001"}
)
_LOCKED_SQLSTATES = frozenset({"55P03", "40P01", "40001"})


def database_unavailable(exc: Exception) -> DatabaseUnavailable | None:
    """The 503 a database failure deserves, or None for a fault of ours (a bad query)."""
    if isinstance(exc, SQLAlchemyTimeoutError):  # no pooled connection came free in time
        return _unavailable(RETRY_AFTER_LOCKED)
    if not isinstance(exc, DBAPIError):
        return None
    state = getattr(exc.orig, "sqlstate", None)
    if state in _TRANSIENT_SQLSTATES:
        return _unavailable(RETRY_AFTER_LOCKED if state in _LOCKED_SQLSTATES else RETRY_AFTER_DOWN)
    if isinstance(exc, OperationalError | InterfaceError) or exc.connection_invalidated:
        # Refused or lost connections; on SQLite also "database is locked" and read-only files.
        locked = "locked" in str(exc.orig) or "busy" in str(exc.orig)
        return _unavailable(RETRY_AFTER_LOCKED if locked else RETRY_AFTER_DOWN)
    return None


def _unavailable(retry_after: int) -> DatabaseUnavailable:
    return DatabaseUnavailable(
        "The service cannot reach its database right now; retry shortly.",
        headers={"Retry-After": str(retry_after)},
    )


# ---- rendering ----------------


def problem_response(error: TabellionError) -> JSONResponse:
    return JSONResponse(
        error.to_problem().model_dump(),
        status_code=error.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=error.headers,
    )


def _field_path(loc: Iterable[Any]) -> str:
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        source, parts = parts[0], parts[1:]
        if not parts:
            return str(source)
        if source == "header":
            return "header." + str(parts[0])
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += ("." if path else "") + str(part)
    return path or "body"


_PYDANTIC_CODES = {
    "missing": "required",
    "extra_forbidden": "unknown-field",
    "json_invalid": "invalid-json",
    "literal_error": "invalid-choice",
    "enum": "invalid-choice",
    "string_too_long": "too-long",
    "string_too_short": "too-short",
    "too_long": "too-many",
    "too_short": "too-few",
    "greater_than": "out-of-range",
    "greater_than_equal": "out-of-range",
    "less_than": "out-of-range",
    "less_than_equal": "out-of-range",
    "value_error": "invalid",
}


def validation_problem(exc: RequestValidationError) -> ValidationFailed:
    errors = []
    for err in exc.errors():
        kind = str(err.get("type", "invalid"))
        message = str(err.get("msg", "Invalid value"))
        if kind == "value_error" and message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        code = _PYDANTIC_CODES.get(kind, kind.replace("_", "-"))
        loc = list(err.get("loc", ()))
        if kind == "json_invalid":
            message = "The body is not valid JSON: " + str(err.get("ctx", {}).get("error", message))
            # FastAPI puts the parser's character position in the location: it is no field.
            loc = [part for part in loc if not isinstance(part, int)]
        errors.append(FieldError(field=_field_path(loc), code=code, message=message))
    first = errors[0] if errors else None
    detail = f"{first.field}: {first.message}" if first else "The request is not valid."
    if len(errors) > 1:
        detail += f" (and {len(errors) - 1} more)"
    return ValidationFailed(detail, errors=errors)


_HTTP_CODES = {
    400: ("bad-request", "Bad request"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    406: ("not-acceptable", "Not acceptable"),
    415: ("unsupported-media-type", "Unsupported media type"),
}


ErrorRenderer = Callable[[Request, TabellionError], Response]


def register_error_renderer(app: FastAPI, prefix: str, renderer: ErrorRenderer) -> None:
    """Render errors of requests under ``prefix`` (a compat dialect) in another shape."""
    renderers: dict[str, ErrorRenderer] = app.state.__dict__.setdefault("error_renderers", {})
    renderers[prefix.rstrip("/") + "/"] = renderer


def render_error(request: Request, error: TabellionError) -> Response:
    """The error in the shape of the API the request was made to (problem+json by default)."""
    renderers: dict[str, ErrorRenderer] = request.app.state.__dict__.get("error_renderers", {})
    path = request.url.path.rstrip("/") + "/"
    for prefix, renderer in renderers.items():
        if path.startswith(prefix):
            return renderer(request, error)
    return problem_response(error)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(TabellionError)
    async def _tabellion(request: Request, exc: TabellionError) -> Response:
        if exc.status >= 500:
            # Ours to fix (a lost file, a dead dependency): one line for the operator.
            log.error("%s on %s %s: %s", exc.code, request.method, request.url.path, exc.detail)
        return render_error(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        return render_error(request, validation_problem(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code, title = _HTTP_CODES.get(exc.status_code, ("http-error", "HTTP error"))
        error = TabellionError(
            str(exc.detail) if exc.detail else title, headers=dict(exc.headers or {})
        )
        error.status, error.code, error.title = exc.status_code, code, title
        return render_error(request, error)

    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, exc: ClientDisconnect) -> Response:
        # Nobody is left to answer, and nothing went wrong on our side: one line, no traceback.
        # The request's transaction has rolled back; a partial upload was discarded.
        log.info("client disconnected before the end of %s %s", request.method, request.url.path)
        return Response(status_code=499)

    @app.exception_handler(DBAPIError)
    @app.exception_handler(SQLAlchemyTimeoutError)
    async def _database(request: Request, exc: Exception) -> Response:
        if isinstance(exc, DataError):
            return await _data(request, exc)
        unavailable = database_unavailable(exc)
        if unavailable is None:
            return await _unexpected(request, exc)
        # One line, no traceback: the cause is outside this process.
        log.warning(
            "database unavailable on %s %s: %s: %s",
            request.method,
            request.url.path,
            type(getattr(exc, "orig", None) or exc).__name__,
            str(getattr(exc, "orig", None) or exc).strip().split("\n", 1)[0][:300],
        )
        return render_error(request, unavailable)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return render_error(
            request, InternalError("An unexpected error occurred; it has been logged.")
        )

    @app.exception_handler(DataError)
    async def _data(request: Request, exc: DataError) -> Response:
        # The checks at the edge (tabellion.kit.text) should have refused such text; this
        # keeps one that slipped through a 422. The request's transaction has rolled back.
        if "NUL" not in str(exc.orig):
            return await _unexpected(request, exc)
        log.warning("NUL character reached the database on %s %s", request.method, request.url.path)
        message = "must not contain a NUL character"
        field = next(
            (
                name
                for name, value in (*request.path_params.items(), *request.query_params.items())
                if "\x00" in str(value)
            ),
            "body",
        )
        return render_error(
            request,
            ValidationFailed(
                f"{field}: {message}",
                errors=[FieldError(field=field, code="invalid-characters", message=message)],
            ),
        )


def responses(*errors: type[TabellionError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for a route, grouping the listed errors by status."""
    by_status: dict[int, list[type[TabellionError]]] = {}
    # Any route may meet an unavailable database.
    listed: tuple[type[TabellionError], ...] = (ValidationFailed, *errors, DatabaseUnavailable)
    for error in listed:
        by_status.setdefault(error.status, []).append(error)
    out: dict[int | str, dict[str, Any]] = {}
    for status, classes in sorted(by_status.items()):
        codes = ", ".join(sorted({f"`{c.code}`" for c in classes}))
        out[status] = {
            "model": Problem,
            "description": f"{classes[0].title} — code {codes}",
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
    return out
