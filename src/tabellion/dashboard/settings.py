"""The dashboard's settings: what an admin manages, and each user's own sessions.

Admins (the ``admin`` scope of their role, as the API asks of a key) manage the organisation's
API keys, client keys (JWT), users, webhook endpoints and customers, and read its seal; every
page and form answers the other roles 403 with the reason, and the navigation shows them no
link. Inputs are read with the API's own schemas and handed to the same domain services as
the API's endpoints; a refused field is shown next to it, nothing half-made. Every user sees
and ends their own browser sessions (``/app/sessions``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Annotated, Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from fastapi import APIRouter, Form, Query, Request
from pydantic import ValidationError
from starlette.responses import RedirectResponse, Response

from tabellion.auth.subjects import SCOPES
from tabellion.dashboard import repository
from tabellion.dashboard.pages import LABELS, SignedIn, _, _not_found, _page, _runtime, env, say
from tabellion.db import DbSession
from tabellion.errors import TabellionError, ValidationFailed
from tabellion.evidence.sealing.keys import load_seal
from tabellion.kit import sessions
from tabellion.kit.ids import possible_id
from tabellion.kit.time import utcnow
from tabellion.kit.web import PageRoute, check_csrf, csrf_token
from tabellion.models.organization import Organization
from tabellion.models.user import User
from tabellion.models.webhook import WebhookEndpoint
from tabellion.organization import accounts, client_keys
from tabellion.organization.schemas import (
    ApiKeyIn,
    ClientKeyIn,
    CustomerIn,
    CustomerState,
    UserIn,
)
from tabellion.organization.service import issue_api_key, revoke_api_key
from tabellion.portal import i18n
from tabellion.webhook import service as webhooks
from tabellion.webhook.delivery import webhook_ledger
from tabellion.webhook.formats import FORMATS, STANDARD
from tabellion.webhook.ledger import FAILING_REASON, GONE_REASON
from tabellion.webhook.schemas import EndpointIn

router = APIRouter(route_class=PageRoute, include_in_schema=False)

SETTINGS_PAGE = "/app/settings"
ROLES = ("viewer", "sender", "admin")
CUSTOMER_STATES: tuple[str, ...] = CustomerState.__args__  # type: ignore[attr-defined]


# What each section needs: the scope the API asks of a key for the same thing (`admin` holds
# them all; with today's roles, only admins have any of them).
SCOPE_OF = {
    "manage users": "users",
    "manage webhooks": "webhooks",
    "manage customers": "customers",
}
# Why another role is refused each section (its role named).
REFUSALS = {
    "manage API keys": _("A %(role)s cannot manage API keys; an admin of the organisation can."),
    "change the organisation's settings": _(
        "A %(role)s cannot change the organisation's settings; an admin of the organisation can."
    ),
    "manage users": _("A %(role)s cannot manage users; an admin of the organisation can."),
    "manage client keys": _(
        "A %(role)s cannot manage client keys; an admin of the organisation can."
    ),
    "manage webhooks": _("A %(role)s cannot manage webhooks; an admin of the organisation can."),
    "manage customers": _("A %(role)s cannot manage customers; an admin of the organisation can."),
    "read the seal's settings": _(
        "A %(role)s cannot read the seal's settings; an admin of the organisation can."
    ),
}


async def _admin(
    request: Request, session: DbSession, user: User, what: str = "manage API keys"
) -> Response | None:
    """None for a user whose role holds the scope the API asks for ``what`` (``admin`` unless
    ``SCOPE_OF`` names another); the refusal page (403) for the others."""
    if accounts.user_subject(user).has_scope(SCOPE_OF.get(what, "admin")):
        return None
    return await _page(
        request,
        session,
        user,
        "dashboard/forbidden.html",
        status_code=403,
        reason=say(
            request, REFUSALS[what], role=say(request, LABELS["role"].get(user.role, user.role))
        ),
    )


def _field_errors(exc: ValidationError, messages: dict[str, str]) -> dict[str, str]:
    """The fields a schema refused, each with the page's message for it (or the schema's)."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "form"
        errors.setdefault(field, messages.get(field, str(error["msg"])))
    return errors


def _problem_errors(exc: TabellionError, fallback: str) -> dict[str, str]:
    """A domain error's fields (``events[2]`` is the field ``events``), or ``fallback``'s."""
    if not exc.errors:
        return {fallback: exc.detail}
    return {e.field.split("[")[0].split(".")[0]: e.message for e in exc.errors}


def _done(request: Request, messages: dict[str, str]) -> str:
    return _say(request, messages.get(request.query_params.get("done", ""), ""))


# The lists some messages name, filled in once the message is translated.
CHOICES = {
    "scopes": ", ".join(SCOPES),
    "roles": ", ".join(ROLES),
    "formats": ", ".join(FORMATS),
}


def _say(request: Request, message: str) -> str:
    """A message shown on a settings page, in its language; a service's is shown as it is."""
    text = say(request, message)
    return text % CHOICES if message in FILLED else text


def _said(request: Request, errors: dict[str, str] | None) -> dict[str, str]:
    return {field: _say(request, message) for field, message in (errors or {}).items()}


@router.get(SETTINGS_PAGE)
async def settings_home(request: Request, session: DbSession, user: SignedIn) -> Response:
    refused = await _admin(request, session, user, "change the organisation's settings")
    return refused or await _page(request, session, user, "dashboard/settings.html")


# ---- settings (admin): API keys --------------------------------------------------------------

KEYS_PAGE = "/app/settings/keys"
KEY_NAME = _("A name of 1 to 255 characters, to recognise the key by.")
SCOPES_AMONG = _("Scopes are among %(scopes)s.")


async def _keys_page(
    request: Request,
    session: DbSession,
    user: User,
    *,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    created: Any = None,
    form: dict[str, Any] | None = None,
    done: str = "",
) -> Response:
    keys = await repository.api_keys(session, user.organization_id)
    return await _page(
        request,
        session,
        user,
        "dashboard/keys.html",
        status_code=status_code,
        keys=keys,
        scopes=SCOPES,
        errors=_said(request, errors),
        created=created,
        form=form or {"name": "", "scopes": [], "expires": ""},
        done=_say(request, done),
        now=utcnow(),
        here=KEYS_PAGE,
    )


@router.get(KEYS_PAGE)
async def api_keys(request: Request, session: DbSession, user: SignedIn) -> Response:
    refused = await _admin(request, session, user)
    if refused is not None:
        return refused
    done = _("The key was revoked.") if request.query_params.get("done") == "revoked" else ""
    return await _keys_page(request, session, user, done=done)


@router.post(KEYS_PAGE)
async def api_key_create(
    request: Request,
    session: DbSession,
    user: SignedIn,
    name: Annotated[str, Form(max_length=1000)] = "",
    scopes: Annotated[list[str] | None, Form(max_length=20)] = None,
    expires: Annotated[str, Form(max_length=40)] = "",
    csrf_token_: Annotated[str | None, Form(alias="csrf_token")] = None,
) -> Response:
    """A new key, shown once on the page this answers (never in a URL, never stored)."""
    check_csrf(request, _runtime(request).settings.signing_keys, csrf_token_)
    refused = await _admin(request, session, user)
    if refused is not None:
        return refused
    chosen = list(dict.fromkeys(scopes or []))
    form = {"name": name, "scopes": chosen, "expires": expires}
    errors: dict[str, str] = {}
    expires_at: datetime | None = None
    if expires:
        try:
            day = date.fromisoformat(expires)
            expires_at = datetime(day.year, day.month, day.day, tzinfo=UTC)
        except ValueError:
            errors["expires"] = say(request, _("A date such as %(example)s."), example="2027-12-31")
    try:
        # The API's own rules for a key (name, scopes, expiry in the future).
        wanted = ApiKeyIn.model_validate(
            {"name": name.strip(), "scopes": chosen, "expires_at": expires_at}
        )
    except ValidationError as exc:
        wrong = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
        messages = {
            "name": KEY_NAME,
            "scopes": SCOPES_AMONG if chosen else _("Choose at least one scope."),
            "expires_at": _("A day after today."),
        }
        errors.update({"expires" if f == "expires_at" else f: messages[f] for f in wrong})
    if errors:
        return await _keys_page(request, session, user, status_code=422, errors=errors, form=form)
    new = await issue_api_key(
        session,
        accounts.user_subject(user),
        name=wanted.name,
        scopes=list(wanted.scopes),
        expires_at=wanted.expires_at,
    )
    return await _keys_page(request, session, user, status_code=201, created=new)


@router.post(KEYS_PAGE + "/{key_id}/revoke")
async def api_key_revoke(
    key_id: str,
    request: Request,
    session: DbSession,
    user: SignedIn,
    csrf_token_: Annotated[str | None, Form(alias="csrf_token")] = None,
) -> Response:
    check_csrf(request, _runtime(request).settings.signing_keys, csrf_token_)
    refused = await _admin(request, session, user)
    if refused is not None:
        return refused
    try:
        await revoke_api_key(session, user.organization_id, key_id)
    except TabellionError:
        return await _not_found(request, session, user, "API key")
    return RedirectResponse(KEYS_PAGE + "?done=revoked", status_code=303)


# ---- settings (admin): users ------------------------------------------------------------------

USERS_PAGE = "/app/settings/users"
USER_DONE = {
    "invited": _("The invitation was sent: the activation link is valid 7 days."),
    "role": _("The role was changed."),
    "deactivated": _("The user was deactivated: they can no longer sign in."),
    "resent": _("A new activation link was sent (the previous one no longer works)."),
}


async def _users_page(
    request: Request,
    session: DbSession,
    user: User,
    *,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    error: str = "",
) -> Response:
    return await _page(
        request,
        session,
        user,
        "dashboard/users.html",
        status_code=status_code,
        users=await repository.users(session, user.organization_id),
        roles=ROLES,
        errors=_said(request, errors),
        form=form or {"email": "", "name": "", "role": "sender"},
        done=_done(request, USER_DONE),
        error=_say(request, error),
        here=USERS_PAGE,
    )


@router.get(USERS_PAGE)
async def users(request: Request, session: DbSession, user: SignedIn) -> Response:
    refused = await _admin(request, session, user, "manage users")
    return refused or await _users_page(request, session, user)


@router.post(USERS_PAGE)
async def user_invite(
    request: Request,
    session: DbSession,
    user: SignedIn,
    email: Annotated[str, Form(max_length=1000)] = "",
    name: Annotated[str, Form(max_length=1000)] = "",
    role: Annotated[str, Form(max_length=32)] = "sender",
    csrf_token_: Annotated[str | None, Form(alias="csrf_token")] = None,
) -> Response:
    """Invite a user: the activation e-mail goes out, as with ``POST /v1/users``."""
    check_csrf(request, _runtime(request).settings.signing_keys, csrf_token_)
    refused = await _admin(request, session, user, "manage users")
    if refused is not None:
        return refused
    form = {"email": email, "name": name, "role": role}
    try:
        wanted = UserIn(email=email.strip(), name=name.strip() or None, role=role)
    except ValidationError as exc:
        errors = {str(e["loc"][0]): _plain_error(e) for e in exc.errors() if e["loc"]}
        return await _users_page(request, session, user, status_code=422, errors=errors, form=form)
    try:
        await accounts.create_user(
            session,
            accounts.user_subject(user),
            email=wanted.email,
            name=wanted.name,
            role=wanted.role,
            signing_key=_runtime(request).settings.signing_key,
        )
    except TabellionError as exc:
        return await _users_page(
            request, session, user, status_code=exc.status, errors={"email": exc.detail}, form=form
        )
    return RedirectResponse(USERS_PAGE + "?done=invited", status_code=303)


def _plain_error(error: Any) -> str:
    field = str(error["loc"][0])
    if field == "email":
        return _("An e-mail address such as ann@example.com.")
    if field == "role":
        return ONE_OF_ROLES
    return _("At most 255 characters, without control characters.")


ONE_OF_ROLES = _("One of %(roles)s.")


async def _user_action(
    request: Request,
    session: DbSession,
    user: User,
    user_id: str,
    csrf_token_: str | None,
    action: Callable[[User], Awaitable[None]],
    done: str,
) -> Response:
    check_csrf(request, _runtime(request).settings.signing_keys, csrf_token_)
    refused = await _admin(request, session, user, "manage users")
    if refused is not None:
        return refused
    if not possible_id(user_id):
        return await _not_found(request, session, user, "user")
    try:
        target = await accounts.get_user(session, user.organization_id, user_id)
    except TabellionError:
        return await _not_found(request, session, user, "user")
    if target.id == user.id:
        return await _users_page(
            request,
            session,
            user,
            status_code=409,
            error=_("You cannot change your own role or deactivate yourself: another admin can."),
        )
    try:
        await action(target)
    except TabellionError as exc:
        return await _users_page(request, session, user, status_code=exc.status, error=exc.detail)
    return RedirectResponse(f"{USERS_PAGE}?done={done}", status_code=303)


@router.post(USERS_PAGE + "/{user_id}/role")
async def user_role(
    user_id: str,
    request: Request,
    session: DbSession,
    user: SignedIn,
    role: Annotated[str, Form(max_length=32)] = "",
    csrf_token_: Annotated[str | None, Form(alias="csrf_token")] = None,
) -> Response:
    async def change(target: User) -> None:
        if role not in ROLES:
            raise ValidationFailed(
                say(request, _("The role is one of %(roles)s."), roles=", ".join(ROLES))
            )
        accounts.change_role(accounts.user_subject(user), target, role)
        target.updated_at = utcnow()

    return await _user_action(request, session, user, user_id, csrf_token_, change, "role")


@router.post(USERS_PAGE + "/{user_id}/deactivate")
async def user_deactivate(
    user_id: str,
    request: Request,
    session: DbSession,
    user: SignedIn,
    csrf_token_: Annotated[str | None, Form(alias="csrf_token")] = None,
) -> Response:
    async def deactivate(target: User) -> None:
        # Their browser sessions end with it: every page checks the user is active.
        await accounts.deactivate_user(session, target)

    return await _user_action(
        request, session, user, user_id, csrf_token_, deactivate, "deactivated"
    )


@router.post(USERS_PAGE + "/{user_id}/resend")
async def user_resend(
    user_id: str,
    request: Request,
    session: DbSession,
    user: SignedIn,
    csrf_token_: Annotated[str | None, Form(alias="csrf_token")] = None,
) -> Response:
    key = _runtime(request).settings.signing_key

    async def resend(target: User) -> None:
        await accounts.resend_activation(session, target, signing_key=key)

    return await _user_action(request, session, user, user_id, csrf_token_, resend, "resent")


# ---- settings (admin): client keys (JWT) -----------------------------------------------------

CLIENT_KEYS_PAGE = "/app/settings/client-keys"
CLIENT_KEY_MESSAGES = {
    "name": KEY_NAME,
    "public_key_pem": _("A PEM public key (-----BEGIN PUBLIC KEY-----), at most 16384 characters."),
    "scopes": _("Choose at least one scope, among %(scopes)s."),
}


async def _client_keys_page(
    request: Request,
    session: DbSession,
    user: User,
    *,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    created: Any = None,
    form: dict[str, Any] | None = None,
) -> Response:
    return await _page(
        request,
        session,
        user,
        "dashboard/client_keys.html",
        status_code=status_code,
        keys=await repository.client_keys(session, user.organization_id),
        algorithms=client_keys.ALGORITHMS,
        scopes=SCOPES,
        errors=_said(request, errors),
        created=created,
        form=form or {"name": "", "public_key_pem": "", "scopes": ["messages:write"]},
        done=_done(request, {"revoked": _("The client key was revoked: its JWTs are refused.")}),
        here=CLIENT_KEYS_PAGE,
    )


@router.get(CLIENT_KEYS_PAGE)
async def client_key_list(request: Request, session: DbSession, user: SignedIn) -> Response:
    refused = await _admin(request, session, user, "manage client keys")
    return refused or await _client_keys_page(request, session, user)


@router.post(CLIENT_KEYS_PAGE)
async def client_key_create(
    request: Request,
    session: DbSession,
    user: SignedIn,
    name: Annotated[str, Form(max_length=1000)] = "",
    public_key_pem: Annotated[str, Form(max_length=20_000)] = "",
    scopes: Annotated[list[str] | None, Form(max_length=20)] = None,
    csrf_token_: Annotated[str | None, Form(alias="csrf_token")] = None,
) -> Response:
    """Register a public key, as ``POST /v1/client-keys``; the page names its issuer."""
    check_csrf(request, _runtime(request).settings.signing_keys, csrf_token_)
    refused = await _admin(request, session, user, "manage client keys")
    if refused is not None:
        return refused
    chosen = list(dict.fromkeys(scopes or []))
    # A private key pasted by mistake is neither stored nor shown back.
    shown_pem = "" if "PRIVATE KEY" in public_key_pem else public_key_pem
    form = {"name": name, "public_key_pem": shown_pem, "scopes": chosen}
    try:
        wanted = ClientKeyIn.model_validate(
            {"name": name.strip(), "public_key_pem": public_key_pem, "scopes": chosen}
        )
        organization = await session.get(Organization, user.organization_id)
        assert organization is not None
        key = await client_keys.create_client_key(
            session,
            organization,
            name=wanted.name,
            public_key_pem=wanted.public_key_pem,
            scopes=list(dict.fromkeys(wanted.scopes)),
        )
    except ValidationError as exc:
        errors = _field_errors(exc, CLIENT_KEY_MESSAGES)
        return await _client_keys_page(
            request, session, user, status_code=422, errors=errors, form=form
        )
    except client_keys.InvalidPublicKey as exc:
        errors = _problem_errors(exc, "public_key_pem")
        return await _client_keys_page(
            request, session, user, status_code=422, errors=errors, form=form
        )
    return await _client_keys_page(request, session, user, status_code=201, created=key)


@router.post(CLIENT_KEYS_PAGE + "/{key_id}/revoke")
async def client_key_revoke(
    key_id: str,
    request: Request,
    session: DbSession,
    user: SignedIn,
    csrf_token_: Annotated[str | None, Form(alias="csrf_token")] = None,
) -> Response:
    check_csrf(request, _runtime(request).settings.signing_keys, csrf_token_)
    refused = await _admin(request, session, user, "manage client keys")
    if refused is not None:
        return refused
    try:
        await client_keys.revoke_client_key(session, user.organization_id, key_id)
    except client_keys.ClientKeyNotFound:
        return await _not_found(request, session, user, "client key")
    return RedirectResponse(CLIENT_KEYS_PAGE + "?done=revoked", status_code=303)


# ---- settings (admin): webhook endpoints, their attempts, test pings and redelivery ---------

WEBHOOKS_PAGE = "/app/settings/webhooks"
ATTEMPTS_PER_PAGE = 50
WEBHOOK_MESSAGES = {
    "url": _("An http(s) URL of 8 to 2048 characters, such as https://crm.example/hooks."),
    "events": _("Choose at least one event, or every event (*)."),
    "format": _("One of %(formats)s."),
    "description": _("At most 500 characters."),
}
WEBHOOK_DONE = {
    "test": _(
        "A webhook.test ping is on its way; its attempt appears below once sent (reload the page)."
    ),
    "redelivered": _(
        "The event will be sent again (same webhook-id); its attempt appears below once sent."
    ),
    "disabled": _("The endpoint is disabled: events are still recorded, not sent."),
    "enabled": _("The endpoint is enabled again."),
}


# Why an endpoint was disabled, as the webhook domain records it, in the page's language.
DISABLED_REASONS = {
    GONE_REASON: _("The endpoint answered 410 Gone."),
    FAILING_REASON: _("Every attempt failed for three days."),
    "disabled through the API": _("disabled through the API"),
    "disabled in the dashboard": _("disabled in the dashboard"),
}


def _ledger_forget(request: Request, endpoint_id: str) -> None:
    """Sends from this process read the endpoint afresh (as the API's changes do)."""
    webhook_ledger(_runtime(request)).forget(endpoint_id)


async def _webhooks_page(
    request: Request,
    session: DbSession,
    user: User,
    *,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    created: Any = None,
    form: dict[str, Any] | None = None,
) -> Response:
    return await _page(
        request,
        session,
        user,
        "dashboard/webhooks.html",
        status_code=status_code,
        endpoints=await repository.webhook_endpoints(session, user.organization_id),
        event_types=webhooks.EVENT_TYPES,
        formats=FORMATS,
        errors=_said(request, errors),
        created=created,
        form=form or {"url": "", "events": ["*"], "format": STANDARD, "description": ""},
        done=_done(request, {"deleted": _("The endpoint was deleted.")}),
        here=WEBHOOKS_PAGE,
    )


@router.get(WEBHOOKS_PAGE)
async def webhook_list(request: Request, session: DbSession, user: SignedIn) -> Response:
    refused = await _admin(request, session, user, "manage webhooks")
    return refused or await _webhooks_page(request, session, user)


@router.post(WEBHOOKS_PAGE)
async def webhook_create(
    request: Request,
    session: DbSession,
    user: SignedIn,
    url: Annotated[str, Form(max_length=4096)] = "",
    events: Annotated[list[str] | None, Form(max_length=100)] = None,
    format_: Annotated[str, Form(alias="format", max_length=32)] = STANDARD,
    description: Annotated[str, Form(max_length=1000)] = "",
    csrf_token_: Annotated[str | None, Form(alias="csrf_token")] = None,
) -> Response:
    """Register an endpoint, as ``POST /v1/webhook-endpoints``: its secret is on the page this
    answers, once (never in a URL; stored encrypted)."""
    settings = _runtime(request).settings
    check_csrf(request, settings.signing_keys, csrf_token_)
    refused = await _admin(request, session, user, "manage webhooks")
    if refused is not None:
        return refused
    chosen = list(dict.fromkeys(events or []))
    form = {"url": url, "events": chosen, "format": format_, "description": description}
    try:
        wanted = EndpointIn.model_validate(
            {
                "url": url.strip(),
                "events": chosen,
                "format": format_,
                "description": description.strip() or None,
            }
        )
    except ValidationError as exc:
        errors = _field_errors(exc, WEBHOOK_MESSAGES)
        return await _webhooks_page(
            request, session, user, status_code=422, errors=errors, form=form
        )
    try:
        await webhooks.check_destination(wanted.url, settings.allowed_webhook_hosts)
        endpoint, secret = await webhooks.create_endpoint(
            session,
            user.organization_id,
            url=wanted.url,
            events=wanted.events,
            description=wanted.description,
            signing_key=settings.signing_key,
            format_=wanted.format,
        )
    except ValidationFailed as exc:
        errors = _problem_errors(exc, "url")
        return await _webhooks_page(
            request, session, user, status_code=422, errors=errors, form=form
        )
    return await _webhooks_page(
        request, session, user, status_code=201, created={"endpoint": endpoint, "secret": secret}
    )


async def _endpoint(session: DbSession, user: User, endpoint_id: str) -> WebhookEndpoint | None:
    if not possible_id(endpoint_id):
        return None
    try:
        return await webhooks.get_endpoint(session, user.organization_id, endpoint_id)
    except webhooks.WebhookEndpointNotFound:
        return None


async def _endpoint_page(
    request: Request,
    session: DbSession,
    user: User,
    endpoint: WebhookEndpoint,
    *,
    status_code: int = 200,
    before: int | None = None,
    error: str = "",
) -> Response:
    rows = await webhooks.list_attempts(
        session, endpoint, limit=ATTEMPTS_PER_PAGE + 1, before=before
    )
    more = len(rows) > ATTEMPTS_PER_PAGE
    reason = endpoint.disabled_reason or ""
    return await _page(
        request,
        session,
        user,
        "dashboard/webhook.html",
        status_code=status_code,
        endpoint=endpoint,
        attempts=rows[:ATTEMPTS_PER_PAGE],
        older=rows[ATTEMPTS_PER_PAGE - 1].id if more else None,
        done=_done(request, WEBHOOK_DONE),
        error=_say(request, error),
        here=f"{WEBHOOKS_PAGE}/{endpoint.id}",
        disabled_reason=say(request, DISABLED_REASONS.get(reason, reason)) if reason else "",
    )


@router.get(WEBHOOKS_PAGE + "/{endpoint_id}")
async def webhook_detail(
    endpoint_id: str,
    request: Request,
    session: DbSession,
    user: SignedIn,
    before: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    refused = await _admin(request, session, user, "manage webhooks")
    if refused is not None:
        return refused
    endpoint = await _endpoint(session, user, endpoint_id)
    if endpoint is None:
        return await _not_found(request, session, user, "webhook endpoint")
    if before and not (before.isdigit() and 0 < int(before) < 2**63):
        return await _endpoint_page(
            request,
            session,
            user,
            endpoint,
            status_code=422,
            error=_("This page link is not valid; start from the newest attempts."),
        )
    return await _endpoint_page(
        request, session, user, endpoint, before=int(before) if before else None
    )


async def _endpoint_action(
    request: Request,
    session: DbSession,
    user: User,
    endpoint_id: str,
    csrf_token_: str | None,
    action: Callable[[WebhookEndpoint], Awaitable[str]],
) -> Response:
    """Check the form and the role, find the endpoint, run ``action`` (which names what it
    did), and lead back to the endpoint's page saying so; a refusal is that page with it."""
    check_csrf(request, _runtime(request).settings.signing_keys, csrf_token_)
    refused = await _admin(request, session, user, "manage webhooks")
    if refused is not None:
        return refused
    endpoint = await _endpoint(session, user, endpoint_id)
    if endpoint is None:
        return await _not_found(request, session, user, "webhook endpoint")
    try:
        done = await action(endpoint)
    except TabellionError as exc:
        return await _endpoint_page(
            request, session, user, endpoint, status_code=exc.status, error=exc.detail
        )
    if done == "deleted":
        return RedirectResponse(f"{WEBHOOKS_PAGE}?done=deleted", status_code=303)
    return RedirectResponse(f"{WEBHOOKS_PAGE}/{endpoint.id}?done={done}", status_code=303)


@router.post(WEBHOOKS_PAGE + "/{endpoint_id}/test")
async def webhook_test(
    endpoint_id: str,
    request: Request,
    session: DbSession,
    user: SignedIn,
    csrf_token_: Annotated[str | None, Form(alias="csrf_token")] = None,
) -> Response:
    """A ``webhook.test`` ping, as ``POST /v1/webhook-endpoints/{id}/test``."""

    async def ping(endpoint: WebhookEndpoint) -> str:
        if not endpoint.enabled:
            raise webhooks.WebhookEndpointDisabled(
                _("The endpoint is disabled: enable it, then send a test.")
            )
        await webhooks.send_test(session, endpoint)
        return "test"

    return await _endpoint_action(request, session, user, endpoint_id, csrf_token_, ping)


@router.post(WEBHOOKS_PAGE + "/{endpoint_id}/attempts/{attempt_id}/redeliver")
async def webhook_redeliver(
    endpoint_id: str,
    attempt_id: str,
    request: Request,
    session: DbSession,
    user: SignedIn,
    csrf_token_: Annotated[str | None, Form(alias="csrf_token")] = None,
) -> Response:
    """The attempt's event sent again to this endpoint, as ``POST /v1/events/{id}/redeliver
    ?endpoint_id=``."""

    async def again(endpoint: WebhookEndpoint) -> str:
        attempt = (
            await webhooks.get_attempt(session, endpoint, int(attempt_id))
            if attempt_id.isdigit() and int(attempt_id) < 2**63
            else None
        )
        if attempt is None:
            raise webhooks.EventNotFound(
                say(request, _("No attempt %(id)s to this endpoint."), id=attempt_id)
            )
        await webhooks.redeliver(
            session, user.organization_id, attempt.event_id, endpoint_id=endpoint.id
        )
        return "redelivered"

    return await _endpoint_action(request, session, user, endpoint_id, csrf_token_, again)


@router.post(WEBHOOKS_PAGE + "/{endpoint_id}/{action}")
async def webhook_state(
    endpoint_id: str,
    action: str,
    request: Request,
    session: DbSession,
    user: SignedIn,
    csrf_token_: Annotated[str | None, Form(alias="csrf_token")] = None,
) -> Response:
    """Disable, enable (as the API's ``.../disable``, ``.../enable``) or delete an endpoint."""
    if action not in ("disable", "enable", "delete"):
        return await _not_found(request, session, user, "action")

    async def change(endpoint: WebhookEndpoint) -> str:
        if action == "delete":
            await session.delete(endpoint)
            await session.flush()
            _ledger_forget(request, endpoint.id)
            return "deleted"
        webhooks.set_enabled(endpoint, action == "enable", reason="disabled in the dashboard")
        await session.flush()
        _ledger_forget(request, endpoint.id)
        return f"{action}d"

    return await _endpoint_action(request, session, user, endpoint_id, csrf_token_, change)


# ---- settings (admin): customers and their delegation state ---------------------------------

CUSTOMERS_PAGE = "/app/settings/customers"
CUSTOMER_MESSAGES = {
    "name": _("A name of 1 to 255 characters, without control characters."),
    "email": _("An e-mail address such as contact@customer.example."),
}
CUSTOMER_DONE = {
    "registered": _(
        "The customer was registered: its contact is asked by e-mail to accept being managed "
        "(PENDING until they answer)."
    ),
    "cancelled": _("You no longer manage this customer (CANCELLED)."),
}


async def _customers_page(
    request: Request,
    session: DbSession,
    user: User,
    *,
    status_code: int = 200,
    state: str = "",
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    error: str = "",
) -> Response:
    known = state in CUSTOMER_STATES
    customers = await accounts.list_customers(
        session, user.organization_id, state=state if known else None
    )
    return await _page(
        request,
        session,
        user,
        "dashboard/customers.html",
        status_code=status_code,
        customers=customers,
        states=CUSTOMER_STATES,
        state=state if known else "",
        errors=_said(request, errors),
        form=form or {"name": "", "email": "", "is_paying": False, "will_send_registered": False},
        done=_done(request, CUSTOMER_DONE),
        error=_say(request, error),
        here=CUSTOMERS_PAGE,
    )


@router.get(CUSTOMERS_PAGE)
async def customer_list(
    request: Request,
    session: DbSession,
    user: SignedIn,
    state: Annotated[str, Query(max_length=16)] = "",
) -> Response:
    refused = await _admin(request, session, user, "manage customers")
    if refused is not None:
        return refused
    if state and state not in CUSTOMER_STATES:
        return await _customers_page(
            request,
            session,
            user,
            status_code=422,
            errors={
                "state": say(
                    request,
                    _("Unknown state; one of %(choices)s."),
                    choices=", ".join(CUSTOMER_STATES),
                )
            },
        )
    return await _customers_page(request, session, user, state=state)


@router.post(CUSTOMERS_PAGE)
async def customer_create(
    request: Request,
    session: DbSession,
    user: SignedIn,
    name: Annotated[str, Form(max_length=1000)] = "",
    email: Annotated[str, Form(max_length=1000)] = "",
    is_paying: Annotated[str, Form(max_length=8)] = "",
    will_send_registered: Annotated[str, Form(max_length=8)] = "",
    csrf_token_: Annotated[str | None, Form(alias="csrf_token")] = None,
) -> Response:
    """Register a customer, as ``POST /v1/customers``: its contact gets the consent e-mail."""
    settings = _runtime(request).settings
    check_csrf(request, settings.signing_keys, csrf_token_)
    refused = await _admin(request, session, user, "manage customers")
    if refused is not None:
        return refused
    form = {
        "name": name,
        "email": email,
        "is_paying": bool(is_paying),
        "will_send_registered": bool(will_send_registered),
    }
    try:
        wanted = CustomerIn.model_validate({**form, "name": name.strip(), "email": email.strip()})
    except ValidationError as exc:
        errors = _field_errors(exc, CUSTOMER_MESSAGES)
        return await _customers_page(
            request, session, user, status_code=422, errors=errors, form=form
        )
    await accounts.create_customers(
        session,
        accounts.user_subject(user),
        [wanted.model_dump()],
        signing_key=settings.signing_key,
        timezone=settings.timezone,
    )
    return RedirectResponse(CUSTOMERS_PAGE + "?done=registered", status_code=303)


@router.post(CUSTOMERS_PAGE + "/{customer_id}/cancel")
async def customer_cancel(
    customer_id: str,
    request: Request,
    session: DbSession,
    user: SignedIn,
    csrf_token_: Annotated[str | None, Form(alias="csrf_token")] = None,
) -> Response:
    """Stop managing a customer, as ``POST /v1/customers/{id}/cancel``."""
    check_csrf(request, _runtime(request).settings.signing_keys, csrf_token_)
    refused = await _admin(request, session, user, "manage customers")
    if refused is not None:
        return refused
    try:
        customer = await accounts.get_customer(session, user.organization_id, customer_id)
    except accounts.CustomerNotFound:
        return await _not_found(request, session, user, "customer")
    try:
        await accounts.move_customer(session, customer, "CANCELLED", actor="reseller")
    except accounts.CustomerStateConflict:
        return await _customers_page(
            request,
            session,
            user,
            status_code=409,
            error=say(
                request,
                _("%(name)s is %(state)s: only a PENDING or ACCEPTED customer can be cancelled."),
                name=customer.name,
                state=customer.customer_state,
            ),
        )
    return RedirectResponse(CUSTOMERS_PAGE + "?done=cancelled", status_code=303)


# ---- settings (admin): the seal that signs the organisation's proofs, read-only -------------

SEAL_PAGE = "/app/settings/seal"


def _name(name: x509.Name) -> str:
    return name.rfc4514_string()


def _certificate(certificate: x509.Certificate) -> dict[str, Any]:
    der = certificate.public_bytes(serialization.Encoding.DER)
    digest = hashlib.sha256(der).hexdigest().upper()
    return {
        "subject": _name(certificate.subject),
        "issuer": _name(certificate.issuer),
        "serial": format(certificate.serial_number, "X"),
        "not_before": certificate.not_valid_before_utc,
        "not_after": certificate.not_valid_after_utc,
        "fingerprint": ":".join(digest[i : i + 2] for i in range(0, len(digest), 2)),
    }


@router.get(SEAL_PAGE)
async def seal(request: Request, session: DbSession, user: SignedIn) -> Response:
    refused = await _admin(request, session, user, "read the seal's settings")
    if refused is not None:
        return refused
    settings = _runtime(request).settings
    current = load_seal(settings)
    now = datetime.now(UTC)
    certificate = _certificate(current.certificate)
    return await _page(
        request,
        session,
        user,
        "dashboard/seal.html",
        certificate=certificate,
        root=_certificate(current.root) if len(current.chain) > 1 else None,
        algorithm=current.algorithm,
        self_issued=current.self_issued,
        valid=certificate["not_before"] <= now < certificate["not_after"],
        verify_url=settings.base_url.rstrip("/") + "/verify",
    )


@router.get(SEAL_PAGE + "/chain.pem")
async def seal_chain(request: Request, session: DbSession, user: SignedIn) -> Response:
    """The seal's certificate chain (leaf first), for ``tabellion verify --trust``."""
    refused = await _admin(request, session, user, "read the seal's settings")
    if refused is not None:
        return refused
    return Response(
        load_seal(_runtime(request).settings).chain_pem(),
        media_type="application/x-pem-file",
        headers={"Content-Disposition": 'attachment; filename="tabellion-seal-chain.pem"'},
    )


# ---- every user's own browser sessions: see them, end one, end them all ---------------------
# In the visitor's language, as the authenticator page. Ending a session signs that browser
# out at its next page (every page reads the session row).

SESSIONS_PAGE = "/app/sessions"
SESSION_DONE = {
    "ended": _("That session was ended: its browser is signed out."),
    "others": _("Every other session was ended."),
}


@router.get(SESSIONS_PAGE)
async def my_sessions(request: Request, session: DbSession, user: SignedIn) -> Response:
    organization = await session.get(Organization, user.organization_id)
    keys = _runtime(request).settings.signing_keys
    current = await sessions.current_session(session, request, "user")
    return i18n.page(
        env,
        request,
        "dashboard/sessions.html",
        language=i18n.request_language(request),
        csrf=csrf_token(request, keys[0]),
        timezone=organization.timezone if organization else "Europe/Paris",
        user=user,
        organization=organization,
        section="sessions",
        labels=LABELS,
        rows=await sessions.sessions_of(session, "user", user.id),
        current_id=current.id if current else None,
        done=_done(request, SESSION_DONE),
    )


@router.post(SESSIONS_PAGE + "/others/end")
async def end_other_sessions(
    request: Request,
    session: DbSession,
    user: SignedIn,
    csrf_token_: Annotated[str | None, Form(alias="csrf_token")] = None,
) -> Response:
    check_csrf(request, _runtime(request).settings.signing_keys, csrf_token_)
    current = await sessions.current_session(session, request, "user")
    await sessions.end_sessions(session, "user", user.id, keep=current.id if current else None)
    return RedirectResponse(SESSIONS_PAGE + "?done=others", status_code=303)


@router.post(SESSIONS_PAGE + "/all/end")
async def end_all_sessions(
    request: Request,
    session: DbSession,
    user: SignedIn,
    csrf_token_: Annotated[str | None, Form(alias="csrf_token")] = None,
) -> Response:
    """Sign out everywhere, this browser included."""
    check_csrf(request, _runtime(request).settings.signing_keys, csrf_token_)
    await sessions.end_sessions(session, "user", user.id)
    response = RedirectResponse("/account/sign-in", status_code=303)
    await sessions.close_session(session, request, response, kind="user")
    return response


@router.post(SESSIONS_PAGE + "/{session_id}/end")
async def end_one_session(
    session_id: str,
    request: Request,
    session: DbSession,
    user: SignedIn,
    csrf_token_: Annotated[str | None, Form(alias="csrf_token")] = None,
) -> Response:
    check_csrf(request, _runtime(request).settings.signing_keys, csrf_token_)
    current = await sessions.current_session(session, request, "user")
    # Only the user's own: another's id ends nothing, and says so as an unknown one would.
    ended = (
        await sessions.end_sessions(session, "user", user.id, session_id=session_id)
        if possible_id(session_id)
        else 0
    )
    if not ended:
        return await _not_found(request, session, user, "session")
    if current is not None and current.id == session_id:  # this browser's own
        response = RedirectResponse("/account/sign-in", status_code=303)
        await sessions.close_session(session, request, response, kind="user")
        return response
    return RedirectResponse(SESSIONS_PAGE + "?done=ended", status_code=303)


# Messages that name a list (``CHOICES``), filled in once translated.
FILLED = frozenset(
    {SCOPES_AMONG, ONE_OF_ROLES, CLIENT_KEY_MESSAGES["scopes"], WEBHOOK_MESSAGES["format"]}
)
