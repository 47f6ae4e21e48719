"""Request bodies are bounded before they are read, and anonymous writes are refused unread.

An ASGI middleware, so it sees the headers before any route reads a byte: a declared
``Content-Length`` over the route's limit is refused at once, and a chunked body is counted as
it streams and cut off at the limit (413 ``body-too-large``). A write to the native API
without credentials is refused (401) without reading its body at all. JSON and form routes
get ``max_json_bytes``; upload routes stream and enforce their own limits (an attachment's
``max_attachment_bytes``, the verify endpoint's 50 MiB), so here they are only listed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tabellion.errors import (
    PROBLEM_MEDIA_TYPE,
    TabellionError,
    Unauthorized,
    render_error,
)

# (method, path) of routes that stream their body and enforce their own limits.
UPLOAD_ROUTES: tuple[tuple[str, str], ...] = (
    ("POST", r"/v1/messages/[^/]+/attachments"),
    ("POST", r"/v1/envelopes/[^/]+/documents"),
    ("POST", r"/v1/envelopes/[^/]+/bulk-send"),  # a CSV, up to bulk.MAX_CSV_BYTES (5 MiB)
    ("POST", r"/v1/deliveries/[^/]+/replies"),
    ("POST", r"/v1/verify"),
    ("POST", r"/r/[^/]+/reply"),
    ("POST", r"/vault/d/[^/]+/reply"),
    # The dashboard's PDFs of an envelope (each up to max_attachment_bytes, at most 20).
    ("POST", r"/app/signatures/new"),
    ("POST", r"/app/signatures/[^/]+/documents"),
    ("POST", r"/app/letters/new"),  # the dashboard's compose form, with its attachments
    # Dialects: base64 attachments decoded as they arrive, and streamed multipart files.
    ("POST", r"/compat/registered-email/webservice/mailsender/send"),
    ("POST", r"/compat/documentd/1\.0/emails/[^/]+/attachments/upload"),
    ("POST", r"/compat/documenso/api/v2/envelope/create"),
)
# A message in JSON may list up to max_recipients (10,000) recipients; multipart messages
# carry their attachments and stream.
MESSAGE_ROUTES: tuple[tuple[str, str], ...] = (
    ("POST", r"/v1/messages"),
    ("POST", r"/compat/stampee/messages/bulk_send"),
)
MESSAGE_JSON_BYTES = 32 * 1024 * 1024
# Writes to the native API that need no credentials.
ANONYMOUS_WRITES = frozenset({"/v1/verify"})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# The headers that announce a request body (names as ASGI servers give them, in lower case).
_BODY_HEADERS = frozenset({b"content-length", b"transfer-encoding"})


class BodyTooLarge(TabellionError):
    status = 413
    code = "body-too-large"
    title = "Request body too large"


def _compile(routes: Iterable[tuple[str, str]]) -> list[tuple[str, re.Pattern[str]]]:
    return [(method, re.compile(pattern + "/?")) for method, pattern in routes]


class BodyLimitMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_json_bytes: int,
        uploads: Iterable[tuple[str, str]] = UPLOAD_ROUTES,
    ) -> None:
        self.app = app
        self.max_json_bytes = max_json_bytes
        self.uploads = _compile(uploads)
        self.messages = _compile(MESSAGE_ROUTES)

    def limit(self, method: str, path: str, content_type: str) -> int | None:
        """The most bytes this request may send; None for routes that bound it themselves."""
        if any(m == method and p.fullmatch(path) for m, p in self.uploads):
            return None
        if any(m == method and p.fullmatch(path) for m, p in self.messages):
            return None if content_type.startswith("multipart/") else MESSAGE_JSON_BYTES
        return self.max_json_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        if method not in WRITE_METHODS and not any(
            key in _BODY_HEADERS for key, _ in scope["headers"]
        ):
            # A GET (HEAD, OPTIONS) declaring no body has none (RFC 9112, 6.3): nothing to
            # bound, and no receive or send to wrap on the busiest requests.
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if (
            method in WRITE_METHODS
            and path.startswith("/v1/")
            and path.rstrip("/") not in ANONYMOUS_WRITES
            and "authorization" not in headers
        ):
            await render_error(Request(scope), Unauthorized())(scope, receive, send)
            return
        limit = self.limit(method, path, headers.get("content-type", ""))
        if limit is None:
            await self.app(scope, receive, send)
            return
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, receive, send, limit)
            return
        await self._counted(scope, receive, send, limit)

    async def _counted(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        received = 0
        exceeded = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise BodyTooLarge(_detail(limit))
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded and not started:
                return  # whatever the app made of the cut-off body; the 413 goes instead
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not exceeded or started:
                raise
        if exceeded and not started:
            await self._refuse(scope, receive, send, limit)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        error = BodyTooLarge(_detail(limit), headers={"Connection": "close"})
        # In the shape of the API called (a dialect's own), as the app's handlers would.
        await render_error(Request(scope), error)(scope, receive, send)


def _detail(limit: int) -> str:
    return f"The request body is over this route's limit of {limit} bytes."


def document_body_limits(app: FastAPI) -> None:
    """List the middleware's 413 among the responses of every operation that takes a body."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                if "requestBody" in operation:
                    _add_413(operation.setdefault("responses", {}))
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _add_413(responses: dict[str, Any]) -> None:
    code = f"`{BodyTooLarge.code}`"
    existing = responses.get("413")
    if existing is None:
        responses["413"] = {
            "description": f"{BodyTooLarge.title} — code {code}",
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
    elif code not in existing.get("description", ""):
        existing["description"] += f"; {BodyTooLarge.title.lower()} — code {code}"
