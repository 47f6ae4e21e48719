"""The dashboard's envelope editor: a new envelope (title, recipients, PDFs), its fields placed
on the pages, then sent.

Senders and admins only (the scope the API asks of a key for envelopes, as remind and cancel
check); a viewer gets the refusal page and sees no control. Everything goes through the
envelope service the native API calls, with its rules and its coordinates (percent of the
page, top-left origin). Each form is one request that does all it asks or nothing: a refused
one answers a 4xx, which rolls the request back. PDFs are streamed into storage, never held
whole. Pages are in the visitor's language (``?lang=``, cookie, browser).
"""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from tabellion.dashboard.pages import LABELS, SignedIn, _, env
from tabellion.db import DbSession, end_read_phase
from tabellion.document import preview
from tabellion.document.encryption import EncryptedBlobStore, put_for
from tabellion.document.multipart import MultipartReader, boundary_of
from tabellion.document.storage import StoredBlob
from tabellion.envelope import editing, service
from tabellion.envelope import repository as envelopes
from tabellion.envelope.pdf import inspect_pdf_tags
from tabellion.envelope.repository import EnvelopeParts
from tabellion.envelope.schemas import EnvelopeIn, FieldIn, FieldMeta
from tabellion.errors import TabellionError, ValidationFailed
from tabellion.kit.ids import possible_id
from tabellion.kit.web import CsrfFailed, PageRoute, check_csrf, csrf_token
from tabellion.models.envelope import Envelope, EnvelopeField
from tabellion.models.organization import Organization
from tabellion.models.user import User
from tabellion.organization import accounts
from tabellion.organization.accounts import SENDING_ROLES
from tabellion.portal import i18n
from tabellion.runtime import Runtime

router = APIRouter(route_class=PageRoute, include_in_schema=False)

NEW_PAGE = "/app/signatures/new"
ROLES = ("signer", "approver", "viewer", "cc")
ORDERS = ("parallel", "sequential")
LANGUAGES = tuple(i18n.NAMES)
RECIPIENT_ROWS = 4  # shown empty on a new form; the script adds more
MAX_RECIPIENT_ROWS = 50
BLANK_FIELD_ROWS = 3  # new fields a visitor without script can fill in
MAX_FIELD_ROWS = 500  # as many as the API takes in one request
# The palette: the types a sender places by hand (radio and dropdown need options: the API).
PALETTE = ("signature", "initials", "name", "email", "date", "text", "number", "checkbox")
OWNER_ROLES = ("signer", "approver")
TEXT_LIMIT = 20_000  # bytes of one text part of the new-envelope form
MAX_PARTS = 400
ROW_KEY = re.compile(
    r"field-(\d{1,4})-(id|recipient|document|type|page|x|y|width|height|required|delete)"
)
BOX = ("page", "x", "y", "width", "height")


TYPE_LABELS = {
    "signature": _("Signature"),
    "initials": _("Initials"),
    "name": _("Name"),
    "email": _("E-mail"),
    "date": _("Date"),
    "text": _("Text"),
    "number": _("Number"),
    "checkbox": _("Checkbox"),
    "radio": _("Choice"),
    "dropdown": _("List"),
}
ROLE_LABELS = {
    "signer": _("Signer"),
    "approver": _("Approver"),
    "viewer": _("Viewer"),
    "cc": _("Copy (cc)"),
    "assistant": _("Assistant"),
}
FORBIDDEN = _("Your role reads envelopes; a sender or an admin creates and sends them.")


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


@dataclass
class View:
    """What a page shows in the visitor's language: ``say`` translates a marked message."""

    request: Request
    session: DbSession
    user: User
    language: str = ""

    def __post_init__(self) -> None:
        self.language = i18n.request_language(self.request)

    def say(self, message: str, **params: Any) -> str:
        text = i18n.translations(self.language).gettext(message)
        return text % params if params else text

    async def render(self, template: str, *, status_code: int = 200, **ctx: Any) -> Response:
        organization = await self.session.get(Organization, self.user.organization_id)
        keys = _runtime(self.request).settings.signing_keys
        return i18n.page(
            env,
            self.request,
            template,
            language=self.language,
            csrf=csrf_token(self.request, keys[0]),
            status_code=status_code,
            timezone=organization.timezone if organization else "Europe/Paris",
            user=self.user,
            organization=organization,
            can_send=self.user.role in SENDING_ROLES,
            is_admin=self.user.role == "admin",
            type_labels=TYPE_LABELS,
            role_labels=ROLE_LABELS,
            labels=LABELS,
            **ctx,
        )

    async def refused(self) -> Response | None:
        """None for a sender or an admin; the refusal page (403) for a viewer."""
        if accounts.user_subject(self.user).has_scope("messages:write"):
            return None
        reason = self.say(FORBIDDEN)
        return await self.render("dashboard/forbidden.html", status_code=403, reason=reason)

    async def not_found(self) -> Response:
        organization = await self.session.get(Organization, self.user.organization_id)
        name = organization.name if organization else self.say(_("your organisation"))
        missing = self.say(_("No such envelope in %(organization)s."), organization=name)
        return await self.render("dashboard/not_found.html", status_code=404, missing=missing)


def _page(request: Request, session: DbSession, user: SignedIn) -> View:
    return View(request, session, user)


Visitor = Annotated[View, Depends(_page)]


# ---- reading a form with PDFs, streamed ---------------------------------------------------


@dataclass
class Upload:
    """A multipart form read to its end: its text fields, its PDFs in storage."""

    fields: dict[str, str] = field(default_factory=dict)
    files: list[tuple[StoredBlob, str]] = field(default_factory=list)


class UploadRefused(ValidationFailed):
    code = "upload-refused"
    title = "The form could not be read"


async def _read_upload(request: Request, organization_id: str) -> Upload:
    """The form's text parts (each at most ``TEXT_LIMIT`` bytes) and its ``files`` parts,
    each streamed into storage. The CSRF token comes first in the form: no file is stored
    before it is checked."""
    upload = Upload()
    try:
        await _read_parts(request, organization_id, upload)
    except BaseException:
        await _forget(request, upload.files)  # a form cut short keeps none of its files
        raise
    return upload


async def _read_parts(request: Request, organization_id: str, upload: Upload) -> None:
    runtime = _runtime(request)
    reader = MultipartReader(request.stream(), boundary_of(request.headers.get("content-type", "")))
    checked = False
    parts = 0
    while (part := await reader.next_part()) is not None:
        parts += 1
        if parts > MAX_PARTS:
            raise UploadRefused(_("The form has too many parts."))
        if part.filename is None:
            raw = await reader.read_all(limit=TEXT_LIMIT)
            upload.fields[part.name] = raw.decode("utf-8", "replace")
            continue
        if part.name != "files" or not part.filename:
            async for _chunk in reader.data():  # an empty file input sends a nameless part
                pass
            continue
        if not checked:
            check_csrf(request, runtime.settings.signing_keys, upload.fields.get("csrf_token"))
            checked = True
        if len(upload.files) >= service.MAX_DOCUMENTS:
            raise service.TooManyDocuments(_("An envelope holds at most 20 PDFs."))
        blob = await put_for(
            runtime.storage,
            _nonempty(reader.data()),
            organization_id=organization_id,
            max_bytes=runtime.settings.max_attachment_bytes,
        )
        upload.files.append((blob, part.filename))
    if not checked:
        check_csrf(request, runtime.settings.signing_keys, upload.fields.get("csrf_token"))


async def _nonempty(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        if chunk:
            yield chunk


async def _forget(request: Request, files: list[tuple[StoredBlob, str]]) -> None:
    """Remove the stored PDFs of a refused form (the storage collector would, later).

    Only their bytes: the request's transaction may hold SQLite's one write connection, which
    deleting their data keys (``blob_keys``) would wait for; the collector deletes the key
    rows of blobs that are gone."""
    storage = _runtime(request).storage
    target = storage.inner if isinstance(storage, EncryptedBlobStore) else storage
    for blob, _name in files:
        try:
            await target.delete(blob.key)
        except Exception:  # noqa: S112 - best effort: the collector removes what stays
            continue


PDF_ERRORS = {
    "not-a-pdf": _("%(file)s is not a PDF."),
    "pdf-encrypted": _("%(file)s is protected by a password; upload it without one."),
    "pdf-unreadable": _("%(file)s cannot be read as a PDF."),
    "empty-file": _("%(file)s is empty."),
    "bad-placeholder": _("%(file)s has a text tag that cannot become a field: %(detail)s"),
}


async def _store_documents(
    page: View, envelope_id: str, files: list[tuple[StoredBlob, str]]
) -> str | None:
    """Record the uploaded PDFs on the draft, with the fields of their text tags, as the API
    does; the first refusal's message, or None."""
    runtime = _runtime(page.request)
    organization_id = page.user.organization_id
    for blob, filename in files:
        try:
            pages, tags = await inspect_pdf_tags(runtime.storage, blob.key, blob.head)
            document = await service.record_document(
                page.session, organization_id, envelope_id, blob, filename=filename, pages=pages
            )
            await service.place_tags(page.session, organization_id, document, tags)
        except TabellionError as exc:
            if exc.code in PDF_ERRORS:
                return page.say(PDF_ERRORS[exc.code], file=filename, detail=exc.detail)
            if exc.code in UPLOAD_ERRORS:
                return page.say(UPLOAD_ERRORS[exc.code])
            return exc.detail
    return None


UPLOAD_ERRORS = {
    "attachment-too-large": _("A PDF is larger than the limit."),
    "too-many-documents": _("An envelope holds at most 20 PDFs."),
    "empty-file": _("A PDF is empty."),
    "envelope-not-draft": _("This envelope was already sent; its fields can no longer change."),
}


def _upload_error(page: View, exc: TabellionError) -> str:
    return page.say(UPLOAD_ERRORS.get(exc.code, _("The form could not be read; retry.")))


# ---- a new envelope -----------------------------------------------------------------------


def _blank_form() -> dict[str, Any]:
    return {
        "title": "",
        "message": "",
        "reference": "",
        "language": "en",
        "signing_order": "parallel",
        "recipients": [
            {"name": "", "email": "", "role": "signer", "order": str(i + 1)}
            for i in range(RECIPIENT_ROWS)
        ],
    }


async def _new_page(
    page: View,
    *,
    status_code: int = 200,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    error: str = "",
) -> Response:
    return await page.render(
        "dashboard/envelope_new.html",
        status_code=status_code,
        form=form or _blank_form(),
        errors=errors or {},
        error=error,
        roles=ROLES,
        orders=ORDERS,
        languages_of_envelope=LANGUAGES,
        max_rows=MAX_RECIPIENT_ROWS,
    )


@router.get(NEW_PAGE)
async def new_envelope(page: Visitor) -> Response:
    refused = await page.refused()
    if refused is not None:
        return refused
    form = _blank_form()
    form["language"] = page.language  # the recipients' e-mails and pages, unless changed
    return await _new_page(page, form=form)


RECIPIENT_MESSAGES = {
    "name": _("A name of 1 to 255 characters."),
    "email": _("An e-mail address such as ann@example.com."),
    "role": _("One of the roles listed."),
    "order": _("A whole number from 1 to 1000."),
}
ENVELOPE_MESSAGES = {
    "title": _("A title of 1 to 255 characters."),
    "message": _("At most 10,000 characters."),
    "reference": _("At most 255 characters."),
    "language": _("One of the languages listed."),
    "signing_order": _("One of the orders listed."),
    "recipients": _("Add at least one recipient."),
}


def _form_of(values: dict[str, str]) -> dict[str, Any]:
    """The new-envelope form as submitted (to show again), recipients in row order."""
    rows = []
    for index in range(MAX_RECIPIENT_ROWS):
        row = {k: values.get(f"r{index}_{k}", "").strip() for k in ("name", "email", "role")}
        row["order"] = values.get(f"r{index}_order", "").strip()
        if any(values.get(f"r{index}_{k}") is not None for k in ("name", "email")):
            rows.append(row)
    return {
        "title": values.get("title", "").strip(),
        "message": values.get("message", "").strip(),
        "reference": values.get("reference", "").strip(),
        "language": values.get("language", "en"),
        "signing_order": values.get("signing_order", "parallel"),
        "recipients": rows or _blank_form()["recipients"],
    }


def _envelope_in(page: View, form: dict[str, Any]) -> tuple[EnvelopeIn | None, dict[str, str]]:
    """The API's creation body from the form, or the errors to show next to each input."""
    errors: dict[str, str] = {}
    people: list[dict[str, Any]] = []
    rows: list[int] = []  # the form row of each recipient
    for index, row in enumerate(form["recipients"]):
        if not row["name"] and not row["email"]:
            continue  # an empty row
        order = row["order"] or str(index + 1)
        if not order.isdigit():
            errors[f"r{index}_order"] = page.say(RECIPIENT_MESSAGES["order"])
            continue
        rows.append(index)
        people.append(
            {"name": row["name"], "email": row["email"], "role": row["role"], "order": int(order)}
        )
    body = {
        "title": form["title"],
        "message": form["message"] or None,
        "reference": form["reference"] or None,
        "language": form["language"],
        "signing_order": form["signing_order"],
        "recipients": people,
    }
    for index, person in zip(rows, people, strict=True):
        if person["role"] not in ROLES:
            errors[f"r{index}_role"] = page.say(RECIPIENT_MESSAGES["role"])
    try:
        data = EnvelopeIn.model_validate(body)
    except ValidationError as exc:
        for item in exc.errors():
            loc = item["loc"]
            if loc and loc[0] == "recipients" and len(loc) > 2 and isinstance(loc[1], int):
                name = str(loc[2])
                key = f"r{rows[loc[1]]}_{name}"
                errors.setdefault(key, page.say(RECIPIENT_MESSAGES.get(name, _("Not valid."))))
            elif loc:
                name = str(loc[0])
                message = ENVELOPE_MESSAGES.get(name, _("Not valid."))
                errors.setdefault(name, page.say(message))
        return None, errors
    return (None if errors else data), errors


@router.post(NEW_PAGE)
async def create_envelope(page: Visitor) -> Response:
    """Create a draft with its recipients and PDFs in one request, then open its editor."""
    refused = await page.refused()
    if refused is not None:
        return refused
    request, session, user = page.request, page.session, page.user
    await end_read_phase(session)  # no transaction held open while the PDFs stream in
    try:
        upload = await _read_upload(request, user.organization_id)
    except CsrfFailed:
        raise
    except TabellionError as exc:
        return await _new_page(page, status_code=exc.status, error=_upload_error(page, exc))
    form = _form_of(upload.fields)
    data, errors = _envelope_in(page, form)
    if not upload.files:
        errors["files"] = page.say(_("Choose at least one PDF to sign."))
    if data is None or errors:
        await _forget(request, upload.files)
        return await _new_page(page, status_code=422, form=form, errors=errors)
    try:
        envelope = await service.create_envelope(
            session,
            accounts.user_subject(user),
            data,
            signing_key=_runtime(request).settings.signing_key,
        )
    except TabellionError as exc:
        await _forget(request, upload.files)
        return await _new_page(page, status_code=exc.status, form=form, error=exc.detail)
    problem = await _store_documents(page, envelope.id, upload.files)
    if problem is not None:
        # Nothing stays: the 422 rolls the new draft back with its documents.
        await _forget(request, upload.files)
        errors["files"] = problem
        return await _new_page(page, status_code=422, form=form, errors=errors)
    return RedirectResponse(f"/app/signatures/{envelope.id}/fields", status_code=303)


# ---- the field editor ---------------------------------------------------------------------


def _number(value: float) -> str:
    """A stored coordinate as the form shows it: every digit it has, no trailing ``.0``."""
    return f"{value:g}" if float(f"{value:g}") == value else repr(value)


def _row_of(index: int, f: EnvelopeField) -> dict[str, Any]:
    return {
        "index": index,
        "id": f.id,
        "recipient": f.recipient_id,
        "document": f.document_id,
        "type": f.type,
        "page": str(f.page),
        "x": _number(f.x),
        "y": _number(f.y),
        "width": _number(f.width),
        "height": _number(f.height),
        "required": f.required,
        "delete": False,
    }


def _blank_rows(start: int, parts: EnvelopeParts) -> list[dict[str, Any]]:
    owner = next((r.id for r in parts.recipients if r.role == "signer"), "")
    document = parts.documents[0].id if parts.documents else ""
    return [
        {"index": start + n, "id": "", "recipient": owner, "document": document,
         "type": "signature", "page": "", "x": "", "y": "", "width": "", "height": "",
         "required": True, "delete": False}
        for n in range(BLANK_FIELD_ROWS)
    ]  # fmt: skip


DONE = {"saved": _("The fields were saved."), "added": _("The PDF was added.")}


async def _editor(
    page: View,
    envelope: Envelope,
    *,
    status_code: int = 200,
    rows: list[dict[str, Any]] | None = None,
    row_errors: dict[int, dict[str, str]] | None = None,
    error: str = "",
    upload_error: str = "",
) -> Response:
    parts = (await envelopes.parts_of(page.session, [envelope.id]))[envelope.id]
    if rows is None:
        rows = [_row_of(i, f) for i, f in enumerate(parts.fields)]
    rows = rows + _blank_rows(max((r["index"] for r in rows), default=-1) + 1, parts)
    done = DONE.get(page.request.query_params.get("done", ""))
    return await page.render(
        "dashboard/envelope_fields.html",
        status_code=status_code,
        envelope=envelope,
        parts=parts,
        owners=[r for r in parts.recipients if r.role in OWNER_ROLES],
        rows=rows,
        row_errors=row_errors or {},
        palette=PALETTE,
        error=error,
        upload_error=upload_error,
        done=page.say(done) if done else "",
        max_bytes=_runtime(page.request).settings.max_attachment_bytes,
    )


async def _envelope_of(page: View, envelope_id: str) -> Envelope | None:
    try:
        return await service.get_envelope(page.session, page.user.organization_id, envelope_id)
    except service.EnvelopeNotFound:
        return None


@router.get("/app/signatures/{envelope_id}/fields")
async def fields_editor(envelope_id: str, page: Visitor) -> Response:
    refused = await page.refused()
    if refused is not None:
        return refused
    envelope = await _envelope_of(page, envelope_id)
    if envelope is None:
        return await page.not_found()
    if envelope.status != "draft":
        return RedirectResponse(f"/app/signatures/{envelope.id}", status_code=303)
    return await _editor(page, envelope)


@router.get("/app/signatures/{envelope_id}/documents/{document_id}/pages/{number}.png")
async def page_image(envelope_id: str, document_id: str, number: str, page: Visitor) -> Response:
    """A page of one of the organisation's envelope documents, as the signing page shows it."""
    envelope = await _envelope_of(page, envelope_id)
    if envelope is None or not number.isdigit() or not possible_id(document_id):
        return Response(status_code=404)
    parts = (await envelopes.parts_of(page.session, [envelope.id]))[envelope.id]
    document = next((d for d in parts.documents if d.id == document_id), None)
    if document is None:
        return Response(status_code=404)
    await end_read_phase(page.session)
    try:
        image = await preview.render_page(
            _runtime(page.request).storage, document.storage_key, document.size, int(number)
        )
    except preview.PreviewUnavailable:
        return Response(status_code=404)
    return Response(
        image, media_type="image/png", headers={"Cache-Control": "private, max-age=600"}
    )


class FormUnreadable(ValidationFailed):
    code = "form-unreadable"
    title = "The form could not be read"


async def _small_form(request: Request) -> dict[str, str]:
    try:
        form: FormData = await request.form(max_files=0, max_fields=MAX_FIELD_ROWS * 12 + 20)
    except Exception as exc:  # Starlette's own errors: too many fields, a broken body
        raise FormUnreadable(_("The form could not be read; retry.")) from exc
    values = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    check_csrf(request, _runtime(request).settings.signing_keys, values.get("csrf_token"))
    return values


def _submitted_rows(values: dict[str, str]) -> list[dict[str, Any]]:
    indices: dict[int, dict[str, Any]] = {}
    for key, value in values.items():
        match = ROW_KEY.fullmatch(key)
        if match:
            indices.setdefault(int(match.group(1)), {})[match.group(2)] = value.strip()
    rows = []
    for index in sorted(indices):
        row = indices[index]
        rows.append(
            {
                "index": index,
                **{k: row.get(k, "") for k in ("id", "recipient", "document", "type", *BOX)},
                "required": row.get("required") == "on",
                "delete": row.get("delete") == "on",
            }
        )
    return rows


FIELD_MESSAGES = {
    "recipient": _("Choose a signer or an approver of this envelope."),
    "document": _("Choose a document of this envelope."),
    "type": _("Choose one of the field types listed."),
    "page": _("A page number from 1."),
    "x": _("A number from 0 to 100 (percent of the page width)."),
    "y": _("A number from 0 to 100 (percent of the page height)."),
    "width": _("More than 0, at most 100 (percent of the page width)."),
    "height": _("More than 0, at most 100 (percent of the page height)."),
}
INPUT_OF = {"recipient_id": "recipient", "document_id": "document"}
CHECK_MESSAGES = {
    "unknown-recipient": ("recipient", FIELD_MESSAGES["recipient"]),
    "unknown-document": ("document", FIELD_MESSAGES["document"]),
    "page-not-found": ("page", _("This document has pages 1 to %(pages)s.")),
    "field-off-page": ("x", _("The field reaches outside its page: x + width and y + height "
                              "must stay within 100.")),
    "recipient-cannot-fill": ("type", _("An approver cannot own a signature or initials "
                                        "field; a signer can.")),
}  # fmt: skip


def _parse_row(page: View, row: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The API's field values of a row, or the errors of its inputs."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {
        "recipient_id": row["recipient"],
        "document_id": row["document"],
        "type": row["type"],
        "required": row["required"],
    }
    if row["page"].isdigit() and len(row["page"]) <= 6:
        values["page"] = int(row["page"])
    else:
        errors["page"] = page.say(FIELD_MESSAGES["page"])
    for name in ("x", "y", "width", "height"):
        try:
            number = float(row[name].replace(",", "."))
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            errors[name] = page.say(FIELD_MESSAGES[name])
        else:
            values[name] = number
    return values, errors


def _check_row(
    page: View,
    values: dict[str, Any],
    meta: dict[str, Any],
    parts: EnvelopeParts,
) -> tuple[FieldIn | None, dict[str, str]]:
    """The row checked by the API's own rules (schema, then ``service.check_field``)."""
    try:
        item = FieldIn.model_validate({**values, "meta": meta})
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for problem in exc.errors():
            name = str(problem["loc"][0]) if problem["loc"] else "type"
            name = INPUT_OF.get(name, name)
            message = FIELD_MESSAGES.get(name)
            if message is None:  # a choice field without its options
                name, message = "type", _("Choose one of the field types listed.")
            errors.setdefault(name, page.say(message))
        return None, errors
    recipients = {r.id: r for r in parts.recipients if r.role in OWNER_ROLES}
    documents = {d.id: d for d in parts.documents}
    try:
        service.check_field(0, item, recipients, documents)
    except ValidationFailed as exc:
        if exc.code not in CHECK_MESSAGES:
            return None, {"x": exc.detail}
        name, message = CHECK_MESSAGES[exc.code]
        pages = documents[item.document_id].pages if item.document_id in documents else 0
        return None, {
            name: page.say(message, pages=pages) if "%(" in message else page.say(message)
        }
    return item, {}


def _input_meta(f: EnvelopeField) -> dict[str, Any]:
    """A stored field's meta as the API takes it (without what the server adds, such as the
    text tag a field came from)."""
    return {k: v for k, v in (f.meta or {}).items() if k in FieldMeta.model_fields}


def _changed(f: EnvelopeField, item: FieldIn) -> bool:
    return (item.recipient_id, item.document_id, item.type, item.page, item.x, item.y,
            item.width, item.height, item.required) != (
        f.recipient_id, f.document_id, f.type, f.page, f.x, f.y, f.width, f.height, f.required
    )  # fmt: skip


SEND_MESSAGES = {
    "no-documents": _("Upload at least one PDF before sending."),
    "no-signers": _("Add at least one signer or approver."),
    "signer-without-signature-field": _(
        "%(name)s signs, but has no signature field yet: place one on a page."
    ),
    "envelope-not-draft": _("This envelope was already sent; its fields can no longer change."),
}


def _send_error(page: View, exc: TabellionError, parts: EnvelopeParts) -> str:
    message = SEND_MESSAGES.get(exc.code)
    if message is None:
        return exc.detail
    name = ""
    if exc.errors:
        found = re.match(r"recipients\[(\d+)\]", exc.errors[0].field)
        if found and int(found.group(1)) < len(parts.recipients):
            who = parts.recipients[int(found.group(1))]
            name = who.name or who.email
    return page.say(message, name=name) if "%(" in message else page.say(message)


@router.post("/app/signatures/{envelope_id}/fields")
async def save_fields(envelope_id: str, page: Visitor) -> Response:
    """Save the editor's fields (changed, added, removed) and, with ``then=send``, send the
    envelope: everything, or nothing and the form again with each error next to its input."""
    try:
        values = await _small_form(page.request)
    except FormUnreadable as exc:
        envelope = await _envelope_of(page, envelope_id)
        if envelope is None:
            return await page.not_found()
        return await _editor(page, envelope, status_code=exc.status, error=page.say(exc.detail))
    refused = await page.refused()
    if refused is not None:
        return refused
    envelope = await _envelope_of(page, envelope_id)
    if envelope is None:
        return await page.not_found()
    if envelope.status != "draft":
        return await _editor(
            page, envelope, status_code=409, error=page.say(SEND_MESSAGES["envelope-not-draft"])
        )
    parts = (await envelopes.parts_of(page.session, [envelope.id]))[envelope.id]
    rows = _submitted_rows(values)
    if len(rows) > MAX_FIELD_ROWS + BLANK_FIELD_ROWS:
        return await _editor(
            page,
            envelope,
            status_code=422,
            error=page.say(_("At most 500 fields can be saved at once.")),
        )
    stored = {f.id: f for f in parts.fields}
    row_errors: dict[int, dict[str, str]] = {}
    removed: list[str] = []
    changed: list[editing.FieldChanges] = []
    added: list[FieldIn] = []
    for row in rows:
        current = stored.get(row["id"]) if row["id"] else None
        if row["id"] and current is None:
            row_errors[row["index"]] = {"x": page.say(_("This field no longer exists."))}
            continue
        if row["delete"]:
            if current is not None:
                removed.append(current.id)
            continue
        if current is None and not any(row[k] for k in BOX):
            continue  # a blank row left empty
        field_values, errors = _parse_row(page, row)
        item = None
        if not errors:
            meta = _input_meta(current) if current is not None else {}
            item, errors = _check_row(page, field_values, meta, parts)
        if errors or item is None:
            row_errors[row["index"]] = errors
        elif current is None:
            added.append(item)
        elif _changed(current, item):
            changed.append(editing.FieldChanges(current.id, field_values))
    shown = [r for r in rows if r["id"] or any(r[k] for k in BOX)]
    if row_errors:
        return await _editor(
            page,
            envelope,
            status_code=422,
            rows=shown,
            row_errors=row_errors,
            error=page.say(_("Some fields are not right; see the messages next to them.")),
        )
    organization_id = page.user.organization_id
    try:
        for field_id in removed:
            await editing.delete_field(page.session, organization_id, field_id)
        if changed:
            await editing.update_fields(page.session, organization_id, envelope.id, changed)
        if added:
            await service.add_fields(page.session, organization_id, envelope.id, added)
        if values.get("then") == "send":
            await service.send(page.session, organization_id, envelope.id)
    except TabellionError as exc:
        # The 4xx answer rolls back what was flushed before the refusal.
        return await _editor(
            page, envelope, status_code=exc.status, rows=shown, error=_send_error(page, exc, parts)
        )
    if values.get("then") == "send":
        return RedirectResponse(f"/app/signatures/{envelope.id}?done=sent", status_code=303)
    return RedirectResponse(f"/app/signatures/{envelope.id}/fields?done=saved", status_code=303)


@router.post("/app/signatures/{envelope_id}/documents")
async def add_documents(envelope_id: str, page: Visitor) -> Response:
    """Add PDFs to a draft from its editor, streamed as on the new-envelope form."""
    refused = await page.refused()
    if refused is not None:
        return refused
    envelope = await _envelope_of(page, envelope_id)
    if envelope is None:
        return await page.not_found()
    try:
        await service.check_uploadable(page.session, page.user.organization_id, envelope.id)
    except TabellionError as exc:
        return await _editor(
            page, envelope, status_code=exc.status, upload_error=_upload_error(page, exc)
        )
    await end_read_phase(page.session)
    try:
        upload = await _read_upload(page.request, page.user.organization_id)
    except CsrfFailed:
        raise
    except TabellionError as exc:
        return await _editor(
            page, envelope, status_code=exc.status, upload_error=_upload_error(page, exc)
        )
    problem = (
        await _store_documents(page, envelope.id, upload.files)
        if upload.files
        else page.say(_("Choose at least one PDF to sign."))
    )
    if problem is not None:
        await _forget(page.request, upload.files)
        return await _editor(page, envelope, status_code=422, upload_error=problem)
    return RedirectResponse(f"/app/signatures/{envelope.id}/fields?done=added", status_code=303)
