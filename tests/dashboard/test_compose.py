"""The dashboard's sending pages: a letter of each mode written, reviewed and sent, its notice
leaving through a real SMTP server; recipients from a CSV with its bad lines left out; a notice
sent again; viewers refused and shown no control; organisations kept apart; forms without
their token refused; nothing written when anything is refused."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import httpx
import pytest

from tabellion.config import Settings
from tabellion.jobs.worker import Worker
from tabellion.runtime import Runtime
from tests.conftest import count_rows
from tests.dashboard.helpers import signed_in_user
from tests.dashboard.test_pages import text_of
from tests.fixtures.factories import create_org_with_key, message_body
from tests.fixtures.smtp import SmtpServer
from tests.organization.test_activation_smtp import csrf_of

NEW = "/app/letters/new"
LIMIT = 1_000_000  # this module's attachment limit
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
LINK = re.compile(r"http://tabellion\.test/r/[A-Za-z0-9_-]+")


@pytest.fixture
def settings(data_dir: Path, database_url: str, smtp_server: SmtpServer) -> Settings:
    return smtp_server.settings(data_dir, database_url, max_attachment_bytes=LIMIT)


async def run_jobs(runtime: Runtime) -> None:
    await Worker(runtime, poll_interval=0.05).run_until_idle()


async def compose(
    client: httpx.AsyncClient,
    fields: dict[str, str],
    files: list[tuple[str, tuple[str, bytes, str]]] | None = None,
    *,
    token: str | None = None,
) -> httpx.Response:
    """The compose form posted as a browser posts it: its token first, then the fields and
    the files (multipart even without a file)."""
    if token is None:
        token = csrf_of((await client.get(NEW)).text)
    data = {"csrf_token": token, **fields} if token else fields
    return await client.post(NEW, data=data, files=files or [("attachments", ("", b"", ""))])


def draft_of(review: httpx.Response) -> str:
    match = re.search(r'action="/app/drafts/(msg_\w+)/send"', review.text)
    assert match, review.text
    return match.group(1)


RECIPIENTS = {
    "registered": "jane@example.test, Jane, Doe, fr\nbilling@corp.test, Corp SAS, 732829320",
    "simple": "jane@example.test, Jane, Doe\nbilling@corp.test; Corp SAS; 732 829 320; de",
    "deliver": "jane@example.test\nbilling@corp.test, nl",
    "secure": "jane@example.test\nbilling@corp.test",
}


@pytest.mark.parametrize("mode", list(RECIPIENTS))
async def test_a_letter_of_each_mode_is_written_reviewed_and_sent(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
    smtp_server: SmtpServer,
    mode: str,
) -> None:
    sender = await signed_in_user(client, auth, runtime, "sender")
    letters = await client.get("/app/letters")
    assert 'href="/app/letters/new"' in letters.text
    form = await client.get(NEW)
    assert form.status_code == 200 and '<script src="/static/compose.js"' in form.text
    assert "<script>" not in form.text  # no inline script (the CSP would refuse it)
    assert form.headers["content-security-policy"].startswith("default-src 'none'")
    french = await client.get(f"{NEW}?lang=fr")
    assert "Nouvelle lettre" in french.text and "Vérifier avant d’envoyer" in text_of(french)
    await client.get(f"{NEW}?lang=en")  # (the choice is remembered in a cookie)
    script = await client.get("/static/compose.js")
    assert script.status_code == 200 and "upload.addEventListener" in script.text

    review = await compose(
        client,
        {"mode": mode, "subject": f"Lease {mode}", "body": "Dear tenant,\n\nSee the lease.",
         "recipients": RECIPIENTS[mode], "reference": "LEASE-7", "campaign": "2026-Q4"},
        [("attachments", ("lease.pdf", PDF, "application/pdf"))],
    )  # fmt: skip
    assert review.status_code == 201, text_of(review)
    message_id = draft_of(review)
    assert review.headers["content-location"] == f"/app/drafts/{message_id}"
    shown = text_of(review)
    assert "Recipients: 2" in shown and "jane@example.test" in shown
    assert "lease.pdf" in shown and hashlib.sha256(PDF).hexdigest()[:16] in shown
    assert "Nothing has been sent yet" in shown
    await run_jobs(runtime)
    assert smtp_server.messages == []  # a draft sends nothing
    # The draft's page shows the same review again.
    again = await client.get(f"/app/drafts/{message_id}")
    assert again.status_code == 200 and "Send the letter" in text_of(again)

    sent = await client.post(
        f"/app/drafts/{message_id}/send", data={"csrf_token": csrf_of(review.text)}
    )
    assert sent.status_code == 303
    assert sent.headers["location"] == f"/app/letters/{message_id}?done=sent"
    letter = await client.get(sent.headers["location"])
    assert "The letter was sent" in text_of(letter)
    twice = await client.post(
        f"/app/drafts/{message_id}/send", data={"csrf_token": csrf_of(review.text)}
    )
    assert twice.status_code == 303 and twice.headers["location"] == f"/app/letters/{message_id}"

    api = (await client.get(f"/v1/messages/{message_id}", headers=auth)).json()
    assert api["status"] == "dispatched" and api["mode"] == mode
    assert api["sender"]["email"] == sender and api["reference"] == "LEASE-7"
    assert [a["sha256"] for a in api["attachments"]] == [hashlib.sha256(PDF).hexdigest()]
    recipients = {d["recipient"]["email"]: d["recipient"] for d in api["deliveries"]}
    assert set(recipients) == {"jane@example.test", "billing@corp.test"}
    if mode in ("registered", "simple"):
        assert recipients["jane@example.test"]["last_name"] == "Doe"
        assert recipients["billing@corp.test"]["siren"] == "732829320"
    assert api["body_text"] == "Dear tenant,\n\nSee the lease."

    await run_jobs(runtime)
    mails = await smtp_server.wait_for(2)
    assert sorted(m.rcpt_tos[0] for m in mails) == ["billing@corp.test", "jane@example.test"]
    assert all(LINK.search(m.text) for m in mails)
    for delivery in api["deliveries"]:
        state = (await client.get(f"/v1/deliveries/{delivery['id']}", headers=auth)).json()
        assert state["status"] == "notified"


async def test_a_csv_is_previewed_and_only_its_good_lines_are_sent(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, smtp_server: SmtpServer
) -> None:
    await signed_in_user(client, auth, runtime, "admin")
    csv = (
        "\ufeffEmail;First_name;Last_name;Company;SIREN;Language\n"
        "ann@example.test;Ann;Archer;;;fr\n"
        "bob@example.test;Bob;;;;\n"  # line 3: no last name
        "not-an-address;Cy;Cole;;;\n"  # line 4
        "corp@example.test;;;Corp SAS;732829321;\n"  # line 5: SIREN fails the Luhn check
        "\n"
        "dee@example.test;Dee;Dale;;;nl\n"
        "ANN@example.test;Ann;Again;;;\n"  # line 8: already on line 2
        "eve@example.test;;;Corp SAS;732829320;de\n"
    )
    review = await compose(
        client,
        {"mode": "registered", "subject": "Annual notice", "body": "Hello"},
        [("recipients_csv", ("people.csv", csv.encode(), "text/csv"))],
    )
    assert review.status_code == 201, text_of(review)
    shown = text_of(review)
    assert "Recipients: 3" in shown and "Lines of the file that will not be sent: 4" in shown
    skipped = re.findall(r"<li><strong>Line (\d+)</strong>", review.text)
    assert skipped == ["3", "4", "5", "8"]
    # Each bad line's reason by its field, in the page's language.
    assert "This address is already on line 2." in shown
    assert "Give either a first and a last name, or a company and its SIREN." in shown
    assert "The e-mail address is not valid." in shown
    assert "The SIREN is not valid" in shown
    listed = re.search(r'<ol class="numbered" id="recipients">(.*?)</ol>', review.text, re.S)
    assert listed and re.findall(r"<li>([^ <]+)", listed.group(1)) == [
        "ann@example.test", "dee@example.test", "eve@example.test"]  # fmt: skip

    sent = await client.post(
        f"/app/drafts/{draft_of(review)}/send", data={"csrf_token": csrf_of(review.text)}
    )
    assert sent.status_code == 303
    await run_jobs(runtime)
    mails = await smtp_server.wait_for(3)
    assert sorted(m.rcpt_tos[0] for m in mails) == [
        "ann@example.test", "dee@example.test", "eve@example.test"]  # fmt: skip
    assert await count_rows(runtime, "deliveries") == 3
    languages = {m.rcpt_tos[0]: m.message["Content-Language"] for m in mails}
    assert languages["ann@example.test"] == "fr" and languages["dee@example.test"] == "nl"


@pytest.mark.parametrize(
    ("csv", "error"),
    [
        ("email,nickname\nann@example.test,A\n", "Unknown column “nickname”"),
        ("first_name,last_name\nAnn,Archer\n", "one of them is email"),
        ("email\n", "no recipient after its header"),
        ("email,first_name\nann@example.test,Ann\n", "No line of the file can be sent"),
        ("email\nann@example.test\n".encode("utf-16").decode("latin-1"), "not UTF-8"),
    ],
)
async def test_a_csv_that_cannot_be_sent_is_refused_whole(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, csv: str, error: str
) -> None:
    await signed_in_user(client, auth, runtime, "sender")
    data = csv.encode("latin-1") if "\x00" in csv else csv.encode()
    refused = await compose(
        client,
        {"mode": "simple", "subject": "Notice"},
        [("recipients_csv", ("people.csv", data, "text/csv"))],
    )
    assert refused.status_code == 422
    assert 'id="recipients_csv-error"' in refused.text and error in text_of(refused)
    assert await count_rows(runtime, "messages") == 0


async def test_typed_lines_and_fields_with_errors_come_back_by_their_field(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    await signed_in_user(client, auth, runtime, "sender")
    refused = await compose(
        client,
        {"mode": "simple", "subject": "", "body": "Kept as typed",
         "recipients": "ann@example.test, Ann, Archer\nbob@example.test\n\nnope, Cy, Cole",
         "acceptance_days": "20", "reference": "R" * 300},
        [("attachments", ("note.pdf", PDF, "application/pdf"))],
    )  # fmt: skip
    assert refused.status_code == 422
    page = text_of(refused)
    assert 'id="subject-error"' in refused.text and "A subject of 1 to 255 characters" in page
    assert "for registered letters only" in page  # acceptance_days
    assert 'id="reference-error"' in refused.text
    assert re.findall(r"<li><strong>Line (\d+)</strong>", refused.text) == ["2", "4"]
    assert "names its recipients" in page  # line 2: a simple letter names each person
    # The form keeps what was typed; files are chosen again (and nothing was kept).
    assert "Kept as typed" in refused.text and "nope, Cy, Cole" in refused.text
    assert await count_rows(runtime, "messages") == 0
    assert await count_rows(runtime, "attachments") == 0

    for fields, field, message in (
        ({"mode": "carrier-pigeon", "subject": "S", "recipients": "a@example.test"}, "mode",
         "Choose how the letter is sent"),
        ({"mode": "deliver", "subject": "S"}, "recipients", "Add at least one recipient"),
        ({"mode": "registered", "subject": "S", "recipients": "a@example.test, A, B",
          "acceptance_days": "two"}, "acceptance_days", "A whole number of days"),
        ({"mode": "secure", "subject": "S", "recipients": "a@example.test",
          "copy_to_mailbox": "yes"}, "copy_to_mailbox", "Only registered letters"),
    ):  # fmt: skip
        again = await compose(client, fields)
        assert again.status_code == 422, (field, text_of(again))
        assert f'id="{field}-error"' in again.text and message in text_of(again)
    both = await compose(
        client,
        {"mode": "deliver", "subject": "S", "recipients": "a@example.test"},
        [("recipients_csv", ("p.csv", b"email\nb@example.test\n", "text/csv"))],
    )
    assert both.status_code == 422 and "not both" in text_of(both)
    assert await count_rows(runtime, "messages") == 0


async def test_attachments_are_checked_as_the_api_checks_them(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    await signed_in_user(client, auth, runtime, "sender")
    fields = {"mode": "deliver", "subject": "Files", "recipients": "a@example.test"}
    too_large = await compose(
        client, fields, [("attachments", ("big.bin", b"x" * (LIMIT + 1), "application/pdf"))]
    )
    assert too_large.status_code == 413 and 'id="attachments-error"' in too_large.text
    empty = await compose(client, fields, [("attachments", ("empty.pdf", b"", "application/pdf"))])
    assert empty.status_code == 422 and "empty.pdf is empty" in text_of(empty)
    program = await compose(
        client, fields, [("attachments", ("run.exe", b"MZ\x90\x00" + b"\x00" * 200, ""))]
    )
    assert program.status_code == 422 and "executable" in text_of(program)
    assert await count_rows(runtime, "messages") == 0
    assert await count_rows(runtime, "attachments") == 0
    # Several files, kept in order with their hashes.
    files = [("attachments", (f"part-{n}.txt", f"part {n}\n".encode(), "text/plain"))
             for n in range(3)]  # fmt: skip
    review = await compose(client, fields, files)
    assert review.status_code == 201, text_of(review)
    api = (await client.get(f"/v1/messages/{draft_of(review)}", headers=auth)).json()
    assert [a["filename"] for a in api["attachments"]] == ["part-0.txt", "part-1.txt", "part-2.txt"]
    assert api["status"] == "draft"


async def test_a_draft_is_discarded(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    await signed_in_user(client, auth, runtime, "sender")
    review = await compose(
        client,
        {"mode": "deliver", "subject": "Files", "recipients": "a@example.test"},
        [("attachments", ("a.pdf", PDF, "application/pdf"))],
    )
    message_id = draft_of(review)
    gone = await client.post(
        f"/app/drafts/{message_id}/discard", data={"csrf_token": csrf_of(review.text)}
    )
    assert gone.status_code == 303 and gone.headers["location"] == f"{NEW}?done=discarded"
    assert "nothing was sent" in text_of(await client.get(gone.headers["location"]))
    assert (await client.get(f"/v1/messages/{message_id}", headers=auth)).status_code == 404
    assert (await client.get(f"/app/drafts/{message_id}")).status_code == 404


async def test_a_notice_is_sent_again(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, smtp_server: SmtpServer
) -> None:
    await signed_in_user(client, auth, runtime, "sender")
    review = await compose(
        client,
        {"mode": "registered", "subject": "Termination",
         "recipients": "jane@example.test, Jane, Doe", "acceptance_days": "10"},
    )  # fmt: skip
    message_id = draft_of(review)
    await client.post(f"/app/drafts/{message_id}/send", data={"csrf_token": csrf_of(review.text)})
    api = (await client.get(f"/v1/messages/{message_id}", headers=auth)).json()
    delivery_id = api["deliveries"][0]["id"]
    letter = await client.get(f"/app/letters/{message_id}")
    token = csrf_of(letter.text)
    # Still pending (its first notice not yet out): refused with the reason, nothing queued.
    early = await client.post(f"/app/deliveries/{delivery_id}/resend", data={"csrf_token": token})
    assert early.status_code == 409 and "still on its way" in text_of(early)

    await run_jobs(runtime)
    [first] = await smtp_server.wait_for(1)
    letter = await client.get(f"/app/letters/{message_id}")
    assert f'action="/app/deliveries/{delivery_id}/resend"' in letter.text
    again = await client.post(f"/app/deliveries/{delivery_id}/resend", data={"csrf_token": token})
    assert again.status_code == 303
    assert again.headers["location"] == (
        f"/app/letters/{message_id}?done=resent#delivery-{delivery_id}"
    )
    assert "The notice was sent again" in text_of(await client.get(again.headers["location"]))
    await run_jobs(runtime)
    first, second = await smtp_server.wait_for(2)
    assert second.rcpt_tos == ["jane@example.test"]
    assert second.message["Subject"] == first.message["Subject"]
    link = LINK.search(first.text)
    assert link and LINK.search(second.text) and LINK.search(second.text).group(0) == link.group(0)  # type: ignore[union-attr]
    assert second.message["Message-ID"] != first.message["Message-ID"]
    # The same deadline (not counted again from the second e-mail), and no new proof.
    state = (await client.get(f"/v1/deliveries/{delivery_id}", headers=auth)).json()
    assert state["status"] == "notified"
    assert [e["type"] for e in state["evidence"]] == ["SENT", "NOTIFIED"]
    deadline_lines = [
        line for mail in (first, second) for line in mail.text.splitlines() if "until" in line
    ]
    assert len(deadline_lines) == 2 and deadline_lines[0] == deadline_lines[1]


async def test_a_viewer_reads_but_sends_nothing(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, smtp_server: SmtpServer
) -> None:
    created = await client.post("/v1/messages", json=message_body(), headers=auth)
    message_id = created.json()["id"]
    draft = await client.post("/v1/messages", json=message_body(subject="Draft"), headers=auth)
    await client.post(f"/v1/messages/{message_id}/dispatch", headers=auth)
    await run_jobs(runtime)
    await smtp_server.wait_for(1)
    delivery_id = (await client.get(f"/v1/messages/{message_id}", headers=auth)).json()[
        "deliveries"
    ][0]["id"]
    await signed_in_user(client, auth, runtime, "viewer")

    letters = await client.get("/app/letters")
    assert letters.status_code == 200 and "/app/letters/new" not in letters.text
    letter = await client.get(f"/app/letters/{message_id}")
    assert letter.status_code == 200 and "/resend" not in letter.text
    token = csrf_of(letter.text)
    form = await client.get(NEW)
    assert form.status_code == 403 and "a sender or an admin sends them" in text_of(form)
    posted = await compose(
        client, {"mode": "deliver", "subject": "S", "recipients": "a@example.test"}, token=token
    )
    assert posted.status_code == 403
    draft_id = draft.json()["id"]
    review = await client.get(f"/app/drafts/{draft_id}")
    assert review.status_code == 200 and "/send" not in review.text  # reads, no control
    for path in (f"/app/drafts/{draft_id}/send", f"/app/drafts/{draft_id}/discard",
                 f"/app/deliveries/{delivery_id}/resend"):  # fmt: skip
        refused = await client.post(path, data={"csrf_token": token})
        assert refused.status_code == 403, path
    assert "a sender or an admin sends them" in text_of(refused)
    await run_jobs(runtime)
    assert len(smtp_server.messages) == 1  # no second notice
    assert await count_rows(runtime, "messages") == 2  # nothing created, the draft kept
    state = (await client.get(f"/v1/messages/{draft_id}", headers=auth)).json()
    assert state["status"] == "draft"


async def test_another_organisations_letters_are_out_of_reach(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, smtp_server: SmtpServer
) -> None:
    _, other_key = await create_org_with_key(runtime, name="Other")
    theirs = {"Authorization": f"Bearer {other_key}"}
    sent = await client.post("/v1/messages?dispatch=true", json=message_body(), headers=theirs)
    draft = await client.post("/v1/messages", json=message_body(), headers=theirs)
    await run_jobs(runtime)
    await smtp_server.wait_for(1)
    delivery_id = sent.json()["deliveries"][0]["id"]
    await signed_in_user(client, auth, runtime, "admin")
    token = csrf_of((await client.get("/app/letters")).text)
    resend = await client.post(f"/app/deliveries/{delivery_id}/resend", data={"csrf_token": token})
    assert resend.status_code == 404
    draft_id = draft.json()["id"]
    assert (await client.get(f"/app/drafts/{draft_id}")).status_code == 404
    for action in ("send", "discard"):
        refused = await client.post(f"/app/drafts/{draft_id}/{action}", data={"csrf_token": token})
        assert refused.status_code == 404
    await run_jobs(runtime)
    assert len(smtp_server.messages) == 1
    state = (await client.get(f"/v1/messages/{draft_id}", headers=theirs)).json()
    assert state["status"] == "draft"


async def test_forms_without_their_token_are_refused(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, smtp_server: SmtpServer
) -> None:
    await signed_in_user(client, auth, runtime, "sender")
    fields = {"mode": "deliver", "subject": "S", "recipients": "a@example.test"}
    missing = await compose(
        client, fields, [("attachments", ("a.pdf", PDF, "application/pdf"))], token=""
    )
    assert missing.status_code == 403 and missing.json()["code"] == "csrf-failed"
    wrong = await compose(client, fields, token="x" * 64)
    assert wrong.status_code == 403
    # A token after the files is refused before any file is stored.
    token = csrf_of((await client.get(NEW)).text)
    late = await client.post(
        NEW,
        files=[("attachments", ("a.pdf", PDF, "application/pdf")), ("csrf_token", (None, token))],
    )
    assert late.status_code == 403
    assert await count_rows(runtime, "messages") == 0

    review = await compose(client, fields)
    message_id = draft_of(review)
    for path in (f"/app/drafts/{message_id}/send", f"/app/drafts/{message_id}/discard"):
        assert (await client.post(path, data={})).status_code == 403
    await client.post(f"/app/drafts/{message_id}/send", data={"csrf_token": token})
    await run_jobs(runtime)
    await smtp_server.wait_for(1)
    delivery_id = (await client.get(f"/v1/messages/{message_id}", headers=auth)).json()[
        "deliveries"
    ][0]["id"]
    assert (await client.post(f"/app/deliveries/{delivery_id}/resend", data={})).status_code == 403
    await run_jobs(runtime)
    assert len(smtp_server.messages) == 1


async def test_signed_out_visitors_go_to_the_sign_in(client: httpx.AsyncClient) -> None:
    for method, path in (("GET", NEW), ("POST", NEW), ("GET", "/app/drafts/msg_x"),
                         ("POST", "/app/drafts/msg_x/send"),
                         ("POST", "/app/deliveries/dlv_x/resend")):  # fmt: skip
        response = await client.request(method, path)
        assert response.status_code == 303 and response.headers["location"] == "/account/sign-in"
