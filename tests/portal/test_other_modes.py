"""Simple, deliver and secure deliveries, downloads, replies, and the vault."""

from __future__ import annotations

import base64
import json
import re
import time

import httpx
import pytest

from tabellion.jobs.worker import Worker
from tabellion.portal import pages
from tabellion.runtime import Runtime
from tests.conftest import count_rows
from tests.fixtures.factories import create_org_with_key, message_body, natural_recipient
from tests.portal.helpers import (
    age_codes,
    csrf,
    dispatch,
    latest_code,
    notify,
    outbox_codes,
    outbox_mails,
    outbox_read,
    proof_content,
    reply_in_portal,
    status_of,
)


@pytest.mark.parametrize("mode", ["simple", "deliver", "secure"])
async def test_opening_records_receipt_once(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, mode: str
) -> None:
    delivery = await dispatch(client, auth, mode=mode)
    link = await notify(runtime, delivery["id"])
    landing = await client.get(link)
    assert "Acme sent you a message" in landing.text
    assert "Secret body" not in landing.text  # a link scanner's GET records nothing
    assert (await status_of(client, auth, delivery["id"]))["status"] == "notified"
    opened = await client.post(f"{link}/open", data={"csrf_token": csrf(landing.text)})
    assert opened.status_code == 303
    page = (await client.get(link)).text
    assert "Secret subject" in page and "Secret body" in page
    await client.post(f"{link}/open", data={"csrf_token": csrf(landing.text)})
    state = await status_of(client, auth, delivery["id"])
    assert state["status"] == "received"
    assert [e["type"] for e in state["evidence"]] == ["SENT", "NOTIFIED", "RECEIVED"]


async def test_download_streams_and_records_first_download(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    delivery = await dispatch(client, auth, mode="simple")
    link = await notify(runtime, delivery["id"])
    attachment_id = (
        await client.get(f"/v1/messages/{delivery['message_id']}", headers=auth)
    ).json()["attachments"][0]["id"]
    before = await client.get(f"{link}/files/{attachment_id}")
    assert before.status_code == 303  # not opened yet
    landing = await client.get(link)
    await client.post(f"{link}/open", data={"csrf_token": csrf(landing.text)})
    for _ in range(2):
        file = await client.get(f"{link}/files/{attachment_id}")
        assert file.status_code == 200
        assert file.content == b"%PDF-1.4\n%%EOF\n"
        assert file.headers["content-type"] == "application/pdf"
        assert file.headers["content-disposition"].startswith("attachment")
        assert "contract.pdf" in file.headers["content-disposition"]
        assert file.headers["content-length"] == str(len(b"%PDF-1.4\n%%EOF\n"))
        assert file.headers["x-content-type-options"] == "nosniff"
    inline = await client.get(f"{link}/files/{attachment_id}?inline=1")
    assert inline.headers["content-disposition"].startswith("inline")
    # Another browser with the link but not this one's session is sent to the letter's page.
    transport = client._transport  # the same app, no cookies
    async with httpx.AsyncClient(transport=transport, base_url=client.base_url) as other:
        elsewhere = await other.get(f"{link}/files/{attachment_id}")
    assert elsewhere.status_code == 303 and elsewhere.content == b""
    assert elsewhere.headers["location"] == httpx.URL(link).path
    evidence = (await status_of(client, auth, delivery["id"]))["evidence"]
    [downloaded] = [e for e in evidence if e["type"] == "DOWNLOADED"]
    # Its proof, as the sender and a verifier read it, names the way the file went out.
    content = await proof_content(client, auth, runtime, downloaded["id"])
    assert content["recipient"]["action"]["authentication"] == {"method": "portal"}


async def test_secure_thread_both_sides_in_order(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    delivery = await dispatch(client, auth, mode="secure")
    link = await reply_in_portal(
        client,
        runtime,
        delivery["id"],
        "Thanks <script>alert(1)</script>\n\nSee attached.",
        {"files": ("answer.txt", b"signed copy", "text/plain")},
    )
    answered = await client.post(
        f"/v1/deliveries/{delivery['id']}/replies",
        json={"body_html": "<p>Received, thank you.</p><script>x()</script>"},
        headers=auth,
    )
    assert answered.status_code == 201, answered.text
    assert "<script" not in answered.json()["body_html"]
    # The worker tells the recipient, with the link back to the thread.
    await Worker(runtime, poll_interval=0.05).run_until_idle()
    (mail,) = outbox_read(runtime, ".answer@")
    assert (mail["To"], mail["Subject"]) == (delivery["recipient"]["email"], "Acme answered you")
    text = mail.get_body(("plain",))
    assert text is not None and f"http://tabellion.test{link}" in text.get_content()
    thread = (await client.get(f"/v1/deliveries/{delivery['id']}/replies", headers=auth)).json()
    assert [r["author"] for r in thread["data"]] == ["recipient", "sender"]
    first = thread["data"][0]
    assert "<script" not in first["body_html"] and "&lt;script&gt;" in first["body_html"]
    assert first["attachments"][0]["filename"] == "answer.txt"
    assert first["attachments"][0]["size"] == len(b"signed copy")
    shown = (await client.get(link)).text
    assert shown.index("See attached") < shown.index("Received, thank you")
    file = await client.get(f"{link}/files/{first['attachments'][0]['id']}")
    assert file.content == b"signed copy"
    state = await status_of(client, auth, delivery["id"])
    assert "REPLIED" in [e["type"] for e in state["evidence"]]
    # The sender fetches the recipient's file through the API.
    file_id = first["attachments"][0]["id"]
    api_file = f"/v1/deliveries/{delivery['id']}/replies/{first['id']}/files/{file_id}"
    fetched = await client.get(api_file, headers=auth)
    assert fetched.status_code == 200, fetched.text
    assert fetched.content == b"signed copy"
    assert fetched.headers["content-type"].startswith("text/plain")
    assert 'filename="answer.txt"' in fetched.headers["content-disposition"]
    assert fetched.headers["x-content-type-options"] == "nosniff"
    unknown = await client.get(api_file.replace(file_id, "att_unknown"), headers=auth)
    assert unknown.status_code == 404 and unknown.json()["code"] == "reply-file-not-found"
    _, other_key = await create_org_with_key(runtime, "Other")
    other = await client.get(api_file, headers={"Authorization": f"Bearer {other_key}"})
    assert other.status_code == 404 and other.json()["code"] == "delivery-not-found"


async def test_the_sender_attaches_files_to_a_reply(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    delivery = await dispatch(client, auth, mode="secure")
    link = await notify(runtime, delivery["id"])
    landing = await client.get(link)
    await client.post(f"{link}/open", data={"csrf_token": csrf(landing.text)})
    url = f"/v1/deliveries/{delivery['id']}/replies"
    sent = await client.post(
        url,
        data={"reply": json.dumps({"body_html": "<p>The signed copy.</p>"})},
        files=[
            ("files", ("signed.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")),
            ("files", ("notes.txt", b"two lines\nof notes", "text/plain")),
        ],
        headers=auth,
    )
    assert sent.status_code == 201, sent.text
    reply = sent.json()
    assert reply["author"] == "sender"
    assert [(f["filename"], f["content_type"], f["size"]) for f in reply["attachments"]] == [
        ("signed.pdf", "application/pdf", 15),
        ("notes.txt", "text/plain", 18),
    ]
    # The recipient sees and downloads it; so does the sender through the API.
    page = (await client.get(link)).text
    assert "signed.pdf" in page and "The signed copy." in page
    notes = reply["attachments"][1]
    assert (await client.get(f"{link}/files/{notes['id']}")).content == b"two lines\nof notes"
    api = await client.get(f"{url}/{reply['id']}/files/{notes['id']}", headers=auth)
    assert api.content == b"two lines\nof notes"
    # The same rules as a message's attachments.
    exe = [("files", ("setup.exe", b"MZ\x90\x00", "application/octet-stream"))]
    empty = [("files", ("a.txt", b"a", "text/plain")), ("files", ("e.txt", b"", "text/plain"))]
    for files, code, field in [
        (exe, "executable-refused", "files[0]"),
        (empty, "empty-file", "files[1]"),
    ]:
        refused = await client.post(
            url, data={"reply": json.dumps({"body_html": "<p>x</p>"})}, files=files, headers=auth
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == code
        assert refused.json()["errors"][0]["field"] == field
    missing = await client.post(url, files=exe, headers=auth)
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "reply"
    thread = (await client.get(url, headers=auth)).json()
    assert len(thread["data"]) == 1


async def test_a_reply_is_emailed_to_the_sender_the_message_names(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    created = await client.post("/v1/users", json={"email": "sam@acme.test"}, headers=auth)
    assert created.status_code == 201, created.text
    named = await dispatch(client, auth, mode="secure", sender={"email": "sam@acme.test"})
    unnamed = await dispatch(client, auth, mode="secure")  # the organisation itself sends
    for delivery in (named, unnamed):
        await reply_in_portal(
            client,
            runtime,
            delivery["id"],
            "Signed <b>copy</b> attached.",
            {"files": ("signed.pdf", b"%PDF-1.4", "application/pdf")},
        )
    [mail] = await outbox_mails(runtime, "to-sender")
    assert mail["To"] == "sam@acme.test" and mail["Subject"] == "Re: Secret subject"
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "jane0@example.test" in text and "Signed <b>copy</b> attached." in text
    assert "signed.pdf" in text and f"/v1/deliveries/{named['id']}/replies" in text
    assert "Signed &lt;b&gt;copy&lt;/b&gt; attached." in html  # escaped, as the recipient wrote it


@pytest.mark.parametrize(
    ("lang", "sent", "sizes", "limit"),
    [
        ("en", "Your reply was sent.", "(1.3 kB)", "Up to 10 files, at most 250 MB each."),
        ("fr", "Votre réponse a été envoyée.", "(1,3\u202fko)", "de 250\u202fMo au plus chacun"),
        ("nl", "Uw antwoord werd verstuurd.", "(1,3 kB)", "elk hoogstens 250 MB."),
        ("de", "Ihre Antwort wurde gesendet.", "(1,3 kB)", "jeweils höchstens 250 MB."),
    ],
)
async def test_reply_is_confirmed_and_sizes_are_localised(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
    lang: str,
    sent: str,
    sizes: str,
    limit: str,
) -> None:
    delivery = await dispatch(client, auth, mode="secure", language=lang)
    link = await notify(runtime, delivery["id"])
    landing = await client.get(link)
    await client.post(f"{link}/open", data={"csrf_token": csrf(landing.text)})
    page = (await client.get(link)).text
    assert limit in page  # the reply form says its limits, in the page's language
    assert sent not in page
    reply = await client.post(
        f"{link}/reply",
        data={"csrf_token": csrf(page), "body": "Signed."},
        files={"files": ("answer.bin", b"x" * 1300, "application/octet-stream")},
    )
    # Post, redirect, get: the confirmation needs no JavaScript, and a reload sends nothing.
    assert reply.status_code == 303 and reply.headers["location"] == f"{link}?replied=1"
    confirmed = (await client.get(reply.headers["location"])).text
    assert f'<p class="ok" role="status" id="page-status">{sent}</p>' in confirmed
    assert sizes in confirmed  # the reply's file, 1300 bytes
    assert sent not in (await client.get(link)).text  # said once, after sending
    # The delivery's own document, 15 bytes, spelled out as each language does.
    assert {"en": "(15 bytes)", "fr": "(15\u00a0octets)", "nl": "(15 byte)", "de": "(15 Byte)"}[
        lang
    ] in confirmed


async def test_reply_confirmation_is_not_shown_to_strangers(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    delivery = await dispatch(client, auth, mode="secure")
    link = await notify(runtime, delivery["id"])
    landing = (await client.get(f"{link}?replied=1")).text
    assert "Your reply was sent." not in landing  # not opened: no thread, no confirmation


async def test_reply_rules(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    delivery = await dispatch(client, auth, mode="secure")
    link = await notify(runtime, delivery["id"])
    landing = await client.get(link)
    await client.post(f"{link}/open", data={"csrf_token": csrf(landing.text)})
    token = csrf((await client.get(link)).text)
    no_csrf = await client.post(
        f"{link}/reply", data={"body": "hi"}, files={"files": ("a.txt", b"x", "text/plain")}
    )
    assert no_csrf.status_code == 403
    empty = await client.post(
        f"{link}/reply",
        data={"csrf_token": token, "body": " "},
        files={"files": ("", b"", "application/octet-stream")},
    )
    assert empty.status_code == 422
    # The same checks as the sender's attachments: empty, executable, lying about its type.
    for name, content, declared, says in [
        ("blank.pdf", b"", "application/pdf", "blank.pdf is empty"),
        ("setup.exe", b"MZ\x90\x00", "application/octet-stream", "setup.exe is an executable"),
        ("notes.pdf", b"plain words", "application/pdf", "declared application/pdf"),
    ]:
        refused = await client.post(
            f"{link}/reply",
            data={"csrf_token": token, "body": "see attached"},
            files={"files": (name, content, declared)},
        )
        assert refused.status_code == 422
        assert says in refused.text
    object.__setattr__(runtime.settings, "max_attachment_bytes", 10)
    too_big = await client.post(
        f"{link}/reply",
        data={"csrf_token": token, "body": "hi"},
        files={"files": ("big.bin", b"y" * 100, "application/octet-stream")},
    )
    assert too_big.status_code == 413
    assert await count_rows(runtime, "replies") == 0
    simple = await dispatch(client, auth, mode="simple")
    not_secure = await client.post(
        f"/v1/deliveries/{simple['id']}/replies", json={"body_html": "<p>x</p>"}, headers=auth
    )
    assert not_secure.status_code == 409
    assert not_secure.json()["code"] == "delivery-not-secure"


async def test_vault_lists_everything_for_an_address(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    registered = await dispatch(client, auth)
    simple = await dispatch(client, auth, mode="simple", subject="Visible subject")
    _, other_key = await create_org_with_key(runtime, "Other Org")
    other = {"Authorization": f"Bearer {other_key}"}
    created = await client.post(
        "/v1/messages?dispatch=true",
        json=message_body(
            mode="deliver", subject="From another org", recipients=[natural_recipient(0)]
        ),
        headers=other,
    )
    assert created.status_code == 202
    form = await client.get("/vault")
    assert "Sign in to your secure space" in form.text
    sent = await client.post(
        "/vault/code", data={"email": "jane0@example.test", "csrf_token": csrf(form.text)}
    )
    assert sent.status_code == 303 and sent.headers["location"] == "/vault?step=code"
    asked = await client.get("/vault?step=code")
    assert "a 6-digit code is on its way" in asked.text
    code = await latest_code(runtime, "jane0@example.test")
    signed = await client.post(
        "/vault/verify",
        data={"email": "jane0@example.test", "code": code, "csrf_token": csrf(asked.text)},
    )
    assert signed.status_code == 303
    listing = (await client.get("/vault")).text
    assert "From another org" in listing and "Visible subject" in listing
    assert "Secret subject" not in listing  # registered, not accepted: no subject
    assert listing.index("From another org") < listing.index("Visible subject")
    # Opening a registered letter from the vault: the sign-in code confirmed the address.
    page = await client.get(f"/vault/d/{registered['id']}")
    assert "Accept the letter" in page.text
    accepted = await client.post(
        f"/vault/d/{registered['id']}/answer",
        data={"decision": "accept", "confirm": "yes", "csrf_token": csrf(page.text)},
    )
    assert accepted.status_code == 303
    assert "Secret subject" in (await client.get("/vault")).text
    opened = await client.get(f"/vault/d/{simple['id']}")
    assert "Visible subject" in opened.text
    assert (await status_of(client, auth, simple["id"]))["status"] == "received"
    # Signed in, a delivery that does not exist is no page of the vault either.
    missing = await client.get("/vault/d/dlv_01jd0000000000000000000000")
    assert missing.status_code == 303 and missing.headers["location"] == "/vault"
    listing = (await client.get("/vault")).text
    out = await client.post("/vault/sign-out", data={"csrf_token": csrf(listing)})
    assert out.status_code == 303
    assert "Your e-mail address" in (await client.get("/vault")).text


async def test_vault_reveals_nothing_about_unknown_addresses(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    form = await client.get("/vault")
    sent = await client.post(
        "/vault/code", data={"email": "nobody@example.test", "csrf_token": csrf(form.text)}
    )
    assert sent.status_code == 303 and sent.headers["location"] == "/vault?step=code"
    asked = await client.get("/vault?step=code")
    assert "a 6-digit code is on its way" in asked.text
    assert await count_rows(runtime, "one_time_codes") == 0
    await age_codes(runtime, "nobody@example.test")
    bad = await client.post(
        "/vault/verify",
        data={"email": "nobody@example.test", "code": "123456", "csrf_token": csrf(asked.text)},
    )
    assert "expired" in bad.text
    other = await client.get("/vault/d/dlv_01jd0000000000000000000000")
    assert other.status_code == 303


async def ask_vault_code(client: httpx.AsyncClient, address: str) -> httpx.Response:
    form = await client.get("/vault")
    sent = await client.post("/vault/code", data={"email": address, "csrf_token": csrf(form.text)})
    assert sent.status_code == 303 and sent.headers["location"] == "/vault?step=code"
    return sent


async def test_vault_code_step_survives_a_reload_and_a_language_switch(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    await dispatch(client, auth, mode="simple")
    sent = await ask_vault_code(client, "jane0@example.test")
    # The address waits in a signed cookie, for as long as the code is valid.
    cookie = sent.headers["set-cookie"]
    assert cookie.startswith(f"{pages.PENDING_COOKIE}=")
    for attribute in ("HttpOnly", "Max-Age=600", "Path=/vault", "SameSite=lax"):
        assert attribute in cookie
    step = await client.get("/vault?step=code")
    assert 'id="code"' in step.text and "jane0@example.test" in step.text
    assert '<a href="/vault">Use another address</a>' in step.text
    links = re.findall(r'href="([^"]*lang=[^"]*)"', step.text)
    assert sorted(links) == [f"/vault?step=code&amp;lang={lang}" for lang in ("de", "fr", "nl")]
    french = await client.get("/vault?step=code&lang=fr")
    assert '<html lang="fr">' in french.text and 'id="code"' in french.text
    assert "un code à 6 chiffres est en route" in french.text
    assert 'value="jane0@example.test"' in french.text
    # "Use another address" goes back to the first step, the address filled in.
    other = await client.get("/vault")
    assert 'id="code"' not in other.text and 'value="jane0@example.test"' in other.text

    code = await latest_code(runtime, "jane0@example.test")
    signed = await client.post(
        "/vault/verify",
        data={"email": "jane0@example.test", "code": code, "csrf_token": csrf(french.text)},
    )
    assert signed.status_code == 303
    assert f'{pages.PENDING_COOKIE}=""' in ",".join(signed.headers.get_list("set-cookie"))
    assert pages.PENDING_COOKIE not in client.cookies


def pending_cookie_attributes(response: httpx.Response) -> set[str]:
    [cookie] = [
        c for c in response.headers.get_list("set-cookie") if c.startswith(pages.PENDING_COOKIE)
    ]
    return {part.strip() for part in cookie.split(";")[1:]}


async def test_vault_pending_cookie_is_secure_over_https_only(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """Behind https the cookie holding the address is marked Secure: a browser never sends it
    in clear. Over plain http (a development server) it is not, or the browser would drop it
    and the code step would forget the address."""
    await dispatch(client, auth, mode="simple", recipients=[natural_recipient(0)])
    await dispatch(client, auth, mode="simple", recipients=[natural_recipient(1)])
    plain = await ask_vault_code(client, "jane0@example.test")
    assert "Secure" not in pending_cookie_attributes(plain)
    assert "jane0@example.test" in (await client.get("/vault?step=code")).text
    app = client._transport.app  # type: ignore[attr-defined]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://tabellion.test") as tls:
        sent = await ask_vault_code(tls, "jane1@example.test")
        assert {"Secure", "HttpOnly", "Path=/vault"} <= pending_cookie_attributes(sent)
        step = await tls.get("/vault?step=code")
        assert 'id="code"' in step.text and 'value="jane1@example.test"' in step.text


def address_whose_pending_cookie_ends_in_x() -> str:
    """The cookie holds the base64 of ``<until>:<address>``, its padding stripped. It ends in
    ``X`` when that text's length is a multiple of three and its last byte's low six bits are
    23: never for an ASCII domain (``normalize_email`` lower-cases it), but for one ending in
    ``ė`` (C4 97). ``until`` has ten digits, so the ending found now is the one at send time."""
    until = int(time.time()) + 600
    for local in ("ona", "onas", "onute"):
        address = f"{local}@pavyzdys.lietuvė"
        payload = base64.urlsafe_b64encode(f"{until}:{address}".encode()).decode().rstrip("=")
        if payload.endswith("X"):
            return address
    raise AssertionError("no address found whose pending cookie ends in X")


async def test_vault_code_step_keeps_an_address_whose_cookie_ends_in_x(
    client: httpx.AsyncClient,
) -> None:
    """Only the padding is stripped from the cookie's value, not a base64 character."""
    address = address_whose_pending_cookie_ends_in_x()
    await ask_vault_code(client, address)
    step = await client.get("/vault?step=code")
    assert 'id="code"' in step.text and f'value="{address}"' in step.text


async def test_vault_code_step_keeps_addresses_of_every_length(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """The cookie's base64 is padded back to a multiple of four, whatever its length."""
    key, until = runtime.settings.signing_key, int(time.time()) + 600
    for n in range(1, 13):
        address = f"{'j' * n}@example.test"
        value = pages.pending_cookie(key, address, until)
        client.cookies.set(pages.PENDING_COOKIE, value, path="/vault")
        step = await client.get("/vault?step=code")
        assert 'id="code"' in step.text and f'value="{address}"' in step.text, address


@pytest.mark.parametrize("cookie", ["forged", "expired", "garbled"])
async def test_vault_code_step_needs_a_valid_pending_cookie(
    client: httpx.AsyncClient, runtime: Runtime, cookie: str
) -> None:
    key, now = runtime.settings.signing_key, int(time.time())
    value = {
        "forged": pages.pending_cookie(b"another key", "jane0@example.test", now + 600),
        "expired": pages.pending_cookie(key, "jane0@example.test", now - 1),
        "garbled": "not-base64!." + pages.pending_cookie(key, "x", now + 600).split(".")[1],
    }[cookie]
    client.cookies.set(pages.PENDING_COOKIE, value, path="/vault")
    page = await client.get("/vault?step=code")
    assert 'id="code"' not in page.text and 'id="email"' in page.text
    assert "jane0" not in page.text


async def test_vault_code_email_speaks_the_page_language(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    await dispatch(client, auth, mode="simple")  # an English delivery
    await client.get("/vault?lang=nl")
    await ask_vault_code(client, "jane0@example.test")
    [mail] = await outbox_codes(runtime)
    code = await latest_code(runtime, "jane0@example.test")
    assert mail["Content-Language"] == "nl"
    assert mail["Subject"] == f"Uw code: {code}"
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None and f"Uw code is {code}" in body.get_content()
    # The vault has no link: the code works only in the browser that asked for it.
    assert "alleen in de browser waarin hij is aangevraagd" in body.get_content()
    assert "zonder uw link" not in body.get_content()


def two_page_pdf() -> bytes:
    import io

    import pypdfium2 as pdfium

    document = pdfium.PdfDocument.new()
    for _ in range(2):
        document.new_page(595, 842)
    buffer = io.BytesIO()
    document.save(buffer)
    document.close()
    return buffer.getvalue()


async def test_pdf_pages_are_previewed_as_images(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    created = (
        await client.post("/v1/messages", json=message_body(mode="simple"), headers=auth)
    ).json()
    attachment = (
        await client.post(
            f"/v1/messages/{created['id']}/attachments?filename=two.pdf",
            content=two_page_pdf(),
            headers={**auth, "Content-Type": "application/pdf"},
        )
    ).json()
    dispatched = (await client.post(f"/v1/messages/{created['id']}/dispatch", headers=auth)).json()
    link = await notify(runtime, dispatched["deliveries"][0]["id"])
    landing = await client.get(link)
    await client.post(f"{link}/open", data={"csrf_token": csrf(landing.text)})
    viewer = await client.get(f"{link}/files/{attachment['id']}/preview")
    assert viewer.status_code == 200
    assert viewer.text.count("/pages/") == 2
    image = await client.get(f"{link}/files/{attachment['id']}/pages/1.png")
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG")
    assert (await client.get(f"{link}/files/{attachment['id']}/pages/3.png")).status_code == 404
    state = await status_of(client, auth, dispatched["deliveries"][0]["id"])
    assert "DOWNLOADED" not in [e["type"] for e in state["evidence"]]  # reading is not downloading
