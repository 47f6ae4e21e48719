"""The sender dashboard's pages: home, letters, a letter with its deliveries and proofs.

Signed-in users of an organisation (the account session of ``/account/sign-in``). Every role
reads (``viewer``, ``sender``, ``admin``); the role is shown, and the sending and admin pages
of later layers check it. Server-rendered with the pages' CSP (no inline script); the one
form (sign-out) carries a CSRF token. A visitor without a session is sent to the sign-in.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

import segno
from fastapi import APIRouter, Depends, Form, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import RedirectResponse, Response, StreamingResponse

from tabellion.dashboard import repository
from tabellion.db import DbSession, end_read_phase
from tabellion.document.sniff import content_disposition
from tabellion.envelope import repository as envelopes
from tabellion.envelope import service as envelope_service
from tabellion.errors import Forbidden, TabellionError
from tabellion.evidence.endpoints import PROOF_MEDIA_TYPE, pdf_response
from tabellion.evidence.proofs import proof_document, sealed
from tabellion.evidence.rendering import bundle
from tabellion.evidence.transparency import log
from tabellion.kit import sessions
from tabellion.kit.ids import possible_id
from tabellion.kit.time import utcnow
from tabellion.kit.web import (
    PageRoute,
    SeeOther,
    check_csrf,
    csrf_token,
    page_environment,
)
from tabellion.message import repository as messages
from tabellion.models.envelope import Envelope
from tabellion.models.organization import Organization
from tabellion.models.user import User
from tabellion.organization import accounts, totp
from tabellion.organization.accounts import SENDING_ROLES
from tabellion.portal import i18n
from tabellion.runtime import Runtime

router = APIRouter(route_class=PageRoute, include_in_schema=False)
env = page_environment("tabellion.dashboard")

MODES = ("registered", "simple", "deliver", "secure")
STATUSES = ("pending", "notified", "accepted", "refused", "expired", "received", "undelivered")
SIGN_IN = "/account/sign-in"


def _(message: str) -> str:
    """Marks a message for the catalogs; the page shows it in its language (``say``)."""
    return message


# What the pages show for the API's machine values (kept in the pages' ``data-`` attributes).
# Some English words differ from the value where another language needs a word of its own
# (an envelope is "complete", a recipient who rejected it "declined").
LABELS: dict[str, dict[str, str]] = {
    "delivery": {
        "pending": _("pending"),
        "notified": _("notified"),
        "accepted": _("accepted"),
        "refused": _("refused"),
        "expired": _("expired"),
        "received": _("received"),
        "undelivered": _("undelivered"),
    },
    "mode": {
        "registered": _("registered letter"),
        "simple": _("simple letter"),
        "deliver": _("document delivery"),
        "secure": _("secure message"),
    },
    "envelope": {
        "draft": _("draft"),
        "pending": _("pending"),
        "completed": _("complete"),
        "rejected": _("rejected"),
        "expired": _("expired"),
        "cancelled": _("cancelled"),
    },
    "recipient": {
        "waiting": _("waiting for their turn"),
        "sent": _("invited"),
        "opened": _("opened"),
        "signed": _("signed"),
        "approved": _("approved"),
        "viewed": _("viewed"),
        "assisted": _("assisted"),
        "rejected": _("declined"),
    },
    "role": {"viewer": _("viewer"), "sender": _("sender"), "admin": _("admin")},
    "user": {"invited": _("invited"), "active": _("activated"), "deactivated": _("deactivated")},
    # An envelope's recipients (dashboard.envelopes names them alike).
    "envelope_role": {
        "signer": _("Signer"),
        "approver": _("Approver"),
        "viewer": _("Viewer"),
        "cc": _("Copy (cc)"),
        "assistant": _("Assistant"),
    },
    "order": {"parallel": _("Parallel signing"), "sequential": _("Sequential signing")},
    # A delivery's proofs, by evidence type (the portal's tracking page names them alike).
    "event": {
        "SENT": _("Sent"),
        "NOTIFIED": _("Announcement accepted by the recipient's mail server"),
        "UNDELIVERED": _("Could not be delivered"),
        "RECEIVED": _("Opened by the recipient"),
        "ACCEPTED": _("Accepted by the recipient"),
        "REFUSED": _("Refused by the recipient"),
        "EXPIRED": _("Expired without an answer"),
        "DOWNLOADED": _("Attachment downloaded"),
        "REPLIED": _("Replied"),
        "SENDER_REPLIED": _("Reply by the sender"),
        "RECIPIENT_ERASED": _("Recipient's data erased"),
    },
    "outcome": {
        "succeeded": _("succeeded"),
        "failed": _("failed"),
        "retrying": _("failed, retried later"),
        "dead": _("failed for good"),
        "skipped": _("skipped"),
    },
    "customer": {
        "PENDING": _("awaiting consent"),
        "ACCEPTED": _("consent given"),
        "REFUSED": _("consent refused"),
        "REVOKED": _("consent revoked"),
        "CANCELLED": _("no longer managed"),
    },
}
NOT_FOUND = {
    "letter": _("No such letter in %(organization)s."),
    "proof": _("No such proof in %(organization)s."),
    "delivery": _("No such delivery in %(organization)s."),
    "envelope": _("No such envelope in %(organization)s."),
    "action": _("No such action in %(organization)s."),
    "API key": _("No such API key in %(organization)s."),
    "user": _("No such user in %(organization)s."),
    "client key": _("No such client key in %(organization)s."),
    "webhook endpoint": _("No such webhook endpoint in %(organization)s."),
    "customer": _("No such customer in %(organization)s."),
    "session": _("No such session in %(organization)s."),
    "draft": _("No such draft in %(organization)s."),
}
SOMETHING_MISSING = _("This page does not exist in %(organization)s.")


def say(request: Request, message: str, **params: Any) -> str:
    """``message`` in the page's language when it is one of ours (a service's refusal is
    shown as it is), with its ``%(name)s`` filled in."""
    if not message:
        return ""  # (gettext("") is the catalog's header)
    text = i18n.translations(i18n.request_language(request)).gettext(message)
    return text % params if params else text


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def _signed_in(request: Request, session: DbSession) -> User:
    """The active user signed in with this browser; the others go to the sign-in page."""
    user_id = await sessions.current_subject(session, request, "user")
    user = await session.get(User, user_id) if user_id else None
    if user is None or user.status != "active":
        raise SeeOther(SIGN_IN)
    return user


SignedIn = Annotated[User, Depends(_signed_in)]


async def _page(
    request: Request,
    session: DbSession,
    user: User,
    template: str,
    *,
    status_code: int = 200,
    **ctx: Any,
) -> Response:
    """A dashboard page in the visitor's language (``?lang=``, then the language cookie, then
    the browser's), its times in the organisation's time zone."""
    organization = await session.get(Organization, user.organization_id)
    return i18n.page(
        env,
        request,
        template,
        language=i18n.request_language(request),
        csrf=csrf_token(request, _runtime(request).settings.signing_key),
        status_code=status_code,
        timezone=organization.timezone if organization else "Europe/Paris",
        user=user,
        organization=organization,
        can_send=user.role in SENDING_ROLES,
        is_admin=user.role == "admin",
        labels=LABELS,
        **ctx,
    )


async def _not_found(request: Request, session: DbSession, user: User, what: str) -> Response:
    organization = await session.get(Organization, user.organization_id)
    name = organization.name if organization else say(request, _("your organisation"))
    return await _page(
        request,
        session,
        user,
        "dashboard/not_found.html",
        status_code=404,
        missing=say(request, NOT_FOUND.get(what, SOMETHING_MISSING), organization=name),
    )


@router.get("/app")
async def home(request: Request, session: DbSession, user: SignedIn) -> Response:
    counts = await repository.counts_by_status(
        session, user.organization_id, since=utcnow() - repository.RECENT
    )
    attention = await repository.needing_attention(session, user.organization_id)
    return await _page(
        request,
        session,
        user,
        "dashboard/home.html",
        counts=[(status, counts.get(status, 0)) for status in STATUSES],
        total=sum(counts.values()),
        attention=attention,
        chart=await _chart(session, user.organization_id),
    )


OUTCOMES = {
    "delivered": ("accepted", "received"),
    "failed": ("refused", "expired", "undelivered"),
    "open": ("pending", "notified"),
}
CHART_DAYS = 30


async def _chart(session: DbSession, organization_id: str) -> dict[str, Any]:
    """The last 30 days (UTC) as bars: each day's deliveries, split by where they stand now
    (delivered: accepted or received; failed: refused, expired or undelivered; open)."""
    today = utcnow().date()
    first = today - timedelta(days=CHART_DAYS - 1)
    rows = await repository.daily_outcomes(
        session, organization_id, since=datetime(first.year, first.month, first.day, tzinfo=UTC)
    )
    group = {status: name for name, statuses in OUTCOMES.items() for status in statuses}
    days = [(first + timedelta(days=n)).isoformat() for n in range(CHART_DAYS)]
    counts = {day: dict.fromkeys(OUTCOMES, 0) for day in days}
    for day, status, count in rows:
        if day in counts and status in group:
            counts[day][group[status]] += count
    peak = max([sum(c.values()) for c in counts.values()] + [1])
    height, bar = 120.0, 14.0
    bars = []
    for index, day in enumerate(days):
        y = height
        segments = []
        for name in ("delivered", "failed", "open"):
            h = counts[day][name] / peak * height
            y -= h
            if h:
                segments.append({"name": name, "y": round(y, 2), "h": round(h, 2)})
        bars.append({"x": index * (bar + 4), "day": day, "counts": counts[day],
                     "total": sum(counts[day].values()), "segments": segments})  # fmt: skip
    totals = {name: sum(c[name] for c in counts.values()) for name in OUTCOMES}
    return {"bars": bars, "peak": peak, "height": height, "bar": bar,
            "width": CHART_DAYS * (bar + 4), "totals": totals}  # fmt: skip


def _midnight(day: date | None) -> datetime | None:
    return datetime(day.year, day.month, day.day, tzinfo=UTC) if day else None


@router.get("/app/letters")
async def letters(
    request: Request,
    session: DbSession,
    user: SignedIn,
    mode: Annotated[str, Query(max_length=16)] = "",
    status: Annotated[str, Query(max_length=16)] = "",
    reference: Annotated[str, Query(max_length=255)] = "",
    campaign: Annotated[str, Query(max_length=255)] = "",
    recipient: Annotated[str, Query(max_length=320)] = "",
    sent_from: Annotated[str, Query(alias="from", max_length=10)] = "",
    sent_to: Annotated[str, Query(alias="to", max_length=10)] = "",
    page: Annotated[str, Query(max_length=6)] = "1",
) -> Response:
    errors: dict[str, str] = {}
    days: dict[str, date | None] = {}
    for field, value in (("from", sent_from), ("to", sent_to)):
        try:
            days[field] = date.fromisoformat(value) if value else None
        except ValueError:
            days[field] = None
            errors[field] = say(request, _("A date such as %(example)s."), example="2026-12-31")
    filters = repository.LetterFilters(
        mode=mode or None,
        status=status or None,
        reference=reference.strip() or None,
        campaign=campaign.strip() or None,
        recipient=recipient.strip() or None,
        # Days in UTC; "to" includes its day.
        sent_from=_midnight(days["from"]),
        sent_before=_midnight(days["to"] + timedelta(days=1) if days["to"] else None),
    )
    if mode and mode not in MODES:
        errors["mode"] = say(
            request, _("Unknown mode; one of %(choices)s."), choices=", ".join(MODES)
        )
    if status and status not in STATUSES:
        errors["status"] = say(
            request, _("Unknown status; one of %(choices)s."), choices=", ".join(STATUSES)
        )
    number = int(page) if page.isdigit() and 0 < int(page) <= 100_000 else 0
    if not number:
        errors["page"] = say(request, _("The page is a whole number from 1."))
    context: dict[str, Any] = {
        "filters": filters,
        "sent_from": sent_from if "from" not in errors else "",
        "sent_to": sent_to if "to" not in errors else "",
        "modes": MODES,
        "statuses": STATUSES,
        "errors": errors,
        "page": number or 1,
    }
    if errors:
        return await _page(
            request,
            session,
            user,
            "dashboard/letters.html",
            status_code=422,
            rows=[],
            more=False,
            deliveries={},
            query={},
            **context,
        )
    rows, more = await repository.letters(session, user.organization_id, filters, page=number)
    by_message: dict[str, list[Any]] = {}
    for delivery in await repository.deliveries_of(
        session, user.organization_id, [m.id for m in rows]
    ):
        by_message.setdefault(delivery.message_id, []).append(delivery)
    query = {
        k: v
        for k, v in {
            "mode": mode,
            "status": status,
            "reference": filters.reference or "",
            "campaign": filters.campaign or "",
            "recipient": filters.recipient or "",
            "from": sent_from,
            "to": sent_to,
        }.items()
        if v
    }
    return await _page(
        request,
        session,
        user,
        "dashboard/letters.html",
        rows=rows,
        more=more,
        deliveries=by_message,
        query=query,
        **context,
    )


@router.get("/app/letters/{message_id}")
async def letter(message_id: str, request: Request, session: DbSession, user: SignedIn) -> Response:
    message = (
        await messages.get_message(session, user.organization_id, message_id)
        if possible_id(message_id)
        else None
    )
    if message is None or message.status != "dispatched":
        return await _not_found(request, session, user, "letter")
    return await letter_page(request, session, user, message)


# What the letter page says after a sending page led back to it (dashboard.compose).
LETTER_DONE = {
    "sent": _("The letter was sent: each recipient's notice is on its way."),
    "resent": _("The notice was sent again."),
}


async def letter_page(
    request: Request,
    session: DbSession,
    user: User,
    message: Any,
    *,
    status_code: int = 200,
    error: str = "",
) -> Response:
    """A dispatched letter with its deliveries, their proofs and replies; ``error`` is why an
    action on it (sending a notice again) was refused."""
    deliveries = await repository.deliveries_of(session, user.organization_id, [message.id])
    ids = [d.id for d in deliveries]
    events: dict[str, list[Any]] = {}
    for evidence in await repository.timeline(session, ids):
        if evidence.delivery_id is not None:  # a delivery's proofs (not an envelope's)
            events.setdefault(evidence.delivery_id, []).append(evidence)
    answers: dict[str, list[Any]] = {}
    for reply in await repository.replies(session, ids):
        answers.setdefault(reply.delivery_id, []).append(reply)
    return await _page(
        request,
        session,
        user,
        "dashboard/letter.html",
        status_code=status_code,
        message=message,
        deliveries=deliveries,
        events=events,
        replies=answers,
        done=say(request, LETTER_DONE.get(request.query_params.get("done", ""), "")),
        error=say(request, error),
        here=f"/app/letters/{message.id}",
    )


# ---- proofs: the API's documents, for the signed-in user's organisation ---------------------


@router.get("/app/proofs/{evidence_id}.json")
async def proof_json(
    evidence_id: str, request: Request, session: DbSession, user: SignedIn
) -> Response:
    evidence = (
        await repository.evidence_of(session, user.organization_id, evidence_id)
        if possible_id(evidence_id)
        else None
    )
    if evidence is None:
        return await _not_found(request, session, user, "proof")
    if evidence.sealed_at is None:
        await end_read_phase(session)
        evidence = await sealed(_runtime(request), session, evidence)
    document = await proof_document(session, evidence)
    return Response(
        log.dumps(document),
        media_type=PROOF_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{evidence.id}.json"'},
    )


@router.get("/app/proofs/{evidence_id}.pdf")
async def proof_pdf(
    evidence_id: str, request: Request, session: DbSession, user: SignedIn
) -> Response:
    evidence = (
        await repository.evidence_of(session, user.organization_id, evidence_id)
        if possible_id(evidence_id)
        else None
    )
    if evidence is None:
        return await _not_found(request, session, user, "proof")
    response = await pdf_response(_runtime(request), session, evidence, f"{evidence.id}.pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{evidence.id}.pdf"'
    return response


@router.get("/app/deliveries/{delivery_id}/evidence.zip")
async def proof_bundle(
    delivery_id: str, request: Request, session: DbSession, user: SignedIn
) -> Response:
    delivery = (
        await messages.get_delivery(session, user.organization_id, delivery_id)
        if possible_id(delivery_id)
        else None
    )
    if delivery is None:
        return await _not_found(request, session, user, "delivery")
    await end_read_phase(session)
    data = await bundle.build_bundle(_runtime(request), delivery)
    return Response(
        data,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{delivery.id}-evidence.zip"'},
    )


# ---- signatures: envelopes, each recipient's progress, remind, cancel, signed files ---------

ENVELOPE_STATUSES = ("draft", "pending", "completed", "rejected", "expired", "cancelled")
ENVELOPES_PER_PAGE = 50


ENVELOPE_FORBIDDEN = _("A %(role)s reads envelopes; a sender or an admin acts on them.")


class ActionForbidden(Forbidden):
    code = "role-forbidden"
    title = "Your role cannot do this"


def _require_sender(user: User) -> None:
    """Acting on envelopes needs the scope the API asks of a key for it (a sender's or an
    admin's role); viewers read (the controls are hidden too)."""
    if not accounts.user_subject(user).has_scope("messages:write"):
        raise ActionForbidden(ENVELOPE_FORBIDDEN % {"role": user.role})


async def _envelope(session: DbSession, user: User, envelope_id: str) -> Envelope | None:
    try:
        return await envelope_service.get_envelope(session, user.organization_id, envelope_id)
    except envelope_service.EnvelopeNotFound:
        return None


@router.get("/app/signatures")
async def signatures(
    request: Request,
    session: DbSession,
    user: SignedIn,
    status: Annotated[str, Query(max_length=16)] = "",
    after: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    errors: dict[str, str] = {}
    if status and status not in ENVELOPE_STATUSES:
        errors["status"] = say(
            request, _("Unknown status; one of %(choices)s."), choices=", ".join(ENVELOPE_STATUSES)
        )
    rows: Sequence[Envelope] = []
    next_cursor: str | None = None
    if not errors:
        try:
            rows, next_cursor = await envelopes.list_envelopes(
                session,
                user.organization_id,
                limit=ENVELOPES_PER_PAGE,
                cursor=after or None,
                status=status or None,
            )
        except TabellionError:
            errors["after"] = say(
                request, _("This page link is not valid; start from the first page.")
            )
    parts = await envelopes.parts_of(session, [e.id for e in rows])
    return await _page(
        request,
        session,
        user,
        "dashboard/signatures.html",
        status_code=422 if errors else 200,
        rows=rows,
        parts=parts,
        status=status if "status" not in errors else "",
        statuses=ENVELOPE_STATUSES,
        errors=errors,
        next_cursor=next_cursor,
    )


DONE = {
    "reminded": _("The recipients who have not acted yet were e-mailed again."),
    "cancelled": _("The envelope was cancelled."),
    "sent": _("The envelope was sent: the recipients whose turn it is were e-mailed."),
}


async def _signature_page(
    request: Request,
    session: DbSession,
    user: User,
    envelope: Envelope,
    *,
    status_code: int = 200,
    error: str = "",
) -> Response:
    parts = (await envelopes.parts_of(session, [envelope.id]))[envelope.id]
    return await _page(
        request,
        session,
        user,
        "dashboard/signature.html",
        status_code=status_code,
        envelope=envelope,
        parts=parts,
        signed=envelope.status == "completed" and envelope.certificate_storage_key is not None,
        done=say(request, DONE.get(request.query_params.get("done", ""), "")),
        error=_refusal(request, user, error),
        here=f"/app/signatures/{envelope.id}",
    )


def _refusal(request: Request, user: User, error: str) -> str:
    """A refusal shown on a page, in its language (the role's refusal names the role)."""
    if error == ENVELOPE_FORBIDDEN % {"role": user.role}:
        role = say(request, LABELS["role"].get(user.role, user.role))
        return say(request, ENVELOPE_FORBIDDEN, role=role)
    return say(request, error)


@router.get("/app/signatures/{envelope_id}")
async def signature(
    envelope_id: str, request: Request, session: DbSession, user: SignedIn
) -> Response:
    envelope = await _envelope(session, user, envelope_id)
    if envelope is None:
        return await _not_found(request, session, user, "envelope")
    return await _signature_page(request, session, user, envelope)


async def _act(
    request: Request,
    session: DbSession,
    user: User,
    envelope_id: str,
    csrf_token_: str | None,
    action: Callable[[AsyncSession, str, str], Awaitable[Envelope]],
    done: str,
) -> Response:
    """An envelope's action from its page: the form's token, the role, then the service's
    own checks; a refusal is the page again with its reason (nothing changed: a 4xx rolls
    the request back)."""
    check_csrf(request, _runtime(request).settings.signing_keys, csrf_token_)
    envelope = await _envelope(session, user, envelope_id)
    if envelope is None:
        return await _not_found(request, session, user, "envelope")
    try:
        _require_sender(user)
        await action(session, user.organization_id, envelope_id)
    except TabellionError as exc:
        return await _signature_page(
            request, session, user, envelope, status_code=exc.status, error=exc.detail
        )
    return RedirectResponse(f"/app/signatures/{envelope_id}?done={done}", status_code=303)


# What each of an envelope page's buttons does, and what the page then says it did.
ENVELOPE_ACTIONS: dict[str, tuple[Callable[[AsyncSession, str, str], Awaitable[Envelope]], str]] = {
    "remind": (envelope_service.remind, "reminded"),
    "cancel": (envelope_service.cancel, "cancelled"),
}


@router.post("/app/signatures/{envelope_id}/{action}")
async def signature_action(
    envelope_id: str,
    action: str,
    request: Request,
    session: DbSession,
    user: SignedIn,
    csrf_token_: Annotated[str | None, Form(alias="csrf_token")] = None,
) -> Response:
    if action not in ENVELOPE_ACTIONS:
        return await _not_found(request, session, user, "action")
    run, done = ENVELOPE_ACTIONS[action]
    return await _act(request, session, user, envelope_id, csrf_token_, run, done)


@router.get("/app/signatures/{envelope_id}/certificate.pdf")
async def signature_certificate(
    envelope_id: str, request: Request, session: DbSession, user: SignedIn
) -> Response:
    return await _signed_file(request, session, user, envelope_id, None)


@router.get("/app/signatures/{envelope_id}/documents/{document_id}/signed.pdf")
async def signature_document(
    envelope_id: str, document_id: str, request: Request, session: DbSession, user: SignedIn
) -> Response:
    return await _signed_file(request, session, user, envelope_id, document_id)


async def _signed_file(
    request: Request, session: DbSession, user: User, envelope_id: str, document_id: str | None
) -> Response:
    envelope = await _envelope(session, user, envelope_id)
    if envelope is None or (document_id is not None and not possible_id(document_id)):
        return await _not_found(request, session, user, "envelope")
    try:
        key, name = await envelope_service.signed_file_key(
            session, user.organization_id, envelope_id, document_id
        )
    except TabellionError as exc:
        return await _signature_page(
            request, session, user, envelope, status_code=exc.status, error=exc.detail
        )
    await end_read_phase(session)
    return StreamingResponse(
        _runtime(request).storage.open(key),
        media_type="application/pdf",
        headers={"Content-Disposition": content_disposition(name)},
    )


# ---- the user's own authenticator app (TOTP), for envelopes that ask for its code ----------
# In the visitor's language, as the account pages are. The secret is shown (as a QR code and
# as text) only while it waits for its first code; once confirmed it is never shown again.

TOTP_PAGE = "/app/authenticator"


async def _totp_page(
    request: Request, session: DbSession, user: User, *, status_code: int = 200, error: str = ""
) -> Response:
    organization = await session.get(Organization, user.organization_id)
    keys = _runtime(request).settings.signing_keys
    secret = None if totp.enrolled(user) else totp.secret_of(user, keys)
    uri = totp.provisioning_uri(user, secret) if secret else None
    return i18n.page(
        env,
        request,
        "dashboard/authenticator.html",
        language=i18n.request_language(request),
        csrf=csrf_token(request, keys[0]),
        status_code=status_code,
        timezone=organization.timezone if organization else "Europe/Paris",
        user=user,
        organization=organization,
        section="authenticator",
        labels=LABELS,
        confirmed=totp.enrolled(user),
        secret=secret,
        qr=segno.make(uri, error="m").svg_data_uri(scale=5, border=2) if uri else None,
        error=error,
    )


@router.get(TOTP_PAGE)
async def authenticator(request: Request, session: DbSession, user: SignedIn) -> Response:
    return await _totp_page(request, session, user)


@router.post(f"{TOTP_PAGE}/new")
async def authenticator_new(
    request: Request,
    session: DbSession,
    user: SignedIn,
    csrf_token_: Annotated[str | None, Form(alias="csrf_token")] = None,
) -> Response:
    """A new secret (replacing any earlier one), shown on the page until confirmed."""
    keys = _runtime(request).settings.signing_keys
    check_csrf(request, keys, csrf_token_)
    totp.enrol(user, keys)
    return RedirectResponse(TOTP_PAGE, status_code=303)


@router.post(f"{TOTP_PAGE}/confirm")
async def authenticator_confirm(
    request: Request,
    session: DbSession,
    user: SignedIn,
    code: Annotated[str, Form(max_length=16)] = "",
    csrf_token_: Annotated[str | None, Form(alias="csrf_token")] = None,
) -> Response:
    keys = _runtime(request).settings.signing_keys
    check_csrf(request, keys, csrf_token_)
    try:
        totp.confirm(user, code, keys)
    except (totp.WrongTotpCode, totp.TotpNotEnrolled):
        # Nothing to keep from a refused code: a 422 rolls the request back.
        return await _totp_page(
            request, session, user, status_code=422, error="That code is not right."
        )
    return RedirectResponse(TOTP_PAGE, status_code=303)
