"""The signing page: the link in an invitation (/s/<token>).

The documents show page by page as lazily loaded images with this recipient's fields in
place; signing, approving and rejecting are plain forms (a script adds the drawing canvas
and the upload). Unknown and forged tokens get the portal's invalid-link page.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from tabellion.db import DbSession
from tabellion.document import preview
from tabellion.document.sniff import content_disposition
from tabellion.envelope import signing
from tabellion.envelope.signing import Actor, SigningContext
from tabellion.errors import TabellionError
from tabellion.kit.web import PageRoute, check_csrf, csrf_token, page_environment
from tabellion.models.organization import Organization
from tabellion.portal import i18n
from tabellion.runtime import Runtime

router = APIRouter(route_class=PageRoute, include_in_schema=False)
env = page_environment("tabellion.envelope")
MAX_FORM_FIELDS = 600


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _key(request: Request) -> bytes:
    return _runtime(request).settings.signing_key


def _actor(request: Request) -> Actor:
    client = request.client.host if request.client else None
    return Actor(ip=client, user_agent=request.headers.get("user-agent", "")[:500])


_language = i18n.request_language


def _page(
    request: Request, template: str, *, language: str, status_code: int = 200, **ctx: Any
) -> Response:
    csrf = csrf_token(request, _key(request))
    return i18n.page(
        env, request, template, language=language, csrf=csrf, status_code=status_code, **ctx
    )


def _invalid(request: Request) -> Response:
    return _page(request, "link_invalid.html", language=_language(request), status_code=404)


async def _render(
    request: Request,
    db: DbSession,
    ctx: SigningContext,
    token: str,
    *,
    error: TabellionError | None = None,
) -> Response:
    organization = await db.get(Organization, ctx.envelope.organization_id)
    assert organization is not None
    language = _language(request, ctx.recipient.language)
    t = i18n.translations(language)
    return _page(
        request,
        "sign.html",
        language=language,
        status_code=error.status if error else 200,
        e=ctx.envelope,
        r=ctx.recipient,
        documents=ctx.parts.documents,
        fields=ctx.fields,
        sender=organization.name,
        base=f"/s/{token}",
        error=t.gettext(error.detail) if error else None,
        error_fields=[f.field for f in error.errors] if error else [],
        done=request.query_params.get("done") == "1",
    )


@router.get("/s/{token}")
async def signing_page(token: str, request: Request, db: DbSession) -> Response:
    ctx = await signing.recipient_by_token(db, token, for_update=True)
    if ctx is None:
        return _invalid(request)
    await signing.open_envelope(db, ctx, _actor(request))
    return await _render(request, db, ctx, token)


@router.get("/s/{token}/documents/{document_id}/pages/{number}.png")
async def page_image(
    token: str, document_id: str, number: int, request: Request, db: DbSession
) -> Response:
    ctx = await signing.recipient_by_token(db, token)
    if ctx is None:
        return _invalid(request)
    document = next((d for d in ctx.parts.documents if d.id == document_id), None)
    if document is None:
        return Response(status_code=404)
    try:
        image = await preview.render_page(
            _runtime(request).storage, document.storage_key, document.size, number
        )
    except preview.PreviewUnavailable:
        return Response(status_code=404)
    return Response(
        image, media_type="image/png", headers={"Cache-Control": "private, max-age=600"}
    )


@router.get("/s/{token}/documents/{document_id}/signed.pdf")
async def signed_download(
    token: str, document_id: str, request: Request, db: DbSession
) -> Response:
    """The signed PDF, for every recipient of a completed envelope (cc included)."""
    ctx = await signing.recipient_by_token(db, token)
    if ctx is None:
        return _invalid(request)
    document = next((d for d in ctx.parts.documents if d.id == document_id), None)
    if ctx.envelope.status != "completed" or document is None or not document.signed_storage_key:
        return Response(status_code=404)
    return StreamingResponse(
        _runtime(request).storage.open(document.signed_storage_key),
        media_type="application/pdf",
        headers={
            "Content-Disposition": content_disposition(
                document.filename.removesuffix(".pdf") + "-signed.pdf"
            )
        },
    )


async def _act(token: str, request: Request, db: DbSession, action: str) -> Response:
    form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    check_csrf(request, _key(request), values.get("csrf_token"))
    ctx = await signing.recipient_by_token(db, token, for_update=True)
    if ctx is None:
        return _invalid(request)
    # A drawn or uploaded signature arrives in f_<id>; a typed one in typed_<id>.
    submitted = {
        f.id: values.get(f"f_{f.id}") or values.get(f"typed_{f.id}") or None for f in ctx.fields
    }
    actor = _actor(request)
    try:
        if action == "sign":
            await signing.sign(
                db, ctx, submitted, consent=values.get("consent") == "yes", actor=actor
            )
        elif action == "approve":
            await signing.approve(db, ctx, submitted, actor=actor)
        else:
            await signing.reject(db, ctx, values.get("reason", ""), actor=actor)
    except TabellionError as exc:
        await db.rollback()
        ctx = await signing.recipient_by_token(db, token)
        assert ctx is not None
        return await _render(request, db, ctx, token, error=exc)
    return RedirectResponse(f"/s/{token}?done=1", status_code=303)


@router.post("/s/{token}/sign")
async def sign(token: str, request: Request, db: DbSession) -> Response:
    return await _act(token, request, db, "sign")


@router.post("/s/{token}/approve")
async def approve(token: str, request: Request, db: DbSession) -> Response:
    return await _act(token, request, db, "approve")


@router.post("/s/{token}/reject")
async def reject(token: str, request: Request, db: DbSession) -> Response:
    return await _act(token, request, db, "reject")
