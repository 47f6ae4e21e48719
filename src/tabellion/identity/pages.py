"""The recipient's sign-in with an identity provider: from the letter's page to the provider
(``POST /r/<token>/identify``) and back (``GET /identity/callback``).

A refused sign-in (a forged or replayed answer, a token for another client, an expired one...)
shows a page that says why, and changes nothing about the letter; only the request's ``state``
is used up. A sign-in as someone other than the recipient blocks the letter and tells the
sender (``identity.service``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from tabellion.db import DbSession
from tabellion.envelope import signing
from tabellion.envelope.service import signing_token_of
from tabellion.identity import envelopes, service
from tabellion.identity.oidc import IdentityRefused, OidcClient
from tabellion.kit import sessions
from tabellion.kit.ratelimit import client_ip, limiter_of
from tabellion.kit.tokens import hmac_sha256, made_with_any
from tabellion.kit.web import PageRoute, csrf_token, page_environment
from tabellion.message.service.delivery import portal_token_of
from tabellion.message.service.lifecycle import Actor
from tabellion.models.envelope import EnvelopeRecipient
from tabellion.models.identity import IdentityRequest
from tabellion.models.message import Delivery
from tabellion.portal import i18n
from tabellion.portal.service import DELIVERY_SESSION, delivery_by_token
from tabellion.runtime import Runtime

log = logging.getLogger("tabellion.identity")
router = APIRouter(route_class=PageRoute, include_in_schema=False)
BROWSER_COOKIE = "tbl_identity"
_LINK = re.compile(r"/[rs]/[A-Za-z0-9_-]{20,100}|/vault/d/[a-z]{2,5}_[a-z0-9]{10,40}")
# Set when a sign-in starts from the vault: the callback leads back there.
RETURN_COOKIE = "tbl_identity_return"
env = page_environment("tabellion.identity")


def N_(message: str) -> str:
    """Marks a message for the catalog; translated where it is shown."""
    return message


# What the recipient reads for each reason a sign-in was refused.
_MESSAGES = {
    "state-unknown": N_("This sign-in link is not one we started. Start again from your letter."),
    "state-replayed": N_("This sign-in answer was already used. Start again from your letter."),
    "state-other-browser": N_(
        "This sign-in was started in another browser. Start again from your letter in this one."
    ),
    "state-expired": N_("The sign-in took too long. Start again from your letter."),
    "provider-error": N_("The identity provider did not confirm your identity."),
    "provider-not-allowed": N_("This identity provider cannot be used for this letter."),
    "provider-unavailable": N_(
        "The identity provider cannot be reached right now. Try again later."
    ),
    "delivery-closed": N_("This letter can no longer be answered."),
    "token-exchange-failed": N_("The identity provider refused to confirm this sign-in."),
    "token-missing": N_("The identity provider's answer is incomplete."),
    "token-bad-signature": N_("The identity provider's answer was not signed by the provider."),
    "token-unreadable": N_("The identity provider's answer cannot be read."),
    "token-expired": N_("The identity provider's answer has expired."),
    "token-wrong-issuer": N_("The answer comes from another identity provider."),
    "token-wrong-audience": N_("The identity provider's answer was meant for another service."),
    "token-wrong-nonce": N_("The identity provider's answer belongs to another sign-in."),
    "token-wrong-level": N_("The identity provider did not give the level of assurance required."),
    "token-invalid": N_("The identity provider's answer is not valid."),
    "userinfo-mismatch": N_("The identity provider's answers do not agree."),
}


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def oidc_client(runtime: Runtime) -> OidcClient:
    async def close() -> None:
        return None

    factory: Callable[[], tuple[OidcClient, Callable[[], Awaitable[None]]]] = lambda: (  # noqa: E731
        OidcClient(),
        close,
    )
    return runtime.resource("identity.oidc", factory)


def _actor(request: Request) -> Actor:
    client = request.client.host if request.client else None
    return Actor(method="oidc", ip=client, user_agent=request.headers.get("user-agent", "")[:500])


def _link(runtime: Runtime, delivery: Delivery) -> str:
    return "/r/" + portal_token_of(runtime.settings.signing_keys, delivery)


def refused(exc: IdentityRefused, *, back: str | None) -> Response:
    """To the page saying why, by a redirect: an error status would roll back the request's
    transaction, and what it must keep (the used-up state, a mismatch told to the sender)
    with it."""
    if exc.detail:
        # The provider's answer was wrong or did not come: the operator's to see (a provider
        # down, a forged token). The recipient's own doing (a late or repeated answer): info.
        operator = exc.reason.startswith("token-") or exc.reason == "provider-unavailable"
        level = logging.WARNING if operator else logging.INFO
        log.log(level, "identity sign-in refused: %s (%s)", exc.reason, exc.detail)
    query = {"reason": exc.reason, **({"back": back} if back else {})}
    return RedirectResponse(f"{service.REFUSED_PATH}?{urlencode(query)}", status_code=303)


@router.get(service.REFUSED_PATH)
async def refused_page(request: Request) -> Response:
    reason = request.query_params.get("reason", "")
    back = request.query_params.get("back")
    if back is not None and not _LINK.fullmatch(back):
        back = None
    lang = i18n.request_language(request)
    t = i18n.translations(lang)
    if reason == "identity-mismatch" and back is not None and back.startswith("/s/"):
        title = t.gettext("Your identity does not match the person asked to sign")
        text = N_(
            "The identity confirmed by the provider is not the one the sender gave for this "
            "signer, so the documents stay closed. The sender has been told."
        )
    elif reason == "identity-mismatch":
        title = t.gettext("Your identity does not match this letter's recipient")
        text = N_(
            "The identity confirmed by the provider is not the one the sender gave for this "
            "letter, so the letter stays closed. The sender has been told."
        )
    else:
        title = t.gettext("Your identity could not be confirmed")
        reason = reason if reason in _MESSAGES else "token-invalid"
        text = _MESSAGES[reason]
    return i18n.page(
        env,
        request,
        "identity_refused.html",
        language=lang,
        csrf=csrf_token(request, _runtime(request).settings.signing_key),
        status_code=503 if reason == "provider-unavailable" else 403,
        title=title,
        message=t.gettext(text),
        reason=reason,
        back=back,
    )


@router.get("/r/{token}/identify/{provider}")
async def identify(token: str, provider: str, request: Request, db: DbSession) -> Response:
    """Off to the provider. A link (GET), since a form's redirect to another site is stopped
    by the pages' ``form-action 'self'``; the sign-in is tied to this browser by a cookie."""
    runtime = _runtime(request)
    delivery = await delivery_by_token(db, token)
    if delivery is None or not delivery.identification:
        return refused(IdentityRefused("state-unknown"), back=None)
    await limiter_of(request).enforce(
        "identity-start", ip=client_ip(request), address=delivery.email
    )
    try:
        url, state = await service.start(
            db, runtime.settings, oidc_client(runtime), delivery, provider
        )
    except IdentityRefused as exc:
        return refused(exc, back=f"/r/{token}")
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        BROWSER_COOKIE,
        _browser_mark(runtime.settings.signing_key, state),
        max_age=int(service.REQUEST_LIFETIME.total_seconds()),
        path=service.CALLBACK_PATH,
        httponly=True,
        secure=runtime.settings.base_url.startswith("https://"),
        samesite="lax",  # sent on the provider's redirect back (a top-level GET)
    )
    return response


def _browser_mark(key: bytes, state: str) -> str:
    return hmac_sha256(key, "identity-browser:" + state).hex()


@router.get(service.CALLBACK_PATH)
async def callback(request: Request, db: DbSession) -> Response:
    runtime = _runtime(request)
    query = request.query_params
    state = query.get("state") or ""
    try:
        identity_request = await service.claim_request(db, state)
        # Only the browser that set off may come back: someone else's answer (sent as a link
        # to sign a victim in as the attacker) is refused.
        mark = request.cookies.get(BROWSER_COOKIE, "")
        marks = runtime.settings.signing_keys
        if not made_with_any(marks, lambda key: _browser_mark(key, state), mark):
            raise IdentityRefused("state-other-browser")
    except IdentityRefused as exc:
        return refused(exc, back=None)
    if identity_request.envelope_recipient_id is not None:
        return await _signer_callback(request, db, identity_request)
    delivery = (
        await db.get(Delivery, identity_request.delivery_id)
        if identity_request.delivery_id
        else None
    )
    back = _link(runtime, delivery) if delivery is not None else None
    try:
        outcome = await service.finish(
            db,
            runtime.settings,
            oidc_client(runtime),
            identity_request,
            code=query.get("code"),
            error=query.get("error"),
            actor=_actor(request),
        )
    except IdentityRefused as exc:
        return refused(exc, back=back)
    if not outcome.matched:
        return refused(IdentityRefused("identity-mismatch"), back=back)
    if delivery is not None and await _from_vault(request, db, delivery):
        back = f"/vault/d/{delivery.id}"
    response = RedirectResponse(back or "/vault", status_code=303)
    response.delete_cookie(BROWSER_COOKIE, path=service.CALLBACK_PATH)
    response.delete_cookie(RETURN_COOKIE, path=service.CALLBACK_PATH)
    await sessions.open_session(
        db,
        request,
        response,
        kind="delivery",
        subject=outcome.delivery.id,
        lifetime=DELIVERY_SESSION,
    )
    return response


# ---- the signing page's identification (identity.envelopes) --------------------------------


def _start_response(runtime: Runtime, url: str, state: str) -> Response:
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        BROWSER_COOKIE,
        _browser_mark(runtime.settings.signing_key, state),
        max_age=int(service.REQUEST_LIFETIME.total_seconds()),
        path=service.CALLBACK_PATH,
        httponly=True,
        secure=runtime.settings.base_url.startswith("https://"),
        samesite="lax",
    )
    return response


@router.get("/s/{token}/identify/{provider}")
async def identify_signer(token: str, provider: str, request: Request, db: DbSession) -> Response:
    """Off to the provider, for a signing envelope's recipient asked for identification."""
    runtime = _runtime(request)
    ctx = await signing.recipient_by_token(db, token)
    if ctx is None or not envelopes.required(ctx.recipient):
        return refused(IdentityRefused("state-unknown"), back=None)
    await limiter_of(request).enforce(
        "identity-start", ip=client_ip(request), address=ctx.recipient.email
    )
    try:
        url, state = await envelopes.start(
            db, runtime.settings, oidc_client(runtime), ctx.envelope, ctx.recipient, provider
        )
    except IdentityRefused as exc:
        return refused(exc, back=f"/s/{token}")
    return _start_response(runtime, url, state)


async def _signer_callback(
    request: Request, db: DbSession, identity_request: IdentityRequest
) -> Response:
    runtime = _runtime(request)
    recipient = await db.get(EnvelopeRecipient, identity_request.envelope_recipient_id)
    back = (
        "/s/" + signing_token_of(runtime.settings.signing_keys, recipient)
        if recipient is not None
        else None
    )
    try:
        outcome = await envelopes.finish(
            db,
            runtime.settings,
            oidc_client(runtime),
            identity_request,
            code=request.query_params.get("code"),
            error=request.query_params.get("error"),
            actor=_actor(request),
        )
    except IdentityRefused as exc:
        return refused(exc, back=back)
    if not outcome.matched:
        return refused(IdentityRefused("identity-mismatch"), back=back)
    response = RedirectResponse(back or "/", status_code=303)
    response.delete_cookie(BROWSER_COOKIE, path=service.CALLBACK_PATH)
    await envelopes.open_session(db, request, response, outcome.recipient)
    return response


# ---- the vault's identification ---------------------------------------------------------------


async def _from_vault(request: Request, db: DbSession, delivery: Delivery) -> bool:
    """The sign-in started in the vault of the delivery's address, still open here."""
    if request.cookies.get(RETURN_COOKIE) != delivery.id:
        return False
    return await sessions.current_subject(db, request, "vault") == delivery.email


@router.get("/vault/d/{delivery_id}/identify/{provider}")
async def identify_from_vault(
    delivery_id: str, provider: str, request: Request, db: DbSession
) -> Response:
    """The vault's way to a letter asking for identification: the same sign-in, back to the
    vault afterwards."""
    runtime = _runtime(request)
    email = await sessions.current_subject(db, request, "vault")
    delivery = await db.get(Delivery, delivery_id)
    if email is None or delivery is None or delivery.email != email:
        return RedirectResponse("/vault", status_code=303)
    back = f"/vault/d/{delivery.id}"
    if not delivery.identification:
        return RedirectResponse(back, status_code=303)
    await limiter_of(request).enforce("identity-start", ip=client_ip(request), address=email)
    try:
        url, state = await service.start(
            db, runtime.settings, oidc_client(runtime), delivery, provider
        )
    except IdentityRefused as exc:
        return refused(exc, back=back)
    response = _start_response(runtime, url, state)
    response.set_cookie(
        RETURN_COOKIE,
        delivery.id,
        max_age=int(service.REQUEST_LIFETIME.total_seconds()),
        path=service.CALLBACK_PATH,
        httponly=True,
        secure=runtime.settings.base_url.startswith("https://"),
        samesite="lax",
    )
    return response
