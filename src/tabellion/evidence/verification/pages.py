"""The public ``/verify`` page: drop a proof or a document, read the verdict."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from tabellion.db import DbSession
from tabellion.errors import TabellionError
from tabellion.evidence.sealing.keys import load_seal
from tabellion.evidence.verification.service import (
    MAX_PAGE_BYTES,
    check_envelope,
    check_recorded,
    classify,
    read_upload,
)
from tabellion.kit.ratelimit import client_ip, limiter_of
from tabellion.kit.web import PageRoute, csrf_token, page_environment
from tabellion.portal import i18n
from tabellion.runtime import Runtime

router = APIRouter(route_class=PageRoute, include_in_schema=False)
env = page_environment("tabellion.evidence.verification")


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _page(request: Request, *, status_code: int = 200, **ctx: Any) -> Response:
    runtime = _runtime(request)
    return i18n.page(
        env,
        request,
        "verify.html",
        language=i18n.request_language(request),
        csrf=csrf_token(request, runtime.settings.signing_key),
        status_code=status_code,
        self_issued=load_seal(runtime.settings).self_issued,
        **{"result": None, "error": None, "missing_id": False, "request_kind": None, **ctx},
    )


@router.get("/verify")
async def verify_page(request: Request, db: DbSession) -> Response:
    """The form; with ``?evidence=<id>`` (the QR code of a PDF proof), that proof checked; with
    ``?envelope=<id>`` (the QR code of a signed PDF's certificate), the envelope's record."""
    evidence_id = request.query_params.get("evidence")
    envelope_id = request.query_params.get("envelope")
    if evidence_id is not None or envelope_id is not None:
        # A lookup by id is throttled as a check of a file is.
        await limiter_of(request).enforce("verify", ip=client_ip(request))
    if evidence_id is not None:
        result = await check_recorded(db, _runtime(request), evidence_id)
    elif envelope_id is not None:
        result = await check_envelope(db, envelope_id)
    else:
        return _page(request)
    missing = result["kind"] == "unknown"
    return _page(
        request,
        result=result,
        status_code=404 if missing else 200,
        missing_id=missing,
        request_kind="evidence" if evidence_id is not None else "envelope",
    )


@router.post("/verify")
async def verify_submit(request: Request, db: DbSession) -> Response:
    # The same rule as POST /v1/verify: each upload is read and hashed (up to 50 MiB).
    await limiter_of(request).enforce("verify", ip=client_ip(request))
    try:
        data = await read_upload(request, MAX_PAGE_BYTES)
    except TabellionError as exc:
        return _page(request, status_code=exc.status, error=exc.detail)
    result = await classify(db, _runtime(request), data, None)
    return _page(request, result=result)
