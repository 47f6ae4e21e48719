"""The signing page: the link in an invitation (/s/<token>).

The documents show page by page as lazily loaded images with this recipient's fields in
place; signing, approving and rejecting are plain forms (a script adds the drawing canvas
and the upload). Unknown and forged tokens get the portal's invalid-link page.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse

from tabellion.db import DbSession
from tabellion.document import preview
from tabellion.document.sniff import content_disposition
from tabellion.envelope import service, signing, verification
from tabellion.envelope.signing import Actor, SigningContext
from tabellion.errors import TabellionError
from tabellion.identity import envelopes as identity_envelopes
from tabellion.kit import sessions
from tabellion.kit.ratelimit import client_ip, limiter_of
from tabellion.kit.time import utcnow
from tabellion.kit.web import PageRoute, check_csrf, csrf_token, page_environment
from tabellion.models.organization import Organization
from tabellion.organization.branding import brand_of
from tabellion.portal import i18n
from tabellion.runtime import Runtime

router = APIRouter(route_class=PageRoute, include_in_schema=False)
env = page_environment("tabellion.envelope")
MAX_FORM_FIELDS = 600
# A completed envelope still needs access authentication to download its signed files.
OPEN_FOR_AUTH = ("pending", "completed")


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _key(request: Request) -> bytes:
    return _runtime(request).settings.signing_key


def _keys(request: Request) -> tuple[bytes, ...]:
    """The secret key, then the earlier ones still accepted: what checks forms and links."""
    return _runtime(request).settings.signing_keys


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


async def _passed(request: Request, db: DbSession, ctx: SigningContext, step: str) -> str | None:
    """The method this browser passed ``step`` with, or None."""
    done = await verification.passed(db, request, ctx.recipient, step)
    return done.method if done else None


async def _render(
    request: Request,
    db: DbSession,
    ctx: SigningContext,
    token: str,
    *,
    error: TabellionError | None = None,
    message: str | None = None,
    status_code: int | None = None,
) -> Response:
    organization = await db.get(Organization, ctx.envelope.organization_id)
    assert organization is not None
    language = _language(request, ctx.recipient.language)
    t = i18n.translations(language)
    recipient = ctx.recipient
    identify = await identity_envelopes.needs(db, request, recipient)
    locked = identify or await verification.needs(db, request, recipient, "access")
    confirm = not locked and await verification.needs(db, request, recipient, "action")
    if error is not None:
        message = t.gettext(error.detail)
    return _page(
        request,
        "sign.html",
        language=language,
        status_code=status_code or (error.status if error else 200),
        locked=locked,
        identify=identify,
        identity_providers=identity_envelopes.choices(_runtime(request).settings, recipient),
        confirm=confirm,
        access_methods=recipient.access_auth,
        action_methods=recipient.action_auth,
        code_sent=request.query_params.get("sent"),
        e=ctx.envelope,
        r=ctx.recipient,
        documents=ctx.parts.documents,
        fields=ctx.fields,
        owners={r.id: r.name for r in ctx.parts.recipients},
        sender=organization.name,
        # The sender is named on this page: its logo, colour and names too.
        brand=brand_of(organization, ""),
        base=f"/s/{token}",
        error=message,
        error_fields=[f.field for f in error.errors] if error else [],
        done=request.query_params.get("done") == "1",
    )


@router.get("/s/{token}")
async def signing_page(token: str, request: Request, db: DbSession) -> Response:
    ctx = await signing.recipient_by_token(db, token, for_update=True)
    if ctx is None:
        return _invalid(request)
    expires_at = ctx.envelope.expires_at
    if ctx.envelope.status == "pending" and expires_at is not None and expires_at <= utcnow():
        # Its expiry job may not have run yet: the page does what it would.
        await service.expire_due(db, ctx.envelope.id)
    access = await _passed(request, db, ctx, "access")
    if not await identity_envelopes.needs(db, request, ctx.recipient):
        await signing.open_envelope(db, ctx, _actor(request), access=access)
    return await _render(request, db, ctx, token)


@router.get("/s/{token}/documents/{document_id}/pages/{number}.png")
async def page_image(
    token: str, document_id: str, number: int, request: Request, db: DbSession
) -> Response:
    ctx = await signing.recipient_by_token(db, token)
    if ctx is None:
        return _invalid(request)
    document = next((d for d in ctx.parts.documents if d.id == document_id), None)
    if document is None or await verification.needs(db, request, ctx.recipient, "access"):
        return Response(status_code=404)
    if ctx.envelope.content_purged_at is not None:
        return Response(status_code=410)  # deleted at the end of its retention period
    if await identity_envelopes.needs(db, request, ctx.recipient):
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
    if ctx.envelope.content_purged_at is not None:
        return Response(status_code=410)  # deleted at the end of its retention period
    if await verification.needs(db, request, ctx.recipient, "access"):
        return Response(status_code=404)
    if await identity_envelopes.needs(db, request, ctx.recipient):
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
    check_csrf(request, _keys(request), values.get("csrf_token"))
    ctx = await signing.recipient_by_token(db, token, for_update=True)
    if ctx is None:
        return _invalid(request)
    # A drawn or uploaded signature arrives in f_<id>; a typed one in typed_<id>.
    submitted = {
        f.id: values.get(f"f_{f.id}") or values.get(f"typed_{f.id}") or None for f in ctx.fields
    }
    actor = _actor(request)
    access = await _passed(request, db, ctx, "access")
    act = await _passed(request, db, ctx, "action")
    try:
        await identity_envelopes.require(db, request, ctx.recipient)
        if action == "sign":
            await signing.sign(
                db,
                ctx,
                submitted,
                consent=values.get("consent") == "yes",
                actor=actor,
                access=access,
                action=act,
            )
        elif action == "approve":
            await signing.approve(db, ctx, submitted, actor=actor, access=access, action=act)
        elif action == "assist":
            await signing.assist(db, ctx, submitted, actor=actor, access=access, action=act)
        else:
            await signing.reject(db, ctx, values.get("reason", ""), actor=actor, access=access)
    except TabellionError as exc:
        await db.rollback()
        ctx = await signing.recipient_by_token(db, token)
        if ctx is None:
            return _invalid(request)
        return await _render(request, db, ctx, token, error=exc)
    return RedirectResponse(f"/s/{token}?done=1", status_code=303)


@router.post("/s/{token}/sign")
async def sign(token: str, request: Request, db: DbSession) -> Response:
    return await _act(token, request, db, "sign")


@router.post("/s/{token}/approve")
async def approve(token: str, request: Request, db: DbSession) -> Response:
    return await _act(token, request, db, "approve")


@router.post("/s/{token}/assist")
async def assist(token: str, request: Request, db: DbSession) -> Response:
    return await _act(token, request, db, "assist")


@router.post("/s/{token}/reject")
async def reject(token: str, request: Request, db: DbSession) -> Response:
    return await _act(token, request, db, "reject")


# ---- access and action authentication -------------------------------------------------------


async def _form(request: Request) -> dict[str, str]:
    form = await request.form(max_files=0, max_fields=20)
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    check_csrf(request, _keys(request), values.get("csrf_token"))
    return values


def _step(ctx: SigningContext, values: dict[str, str], method: str) -> str | None:
    """The step a form is for, if this recipient needs ``method`` for it."""
    step = values.get("step", "")
    if step in verification.STEPS and method in verification.required(ctx.recipient, step):
        return step
    return None


@router.post("/s/{token}/code")
async def request_code(token: str, request: Request, db: DbSession) -> Response:
    """E-mail the recipient a code for the access or the action step."""
    values = await _form(request)
    ctx = await signing.recipient_by_token(db, token)
    if ctx is None:
        return _invalid(request)
    step = _step(ctx, values, "email_otp")
    if step is None or ctx.envelope.status not in OPEN_FOR_AUTH:
        return RedirectResponse(f"/s/{token}", status_code=303)
    await limiter_of(request).enforce(
        "code-request", ip=client_ip(request), address=ctx.recipient.email
    )
    language = _language(request, ctx.recipient.language)
    try:
        await verification.send_code(
            db, ctx.recipient, step, signing_key=_key(request), language=language
        )
    except sessions.CodeRefused as exc:
        text = i18n.translations(language).gettext(exc.reason)
        return await _render(
            request,
            db,
            ctx,
            token,
            message=text % exc.params if exc.params else text,
            status_code=429,
        )
    return RedirectResponse(f"/s/{token}?sent={step}", status_code=303)


@router.post("/s/{token}/verify")
async def verify(token: str, request: Request, db: DbSession) -> Response:
    """Check a code or a password; a pass opens the step's short browser session."""
    values = await _form(request)
    ctx = await signing.recipient_by_token(db, token)
    if ctx is None:
        return _invalid(request)
    method = values.get("method", "")
    step = _step(ctx, values, method)
    if step is None or ctx.envelope.status not in OPEN_FOR_AUTH:
        return RedirectResponse(f"/s/{token}", status_code=303)
    if step == "action" and await verification.needs(db, request, ctx.recipient, "access"):
        return RedirectResponse(f"/s/{token}", status_code=303)
    limiter, ip = limiter_of(request), client_ip(request)
    language = _language(request, ctx.recipient.language)
    t = i18n.translations(language)
    try:
        if method == "email_otp":
            await verification.check_code(
                db, limiter, ctx.recipient, step, values.get("code", ""), ip=ip
            )
        elif method == "totp":
            await verification.check_totp(
                db, limiter, ctx.recipient, values.get("code", ""), ip=ip, keys=_keys(request)
            )
        else:
            await verification.check_password(
                db, limiter, ctx.recipient, values.get("password", ""), ip=ip
            )
    except sessions.CodeRefused as exc:
        # Rendered with 200, not raised: only a 2xx or 3xx request commits, and the code's
        # count of tries must be kept.
        text = t.gettext(exc.reason)
        return await _render(
            request,
            db,
            ctx,
            token,
            message=text % exc.params if exc.params else text,
            status_code=200,
        )
    except verification.WrongPassword as exc:
        return await _render(request, db, ctx, token, error=exc)
    # The first view (``opened``) counts on the page this leads to.
    response = RedirectResponse(f"/s/{token}", status_code=303)
    await verification.open_step(db, request, response, ctx.recipient, step, method)
    return response


async def _passkey_context(
    request: Request, db: DbSession, token: str
) -> SigningContext | Response:
    """The recipient of a passkey request, or the JSON answer refusing it."""
    ctx = await signing.recipient_by_token(db, token)
    if ctx is None:
        return JSONResponse({"error": "This link is not valid."}, status_code=404)
    recipient = ctx.recipient
    if (
        "passkey" not in recipient.action_auth
        or ctx.envelope.status != "pending"
        or await verification.needs(db, request, recipient, "access")
    ):
        return JSONResponse({"error": "Confirm your identity first."}, status_code=403)
    return ctx


@router.post("/s/{token}/passkey/options")
async def passkey_options(token: str, request: Request, db: DbSession) -> Response:
    """WebAuthn options: create the address's passkey, or sign with it."""
    await _form(request)
    ctx = await _passkey_context(request, db, token)
    if isinstance(ctx, Response):
        return ctx
    options = await verification.passkey_options(
        db, ctx.recipient, base_url=_runtime(request).settings.base_url
    )
    return JSONResponse(options)


@router.post("/s/{token}/passkey/verify")
async def passkey_verify(token: str, request: Request, db: DbSession) -> Response:
    """The browser's passkey answer; a pass opens the action step's browser session."""
    form = await request.form(max_files=0, max_fields=5, max_part_size=64 * 1024)
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    check_csrf(request, _keys(request), values.get("csrf_token"))
    ctx = await _passkey_context(request, db, token)
    if isinstance(ctx, Response):
        return ctx
    limiter, ip = limiter_of(request), client_ip(request)
    await limiter.enforce("code-check", ip=ip, address=ctx.recipient.email, count=False)
    try:
        await verification.check_passkey(
            db,
            ctx.recipient,
            values.get("credential", ""),
            base_url=_runtime(request).settings.base_url,
        )
    except verification.PasskeyFailed as exc:
        await limiter.record("code-check", ip=ip, address=ctx.recipient.email)
        language = _language(request, ctx.recipient.language)
        return JSONResponse(
            {"error": i18n.translations(language).gettext(exc.detail)}, status_code=422
        )
    response = JSONResponse({"ok": True})
    await verification.open_step(db, request, response, ctx.recipient, "action", "passkey")
    return response
