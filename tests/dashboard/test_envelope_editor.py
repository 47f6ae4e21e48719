"""The dashboard's envelope editor over HTTP: a sender creates an envelope (title, recipients,
PDFs streamed), places fields with the form the page posts without script, and sends it; every
refusal shows its message next to its input and leaves nothing written; a viewer gets 403 and
no control; another organisation's envelope is not found."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import func, select

from tabellion.models.envelope import Envelope, EnvelopeDocument, EnvelopeField
from tabellion.runtime import Runtime
from tests.dashboard.helpers import signed_in_user
from tests.dashboard.test_pages import text_of
from tests.envelope.helpers import create_envelope, pdf_bytes, ready_draft, upload
from tests.envelope.test_placeholders import CONTRACT, RECIPIENTS
from tests.fixtures.factories import create_org_with_key
from tests.organization.test_activation_smtp import csrf_of

NEW = "/app/signatures/new"


async def _count(runtime: Runtime, model: Any) -> int:
    async with runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


def _stored_files(runtime: Runtime) -> list[Path]:
    return [p for p in (runtime.settings.data_dir / "blobs").rglob("*") if p.is_file()]


def _new_form(**extra: str) -> dict[str, str]:
    form = {
        "title": "Lease 12 Rue Haute",
        "message": "Please sign by Friday",
        "reference": "LEASE-12",
        "language": "fr",
        "signing_order": "sequential",
        "r0_name": "Ann Approver",
        "r0_email": "ann@example.test",
        "r0_role": "approver",
        "r0_order": "1",
        "r1_name": "Sam Signer",
        "r1_email": "sam@example.test",
        "r1_role": "signer",
        "r1_order": "2",
        "r2_name": "Cee Copy",
        "r2_email": "cee@example.test",
        "r2_role": "cc",
        "r2_order": "3",
        "r3_name": "",
        "r3_email": "",
        "r3_role": "signer",
        "r3_order": "4",
    }
    form.update(extra)
    return form


async def _post_new(
    client: httpx.AsyncClient,
    data: dict[str, str],
    files: list[tuple[str, bytes]],
    *,
    csrf: str | None = None,
) -> httpx.Response:
    if csrf is None:
        csrf = csrf_of((await client.get(NEW)).text)
    parts = [("files", (name, content, "application/pdf")) for name, content in files]
    # The token first, as the page's form sends it; no file chosen is a nameless empty part.
    empty = [("files", ("", b"", "application/octet-stream"))]
    return await client.post(NEW, data={"csrf_token": csrf, **data}, files=parts or empty)


async def _api_envelope(
    client: httpx.AsyncClient, auth: dict[str, str], envelope_id: str
) -> dict[str, Any]:
    response = await client.get(f"/v1/envelopes/{envelope_id}", headers=auth)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_signed_out_visitors_go_to_the_sign_in(client: httpx.AsyncClient) -> None:
    for path in (
        NEW,
        "/app/signatures/env_x/fields",
        "/app/signatures/env_x/documents/doc_x/pages/1.png",
    ):
        response = await client.get(path)
        assert response.status_code == 303 and response.headers["location"] == "/account/sign-in"
    for path in (NEW, "/app/signatures/env_x/fields", "/app/signatures/env_x/documents"):
        response = await client.post(path)
        assert response.status_code == 303 and response.headers["location"] == "/account/sign-in"


async def test_a_sender_creates_an_envelope_with_its_recipients_and_pdfs(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    await signed_in_user(client, auth, runtime, "sender")
    listing = await client.get("/app/signatures")
    assert 'href="/app/signatures/new"' in listing.text
    form = await client.get(NEW)
    assert form.status_code == 200 and '<script src="/static/envelope-editor.js"' in form.text
    assert 'enctype="multipart/form-data"' in form.text
    # The token is the form's first input: the server checks it before it stores a file.
    assert form.text.index('name="csrf_token"') < form.text.index('name="title"')
    assert "script-src 'self'" in form.headers["content-security-policy"]

    response = await _post_new(
        client, _new_form(), [("lease.pdf", pdf_bytes(2)), ("annex.pdf", pdf_bytes(1))]
    )
    assert response.status_code == 303, text_of(response)
    envelope_id = re.fullmatch(r"/app/signatures/(env_\w+)/fields", response.headers["location"])
    assert envelope_id
    envelope = await _api_envelope(client, auth, envelope_id.group(1))
    assert (envelope["status"], envelope["title"], envelope["message"], envelope["reference"]) == (
        "draft",
        "Lease 12 Rue Haute",
        "Please sign by Friday",
        "LEASE-12",
    )
    assert (envelope["language"], envelope["signing_order"]) == ("fr", "sequential")
    people = [(r["name"], r["email"], r["role"], r["order"]) for r in envelope["recipients"]]
    assert people == [
        ("Ann Approver", "ann@example.test", "approver", 1),
        ("Sam Signer", "sam@example.test", "signer", 2),
        ("Cee Copy", "cee@example.test", "cc", 3),
    ]
    assert [(d["filename"], d["pages"]) for d in envelope["documents"]] == [
        ("lease.pdf", 2),
        ("annex.pdf", 1),
    ]
    assert len(_stored_files(runtime)) == 2

    editor = await client.get(response.headers["location"])
    assert editor.status_code == 200
    lease, annex = envelope["documents"]
    base = f"/app/signatures/{envelope['id']}/documents"
    for document, pages in ((lease, 2), (annex, 1)):
        for number in range(1, pages + 1):
            assert f'src="{base}/{document["id"]}/pages/{number}.png"' in editor.text
    image = await client.get(f"{base}/{lease['id']}/pages/2.png")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    width, height = Image.open(io.BytesIO(image.content)).size
    assert abs(width / height - 595 / 842) < 0.01  # the page's own shape
    assert (await client.get(f"{base}/{lease['id']}/pages/3.png")).status_code == 404
    # Only signers and approvers own fields: the palette offers them, not the cc.
    palette = editor.text.split('id="palette-recipient"')[1].split("</select>")[0]
    assert "Sam Signer" in palette and "Ann Approver" in palette and "Cee Copy" not in palette


async def test_a_refused_new_envelope_shows_each_error_and_writes_nothing(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    await signed_in_user(client, auth, runtime, "sender")
    bad = _new_form(title="", r1_email="not an address", r0_order="first")
    response = await _post_new(client, bad, [("lease.pdf", pdf_bytes(1))])
    assert response.status_code == 422
    body = response.text
    assert 'id="title-error"' in body and "A title of 1 to 255 characters." in text_of(response)
    assert 'id="r1_email-error"' in body and "An e-mail address such as" in text_of(response)
    assert 'id="r0_order-error"' in body
    assert 'aria-describedby="r1_email-error"' in body
    assert 'value="Sam Signer"' in body  # what was typed is kept

    no_file = await _post_new(client, _new_form(), [])
    assert no_file.status_code == 422 and 'id="files-error"' in no_file.text
    assert "Choose at least one PDF" in text_of(no_file)

    not_pdf = await _post_new(
        client, _new_form(), [("lease.pdf", pdf_bytes(1)), ("notes.pdf", b"hello, not a PDF")]
    )
    assert not_pdf.status_code == 422 and "notes.pdf is not a PDF." in text_of(not_pdf)

    nobody = {k: v for k, v in _new_form().items() if not k.startswith("r")}
    empty = await _post_new(client, nobody, [("lease.pdf", pdf_bytes(1))])
    assert empty.status_code == 422 and "Add at least one recipient." in text_of(empty)

    # A 21st PDF stops the form: the 20 already stored are deleted again.
    many = [(f"part-{n}.pdf", pdf_bytes(1)) for n in range(21)]
    too_many = await _post_new(client, _new_form(), many)
    assert too_many.status_code == 409
    assert "An envelope holds at most 20 PDFs." in text_of(too_many)

    assert await _count(runtime, Envelope) == 0
    assert await _count(runtime, EnvelopeDocument) == 0
    assert _stored_files(runtime) == []


async def test_the_form_token_is_checked_before_any_file_is_stored(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    await signed_in_user(client, auth, runtime, "sender")
    response = await _post_new(client, _new_form(), [("a.pdf", pdf_bytes(1))], csrf="forged")
    assert response.status_code == 403
    assert await _count(runtime, Envelope) == 0
    assert _stored_files(runtime) == []


async def test_a_large_pdf_streams_into_storage_in_flat_memory(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    """A 24 MiB PDF sent in 64 KiB pieces: the request peaks far below its size."""
    import tracemalloc

    await signed_in_user(client, auth, runtime, "sender")
    csrf = csrf_of((await client.get(NEW)).text)
    boundary = "tabellion-test-boundary"
    fields = {"csrf_token": csrf, **_new_form()}
    head = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
        for k, v in fields.items()
    ).encode()
    head += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="big.pdf"\r\n'
        "Content-Type: application/pdf\r\n\r\n"
    ).encode()
    pieces, size = _padded_pdf(24 * 1024 * 1024)

    async def body() -> AsyncIterator[bytes]:
        yield head
        for piece in pieces():
            yield piece
        yield f"\r\n--{boundary}--\r\n".encode()

    tracemalloc.start()
    try:
        response = await client.post(
            NEW,
            content=body(),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 303, text_of(response)
    envelope_id = response.headers["location"].split("/")[3]
    [document] = (await _api_envelope(client, auth, envelope_id))["documents"]
    assert (document["filename"], document["pages"], document["size"]) == ("big.pdf", 1, size)
    assert peak < 4 * 1024 * 1024, f"peak {peak / 1024 / 1024:.1f} MiB"


def _padded_pdf(total: int) -> tuple[Any, int]:
    """A one-page PDF of about ``total`` bytes (a content stream of spaces), made in 64 KiB
    pieces: the pieces and the exact size."""
    chunk = 64 * 1024
    length = total // chunk * chunk
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
    ]
    header = b"%PDF-1.4\n"
    parts = [header]
    offsets = []
    position = len(header)
    for number, content in enumerate(objects, start=1):
        data = b"%d 0 obj\n" % number + content + b"\nendobj\n"
        offsets.append(position)
        parts.append(data)
        position += len(data)
    offsets.append(position)
    stream_head = b"4 0 obj\n<< /Length %d >>\nstream\n" % length
    stream_tail = b"\nendstream\nendobj\n"
    xref_at = position + len(stream_head) + length + len(stream_tail)
    xref = b"xref\n0 5\n0000000000 65535 f \n" + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    trailer = b"trailer\n<< /Size 5 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % xref_at

    def pieces() -> Any:
        yield b"".join(parts) + stream_head
        spaces = b" " * chunk
        for _ in range(length // chunk):
            yield spaces
        yield stream_tail + xref + trailer

    size = xref_at + len(xref) + len(trailer)
    return pieces, size


def _row(index: int, **values: str) -> dict[str, str]:
    return {f"field-{index}-{k}": v for k, v in values.items()}


def _editor_rows(page: str) -> dict[str, str]:
    """The editor form's inputs as the page fills them in (the ones a browser posts)."""
    found: dict[str, str] = {}
    inputs = r'<input type="(?:hidden|text)"[^>]* name="(field-\d+-[a-z]+)" value="([^"]*)"'
    for name, value in re.findall(inputs, page):
        found[name] = value
    for name in re.findall(r'<select id="[^"]+" name="(field-\d+-[a-z]+)"', page):
        section = page.split(f'name="{name}"', 1)[1].split("</select>", 1)[0]
        chosen = re.search(r'<option value="([^"]*)"[^>]*selected', section) or re.search(
            r'<option value="([^"]*)"', section
        )
        found[name] = chosen.group(1) if chosen else ""
    for name in re.findall(r'name="(field-\d+-(?:required|delete))" value="on"[^>]* checked', page):
        found[name] = "on"
    return found


def _id_of(envelope: dict[str, Any], who: str) -> str:
    return next(r["id"] for r in envelope["recipients"] if r["email"] == f"{who}@example.test")


async def _sender_with_draft(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> tuple[dict[str, Any], str, str]:
    """A signed-in sender and a draft (approver Ann, signer Sam, cc Cee, in this order; a
    3-page PDF) without fields; its editor's CSRF token."""
    envelope = await create_envelope(client, auth, recipients=RECIPIENTS)
    response = await upload(client, auth, envelope["id"], pdf_bytes(3))
    assert response.status_code == 201, response.text
    await signed_in_user(client, auth, runtime, "sender")
    editor = await client.get(f"/app/signatures/{envelope['id']}/fields")
    assert editor.status_code == 200, editor.text
    return (
        await _api_envelope(client, auth, envelope["id"]),
        response.json()["id"],
        csrf_of(editor.text),
    )


async def test_fields_placed_with_the_form_are_saved_moved_removed_and_sent(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    envelope, document_id, csrf = await _sender_with_draft(client, auth, runtime)
    ann, sam = (_id_of(envelope, name) for name in ("ann", "sam"))
    path = f"/app/signatures/{envelope['id']}/fields"
    first = {
        "csrf_token": csrf,
        **_row(
            0,
            id="",
            recipient=sam,
            document=document_id,
            type="signature",
            page="2",
            x="12.5",
            y="70",
            width="30",
            height="6.25",
            required="on",
        ),
        **_row(
            1,
            id="",
            recipient=ann,
            document=document_id,
            type="text",
            page="1",
            x="10",
            y="10",
            width="20",
            height="4",
        ),
        **_row(
            2,
            id="",
            recipient=sam,
            document=document_id,
            type="signature",
            page="",
            x="",
            y="",
            width="",
            height="",
        ),  # a blank row: ignored
        "then": "save",
    }
    saved = await client.post(path, data=first)
    assert saved.status_code == 303, re.findall(r"class=\"error\"[^<]*", saved.text)
    assert saved.headers["location"] == path + "?done=saved"
    state = await _api_envelope(client, auth, envelope["id"])
    boxes = [
        (
            f["recipient_id"],
            f["type"],
            f["page"],
            f["x"],
            f["y"],
            f["width"],
            f["height"],
            f["required"],
        )
        for f in state["fields"]
    ]
    assert sorted(boxes) == sorted(
        [
            (sam, "signature", 2, 12.5, 70.0, 30.0, 6.25, True),
            (ann, "text", 1, 10.0, 10.0, 20.0, 4.0, False),
        ]
    )

    # The page shows them again as rows; moving one and removing the other is one save.
    page = await client.get(path + "?done=saved")
    assert "The fields were saved." in text_of(page)
    rows = _editor_rows(page.text)
    signature = next(f for f in state["fields"] if f["type"] == "signature")
    text = next(f for f in state["fields"] if f["type"] == "text")
    index = {rows[k]: k.split("-")[1] for k in rows if k.endswith("-id") and rows[k]}
    rows[f"field-{index[signature['id']]}-x"] = "40"
    rows[f"field-{index[signature['id']]}-page"] = "3"
    rows[f"field-{index[text['id']]}-delete"] = "on"
    moved = await client.post(path, data={"csrf_token": csrf, **rows, "then": "save"})
    assert moved.status_code == 303, text_of(moved)
    state = await _api_envelope(client, auth, envelope["id"])
    [kept] = state["fields"]
    assert (kept["id"], kept["page"], kept["x"], kept["y"]) == (signature["id"], 3, 40.0, 70.0)

    # Save and send: the envelope is pending, the first in order (Ann) invited.
    rows = _editor_rows((await client.get(path)).text)
    sent = await client.post(path, data={"csrf_token": csrf, **rows, "then": "send"})
    assert sent.status_code == 303
    assert sent.headers["location"] == f"/app/signatures/{envelope['id']}?done=sent"
    assert "The envelope was sent" in text_of(await client.get(sent.headers["location"]))
    state = await _api_envelope(client, auth, envelope["id"])
    assert state["status"] == "pending"
    assert {r["email"]: r["status"] for r in state["recipients"]} == {
        "ann@example.test": "sent",
        "sam@example.test": "waiting",
        "cee@example.test": "waiting",
    }
    # Sent: the editor leads to the envelope's page, and a late save changes nothing.
    assert (await client.get(path)).headers["location"] == f"/app/signatures/{envelope['id']}"
    late = await client.post(path, data={"csrf_token": csrf, **rows, "then": "save"})
    assert late.status_code == 409 and "already sent" in text_of(late)


@pytest.mark.parametrize(
    ("change", "input_name", "message"),
    [
        ({"x": "90", "width": "20"}, "x", "reaches outside its page"),
        ({"page": "9"}, "page", "This document has pages 1 to 3."),
        ({"recipient": "rcp_unknown"}, "recipient", "Choose a signer or an approver"),
        ({"recipient": "CEE"}, "recipient", "Choose a signer or an approver"),
        ({"recipient": "ANN"}, "type", "An approver cannot own a signature"),
        ({"width": "0"}, "width", "More than 0, at most 100"),
        ({"y": "ten"}, "y", "A number from 0 to 100"),
        ({"type": "stamp"}, "type", "Choose one of the field types listed."),
    ],
)
async def test_a_bad_field_is_shown_next_to_its_input_and_nothing_is_saved(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
    change: dict[str, str],
    input_name: str,
    message: str,
) -> None:
    envelope, document_id, csrf = await _sender_with_draft(client, auth, runtime)
    people = {r["email"][:3].upper(): r["id"] for r in envelope["recipients"]}
    good = {
        "id": "",
        "recipient": people["SAM"],
        "document": document_id,
        "type": "signature",
        "page": "1",
        "x": "10",
        "y": "80",
        "width": "30",
        "height": "6",
        "required": "on",
    }
    bad = {**good, **change}
    bad["recipient"] = people.get(bad["recipient"], bad["recipient"])
    response = await client.post(
        f"/app/signatures/{envelope['id']}/fields",
        data={"csrf_token": csrf, **_row(0, **good), **_row(1, **bad), "then": "send"},
    )
    assert response.status_code == 422
    assert message in text_of(response)
    # The message is the second row's, next to it; its input is marked and described by it.
    row = response.text.split('id="field-1"', 1)[1].split("</fieldset>", 1)[0]
    assert 'id="field-1-error"' in row and message in text_of(httpx.Response(200, text=row))
    marked = (
        rf'name="field-1-{input_name}"[^>]*aria-invalid="true" aria-describedby="field-1-error"'
    )
    assert re.search(marked, row), row
    assert 'id="field-0-error"' not in response.text
    state = await _api_envelope(client, auth, envelope["id"])
    assert (state["status"], state["fields"]) == ("draft", [])


async def test_send_without_a_signature_field_saves_nothing(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    envelope, document_id, csrf = await _sender_with_draft(client, auth, runtime)
    ann = _id_of(envelope, "ann")
    response = await client.post(
        f"/app/signatures/{envelope['id']}/fields",
        data={
            "csrf_token": csrf,
            **_row(
                0,
                id="",
                recipient=ann,
                document=document_id,
                type="date",
                page="1",
                x="10",
                y="10",
                width="20",
                height="4",
            ),
            "then": "send",
        },
    )
    assert response.status_code == 422
    assert "Sam Signer signs, but has no signature field yet" in text_of(response)
    assert 'value="10"' in response.text  # the rows as submitted, to fix
    state = await _api_envelope(client, auth, envelope["id"])
    assert (state["status"], state["fields"]) == ("draft", [])


async def test_a_viewer_is_refused_everything_and_sees_no_control(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    envelope, _ = await ready_draft(client, auth)
    await signed_in_user(client, auth, runtime, "viewer")
    listing = await client.get("/app/signatures")
    assert "/app/signatures/new" not in listing.text
    detail = await client.get(f"/app/signatures/{envelope['id']}")
    assert "/fields" not in detail.text
    csrf = csrf_of(listing.text)
    refusal = "a sender or an admin creates and sends them"
    for response in (
        await client.get(NEW),
        await _post_new(client, _new_form(), [("a.pdf", pdf_bytes(1))], csrf=csrf),
        await client.get(f"/app/signatures/{envelope['id']}/fields"),
        await client.post(
            f"/app/signatures/{envelope['id']}/fields",
            data={"csrf_token": csrf, "then": "send"},
        ),
        await client.post(
            f"/app/signatures/{envelope['id']}/documents",
            files=[("files", ("a.pdf", pdf_bytes(1), "application/pdf"))],
            data={"csrf_token": csrf},
        ),
    ):
        assert response.status_code == 403, response.text
        assert refusal in text_of(response)
        assert '<form method="post" action="/app/signatures' not in response.text
    state = await _api_envelope(client, auth, envelope["id"])
    assert state["status"] == "draft" and len(state["documents"]) == 1
    assert await _count(runtime, Envelope) == 1


async def test_another_organisations_envelope_is_not_found(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    theirs, document_id = await ready_draft(client, auth)
    _, other_key = await create_org_with_key(runtime, "Other")
    await signed_in_user(client, {"Authorization": f"Bearer {other_key}"}, runtime, "sender")
    csrf = csrf_of((await client.get(NEW)).text)
    base = f"/app/signatures/{theirs['id']}"
    assert (await client.get(base + "/fields")).status_code == 404
    assert (await client.get(f"{base}/documents/{document_id}/pages/1.png")).status_code == 404
    sam = next(r["id"] for r in theirs["recipients"] if r["role"] == "signer")
    posted = await client.post(
        base + "/fields",
        data={
            "csrf_token": csrf,
            **_row(
                0,
                id="",
                recipient=sam,
                document=document_id,
                type="signature",
                page="1",
                x="50",
                y="50",
                width="10",
                height="5",
            ),
            "then": "send",
        },
    )
    assert posted.status_code == 404
    added = await client.post(
        base + "/documents",
        data={"csrf_token": csrf},
        files=[("files", ("b.pdf", pdf_bytes(1), "application/pdf"))],
    )
    assert added.status_code == 404
    state = await _api_envelope(client, auth, theirs["id"])
    assert state["status"] == "draft" and len(state["fields"]) == 1
    assert len(state["documents"]) == 1
    assert await _count(runtime, EnvelopeField) == 1


async def test_a_pdf_is_added_from_the_editor_and_tagged_fields_move(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    """A PDF added to the draft brings the fields of its text tags, as the API's upload does;
    a tagged field moved keeps the tag completion clears from the PDF."""
    envelope, _, csrf = await _sender_with_draft(client, auth, runtime)
    path = f"/app/signatures/{envelope['id']}"
    added = await client.post(
        path + "/documents",
        data={"csrf_token": csrf},
        files=[("files", ("contract.pdf", CONTRACT, "application/pdf"))],
    )
    assert added.status_code == 303 and added.headers["location"] == path + "/fields?done=added"
    state = await _api_envelope(client, auth, envelope["id"])
    assert [d["filename"] for d in state["documents"]] == ["agreement.pdf", "contract.pdf"]
    tagged = next(f for f in state["fields"] if f["type"] == "signature")
    tag = tagged["meta"]["tag"]
    rows = _editor_rows((await client.get(path + "/fields")).text)
    index = next(k.split("-")[1] for k, v in rows.items() if v == tagged["id"])
    rows[f"field-{index}-y"] = "50"
    moved = await client.post(path + "/fields", data={"csrf_token": csrf, **rows, "then": "save"})
    assert moved.status_code == 303, text_of(moved)
    state = await _api_envelope(client, auth, envelope["id"])
    after = next(f for f in state["fields"] if f["id"] == tagged["id"])
    assert after["y"] == 50.0 and after["meta"]["tag"] == tag

    not_pdf = await client.post(
        path + "/documents",
        data={"csrf_token": csrf},
        files=[("files", ("notes.pdf", b"plain text", "application/pdf"))],
    )
    assert not_pdf.status_code == 422 and "notes.pdf is not a PDF." in text_of(not_pdf)
    assert 'id="files-error"' in not_pdf.text
    assert len((await _api_envelope(client, auth, envelope["id"]))["documents"]) == 2


async def test_the_pages_and_their_errors_speak_the_visitors_language(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    envelope, document_id, csrf = await _sender_with_draft(client, auth, runtime)
    form = await client.get(NEW + "?lang=fr")  # remembered in a cookie
    assert "Nouvelle enveloppe" in text_of(form) and "Continuer : placer les champs" in text_of(
        form
    )
    editor = await client.get(f"/app/signatures/{envelope['id']}/fields")
    assert "Gauche (%)" in text_of(editor) and "Enregistrer et envoyer" in text_of(editor)
    sam = _id_of(envelope, "sam")
    refused = await client.post(
        f"/app/signatures/{envelope['id']}/fields",
        data={
            "csrf_token": csrf,
            **_row(
                0,
                id="",
                recipient=sam,
                document=document_id,
                type="signature",
                page="7",
                x="10",
                y="10",
                width="20",
                height="4",
            ),
            "then": "save",
        },
    )
    assert refused.status_code == 422
    assert "Ce document a les pages 1 à 3." in text_of(refused)
