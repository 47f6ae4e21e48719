"""Recipient pages: the link in a notification (/r/<token>) and the vault (/vault).

Core actions are plain forms (no JavaScript needed). Unknown, revoked and expired tokens all
get the same page, so a link reveals nothing.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from tabellion.db import DbSession
from tabellion.document import preview
from tabellion.document.service import require_blob
from tabellion.document.sniff import content_disposition
from tabellion.document.storage import StoredFileUnavailable
from tabellion.errors import TabellionError
from tabellion.identity import service as identity
from tabellion.kit import sessions
from tabellion.kit.ratelimit import client_ip, limiter_of
from tabellion.kit.time import utcnow
from tabellion.kit.tokens import hmac_sha256, made_with_any
from tabellion.kit.web import (
    CsrfFailed,
    PageRoute,
    check_csrf,
    csrf_token,
    page_environment,
)
from tabellion.message.rules import normalize_email
from tabellion.message.service import lifecycle
from tabellion.message.service.lifecycle import Actor
from tabellion.models.message import Delivery
from tabellion.organization.branding import brand_of
from tabellion.portal import i18n, replies, service
from tabellion.portal.service import DeliveryPage
from tabellion.runtime import Runtime

log = logging.getLogger("tabellion.portal")
router = APIRouter(route_class=PageRoute, include_in_schema=False)
env = page_environment("tabellion.portal")


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _actor(request: Request, method: str) -> Actor:
    client = request.client.host if request.client else None
    return Actor(method=method, ip=client, user_agent=request.headers.get("user-agent", "")[:500])


_language = i18n.request_language


def _page(
    request: Request, template: str, *, language: str, status_code: int = 200, **ctx: Any
) -> Response:
    csrf = csrf_token(request, _key(request))
    return i18n.page(
        env, request, template, language=language, csrf=csrf, status_code=status_code, **ctx
    )


def _key(request: Request) -> bytes:
    return _runtime(request).settings.signing_key


def _keys(request: Request) -> tuple[bytes, ...]:
    """The secret key, then the earlier ones still accepted: what checks forms and links."""
    return _runtime(request).settings.signing_keys


def _invalid(request: Request) -> Response:
    return _page(request, "link_invalid.html", language=_language(request), status_code=404)


async def _delivery_session(db: DbSession, request: Request, delivery: Delivery) -> bool:
    return await sessions.current_subject(db, request, "delivery") == delivery.id or (
        await sessions.current_subject(db, request, "vault") == delivery.email
    )


def _redirect(url: str) -> Response:
    return RedirectResponse(url, status_code=303)


# ---- the link in a notification ------------------------------------------------------------


@router.get("/r/{token}")
async def delivery_page(token: str, request: Request, db: DbSession) -> Response:
    delivery = await service.delivery_by_token(db, token)
    if delivery is None:
        return _invalid(request)
    return await _render_delivery(request, db, delivery, base=f"/r/{token}")


async def _render_delivery(
    request: Request,
    db: DbSession,
    delivery: Delivery,
    *,
    base: str,
    notice: str | None = None,
    error: str | None = None,
    status_code: int = 200,
    signed_in: bool | None = None,
) -> Response:
    page = await service.load_page(db, delivery)
    if signed_in is None:
        signed_in = await _delivery_session(db, request, delivery)
    # A registered letter names its sender only once accepted: no brand before.
    shown = delivery.mode != "registered" or page.revealed
    brand = brand_of(page.organization, "", name=page.sender_name) if shown else None
    return _page(
        request,
        "delivery.html",
        language=_language(request, delivery.language),
        status_code=status_code,
        p=page,
        d=delivery,
        m=page.message,
        brand=brand,
        base=base,
        signed_in=signed_in,
        code_sent=request.query_params.get("sent") in ("1", "sms"),
        sms_sent=request.query_params.get("sent") == "sms",
        sms_phone=(
            "••• " + delivery.phone[-2:]
            if delivery.phone and service.sms_offered(_runtime(request).settings, delivery)
            else None
        ),
        replied=request.query_params.get("replied") == "1",
        max_files=replies.MAX_REPLY_FILES,
        notice=notice,
        error=error,
        timezone=page.organization.timezone,
        max_bytes=_runtime(request).settings.max_attachment_bytes,
        identified=identity.identified(delivery),
        identity_providers=(
            identity.eligible(_runtime(request).settings, delivery.identification)
            if delivery.identification
            else []
        ),
    )


async def _form(request: Request) -> dict[str, str]:
    form = await request.form(max_files=0, max_fields=20)
    return {k: v for k, v in form.items() if isinstance(v, str)}


@router.post("/r/{token}/code")
async def request_code(token: str, request: Request, db: DbSession) -> Response:
    fields = await _form(request)
    check_csrf(request, _keys(request), fields.get("csrf_token"))
    delivery = await service.delivery_by_token(db, token)
    if delivery is None:
        return _invalid(request)
    await limiter_of(request).enforce("code-request", ip=client_ip(request), address=delivery.email)
    sms = fields.get("channel") == "sms" and service.sms_offered(
        _runtime(request).settings, delivery
    )
    try:
        await service.send_delivery_code(
            db,
            delivery,
            signing_key=_key(request),
            language=_language(request, delivery.language),
            sms=sms,
        )
    except sessions.CodeRefused as exc:
        # "Sent less than a minute ago" is news, not a fault: said once, not in red.
        said = _t(request, delivery, exc.reason, **exc.params)
        soon = exc.reason == sessions.TOO_SOON
        return await _render_delivery(
            request,
            db,
            delivery,
            base=f"/r/{token}",
            notice=said if soon else None,
            error=None if soon else said,
            status_code=429,
        )
    return _redirect(f"/r/{token}?sent={'sms' if sms else '1'}")


async def _check_code(
    request: Request,
    db: DbSession,
    purpose: str,
    subject: str,
    email: str,
    fields: dict[str, str],
) -> None:
    """Check a code, refusing a client or an address that made too many wrong guesses.

    Only wrong codes count, and they are counted without raising: a raise would roll back
    the request's transaction, and with it the code's own count of tries.
    """
    limiter, ip = limiter_of(request), client_ip(request)
    await limiter.enforce("code-check", ip=ip, address=email, count=False)
    try:
        await sessions.check_code(db, purpose, subject, fields.get("code", ""))
    except sessions.CodeRefused:
        await limiter.record("code-check", ip=ip, address=email)
        raise


def _t(request: Request, delivery: Delivery | None, text: str, **params: object) -> str:
    language = _language(request, delivery.language if delivery else None)
    translated = i18n.translations(language).gettext(text)
    return translated % params if params else translated


@router.post("/r/{token}/verify")
async def verify_code(token: str, request: Request, db: DbSession) -> Response:
    fields = await _form(request)
    check_csrf(request, _keys(request), fields.get("csrf_token"))
    delivery = await service.delivery_by_token(db, token)
    if delivery is None:
        return _invalid(request)
    try:
        await _check_code(request, db, "delivery", delivery.id, delivery.email, fields)
    except sessions.CodeRefused as exc:
        return await _render_delivery(
            request,
            db,
            delivery,
            base=f"/r/{token}",
            error=_t(request, delivery, exc.reason, **exc.params),
            status_code=200,
        )
    await lifecycle.confirm_identity(db, delivery, actor=_actor(request, "email-otp"))
    response = _redirect(f"/r/{token}")
    await sessions.open_session(
        db,
        request,
        response,
        kind="delivery",
        subject=delivery.id,
        lifetime=service.DELIVERY_SESSION,
    )
    return response


@router.post("/r/{token}/answer")
async def answer(token: str, request: Request, db: DbSession) -> Response:
    fields = await _form(request)
    check_csrf(request, _keys(request), fields.get("csrf_token"))
    delivery = await service.delivery_by_token(db, token)
    if delivery is None:
        return _invalid(request)
    return await _answer(request, db, delivery, fields, base=f"/r/{token}")


async def _answer(
    request: Request, db: DbSession, delivery: Delivery, fields: dict[str, str], *, base: str
) -> Response:
    decision = fields.get("decision")
    if not await _delivery_session(db, request, delivery):
        return _redirect(base)
    if decision not in ("accept", "refuse") or fields.get("confirm") != "yes":
        return await _render_delivery(
            request,
            db,
            delivery,
            base=base,
            status_code=422,
            error=_t(request, delivery, "Tick the box to confirm your choice."),
        )
    try:
        method = "oidc" if identity.identified(delivery) else "email-otp"
        await lifecycle.answer(
            db, delivery, accept=decision == "accept", actor=_actor(request, method)
        )
    except TabellionError as exc:
        return await _render_delivery(
            request,
            db,
            delivery,
            base=base,
            status_code=409,
            error=_t(request, delivery, exc.title),
        )
    return _redirect(base)


@router.post("/r/{token}/open")
async def open_content(token: str, request: Request, db: DbSession) -> Response:
    fields = await _form(request)
    check_csrf(request, _keys(request), fields.get("csrf_token"))
    delivery = await service.delivery_by_token(db, token)
    if delivery is None or delivery.mode == "registered":
        return _invalid(request)
    await lifecycle.record_opened(db, delivery, actor=_actor(request, "portal-link"))
    response = _redirect(f"/r/{token}")
    await sessions.open_session(
        db,
        request,
        response,
        kind="delivery",
        subject=delivery.id,
        lifetime=service.DELIVERY_SESSION,
    )
    return response


PURGED_FILE = (
    "This file was deleted at the end of its retention period. The proof of its delivery remains."
)


@router.get("/r/{token}/files/{attachment_id}")
async def download(token: str, attachment_id: str, request: Request, db: DbSession) -> Response:
    delivery = await service.delivery_by_token(db, token)
    if delivery is None:
        return _invalid(request)
    return await _download(request, db, delivery, attachment_id, base=f"/r/{token}")


async def _download(
    request: Request, db: DbSession, delivery: Delivery, attachment_id: str, *, base: str
) -> Response:
    page = await service.load_page(db, delivery)
    attachment = next((a for a in page.attachments if a.id == attachment_id), None)
    reply_file = replies.find_file(page.replies, attachment_id)
    if (attachment is None and reply_file is None) or not page.revealed:
        return _invalid(request)
    if not await _delivery_session(db, request, delivery):
        return _redirect(base)
    if (attachment is not None and attachment.purged_at is not None) or (
        reply_file is not None and reply_file.get("purged")
    ):
        return await _render_delivery(
            request,
            db,
            delivery,
            base=base,
            status_code=410,
            error=_t(request, delivery, PURGED_FILE),
        )
    storage = _runtime(request).storage
    try:
        # Whole and matching its hash before a proof says it was handed over.
        if attachment is not None:
            what = f"attachment {attachment.id}"
            await require_blob(storage, attachment.storage_key, attachment.sha256, what=what)
        else:
            assert reply_file is not None
            what = f"reply file {reply_file.get('id')}"
            key = reply_file["storage_key"]
            await require_blob(storage, key, reply_file.get("sha256", key), what=what)
    except StoredFileUnavailable:
        return await _render_delivery(
            request,
            db,
            delivery,
            base=base,
            status_code=500,
            error=_t(
                request,
                delivery,
                "This file cannot be retrieved right now. Its download was not recorded; "
                "the service's operator has been alerted. Please try again later.",
            ),
        )
    if attachment is not None:
        await lifecycle.record_download(db, delivery, attachment, actor=_actor(request, "portal"))
        key, name, kind, size = (
            attachment.storage_key,
            attachment.filename,
            attachment.content_type,
            attachment.size,
        )
    else:
        assert reply_file is not None
        key, name, kind, size = (
            reply_file["storage_key"],
            reply_file["filename"],
            reply_file["content_type"],
            reply_file["size"],
        )
    inline = request.query_params.get("inline") == "1" and kind == "application/pdf"
    return StreamingResponse(
        storage.open(key),
        media_type=kind,
        headers={
            "Content-Disposition": content_disposition(name, inline=inline),
            "Content-Length": str(size),
            "X-Content-Type-Options": "nosniff",
        },
    )


async def _preview_target(
    request: Request, db: DbSession, delivery: Delivery, attachment_id: str, *, base: str
) -> Response | tuple[DeliveryPage, str, int, str]:
    page = await service.load_page(db, delivery)
    attachment = next((a for a in page.attachments if a.id == attachment_id), None)
    if (
        attachment is None
        or not page.revealed
        or attachment.content_type != "application/pdf"
        or attachment.purged_at is not None
    ):
        return _invalid(request)
    if not await _delivery_session(db, request, delivery):
        return _redirect(base)
    return page, attachment.storage_key, attachment.size, attachment.filename


async def _preview(
    request: Request, db: DbSession, delivery: Delivery, attachment_id: str, *, base: str
) -> Response:
    target = await _preview_target(request, db, delivery, attachment_id, base=base)
    if isinstance(target, Response):
        return target
    page, key, size, filename = target
    try:
        pages = await preview.page_count(_runtime(request).storage, key, size)
    except preview.PreviewUnavailable:
        pages = 0
    return _page(
        request,
        "preview.html",
        language=_language(request, delivery.language),
        d=delivery,
        base=base,
        attachment_id=attachment_id,
        filename=filename,
        pages=pages,
        timezone=page.organization.timezone,
    )


async def _preview_image(
    request: Request,
    db: DbSession,
    delivery: Delivery,
    attachment_id: str,
    number: int,
    *,
    base: str,
) -> Response:
    target = await _preview_target(request, db, delivery, attachment_id, base=base)
    if isinstance(target, Response):
        return target
    _, key, size, _ = target
    try:
        image = await preview.render_page(_runtime(request).storage, key, size, number)
    except preview.PreviewUnavailable:
        return Response(status_code=404)
    return Response(
        image, media_type="image/png", headers={"Cache-Control": "private, max-age=600"}
    )


@router.get("/r/{token}/files/{attachment_id}/preview")
async def preview_page(token: str, attachment_id: str, request: Request, db: DbSession) -> Response:
    delivery = await service.delivery_by_token(db, token)
    if delivery is None:
        return _invalid(request)
    return await _preview(request, db, delivery, attachment_id, base=f"/r/{token}")


@router.get("/r/{token}/files/{attachment_id}/pages/{number}.png")
async def preview_image(
    token: str, attachment_id: str, number: int, request: Request, db: DbSession
) -> Response:
    delivery = await service.delivery_by_token(db, token)
    if delivery is None:
        return _invalid(request)
    return await _preview_image(request, db, delivery, attachment_id, number, base=f"/r/{token}")


@router.post("/r/{token}/reply")
async def reply(token: str, request: Request, db: DbSession) -> Response:
    delivery = await service.delivery_by_token(db, token)
    if delivery is None or delivery.mode != "secure":
        return _invalid(request)
    return await _reply(request, db, delivery, base=f"/r/{token}")


async def _reply(request: Request, db: DbSession, delivery: Delivery, *, base: str) -> Response:
    if not await _delivery_session(db, request, delivery):
        return _redirect(base)
    runtime = _runtime(request)
    try:
        await replies.recipient_reply(
            db, runtime, request, delivery, actor=_actor(request, "portal-session")
        )
    except CsrfFailed:
        raise
    except replies.ReplyRefused as exc:
        return await _render_delivery(
            request,
            db,
            delivery,
            base=base,
            status_code=exc.status,
            error=_t(request, delivery, exc.message),
        )
    return _redirect(f"{base}?replied=1")


# ---- the vault -------------------------------------------------------------------------------


# While a sign-in code is on its way, the address waits in a signed, short-lived cookie, so
# the code step survives a reload or a language switch with nothing in the URL.
PENDING_COOKIE = "tbl_vault_pending"
PENDING_PATH = "/vault"


def pending_cookie(signing_key: bytes, email: str, until: int) -> str:
    """The cookie's value: the address and its expiry (Unix time), signed."""
    payload = base64.urlsafe_b64encode(f"{until}:{email}".encode()).decode().rstrip("=")
    return f"{payload}.{_pending_signature(signing_key, payload)}"


def _pending_signature(signing_key: bytes, payload: str) -> str:
    return hmac_sha256(signing_key, "vault-pending:" + payload).hex()


def _remember_pending(request: Request, response: Response, email: str) -> None:
    lifetime = int(sessions.CODE_VALIDITY.total_seconds())
    until = int(utcnow().timestamp()) + lifetime
    response.set_cookie(
        PENDING_COOKIE,
        pending_cookie(_key(request), email, until),
        max_age=lifetime,
        httponly=True,
        secure=request.url.scheme == "https",
        samesite="lax",
        path=PENDING_PATH,
    )


def _pending_email(request: Request) -> str | None:
    payload, _, signature = request.cookies.get(PENDING_COOKIE, "").partition(".")
    genuine = made_with_any(_keys(request), lambda key: _pending_signature(key, payload), signature)
    if not payload or not genuine:
        return None
    try:
        text = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
        until, _, email = text.partition(":")
        if int(until) <= utcnow().timestamp():
            return None
    except ValueError:
        return None
    return email or None


@router.get("/vault")
async def vault(request: Request, db: DbSession) -> Response:
    email = await sessions.current_subject(db, request, "vault")
    language = _language(request)
    if email is None:
        pending = _pending_email(request)
        step = "code" if pending and request.query_params.get("step") == "code" else "email"
        return _page(
            request,
            "vault_sign_in.html",
            language=language,
            email=pending or "",
            step=step,
            error=None,
        )
    items = await service.vault_deliveries(db, email)
    return _page(request, "vault.html", language=language, email=email, items=items)


@router.post("/vault/code")
async def vault_code(request: Request, db: DbSession) -> Response:
    fields = await _form(request)
    check_csrf(request, _keys(request), fields.get("csrf_token"))
    language = _language(request)
    try:
        email = normalize_email(fields.get("email", ""))
    except ValueError:
        return _page(
            request,
            "vault_sign_in.html",
            language=language,
            status_code=422,
            email=fields.get("email", ""),
            step="email",
            error=_t(request, None, "Enter a valid e-mail address."),
        )
    await limiter_of(request).enforce("code-request", ip=client_ip(request), address=email)
    try:
        await service.send_vault_code(db, email, signing_key=_key(request), language=language)
    except sessions.CodeRefused as exc:
        # The code sent before is still good: stay on the code step, saying why (news, not
        # a fault, when it was sent less than a minute ago).
        said = _t(request, None, exc.reason, **exc.params)
        soon = exc.reason == sessions.TOO_SOON
        response = _page(
            request,
            "vault_sign_in.html",
            language=language,
            email=email,
            step="code",
            notice=said if soon else None,
            error=None if soon else said,
        )
    else:
        response = _redirect("/vault?step=code")
    _remember_pending(request, response, email)
    return response


@router.post("/vault/verify")
async def vault_verify(request: Request, db: DbSession) -> Response:
    fields = await _form(request)
    check_csrf(request, _keys(request), fields.get("csrf_token"))
    email = fields.get("email", "")
    try:
        await _check_code(request, db, "vault", email, email, fields)
    except sessions.CodeRefused as exc:
        if exc.locked:
            await _vault_locked(request, db, email)
        return _page(
            request,
            "vault_sign_in.html",
            language=_language(request),
            email=email,
            step="code",
            error=_t(request, None, exc.reason, **exc.params),
        )
    response = _redirect("/vault")
    await sessions.open_session(
        db, request, response, kind="vault", subject=email, lifetime=service.VAULT_SESSION
    )
    response.delete_cookie(PENDING_COOKIE, path=PENDING_PATH)
    return response


async def _vault_locked(request: Request, db: DbSession, email: str) -> None:
    """The address's code is locked by wrong guesses: its owner gets a link by e-mail."""
    sent = False
    if await limiter_of(request).hit("vault-recovery.address", email.lower()) is None:
        sent = await service.send_vault_recovery(
            db, email, signing_key=_key(request), language=_language(request)
        )
    log.warning(
        "vault code locked for *@%s after wrong codes, the last from %s; recovery link %s",
        email.rpartition("@")[2],
        client_ip(request),
        "sent" if sent else "not sent (sent recently, or no delivery to the address)",
    )


@router.get("/vault/link/{token}")
async def vault_link(token: str, request: Request, db: DbSession) -> Response:
    # A page with a button, not a sign-in on GET: mail scanners open links.
    email = await service.recovery_link_subject(db, token, keys=_keys(request))
    if email is None:
        return _invalid(request)
    return _page(
        request,
        "vault_sign_in.html",
        language=_language(request),
        email=email,
        step="link",
        error=None,
        link=f"/vault/link/{token}",
    )


@router.post("/vault/link/{token}")
async def vault_link_sign_in(token: str, request: Request, db: DbSession) -> Response:
    fields = await _form(request)
    check_csrf(request, _keys(request), fields.get("csrf_token"))
    email = await service.redeem_recovery_link(db, token, keys=_keys(request))
    if email is None:
        return _invalid(request)
    log.info(
        "vault recovery link used for *@%s from %s", email.rpartition("@")[2], client_ip(request)
    )
    response = _redirect("/vault")
    await sessions.open_session(
        db, request, response, kind="vault", subject=email, lifetime=service.VAULT_SESSION
    )
    return response


@router.post("/vault/sign-out")
async def vault_sign_out(request: Request, db: DbSession) -> Response:
    fields = await _form(request)
    check_csrf(request, _keys(request), fields.get("csrf_token"))
    response = _redirect("/vault")
    await sessions.close_session(db, request, response, kind="vault")
    return response


async def _vault_delivery(request: Request, db: DbSession, delivery_id: str) -> Delivery | None:
    email = await sessions.current_subject(db, request, "vault")
    delivery = await db.get(Delivery, delivery_id)
    if email is None or delivery is None or delivery.email != email:
        return None
    return delivery


async def _vault_needs_identity(request: Request, db: DbSession, delivery: Delivery) -> bool:
    """A letter whose sender asked for identification is answered from the vault only once
    this browser signed in with an identity provider for it (``identity.pages``): the vault's
    e-mail code proves the mailbox, not the person."""
    return (
        bool(delivery.identification)
        and delivery.status in identity.ANSWERABLE
        and await sessions.current_subject(db, request, "delivery") != delivery.id
    )


@router.get("/vault/d/{delivery_id}")
async def vault_delivery(delivery_id: str, request: Request, db: DbSession) -> Response:
    delivery = await _vault_delivery(request, db, delivery_id)
    if delivery is None:
        return _redirect("/vault")
    if await _vault_needs_identity(request, db, delivery):
        return await _render_delivery(
            request, db, delivery, base=f"/vault/d/{delivery_id}", signed_in=False
        )
    if delivery.mode != "registered":
        await lifecycle.record_opened(db, delivery, actor=_actor(request, "vault-session"))
    elif not (delivery.identity or {}).get("confirmed"):
        # Signing in to the vault proved control of the address: the same identity check.
        await lifecycle.confirm_identity(db, delivery, actor=_actor(request, "vault-email-otp"))
    return await _render_delivery(request, db, delivery, base=f"/vault/d/{delivery_id}")


@router.post("/vault/d/{delivery_id}/answer")
async def vault_answer(delivery_id: str, request: Request, db: DbSession) -> Response:
    fields = await _form(request)
    check_csrf(request, _keys(request), fields.get("csrf_token"))
    delivery = await _vault_delivery(request, db, delivery_id)
    if delivery is None:
        return _redirect("/vault")
    if await _vault_needs_identity(request, db, delivery):
        return _redirect(f"/vault/d/{delivery_id}")
    return await _answer(request, db, delivery, fields, base=f"/vault/d/{delivery_id}")


@router.get("/vault/d/{delivery_id}/files/{attachment_id}")
async def vault_download(
    delivery_id: str, attachment_id: str, request: Request, db: DbSession
) -> Response:
    delivery = await _vault_delivery(request, db, delivery_id)
    if delivery is None:
        return _redirect("/vault")
    return await _download(request, db, delivery, attachment_id, base=f"/vault/d/{delivery_id}")


@router.get("/vault/d/{delivery_id}/files/{attachment_id}/preview")
async def vault_preview(
    delivery_id: str, attachment_id: str, request: Request, db: DbSession
) -> Response:
    delivery = await _vault_delivery(request, db, delivery_id)
    if delivery is None:
        return _redirect("/vault")
    return await _preview(request, db, delivery, attachment_id, base=f"/vault/d/{delivery_id}")


@router.get("/vault/d/{delivery_id}/files/{attachment_id}/pages/{number}.png")
async def vault_preview_image(
    delivery_id: str, attachment_id: str, number: int, request: Request, db: DbSession
) -> Response:
    delivery = await _vault_delivery(request, db, delivery_id)
    if delivery is None:
        return _redirect("/vault")
    return await _preview_image(
        request, db, delivery, attachment_id, number, base=f"/vault/d/{delivery_id}"
    )


@router.post("/vault/d/{delivery_id}/reply")
async def vault_reply(delivery_id: str, request: Request, db: DbSession) -> Response:
    delivery = await _vault_delivery(request, db, delivery_id)
    if delivery is None or delivery.mode != "secure":
        return _redirect("/vault")
    return await _reply(request, db, delivery, base=f"/vault/d/{delivery_id}")


__all__ = ["DeliveryPage", "router"]
