"""Pages of the accounts domain: a new user's activation, a customer's consent."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from sqlalchemy import select
from starlette.responses import RedirectResponse, Response, StreamingResponse

from tabellion.db import DbSession, SessionRoute
from tabellion.kit import sessions
from tabellion.kit.ids import possible_id
from tabellion.kit.ratelimit import client_ip, limiter_of, rate_limited
from tabellion.kit.web import PageRoute, check_csrf, csrf_token, page_environment, render
from tabellion.message.repository import readable_messages
from tabellion.message.rules import normalize_email
from tabellion.models.message import Message
from tabellion.models.organization import Organization
from tabellion.models.user import User
from tabellion.organization import accounts, branding, totp
from tabellion.portal import i18n
from tabellion.portal.i18n import human_time
from tabellion.runtime import Runtime

router = APIRouter(route_class=PageRoute, include_in_schema=False)
env = page_environment("tabellion.organization")


def _key(request: Request) -> bytes:
    runtime: Runtime = request.app.state.runtime
    return runtime.settings.signing_key


def _keys(request: Request) -> tuple[bytes, ...]:
    """The secret key, then the earlier ones still accepted: what checks forms and links."""
    runtime: Runtime = request.app.state.runtime
    return runtime.settings.signing_keys


def _invalid_link(request: Request) -> Response:
    # Unknown, expired and used links get the same page: a link reveals nothing.
    return render(env, "pages/link_invalid.html", status_code=410)


@router.get("/account/activate/{token}")
async def activation_form(token: str, request: Request, session: DbSession) -> Response:
    user = await accounts.user_for_activation(session, token)
    if user is None:
        return _invalid_link(request)
    return render(
        env, "pages/activate.html", user=user, error=None, csrf=csrf_token(request, _key(request))
    )


@router.post("/account/activate/{token}", dependencies=[Depends(rate_limited("activation"))])
async def activate(
    token: str,
    request: Request,
    session: DbSession,
    password: Annotated[str, Form(max_length=1024)] = "",
    confirm: Annotated[str, Form(max_length=1024)] = "",
    csrf_token_: Annotated[str | None, Form(alias="csrf_token")] = None,
) -> Response:
    check_csrf(request, _keys(request), csrf_token_)
    user = await accounts.user_for_activation(session, token)
    if user is None:
        return _invalid_link(request)
    problem = accounts.check_password(password, confirm)
    if problem:
        return render(
            env,
            "pages/activate.html",
            status_code=422,
            user=user,
            error=problem,
            csrf=csrf_token(request, _key(request)),
        )
    try:
        await accounts.activate(session, user, password)
    except accounts.UserNotActivatable:
        return _invalid_link(request)  # a concurrent submission of the link went first
    return render(env, "pages/activated.html", user=user)


async def _consent_context(
    session: DbSession, token: str
) -> tuple[Organization, Organization] | None:
    customer = await accounts.customer_for_consent(session, token)
    if customer is None or customer.reseller_id is None:
        return None
    reseller = await session.get(Organization, customer.reseller_id)
    return (customer, reseller) if reseller is not None else None


@router.get("/customers/consent/{token}")
async def consent_page(token: str, request: Request, session: DbSession) -> Response:
    found = await _consent_context(session, token)
    if found is None:
        return _invalid_link(request)
    customer, reseller = found
    return render(
        env,
        "pages/consent.html",
        customer=customer,
        reseller=reseller,
        done=None,
        csrf=csrf_token(request, _key(request)),
    )


_ACTIONS = {"accept": "ACCEPTED", "refuse": "REFUSED", "revoke": "REVOKED"}


@router.post("/customers/consent/{token}")
async def consent_answer(
    token: str,
    request: Request,
    session: DbSession,
    action: Annotated[str, Form(max_length=16)] = "",
    csrf_token_: Annotated[str | None, Form(alias="csrf_token")] = None,
) -> Response:
    check_csrf(request, _keys(request), csrf_token_)
    found = await _consent_context(session, token)
    if found is None or action not in _ACTIONS:
        return _invalid_link(request)
    customer, reseller = found
    try:
        await accounts.move_customer(session, customer, _ACTIONS[action], actor="customer")
    except accounts.CustomerStateConflict:
        return render(
            env,
            "pages/consent.html",
            status_code=409,
            customer=customer,
            reseller=reseller,
            done="conflict",
            csrf=csrf_token(request, _key(request)),
        )
    return render(
        env,
        "pages/consent.html",
        customer=customer,
        reseller=reseller,
        done=action,
        csrf=csrf_token(request, _key(request)),
    )


# ---- a user's sign-in -----------------------------------------------------------------------

USER_SESSION = timedelta(hours=8)


@router.get("/account/sign-in")
async def sign_in_form(request: Request) -> Response:
    return render(
        env, "pages/sign_in.html", error=None, email="", csrf=csrf_token(request, _key(request))
    )


@router.post("/account/sign-in")
async def sign_in(
    request: Request,
    session: DbSession,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token_: Annotated[str | None, Form(alias="csrf_token")] = None,
) -> Response:
    check_csrf(request, _keys(request), csrf_token_)
    # Wrong passwords are counted, per client and per address; a right one is never refused
    # for others' mistakes unless the address itself is under attack.
    limiter, ip = limiter_of(request), client_ip(request)
    await limiter.enforce("sign-in", ip=ip, address=email, count=False)
    candidates = await accounts.active_users_at(session, email)
    user = accounts.user_signing_in(candidates, password)
    if user is None:
        await limiter.record("sign-in", ip=ip, address=email)
        # One message for unknown address and wrong password: nothing to probe.
        return render(
            env,
            "pages/sign_in.html",
            status_code=401,
            email=email,
            error="The address or the password is not right.",
            csrf=csrf_token(request, _key(request)),
        )
    if totp.enrolled(user):
        # The password was right; the session opens only with the authenticator's code.
        response = RedirectResponse(CODE_PAGE, status_code=303)
        await sessions.open_session(
            session, request, response, kind=PENDING, subject=user.id, lifetime=PENDING_TIME
        )
        return response
    response = RedirectResponse("/account", status_code=303)
    await sessions.open_session(
        session, request, response, kind="user", subject=user.id, lifetime=USER_SESSION
    )
    return response


# ---- the second factor: a code from the authenticator app of a user who set one up ---------
# In the visitor's language. The password step opened a short "pending" session (its own
# cookie); only a right code turns it into the user's session. Wrong codes are throttled
# per client and per user (``sign-in-code``), fewer than passwords.

CODE_PAGE = "/account/sign-in/code"
PENDING = "user-totp"
PENDING_TIME = timedelta(minutes=5)


async def _pending_user(session: DbSession, request: Request) -> User | None:
    """The user whose password was right in this browser, if they still need a code."""
    user_id = await sessions.current_subject(session, request, PENDING)
    user = await session.get(User, user_id) if user_id else None
    if user is None or user.status != "active" or not totp.enrolled(user):
        return None
    return user


def _code_page(request: Request, *, status_code: int = 200, error: str | None = None) -> Response:
    return i18n.page(
        env,
        request,
        "pages/sign_in_code.html",
        language=i18n.request_language(request),
        csrf=csrf_token(request, _key(request)),
        status_code=status_code,
        error=error,
    )


@router.get(CODE_PAGE)
async def sign_in_code_form(request: Request, session: DbSession) -> Response:
    if await _pending_user(session, request) is None:
        return RedirectResponse("/account/sign-in", status_code=303)
    return _code_page(request)


@router.post(CODE_PAGE)
async def sign_in_code(
    request: Request,
    session: DbSession,
    code: Annotated[str, Form(max_length=16)] = "",
    csrf_token_: Annotated[str | None, Form(alias="csrf_token")] = None,
) -> Response:
    check_csrf(request, _keys(request), csrf_token_)
    user = await _pending_user(session, request)
    if user is None:  # no password step in this browser, or it is over 5 minutes old
        return RedirectResponse("/account/sign-in", status_code=303)
    limiter, ip = limiter_of(request), client_ip(request)
    await limiter.enforce("sign-in-code", ip=ip, address=user.email, count=False)
    if not totp.accept(user, code.replace(" ", ""), _keys(request)):
        await limiter.record("sign-in-code", ip=ip, address=user.email)
        return _code_page(request, status_code=401, error="That code is not right.")
    response = RedirectResponse("/account", status_code=303)
    await sessions.close_session(session, request, response, kind=PENDING)
    await sessions.open_session(
        session, request, response, kind="user", subject=user.id, lifetime=USER_SESSION
    )
    return response


@router.get("/account")
async def account(request: Request, session: DbSession) -> Response:
    user_id = await sessions.current_subject(session, request, "user")
    user = await session.get(User, user_id) if user_id else None
    if user is None or user.status != "active":
        return RedirectResponse("/account/sign-in", status_code=303)
    organization = await session.get(Organization, user.organization_id)
    recent = (
        await session.scalars(
            select(Message)
            .where(readable_messages(user.organization_id))
            .order_by(Message.id.desc())
            .limit(20)
        )
    ).all()
    return render(
        env,
        "pages/account.html",
        user=user,
        organization=organization,
        messages=recent,
        when=lambda value: human_time(
            value, "en", organization.timezone if organization else "Europe/Paris"
        ),
        csrf=csrf_token(request, _key(request)),
    )


@router.post("/account/sign-out")
async def sign_out(
    request: Request,
    session: DbSession,
    csrf_token_: Annotated[str | None, Form(alias="csrf_token")] = None,
) -> Response:
    check_csrf(request, _keys(request), csrf_token_)
    response = RedirectResponse("/account/sign-in", status_code=303)
    await sessions.close_session(session, request, response, kind="user")
    return response


# ---- a forgotten password -------------------------------------------------------------------
# Pages in the visitor's language. The answer to a request is the same whether or not the
# address is a user's (docs/accounts.md); both throttles count every request.


def _reset_page(request: Request, template: str, *, status_code: int = 200, **ctx: Any) -> Response:
    return i18n.page(
        env,
        request,
        template,
        language=i18n.request_language(request),
        csrf=csrf_token(request, _key(request)),
        status_code=status_code,
        **ctx,
    )


def _reset_link_invalid(request: Request) -> Response:
    return _reset_page(request, "pages/password_reset_invalid.html", status_code=410)


@router.get("/account/password-reset")
async def password_reset_form(request: Request) -> Response:
    return _reset_page(request, "pages/password_reset.html", sent=False, error=None, email="")


@router.post("/account/password-reset")
async def password_reset_request(
    request: Request,
    session: DbSession,
    email: Annotated[str, Form(max_length=320)] = "",
    csrf_token_: Annotated[str | None, Form(alias="csrf_token")] = None,
) -> Response:
    check_csrf(request, _keys(request), csrf_token_)
    language = i18n.request_language(request)
    try:
        address = normalize_email(email.strip())
    except ValueError:
        _ = i18n.translations(language).gettext
        return _reset_page(
            request,
            "pages/password_reset.html",
            status_code=422,
            sent=False,
            email=email,
            error=_("Enter an e-mail address, such as name@example.com."),
        )
    limiter = limiter_of(request)
    await limiter.enforce("password-reset", ip=client_ip(request), address=address)
    await accounts.request_password_reset(
        session, address, signing_key=_key(request), language=language
    )
    return _reset_page(request, "pages/password_reset.html", sent=True, error=None, email="")


@router.get("/account/password-reset/{token}")
async def new_password_form(token: str, request: Request, session: DbSession) -> Response:
    found = await accounts.reset_request_for(session, token)
    if found is None:
        return _reset_link_invalid(request)
    return _reset_page(
        request, "pages/password_reset_form.html", user=found[1], done=False, error=None
    )


@router.post("/account/password-reset/{token}")
async def new_password(
    token: str,
    request: Request,
    session: DbSession,
    password: Annotated[str, Form(max_length=1024)] = "",
    confirm: Annotated[str, Form(max_length=1024)] = "",
    csrf_token_: Annotated[str | None, Form(alias="csrf_token")] = None,
) -> Response:
    check_csrf(request, _keys(request), csrf_token_)
    found = await accounts.reset_request_for(session, token)
    if found is None:
        return _reset_link_invalid(request)
    reset, user = found
    problem = accounts.check_password(password, confirm)
    if problem:
        _ = i18n.translations(i18n.request_language(request)).gettext
        return _reset_page(
            request,
            "pages/password_reset_form.html",
            status_code=422,
            user=user,
            done=False,
            error=_(problem),
        )
    try:
        await accounts.reset_password(session, reset, user, password)
    except accounts.ResetLinkUsed:
        return _reset_link_invalid(request)  # a concurrent submission of the link went first
    return _reset_page(request, "pages/password_reset_form.html", user=user, done=True, error=None)


# ---- the organisation's brand: public, cached for ever (their URLs name their content) ------

IMMUTABLE = "public, max-age=31536000, immutable"
# Not a PageRoute: its headers say "no-store", and these are made to be cached.
brand_router = APIRouter(route_class=SessionRoute, include_in_schema=False)
_HEX = frozenset("0123456789abcdef")


def _not_found() -> Response:
    return Response("Not found", status_code=404, media_type="text/plain")


@brand_router.get(f"{branding.BRAND_PATH}/colors/{{name}}")
async def brand_color_css(name: str) -> Response:
    """``:root`` variables of a brand colour (the pages' CSP forbids inline styles)."""
    color = name.removesuffix(".css").lower()
    if not name.endswith(".css") or len(color) != 6 or not set(color) <= _HEX:
        return _not_found()
    return Response(
        branding.palette("#" + color).css(),
        media_type="text/css",
        headers={"Cache-Control": IMMUTABLE},
    )


@brand_router.get(f"{branding.BRAND_PATH}/{{organization_id}}/logo/{{name}}")
async def brand_logo(
    organization_id: str, name: str, request: Request, session: DbSession
) -> Response:
    org = await session.get(Organization, organization_id) if possible_id(organization_id) else None
    if org is None or branding.logo_path(org) != request.url.path:
        return _not_found()  # no such organisation, no logo, or a logo since replaced
    assert org.logo_key is not None and org.logo_content_type is not None
    runtime: Runtime = request.app.state.runtime
    return StreamingResponse(
        runtime.storage.open(org.logo_key),
        media_type=org.logo_content_type,
        headers={"Cache-Control": IMMUTABLE, "X-Content-Type-Options": "nosniff"},
    )
