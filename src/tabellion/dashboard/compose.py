"""The dashboard's sending pages: write a letter, review it, send it; send a notice again.

For ``sender`` and ``admin`` users (the ``messages:write`` scope of their role, as the API asks
of a key); a ``viewer`` gets 403 and does not see the controls. Every step goes through the
message service as ``POST /v1/messages`` does: the same schema and rules (a draft is created,
its files recorded, then dispatched), attachments streamed into storage while hashed (never
held whole), and nothing written when anything is refused (the request's transaction rolls
back; a blob already streamed is left unreferenced for the storage collector, as the API's).

The form is one ``multipart/form-data`` post that works without JavaScript; ``compose.js``
adds an upload progress bar. Recipients are typed (one per line) or come from a CSV file:
``message.recipient_list`` checks each line. Typed lines with errors send the form back with
each line's error. A CSV's bad lines are left out: the review page lists them with their
errors next to the recipients that will be sent, and sending sends only the good ones (a file
without any good line is refused whole).
"""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from pydantic import ValidationError
from starlette.responses import RedirectResponse, Response

from tabellion.auth.subjects import ApiKeySubject
from tabellion.dashboard.pages import (
    LABELS,
    MODES,
    ActionForbidden,
    SignedIn,
    _,
    _not_found,
    _page,
    letter_page,
    say,
)
from tabellion.db import DbSession, end_read_phase
from tabellion.document.encryption import put_for
from tabellion.document.multipart import MalformedMultipart, MultipartReader, boundary_of
from tabellion.document.storage import StoredBlob
from tabellion.errors import TabellionError
from tabellion.kit.ids import possible_id
from tabellion.kit.web import CsrfFailed, PageRoute, check_csrf
from tabellion.message import repository as messages
from tabellion.message.recipient_list import (
    MAX_CSV_BYTES,
    RecipientListUnreadable,
    Row,
    check_rows,
    csv_rows,
    typed_rows,
)
from tabellion.message.rules import MAX_BODY_BYTES
from tabellion.message.schemas import MessageIn
from tabellion.message.service import delivery as delivery_service
from tabellion.message.service import message as service
from tabellion.models.message import Message
from tabellion.models.user import User
from tabellion.organization import accounts
from tabellion.runtime import Runtime

router = APIRouter(route_class=PageRoute, include_in_schema=False)

NEW = "/app/letters/new"
DRAFTS = "/app/drafts"
# The form's text fields and the most bytes each may hold (the body's limit is the API's,
# checked by its schema; a little more is read so that the message names it).
TEXT_FIELDS = {
    "csrf_token": 256,
    "mode": 64,
    "subject": 4096,
    "body": MAX_BODY_BYTES + 1024,
    "recipients": MAX_CSV_BYTES,
    "reference": 4096,
    "campaign": 4096,
    "acceptance_days": 64,
    "copy_to_mailbox": 16,
    "notify_sender": 16,
}
SHOWN_ROWS = 500  # recipients listed on the review page; the count says the rest


MODE_HINTS = {
    "registered": _(
        "Registered: the recipient confirms who they are, then accepts or refuses the letter "
        "before reading it. Name each recipient."
    ),
    "simple": _(
        "Simple: a notice with a link; opening it is the proof of receipt. Name each recipient."
    ),
    "deliver": _(
        "Deliver: the documents are placed in the recipient's secure space. An address is enough."
    ),
    "secure": _(
        "Secure message: read on a secure page, where the recipient can reply. An address is "
        "enough."
    ),
}
FIELD_ERRORS = {
    "mode": _("Choose how the letter is sent."),
    "subject": _("A subject of 1 to 255 characters."),
    "body": _("The text may be at most 1 MiB."),
    "reference": _("At most 255 characters."),
    "campaign": _("At most 255 characters."),
    "acceptance_days": _("A whole number of days from 1 to 365, for registered letters only."),
    "copy_to_mailbox": _("Only registered letters are copied to the mailbox once accepted."),
    "notify_sender": _("This option needs a sender to notify."),
}
NO_RECIPIENT = _("Add at least one recipient: type them, or upload a CSV file.")
BOTH_LISTS = _("Type the recipients or upload a CSV file, not both.")
NO_GOOD_ROW = _("No line of the file can be sent; each line's error is listed.")
LINE_ERRORS = _("Some lines are not recipients yet; each line's error is listed.")
NOT_MULTIPART = _("The form could not be read; reload the page and retry.")
DONE = {"discarded": _("The draft was discarded; nothing was sent.")}


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _acting(user: User) -> ApiKeySubject | None:
    """The user acting under their role's scopes, if their role sends."""
    subject = accounts.user_subject(user)
    return subject if subject.has_scope("messages:write") else None


# A bad line's reason, by the field at fault, in the page's language (the detail the services
# write, in English, is kept for a field not named here).
ROW_ERRORS = {
    "email": _("The e-mail address is not valid."),
    "person": _("Give either a first and a last name, or a company and its SIREN."),
    "first_name": _("The first name is missing or too long."),
    "last_name": _("The last name is missing or too long."),
    "company": _("The company name is missing or too long."),
    "siren": _("The SIREN is not valid: 9 digits that pass their check."),
    "language": _("The language must be en, fr, nl or de."),
    "phone": _("The phone number is not valid (international form, e.g. +33612345678)."),
}


async def _render(
    request: Request,
    session: DbSession,
    user: User,
    template: str,
    *,
    status_code: int = 200,
    **ctx: Any,
) -> Response:
    """A sending page: a dashboard page (``pages._page``: the visitor's language, the
    organisation's time zone) with the recipient lines' reasons."""
    return await _page(
        request,
        session,
        user,
        template,
        status_code=status_code,
        row_errors=ROW_ERRORS,
        section="letters",
        **ctx,
    )


FORBIDDEN = _("A %(role)s reads letters; a sender or an admin sends them.")


def _refusal(request: Request, user: User) -> str:
    """Why a viewer cannot send, in the page's language (their role named in it too)."""
    return say(request, FORBIDDEN, role=say(request, LABELS["role"].get(user.role, user.role)))


async def _forbidden(request: Request, session: DbSession, user: User) -> Response:
    return await _render(
        request,
        session,
        user,
        "dashboard/forbidden.html",
        status_code=403,
        reason=_refusal(request, user),
    )


# ---- writing ---------------------------------------------------------------------------


async def _compose_page(
    request: Request,
    session: DbSession,
    user: User,
    *,
    status_code: int = 200,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    rows: list[Row] | None = None,
) -> Response:
    return await _render(
        request,
        session,
        user,
        "dashboard/compose.html",
        status_code=status_code,
        form=form or {"mode": "registered"},
        errors={k: say(request, v) for k, v in (errors or {}).items()},
        bad_rows=[r for r in rows or [] if r.error],
        modes=MODES,
        hints=MODE_HINTS,
        max_bytes=_runtime(request).settings.max_attachment_bytes,
        max_files=service.MAX_ATTACHMENTS,
        done=say(request, DONE.get(request.query_params.get("done", ""), "")),
    )


@router.get(NEW)
async def compose(request: Request, session: DbSession, user: SignedIn) -> Response:
    if _acting(user) is None:
        return await _forbidden(request, session, user)
    return await _compose_page(request, session, user)


@dataclass
class _Posted:
    """The compose form as read: its text fields, the CSV file's bytes, the stored files."""

    fields: dict[str, str] = field(default_factory=dict)
    csv: bytes | None = None
    files: list[tuple[StoredBlob, str, str | None]] = field(default_factory=list)


async def _read_limited(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    buffer = bytearray()
    async for chunk in chunks:
        buffer += chunk
        if len(buffer) > limit:
            raise RecipientListUnreadable.field(
                "recipients_csv", f"The file is larger than {limit // (1024 * 1024)} MiB."
            )
    return bytes(buffer)


async def _read_form(request: Request, reader: MultipartReader, organization_id: str) -> _Posted:
    """Read the form part by part. Its CSRF token comes first (the form's first field): a
    file arriving before a valid token is refused unread."""
    runtime = _runtime(request)
    posted = _Posted()
    checked = False
    while (part := await reader.next_part()) is not None:
        if part.filename is None and part.name in TEXT_FIELDS:
            raw = await reader.read_all(limit=TEXT_FIELDS[part.name])
            posted.fields[part.name] = raw.decode("utf-8", "replace")
            if part.name == "csrf_token":
                check_csrf(request, runtime.settings.signing_keys, posted.fields["csrf_token"])
                checked = True
        elif part.name in ("attachments", "recipients_csv") and part.filename:
            if not checked:
                raise CsrfFailed("The form's security token must come before its files.")
            if part.name == "recipients_csv":
                posted.csv = await _read_limited(reader.data(), MAX_CSV_BYTES)
                continue
            if len(posted.files) >= service.MAX_ATTACHMENTS:
                raise service.too_many_attachments()
            blob = await put_for(
                runtime.storage,
                reader.data(),
                organization_id=organization_id,
                max_bytes=runtime.settings.max_attachment_bytes,
            )
            posted.files.append((blob, part.filename, part.content_type))
        else:
            # Another part, or a file input left empty (a part without a file name).
            async for _chunk in reader.data():
                pass
    if not checked:
        raise CsrfFailed("The form is missing its security token; reload the page and retry.")
    return posted


def _body_html(text: str) -> str:
    """The letter's text as HTML: paragraphs at blank lines, line breaks kept, escaped."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    return "".join("<p>" + html.escape(p).replace("\n", "<br>\n") + "</p>" for p in paragraphs)


def _field_of(error: Any) -> str:
    """The form field a schema error is about (a rule over several fields names one)."""
    loc = [str(p) for p in error["loc"]]
    if loc:
        name = loc[0]
        if name in ("body_html", "body_text"):
            return "body"
        if name == "copy_to_mailbox_after_acceptance":
            return "copy_to_mailbox"
        return name if name in FIELD_ERRORS else "form"
    text = str(error["msg"])
    for name in ("acceptance_days", "copy_to_mailbox", "notify_sender"):
        if name in text:
            return name
    return "form"


def _message_in(
    posted: _Posted, user: User, recipients: list[Any], errors: dict[str, str]
) -> MessageIn | None:
    """The API's schema of a message, from the form; each refusal is put by its field."""
    values = posted.fields
    text = values.get("body", "").replace("\r\n", "\n")
    days = values.get("acceptance_days", "").strip()
    data: dict[str, Any] = {
        "mode": values.get("mode", ""),
        "subject": values.get("subject", "").strip(),
        "body_html": _body_html(text),
        "body_text": text.strip(),
        "sender": {"email": user.email, "name": user.name},
        "recipients": recipients,
        "reference": values.get("reference", "").strip() or None,
        "campaign": values.get("campaign", "").strip() or None,
        "copy_to_mailbox_after_acceptance": values.get("copy_to_mailbox") == "yes",
        "notify_sender": values.get("notify_sender") == "yes",
    }
    # The schema's rules over several fields run only once each field is valid: these are
    # named at once, with the others.
    registered = data["mode"] == "registered"
    if days and (not days.isdigit() or not registered):
        errors["acceptance_days"] = FIELD_ERRORS["acceptance_days"]
    elif days:
        data["acceptance_days"] = int(days)
    if data["copy_to_mailbox_after_acceptance"] and not registered:
        errors["copy_to_mailbox"] = FIELD_ERRORS["copy_to_mailbox"]
    try:
        return MessageIn.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            name = _field_of(error)
            errors.setdefault(name, FIELD_ERRORS.get(name, str(error["msg"])))
        return None


def _rows(posted: _Posted, mode: str | None, runtime: Runtime, errors: dict[str, str]) -> list[Row]:
    """The recipients, typed or from the CSV file, each line checked."""
    typed = posted.fields.get("recipients", "").strip()
    if typed and posted.csv is not None:
        errors["recipients"] = BOTH_LISTS
        return []
    if not typed and posted.csv is None:
        errors["recipients"] = NO_RECIPIENT
        return []
    settings = runtime.settings
    if posted.csv is None:
        rows = check_rows(typed_rows(typed), mode, settings=settings)
        if len(rows) > settings.max_recipients:
            errors["recipients"] = (
                f"A letter may have at most {settings.max_recipients} recipients."
            )
        elif any(r.error for r in rows):
            errors["recipients"] = LINE_ERRORS
        return rows
    try:
        rows = check_rows(csv_rows(posted.csv, max_rows=settings.max_recipients), mode,
                          settings=settings)  # fmt: skip
    except RecipientListUnreadable as exc:
        errors["recipients_csv"] = exc.detail
        return []
    if not any(r.recipient for r in rows):
        errors["recipients_csv"] = NO_GOOD_ROW
    return rows


@router.post(NEW)
async def compose_post(request: Request, session: DbSession, user: SignedIn) -> Response:
    """Read the form (its files streamed into storage), check it as the API checks a
    message, and create the draft with its attachments: the review page (201), or the form
    again with each error by its field (nothing written)."""
    caller = _acting(user)
    if caller is None:
        return await _forbidden(request, session, user)  # before reading a byte of it
    runtime = _runtime(request)
    content_type = request.headers.get("content-type", "")
    try:
        reader = MultipartReader(request.stream(), boundary_of(content_type))
    except MalformedMultipart:
        return await _compose_page(
            request, session, user, status_code=415, errors={"form": NOT_MULTIPART}
        )
    # No transaction stays open while the browser uploads.
    await end_read_phase(session)
    try:
        posted = await _read_form(request, reader, user.organization_id)
    except (service.TooManyAttachments, MalformedMultipart) as exc:
        return await _compose_page(
            request, session, user, status_code=exc.status, errors={"attachments": exc.detail}
        )
    except RecipientListUnreadable as exc:
        return await _compose_page(
            request, session, user, status_code=exc.status, errors={"recipients_csv": exc.detail}
        )
    except TabellionError as exc:
        if isinstance(exc, CsrfFailed):
            raise
        # The attachment limit (413 attachment-too-large), as the API answers it.
        return await _compose_page(
            request, session, user, status_code=exc.status, errors={"attachments": exc.detail}
        )
    form = {k: v for k, v in posted.fields.items() if k != "csrf_token"}
    errors: dict[str, str] = {}
    mode = posted.fields.get("mode")
    rows = _rows(posted, mode if mode in MODES else None, runtime, errors)
    good = [r.recipient for r in rows if r.recipient is not None]
    data = _message_in(posted, user, good, errors)
    if errors or data is None:
        return await _compose_page(
            request, session, user, status_code=422, form=form, errors=errors, rows=rows
        )
    try:
        message = await service.create_message(
            session, caller, data, settings=runtime.settings, active_sender=True
        )
        for index, (blob, name, declared) in enumerate(posted.files):
            await service.record_attachment(
                session, message, blob, name, declared, field=f"attachments[{index}]"
            )
    except TabellionError as exc:
        where = exc.errors[0].field if exc.errors else "form"
        name = "attachments" if where.startswith("attachments") else where.split("[")[0]
        name = "recipients" if name.startswith("recipients") else name
        if name not in (*FIELD_ERRORS, "attachments", "recipients"):
            name = "form"
        return await _compose_page(
            request,
            session,
            user,
            status_code=exc.status,
            form=form,
            errors={name: exc.detail},
            rows=rows,
        )
    response = await _review_page(
        request, session, user, message, status_code=201, skipped=[r for r in rows if r.error]
    )
    response.headers["Content-Location"] = f"{DRAFTS}/{message.id}"
    return response


# ---- reviewing and sending ---------------------------------------------------------------


async def _review_page(
    request: Request,
    session: DbSession,
    user: User,
    message: Message,
    *,
    status_code: int = 200,
    skipped: list[Row] | None = None,
    error: str = "",
) -> Response:
    attachments = await messages.attachments_of(session, [message.id])
    return await _render(
        request,
        session,
        user,
        "dashboard/review.html",
        status_code=status_code,
        message=message,
        attachments=attachments,
        recipients=message.recipients[:SHOWN_ROWS],
        more=max(len(message.recipients) - SHOWN_ROWS, 0),
        skipped=skipped or [],
        hints=MODE_HINTS,
        error=error,
        here=f"{DRAFTS}/{message.id}",  # its language links, also when answering the form
    )


async def _draft(session: DbSession, user: User, message_id: str) -> Message | None:
    if not possible_id(message_id):
        return None
    return await messages.get_message(session, user.organization_id, message_id)


@router.get(DRAFTS + "/{message_id}")
async def review(message_id: str, request: Request, session: DbSession, user: SignedIn) -> Response:
    message = await _draft(session, user, message_id)
    if message is None:
        return await _not_found(request, session, user, "draft")
    if message.status != "draft":
        return RedirectResponse(f"/app/letters/{message.id}", status_code=303)
    return await _review_page(request, session, user, message)


@router.post(DRAFTS + "/{message_id}/send")
async def send(
    message_id: str,
    request: Request,
    session: DbSession,
    user: SignedIn,
    csrf_token_: Annotated[str | None, Form(alias="csrf_token")] = None,
) -> Response:
    """Dispatch the draft, as ``POST /v1/messages/{id}/dispatch``: one delivery per
    recipient, each notified by e-mail once the request is committed."""
    runtime = _runtime(request)
    check_csrf(request, runtime.settings.signing_keys, csrf_token_)
    message = await _draft(session, user, message_id)
    if message is None:
        return await _not_found(request, session, user, "draft")
    caller = _acting(user)
    if caller is None:
        return await _forbidden(request, session, user)
    if message.status != "draft":
        # Sent already (a second click): its page says how it stands.
        return RedirectResponse(f"/app/letters/{message.id}", status_code=303)
    try:
        await service.dispatch(session, caller, message.id, settings=runtime.settings)
    except TabellionError as exc:
        return await _review_page(
            request, session, user, message, status_code=exc.status, error=exc.detail
        )
    return RedirectResponse(f"/app/letters/{message.id}?done=sent", status_code=303)


@router.post(DRAFTS + "/{message_id}/discard")
async def discard(
    message_id: str,
    request: Request,
    session: DbSession,
    user: SignedIn,
    csrf_token_: Annotated[str | None, Form(alias="csrf_token")] = None,
) -> Response:
    """Delete the draft, as ``DELETE /v1/messages/{id}`` (its files go with it)."""
    check_csrf(request, _runtime(request).settings.signing_keys, csrf_token_)
    message = await _draft(session, user, message_id)
    if message is None:
        return await _not_found(request, session, user, "draft")
    if _acting(user) is None:
        return await _forbidden(request, session, user)
    try:
        await service.delete_draft(session, user.organization_id, message.id)
    except TabellionError as exc:
        return await _review_page(
            request, session, user, message, status_code=exc.status, error=exc.detail
        )
    return RedirectResponse(f"{NEW}?done=discarded", status_code=303)


# ---- a notice sent again -------------------------------------------------------------------


@router.post("/app/deliveries/{delivery_id}/resend")
async def resend(
    delivery_id: str,
    request: Request,
    session: DbSession,
    user: SignedIn,
    csrf_token_: Annotated[str | None, Form(alias="csrf_token")] = None,
) -> Response:
    """E-mail the delivery's notice again (``message.service.delivery.resend_notice``)."""
    check_csrf(request, _runtime(request).settings.signing_keys, csrf_token_)
    delivery = (
        await messages.get_delivery(session, user.organization_id, delivery_id)
        if possible_id(delivery_id)
        else None
    )
    message = (
        await messages.get_message(session, user.organization_id, delivery.message_id)
        if delivery
        else None
    )
    if delivery is None or message is None:
        return await _not_found(request, session, user, "delivery")
    caller = _acting(user)
    try:
        if caller is None:
            raise ActionForbidden(_refusal(request, user))
        delivery_service.resend_notice(
            session,
            delivery,
            requested_by={"requested_by": caller.api_key_id, "method": caller.authentication},
        )
    except TabellionError as exc:
        return await letter_page(
            request, session, user, message, status_code=exc.status, error=exc.detail
        )
    return RedirectResponse(
        f"/app/letters/{message.id}?done=resent#delivery-{delivery.id}", status_code=303
    )
