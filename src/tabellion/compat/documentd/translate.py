"""Native ⇄ Documentd: field names, references and errors.

Documentd shows one envelope for every outcome: ``{"success": true, ...}`` or
``{"success": false, "error": {"code", "message"}}``. Its docs give no error codes or statuses,
so ours are the native ones: the stable kebab-case ``code`` and the HTTP status, except that
bad input is 400, as JSON APIs of its kind answer (natively 422).
"""

from __future__ import annotations

import re

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.responses import Response

from tabellion.errors import TabellionError, ValidationFailed

# Native field → Documentd field, for the messages of validation errors.
_FIELDS = (
    (re.compile(r"^sender\.email$"), "senderEmail"),
    (re.compile(r"^subject$"), "emailSubject"),
    (re.compile(r"^(body_html|body_text)$"), "emailBody"),
    (re.compile(r"^recipients(\[\d+\])?"), r"emailToList\1"),
    (re.compile(r"^(file|attachments)$"), "emailAttachment"),
)


def foreign_field(field: str) -> str:
    for pattern, replacement in _FIELDS:
        if pattern.match(field):
            return pattern.sub(replacement, field, count=1)
    return field


def error_body(error: TabellionError) -> tuple[int, dict[str, object]]:
    """The status and envelope of ``error`` as Documentd answers it."""
    status, message = error.status, error.detail
    if isinstance(error, ValidationFailed):
        status = 400
        if error.errors:
            message = "; ".join(f"{foreign_field(e.field)}: {e.message}" for e in error.errors)
    return status, {"success": False, "error": {"code": error.code, "message": message}}


def render_error(request: Request, error: TabellionError) -> Response:
    status, body = error_body(error)
    return JSONResponse(body, status_code=status, headers=error.headers)
