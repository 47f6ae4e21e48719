"""The native API's message and delivery endpoints, through the real middleware."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from tabellion.models.job import Job
from tabellion.runtime import Runtime
from tests.conftest import count_rows
from tests.fixtures.factories import create_org_with_key, message_body, natural_recipient

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == status
    assert problem["code"] == code
    assert problem["type"] == f"urn:tabellion:problem:{code}"
    assert problem["title"] and problem["detail"]
    return problem


def fields(problem: dict[str, object]) -> list[str]:
    errors = problem["errors"]
    assert isinstance(errors, list)
    return [e["field"] for e in errors]


async def create(client: httpx.AsyncClient, auth: dict[str, str], **extra: object) -> dict:
    response = await client.post("/v1/messages", json=message_body(**extra), headers=auth)
    assert response.status_code == 201, response.text
    return response.json()


# ---- authentication ----------------


async def test_health_needs_no_key(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer tbl_short", "Bearer tbl_" + "x" * 40, "Basic dXNlcjpwYXNz"],
)
async def test_missing_or_invalid_key_is_401(client: httpx.AsyncClient, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = await client.get("/v1/messages", headers=headers)
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_revoked_key_is_401(
    client: httpx.AsyncClient, runtime: Runtime, org_key: tuple[str, str], auth: dict[str, str]
) -> None:
    from tabellion.db import transaction
    from tabellion.models.organization import ApiKey
    from tabellion.organization.service import revoke_api_key

    assert (await client.get("/v1/messages", headers=auth)).status_code == 200
    async with transaction(runtime.sessions) as session:
        key = await session.scalar(select(ApiKey).where(ApiKey.organization_id == org_key[0]))
        assert key is not None
        await revoke_api_key(session, org_key[0], key.id)
    assert_problem(await client.get("/v1/messages", headers=auth), 401, "unauthorized")


async def test_keys_are_stored_hashed(runtime: Runtime, org_key: tuple[str, str]) -> None:
    from tabellion.models.organization import ApiKey

    async with runtime.sessions() as session:
        key = await session.scalar(select(ApiKey).where(ApiKey.organization_id == org_key[0]))
    assert key is not None
    assert org_key[1] not in (key.key_hash, key.prefix)
    assert key.key_hash == hashlib.sha256(org_key[1].encode()).hexdigest()
    assert len(org_key[1]) >= 4 + 32


# ---- creating ----------------


async def test_create_message(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    body = message_body(
        body_html='<p onclick="x()">Hello <script>alert(1)</script><b>Jane</b></p>'
        '<img src="https://tracker.test/p.gif"><a href="javascript:alert(1)">x</a>',
        recipients=[
            natural_recipient(language="fr"),
            {"email": "Billing@Corp.TEST", "company": "Corp SAS", "siren": "732829320"},
        ],
    )
    response = await client.post("/v1/messages", json=body, headers=auth)
    assert response.status_code == 201, response.text
    message = response.json()
    assert message["id"].startswith("msg_")
    assert message["status"] == "draft"
    assert message["mode"] == "registered"
    assert message["acceptance_days"] == 15
    assert message["reference"] == "CONTRACT-42"
    assert message["campaign"] == "2026-Q4"
    html = message["body_html"]
    assert "<script" not in html and "onclick" not in html and "<img" not in html
    assert "javascript:" not in html
    assert "<b>Jane</b>" in html
    assert message["body_text"].startswith("Hello")
    assert "alert" not in message["body_text"]
    assert message["recipients"][0]["language"] == "fr"
    assert message["recipients"][1]["email"] == "Billing@corp.test"
    assert message["recipients"][1]["siren"] == "732829320"
    assert message["created_at"].endswith("Z")
    assert message["deliveries"] == []


async def test_body_text_is_kept_when_given(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    message = await create(client, auth, mode="simple", body_text="Plain words.")
    assert message["body_text"] == "Plain words."
    assert message["acceptance_days"] is None


async def test_malformed_json_is_422(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    response = await client.post(
        "/v1/messages",
        content=b'{"mode": "registered",',
        headers={**auth, "Content-Type": "application/json"},
    )
    problem = assert_problem(response, 422, "validation-failed")
    assert problem["errors"][0]["code"] == "invalid-json"  # type: ignore[index]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"mode": "carrier-pigeon"}, "mode"),
        ({"subject": 42}, "subject"),
        ({"subject": "x" * 256}, "subject"),
        ({"subject": ""}, "subject"),
        ({"recipients": "jane@example.test"}, "recipients"),
        ({"recipients": [natural_recipient(email="not-an-address")]}, "recipients[0].email"),
        ({"recipients": [natural_recipient(language="es")]}, "recipients[0].language"),
        (
            {"recipients": [{"email": "a@corp.test", "company": "Corp", "siren": "732829321"}]},
            "recipients[0].siren",
        ),
        ({"recipients": [{"email": "a@corp.test", "company": "Corp"}]}, "recipients[0]"),
        ({"recipients": [{"email": "a@corp.test", "first_name": "Jane"}]}, "recipients[0]"),
        ({"recipients": [natural_recipient(company="Corp", siren="732829320")]}, "recipients[0]"),
        ({"acceptance_days": 0}, "acceptance_days"),
        ({"mode": "simple", "acceptance_days": 10}, "body"),
        ({"colour": "blue"}, "colour"),
        ({"body_html": "x" * (1024 * 1024 + 1)}, "body_html"),
    ],
)
async def test_invalid_message_is_422_naming_the_field(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, change: dict, field: str
) -> None:
    response = await client.post("/v1/messages", json=message_body(**change), headers=auth)
    problem = assert_problem(response, 422, "validation-failed")
    assert field in fields(problem), problem
    assert await count_rows(runtime, "messages") == 0


@pytest.mark.parametrize("mode", ["deliver", "secure", "registered", "simple"])
async def test_an_address_alone_is_a_recipient_of_deliver_and_secure_only(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, mode: str
) -> None:
    recipients = [natural_recipient(), {"email": "Only@Example.TEST"}]
    response = await client.post(
        "/v1/messages", json=message_body(mode=mode, recipients=recipients), headers=auth
    )
    if mode in ("deliver", "secure"):
        assert response.status_code == 201, response.text
        alone = response.json()["recipients"][1]
        assert alone["email"] == "Only@example.test" and alone["language"] == "en"
        assert {alone[k] for k in ("first_name", "last_name", "company", "siren")} == {None}
        return
    problem = assert_problem(response, 422, "validation-failed")
    assert problem["errors"][0]["field"] == "recipients[1]"  # type: ignore[index]
    assert problem["errors"][0]["code"] == "recipient-unnamed"  # type: ignore[index]
    assert await count_rows(runtime, "messages") == 0


async def test_missing_required_field_is_named(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    body = message_body()
    del body["subject"]
    problem = assert_problem(
        await client.post("/v1/messages", json=body, headers=auth), 422, "validation-failed"
    )
    assert problem["errors"] == [  # type: ignore[comparison-overlap]
        {"field": "subject", "code": "required", "message": "Field required"}
    ]


async def test_unsupported_media_type(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    response = await client.post(
        "/v1/messages", content=b"mode=x", headers={**auth, "Content-Type": "text/plain"}
    )
    assert_problem(response, 415, "unsupported-media-type")


# ---- attachments ----------------


async def test_raw_attachment_is_hashed_and_sniffed(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    message = await create(client, auth)
    response = await client.post(
        f"/v1/messages/{message['id']}/attachments",
        params={"filename": "../../etc/contract\x01.pdf"},  # NUL: tests/test_bad_characters.py
        content=PDF,
        headers={**auth, "Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 201, response.text
    attachment = response.json()
    assert attachment["id"].startswith("att_")
    assert attachment["size"] == len(PDF)
    assert attachment["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert attachment["content_type"] == "application/pdf"
    assert "/" not in attachment["filename"] and "\x01" not in attachment["filename"]
    assert attachment["filename"].endswith(".pdf")
    again = (await client.get(f"/v1/messages/{message['id']}", headers=auth)).json()
    assert again["attachments"] == [attachment]


async def allow_executables(runtime: Runtime, organization_id: str) -> None:
    from tabellion.db import transaction
    from tabellion.organization.service import get_organization

    async with transaction(runtime.sessions) as session:
        (await get_organization(session, organization_id)).allow_executable_attachments = True


async def upload(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    message_id: str,
    *,
    name: str,
    content: bytes,
    content_type: str = "application/octet-stream",
) -> httpx.Response:
    return await client.post(
        f"/v1/messages/{message_id}/attachments",
        params={"filename": name},
        content=content,
        headers={**auth, "Content-Type": content_type},
    )


@pytest.mark.parametrize(
    ("name", "content", "declared", "code", "says"),
    [
        ("empty.pdf", b"", "application/pdf", "empty-file", "empty.pdf is empty"),
        ("notes.pdf", b"just some text", "application/pdf", "content-type-mismatch", "text/plain"),
        ("scan.png", PDF, "image/png", "content-type-mismatch", "application/pdf"),
        (
            "setup.exe",
            b"MZ\x90\x00 not really",
            "application/octet-stream",
            "executable-refused",
            "executable",
        ),
        (
            "tool",
            b"\x7fELF\x02\x01\x01" + b"\x00" * 64,
            "application/octet-stream",
            "executable-refused",
            "executable",
        ),
        ("run.sh", b"#!/bin/sh\necho hi\n", "text/plain", "executable-refused", "executable"),
    ],
)
async def test_uploads_refused_with_a_clear_422(
    runtime: Runtime,
    client: httpx.AsyncClient,
    auth: dict[str, str],
    name: str,
    content: bytes,
    declared: str,
    code: str,
    says: str,
) -> None:
    message = await create(client, auth)
    response = await upload(
        client, auth, message["id"], name=name, content=content, content_type=declared
    )
    problem = assert_problem(response, 422, code)
    assert says in str(problem["detail"])
    assert fields(problem) == ["file"]
    assert await count_rows(runtime, "attachments") == 0
    # The same file sent in one call with the message names its part.
    created = await client.post(
        "/v1/messages",
        data={"message": json.dumps(message_body())},
        files=[
            ("attachments", ("ok.pdf", PDF, "application/pdf")),
            ("attachments", (name, content, declared)),
        ],
        headers=auth,
    )
    assert fields(assert_problem(created, 422, code)) == ["attachments[1]"]
    assert await count_rows(runtime, "messages") == 1


async def test_accepted_types_store_what_the_content_is(
    runtime: Runtime, client: httpx.AsyncClient, auth: dict[str, str], org_key: tuple[str, str]
) -> None:
    import io
    import zipfile

    message = await create(client, auth)
    text = await upload(client, auth, message["id"], name="notes.txt", content=b"some text")
    assert text.json()["content_type"] == "text/plain"
    # A .docx is a zip: its declared type is believed within the family.
    docx = io.BytesIO()
    with zipfile.ZipFile(docx, "w") as archive:
        archive.writestr("hello.txt", "hello")
    word = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    stored = await upload(
        client, auth, message["id"], name="letter.docx", content=docx.getvalue(), content_type=word
    )
    assert stored.status_code == 201, stored.text
    assert stored.json()["content_type"] == word
    jpeg = await upload(
        client,
        auth,
        message["id"],
        name="p.jpg",
        content=b"\xff\xd8\xff\xe0" + b"\x00" * 40,
        content_type="image/jpg",
    )
    assert jpeg.json()["content_type"] == "image/jpeg"
    await allow_executables(runtime, org_key[0])
    exe = await upload(client, auth, message["id"], name="setup.exe", content=b"MZ\x90\x00 x")
    assert exe.status_code == 201, exe.text


async def test_multipart_attachment(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    message = await create(client, auth)
    response = await client.post(
        f"/v1/messages/{message['id']}/attachments",
        files={"file": ("invoice.pdf", PDF, "application/pdf")},
        headers=auth,
    )
    assert response.status_code == 201, response.text
    assert response.json()["filename"] == "invoice.pdf"
    assert response.json()["sha256"] == hashlib.sha256(PDF).hexdigest()


async def test_attachment_over_limit_is_413_and_leaves_nothing(
    runtime: Runtime, client: httpx.AsyncClient, auth: dict[str, str], data_dir: Path
) -> None:
    object.__setattr__(runtime.settings, "max_attachment_bytes", 1000)
    message = await create(client, auth)

    async def body():  # no Content-Length: the limit is enforced while streaming
        for _ in range(10):
            yield b"a" * 500

    response = await client.post(
        f"/v1/messages/{message['id']}/attachments?filename=big.txt", content=body(), headers=auth
    )
    assert_problem(response, 413, "attachment-too-large")
    declared = await client.post(
        f"/v1/messages/{message['id']}/attachments?filename=big.txt",
        content=b"a" * 5000,
        headers=auth,
    )
    assert_problem(declared, 413, "attachment-too-large")
    assert await count_rows(runtime, "attachments") == 0
    assert not [p for p in (data_dir / "blobs").rglob("*") if p.is_file()]


async def test_attachment_to_unknown_message_is_404(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.post(
        "/v1/messages/msg_01jd0000000000000000000000/attachments", content=PDF, headers=auth
    )
    assert_problem(response, 404, "message-not-found")


# ---- dispatch ----------------


async def test_dispatch_creates_deliveries_evidence_and_jobs(
    runtime: Runtime, client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    message = await create(
        client, auth, recipients=[natural_recipient(i) for i in range(3)], acceptance_days=10
    )
    response = await client.post(f"/v1/messages/{message['id']}/dispatch", headers=auth)
    assert response.status_code == 202, response.text
    dispatched = response.json()
    assert dispatched["status"] == "dispatched"
    assert dispatched["dispatched_at"].endswith("Z")
    deliveries = dispatched["deliveries"]
    assert [d["recipient"]["email"] for d in deliveries] == [
        f"jane{i}@example.test" for i in range(3)
    ]
    for delivery in deliveries:
        assert delivery["id"].startswith("dlv_")
        assert delivery["message_id"] == message["id"]
        assert delivery["status"] == "pending"
        assert delivery["mode"] == "registered"
        assert [e["type"] for e in delivery["evidence"]] == ["SENT"]
        assert delivery["evidence"][0]["id"].startswith("evd_")
        assert delivery["evidence"][0]["event"].endswith("SubmissionAcceptance")
    async with runtime.sessions() as session:
        jobs = (await session.scalars(select(Job))).all()
    notices = [j for j in jobs if j.kind == "notification.send_notice"]
    assert sorted(j.payload["delivery_id"] for j in notices) == sorted(d["id"] for d in deliveries)
    # The SENT evidence is sealed by one job, after commit.
    assert {j.kind for j in jobs} == {"notification.send_notice", "evidence.seal"}

    fetched = (await client.get(f"/v1/deliveries/{deliveries[0]['id']}", headers=auth)).json()
    assert without_links(fetched) == without_links(deliveries[0])
    # The dispatch answers with the message exactly as reading it shows it.
    read = (await client.get(f"/v1/messages/{message['id']}", headers=auth)).json()
    assert without_links(read) == without_links(dispatched)


def without_links(value: object) -> object:
    """A representation without its signed links' query strings (their expiry is per minute)."""
    if isinstance(value, dict):
        return {
            k: v.split("?")[0] if k.endswith("_url") and v else without_links(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [without_links(v) for v in value]
    return value


async def test_dispatch_twice_is_409(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    message = await create(client, auth)
    assert (await client.post(f"/v1/messages/{message['id']}/dispatch", headers=auth)).is_success
    again = await client.post(f"/v1/messages/{message['id']}/dispatch", headers=auth)
    assert_problem(again, 409, "message-not-draft")
    attach = await client.post(
        f"/v1/messages/{message['id']}/attachments", content=PDF, headers=auth
    )
    assert_problem(attach, 409, "message-not-draft")
    delete = await client.delete(f"/v1/messages/{message['id']}", headers=auth)
    assert_problem(delete, 409, "message-not-draft")


async def test_dispatch_without_recipients_is_422_and_leaves_no_job(
    runtime: Runtime, client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    message = await create(client, auth, recipients=[])
    response = await client.post(f"/v1/messages/{message['id']}/dispatch", headers=auth)
    problem = assert_problem(response, 422, "no-recipients")
    assert fields(problem) == ["recipients"]
    assert await count_rows(runtime, "jobs") == 0
    assert await count_rows(runtime, "deliveries") == 0
    still = (await client.get(f"/v1/messages/{message['id']}", headers=auth)).json()
    assert still["status"] == "draft"


async def test_multipart_create_attach_and_dispatch(
    runtime: Runtime, client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.post(
        "/v1/messages?dispatch=true",
        data={"message": json.dumps(message_body(mode="deliver"))},
        files=[
            ("attachments", ("a.pdf", PDF, "application/pdf")),
            ("attachments", ("b.txt", b"hello", "text/plain")),
        ],
        headers=auth,
    )
    assert response.status_code == 202, response.text
    message = response.json()
    assert message["status"] == "dispatched"
    assert [a["filename"] for a in message["attachments"]] == ["a.pdf", "b.txt"]
    assert message["attachments"][1]["content_type"].startswith("text/plain")
    assert len(message["deliveries"]) == 1
    assert await count_rows(runtime, "jobs") == 2  # the notice, and sealing the SENT proof


async def test_multipart_create_with_bad_message_part_leaves_nothing(
    runtime: Runtime, client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.post(
        "/v1/messages?dispatch=true",
        data={"message": json.dumps(message_body(mode="fax"))},
        files=[("attachments", ("a.pdf", PDF, "application/pdf"))],
        headers=auth,
    )
    problem = assert_problem(response, 422, "validation-failed")
    assert fields(problem) == ["message.mode"]
    for table in ("messages", "attachments", "jobs"):
        assert await count_rows(runtime, table) == 0


# ---- editing a draft ----------------


async def test_a_draft_created_without_recipients_gets_them_by_patch(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    message = await create(client, auth, recipients=[], reference="R-1")
    changed = await client.patch(
        f"/v1/messages/{message['id']}",
        json={
            "subject": "Notice, corrected",
            "body_html": "<p>Dear Jane,</p><p>Second line</p>",
            "recipients": [natural_recipient(1), natural_recipient(2)],
            "reference": None,
            "campaign": "2027-Q1",
            "acceptance_days": 30,
        },
        headers=auth,
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["status"] == "draft"
    assert body["subject"] == "Notice, corrected"
    assert "Second line" in body["body_text"]
    assert [r["email"] for r in body["recipients"]] == ["jane1@example.test", "jane2@example.test"]
    assert body["recipient_count"] == 2
    assert body["reference"] is None and body["campaign"] == "2027-Q1"
    assert body["acceptance_days"] == 30
    assert body["updated_at"] > message["updated_at"]
    read = (await client.get(f"/v1/messages/{message['id']}", headers=auth)).json()
    assert read["subject"] == "Notice, corrected" and read["recipient_count"] == 2
    # Only what is sent changes.
    again = await client.patch(
        f"/v1/messages/{message['id']}", json={"body_text": "Plain"}, headers=auth
    )
    assert again.json()["body_text"] == "Plain"
    assert again.json()["subject"] == "Notice, corrected"
    dispatched = await client.post(f"/v1/messages/{message['id']}/dispatch", headers=auth)
    assert dispatched.status_code == 202
    assert len(dispatched.json()["deliveries"]) == 2


async def test_a_dispatched_message_cannot_be_patched(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    message = await create(client, auth)
    await client.post(f"/v1/messages/{message['id']}/dispatch", headers=auth)
    response = await client.patch(
        f"/v1/messages/{message['id']}", json={"subject": "Too late"}, headers=auth
    )
    assert_problem(response, 409, "message-not-draft")
    read = (await client.get(f"/v1/messages/{message['id']}", headers=auth)).json()
    assert read["subject"] == message["subject"]


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"subject": None}, "subject"),
        ({"recipients": None}, "recipients"),
        ({"subject": ""}, "subject"),
        ({"recipients": [{"email": "nobody"}]}, "recipients[0]"),
        ({"mode": "simple"}, "mode"),
        ({"acceptance_days": 0}, "acceptance_days"),
    ],
)
async def test_bad_patches_are_422_and_change_nothing(
    client: httpx.AsyncClient, auth: dict[str, str], patch: dict[str, object], field: str
) -> None:
    message = await create(client, auth)
    response = await client.patch(f"/v1/messages/{message['id']}", json=patch, headers=auth)
    problem = assert_problem(response, 422, "validation-failed")
    assert fields(problem)[0].startswith(field)
    read = (await client.get(f"/v1/messages/{message['id']}", headers=auth)).json()
    assert read["subject"] == message["subject"] and read["mode"] == "registered"


async def test_acceptance_days_is_refused_on_a_secure_draft(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    message = await create(client, auth, mode="secure")
    response = await client.patch(
        f"/v1/messages/{message['id']}", json={"acceptance_days": 10}, headers=auth
    )
    assert fields(assert_problem(response, 422, "validation-failed")) == ["acceptance_days"]


async def test_another_organisations_draft_is_404_to_patch(
    runtime: Runtime, client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    message = await create(client, auth)
    _, other_key = await create_org_with_key(runtime, "Other")
    response = await client.patch(
        f"/v1/messages/{message['id']}",
        json={"subject": "Mine now"},
        headers={"Authorization": f"Bearer {other_key}"},
    )
    assert_problem(response, 404, "message-not-found")


# ---- reading, lists, deletion ----------------


async def test_list_filters_and_cursor(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    ids = [(await create(client, auth, campaign=f"c{i % 2}"))["id"] for i in range(5)]
    page = (await client.get("/v1/messages", params={"limit": 2}, headers=auth)).json()
    assert [m["id"] for m in page["data"]] == ids[::-1][:2]
    assert "deliveries" in page["data"][0]
    seen = [m["id"] for m in page["data"]]
    while page["next_cursor"]:
        page = (
            await client.get(
                "/v1/messages", params={"limit": 2, "cursor": page["next_cursor"]}, headers=auth
            )
        ).json()
        seen += [m["id"] for m in page["data"]]
    assert seen == ids[::-1]
    c1 = (await client.get("/v1/messages", params={"campaign": "c1"}, headers=auth)).json()
    assert [m["id"] for m in c1["data"]] == [ids[3], ids[1]]
    drafts = (await client.get("/v1/messages?status=dispatched", headers=auth)).json()
    assert drafts == {"data": [], "next_cursor": None}


@pytest.mark.parametrize(
    ("query", "field"),
    [("limit=0", "limit"), ("limit=201", "limit"), ("cursor=@@@", "cursor"), ("mode=x", "mode")],
)
async def test_bad_list_parameters(
    client: httpx.AsyncClient, auth: dict[str, str], query: str, field: str
) -> None:
    problem = assert_problem(
        await client.get(f"/v1/messages?{query}", headers=auth), 422, "validation-failed"
    )
    assert fields(problem) == [field]


@pytest.mark.parametrize(
    ("path", "field", "known"),
    [
        ("/v1/messages?status=read", "status", "'draft' or 'dispatched'"),
        ("/v1/messages?mode=letter", "mode", "'secure'"),
        ("/v1/deliveries?status=read", "status", "'notified'"),
        ("/v1/customers?state=read", "state", "'PENDING'"),
        ("/v1/events?type=read", "type", "delivery.accepted"),
    ],
)
async def test_unknown_filter_values_are_422_not_an_empty_list(
    client: httpx.AsyncClient, auth: dict[str, str], path: str, field: str, known: str
) -> None:
    """A typo in a filter would otherwise read as "there is nothing": say what is accepted."""
    await create(client, auth)
    problem = assert_problem(await client.get(path, headers=auth), 422, "validation-failed")
    errors = problem["errors"]
    assert isinstance(errors, list) and len(errors) == 1
    assert errors[0]["field"] == field
    assert errors[0]["code"] == "invalid-choice"
    assert known in errors[0]["message"]


async def test_delete_draft(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    message = await create(client, auth)
    assert (await client.delete(f"/v1/messages/{message['id']}", headers=auth)).status_code == 204
    gone = await client.get(f"/v1/messages/{message['id']}", headers=auth)
    assert_problem(gone, 404, "message-not-found")


async def test_deliveries_list_and_updated_after(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    message = await create(client, auth, recipients=[natural_recipient(i) for i in range(3)])
    dispatched = (await client.post(f"/v1/messages/{message['id']}/dispatch", headers=auth)).json()
    listed = (
        await client.get("/v1/deliveries", params={"message_id": message["id"]}, headers=auth)
    ).json()
    assert {d["id"] for d in listed["data"]} == {d["id"] for d in dispatched["deliveries"]}
    since = (
        await client.get(
            "/v1/deliveries",
            params={"updated_after": "2000-01-01T00:00:00Z", "limit": 2},
            headers=auth,
        )
    ).json()
    assert len(since["data"]) == 2 and since["next_cursor"]
    rest = (
        await client.get(
            "/v1/deliveries",
            params={
                "updated_after": "2000-01-01T00:00:00Z",
                "limit": 2,
                "cursor": since["next_cursor"],
            },
            headers=auth,
        )
    ).json()
    assert len(rest["data"]) == 1 and rest["next_cursor"] is None
    future = (
        await client.get(
            "/v1/deliveries", params={"updated_after": "2999-01-01T00:00:00Z"}, headers=auth
        )
    ).json()
    assert future["data"] == []


# ---- tenancy ----------------


async def test_other_organisations_resources_are_404(
    runtime: Runtime, client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    message = await create(client, auth)
    dispatched = (await client.post(f"/v1/messages/{message['id']}/dispatch", headers=auth)).json()
    _, other_key = await create_org_with_key(runtime, "Other")
    other = {"Authorization": f"Bearer {other_key}"}
    mid, did = message["id"], dispatched["deliveries"][0]["id"]
    assert_problem(await client.get(f"/v1/messages/{mid}", headers=other), 404, "message-not-found")
    assert_problem(
        await client.get(f"/v1/deliveries/{did}", headers=other), 404, "delivery-not-found"
    )
    assert_problem(
        await client.post(f"/v1/messages/{mid}/dispatch", headers=other), 404, "message-not-found"
    )
    assert_problem(
        await client.post(f"/v1/messages/{mid}/attachments", content=PDF, headers=other),
        404,
        "message-not-found",
    )
    assert_problem(
        await client.delete(f"/v1/messages/{mid}", headers=other), 404, "message-not-found"
    )
    assert (await client.get("/v1/messages", headers=other)).json()["data"] == []
    assert (await client.get("/v1/deliveries", headers=other)).json()["data"] == []


# ---- idempotency ----------------


async def test_idempotency_key_replays_the_first_response(
    runtime: Runtime, client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    headers = {**auth, "Idempotency-Key": "create-42"}
    first = await client.post("/v1/messages", json=message_body(), headers=headers)
    second = await client.post("/v1/messages", json=message_body(), headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert await count_rows(runtime, "messages") == 1


async def test_idempotency_key_with_another_body_is_409(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    headers = {**auth, "Idempotency-Key": "create-43"}
    assert (await client.post("/v1/messages", json=message_body(), headers=headers)).is_success
    other = await client.post("/v1/messages", json=message_body(subject="Another"), headers=headers)
    assert_problem(other, 409, "idempotency-key-reused")


async def test_idempotency_on_streamed_upload(
    runtime: Runtime, client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    message = await create(client, auth)
    url = f"/v1/messages/{message['id']}/attachments?filename=a.pdf"
    headers = {**auth, "Idempotency-Key": "upload-1", "Content-Type": "application/pdf"}
    first = await client.post(url, content=PDF, headers=headers)
    again = await client.post(url, content=PDF, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    other = await client.post(url, content=PDF + b"x", headers=headers)
    assert_problem(other, 409, "idempotency-key-reused")
    assert await count_rows(runtime, "attachments") == 1


async def test_idempotency_key_replays_a_multipart_letter_sent_with_a_new_boundary(
    runtime: Runtime, client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """httpx draws a new boundary for each send: a retry is the same request all the same."""
    headers = {**auth, "Idempotency-Key": "letter-7"}

    async def send(
        files: list[tuple[str, tuple[str, bytes, str]]], subject: str = "Invoice"
    ) -> httpx.Response:
        request = client.build_request(
            "POST",
            "/v1/messages?dispatch=true",
            data={"message": json.dumps(message_body(subject=subject))},
            files=files,
            headers=headers,
        )
        boundaries.append(request.headers["content-type"].split("boundary=")[1])
        return await client.send(request)

    boundaries: list[str] = []
    two = [
        ("attachments", ("a.pdf", PDF, "application/pdf")),
        ("attachments", ("b.txt", b"notes", "text/plain")),
    ]
    first = await send(two)
    again = await send(two)
    assert boundaries[0] != boundaries[1]
    assert first.status_code == again.status_code == 202
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    # Another request under the same key: each thing a part carries counts.
    for changed in (
        [two[0], ("attachments", ("b.txt", b"Notes", "text/plain"))],  # a file's content
        [two[0], ("attachments", ("c.txt", b"notes", "text/plain"))],  # its name
        [two[0], ("attachments", ("b.txt", b"notes", "application/pdf"))],  # its type
        [two[1], two[0]],  # the order of the files
        [two[0]],  # one file fewer
    ):
        assert_problem(await send(changed), 409, "idempotency-key-reused")
    assert_problem(await send(two, subject="Another"), 409, "idempotency-key-reused")
    assert await count_rows(runtime, "messages") == 1
    assert await count_rows(runtime, "attachments") == 2


async def test_idempotency_keys_are_per_organisation(
    runtime: Runtime, client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    _, other_key = await create_org_with_key(runtime, "Other")
    body = message_body()
    first = await client.post(
        "/v1/messages", json=body, headers={**auth, "Idempotency-Key": "same"}
    )
    second = await client.post(
        "/v1/messages",
        json=body,
        headers={"Authorization": f"Bearer {other_key}", "Idempotency-Key": "same"},
    )
    assert first.json()["id"] != second.json()["id"]


async def test_idempotency_key_too_long(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    response = await client.post(
        "/v1/messages", json=message_body(), headers={**auth, "Idempotency-Key": "k" * 256}
    )
    problem = assert_problem(response, 422, "validation-failed")
    assert fields(problem) == ["header.Idempotency-Key"]


# ---- OpenAPI ----------------


async def test_openapi_documents_errors(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    create_op = spec["paths"]["/v1/messages"]["post"]
    for status in ("401", "409", "413", "422"):
        assert status in create_op["responses"], status
    assert "multipart/form-data" in create_op["requestBody"]["content"]
    assert "Problem" in spec["components"]["schemas"]
    upload = spec["paths"]["/v1/messages/{message_id}/attachments"]["post"]
    assert "message-not-draft" in upload["responses"]["409"]["description"]
