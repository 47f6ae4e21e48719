"""The native API's envelope endpoints, through the real middleware and the real worker."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tabellion.envelope.service import EXPIRE_TASK, INVITE_TASK, token_hash
from tabellion.models.envelope import EnvelopeRecipient
from tabellion.models.evidence import Evidence
from tabellion.models.job import Job
from tabellion.models.webhook import Event
from tabellion.runtime import Runtime
from tests.conftest import count_rows
from tests.envelope.helpers import (
    create_envelope,
    encrypted_pdf,
    envelope_body,
    field,
    invitations,
    pdf_bytes,
    ready_draft,
    upload,
)
from tests.fixtures.factories import bearer, create_key, create_org_with_key
from tests.message.test_endpoints import assert_problem, fields

SIGNER = {"email": "sam@example.test", "name": "Sam Signer", "role": "signer"}


async def _jobs(runtime: Runtime, kind: str) -> list[dict[str, Any]]:
    async with runtime.sessions() as session:
        return [j.payload for j in await session.scalars(select(Job).where(Job.kind == kind))]


# ---- create ----------------


async def test_create_answers_the_draft_with_its_recipients(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    body = envelope_body()
    body["recipients"][1] |= {"access_auth": ["email_otp"], "language": "fr"}
    envelope = await create_envelope(client, auth, **body)
    assert envelope["id"].startswith("env_")
    assert envelope["status"] == "draft"
    assert (envelope["title"], envelope["message"], envelope["reference"]) == (
        "Service agreement",
        "Please sign",
        "CTR-7",
    )
    assert envelope["signing_order"] == "sequential"
    assert envelope["expires_in_days"] == 90
    assert envelope["sent_at"] is None and envelope["expires_at"] is None
    assert envelope["documents"] == [] and envelope["fields"] == []
    summary = [
        (r["email"], r["role"], r["order"], r["status"], r["language"], r["access_auth"])
        for r in envelope["recipients"]
    ]
    assert summary == [
        ("ann@example.test", "approver", 1, "waiting", "en", []),
        ("cee@example.test", "cc", 1, "waiting", "en", []),
        ("sam@example.test", "signer", 2, "waiting", "fr", ["email_otp"]),
    ]
    assert all(r["id"].startswith("rcp_") for r in envelope["recipients"])
    assert envelope["created_at"].endswith("Z")
    fetched = await client.get(f"/v1/envelopes/{envelope['id']}", headers=auth)
    assert fetched.json() == envelope


@pytest.mark.parametrize(
    ("change", "field_name"),
    [
        ({"role": "notary"}, "recipients[0].role"),
        ({"email": "not-an-address"}, "recipients[0].email"),
        ({"order": 0}, "recipients[0].order"),
        ({"access_auth": ["sms"]}, "recipients[0].access_auth[0]"),
        ({"action_auth": ["fingerprint"]}, "recipients[0].action_auth[0]"),
        ({"nickname": "Sammy"}, "recipients[0].nickname"),
    ],
)
async def test_a_bad_recipient_is_422_naming_the_field(
    client: httpx.AsyncClient, auth: dict[str, str], change: dict[str, Any], field_name: str
) -> None:
    body = envelope_body(recipients=[SIGNER | change])
    response = await client.post("/v1/envelopes", json=body, headers=auth)
    problem = assert_problem(response, 422, "validation-failed")
    assert field_name in fields(problem)


@pytest.mark.parametrize(
    ("change", "field_name"),
    [
        ({"recipients": []}, "recipients"),
        ({"title": ""}, "title"),
        ({"signing_order": "random"}, "signing_order"),
        ({"language": "es"}, "language"),
        ({"expires_in_days": 0}, "expires_in_days"),
    ],
)
async def test_a_bad_envelope_is_422_naming_the_field(
    client: httpx.AsyncClient,
    runtime: Runtime,
    auth: dict[str, str],
    change: dict[str, Any],
    field_name: str,
) -> None:
    response = await client.post("/v1/envelopes", json=envelope_body(**change), headers=auth)
    assert field_name in fields(assert_problem(response, 422, "validation-failed"))
    assert await count_rows(runtime, "envelopes") == 0


ASSISTANT = {"email": "asa@example.test", "name": "Asa", "role": "assistant"}
NOT_SEQUENTIAL = "An assistant needs signing_order `sequential`."
NOBODY_AFTER = "An assistant needs a signer or approver with a higher order to assist."


@pytest.mark.parametrize(
    ("signing_order", "recipients", "message"),
    [
        ("parallel", [ASSISTANT | {"order": 1}, SIGNER | {"order": 2}], NOT_SEQUENTIAL),
        ("sequential", [ASSISTANT | {"order": 2}, SIGNER | {"order": 2}], NOBODY_AFTER),
        # Wherever the assistant stands among the recipients.
        ("sequential", [SIGNER | {"order": 1}, ASSISTANT | {"order": 2}], NOBODY_AFTER),
    ],
)
async def test_an_assistant_needs_someone_after_it(
    client: httpx.AsyncClient,
    runtime: Runtime,
    auth: dict[str, str],
    signing_order: str,
    recipients: list[dict[str, Any]],
    message: str,
) -> None:
    body = envelope_body(signing_order=signing_order, recipients=recipients)
    response = await client.post("/v1/envelopes", json=body, headers=auth)
    problem = assert_problem(response, 422, "bad-signing-order")
    [index] = [i for i, r in enumerate(recipients) if r["role"] == "assistant"]
    assert problem["errors"] == [
        {"field": f"recipients[{index}].order", "code": "bad-signing-order", "message": message}
    ]
    assert await count_rows(runtime, "envelope_recipients") == 0


async def test_an_approver_after_an_assistant_is_enough(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    approver = {"email": "ann@example.test", "name": "Ann", "role": "approver", "order": 2}
    body = envelope_body(recipients=[ASSISTANT | {"order": 1}, approver])
    response = await client.post("/v1/envelopes", json=body, headers=auth)
    assert response.status_code == 201, response.text
    assert [r["role"] for r in response.json()["recipients"]] == ["assistant", "approver"]


# ---- documents ----------------


async def test_upload_a_raw_pdf(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    envelope = await create_envelope(client, auth)
    content = pdf_bytes(3)
    response = await upload(client, auth, envelope["id"], content, filename="../nda.pdf")
    assert response.status_code == 201, response.text
    document = response.json()
    assert document["id"].startswith("doc_")
    assert document == {
        "id": document["id"],
        "filename": "nda.pdf",
        "pages": 3,
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        "signed_sha256": None,
        "placeholders": 0,
    }
    fetched = (await client.get(f"/v1/envelopes/{envelope['id']}", headers=auth)).json()
    assert fetched["documents"] == [{k: v for k, v in document.items() if k != "placeholders"}]


async def test_upload_multipart(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    envelope = await create_envelope(client, auth)
    content = pdf_bytes(2)
    response = await client.post(
        f"/v1/envelopes/{envelope['id']}/documents",
        files={"file": ("lease.pdf", content, "application/pdf")},
        headers=auth,
    )
    assert response.status_code == 201, response.text
    assert (response.json()["filename"], response.json()["pages"]) == ("lease.pdf", 2)


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"PK\x03\x04 a zip, not a PDF", "not-a-pdf"),
        (b"%PDF-1.7\nthis is not a PDF body\n%%EOF\n", "pdf-unreadable"),
        (pdf_bytes(2)[:200], "pdf-unreadable"),
        (encrypted_pdf(user_password="open-sesame"), "pdf-encrypted"),
        (encrypted_pdf(user_password=""), "pdf-encrypted"),
    ],
    ids=["zip", "garbage", "truncated", "password", "owner-password-only"],
)
async def test_an_unsignable_file_is_422_and_leaves_no_row(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str], content: bytes, code: str
) -> None:
    envelope = await create_envelope(client, auth)
    assert_problem(await upload(client, auth, envelope["id"], content), 422, code)
    assert await count_rows(runtime, "envelope_documents") == 0


async def test_multipart_without_a_file_part_is_422(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    envelope = await create_envelope(client, auth)
    response = await client.post(
        f"/v1/envelopes/{envelope['id']}/documents",
        files={"document": ("a.pdf", pdf_bytes(1), "application/pdf")},
        headers=auth,
    )
    assert fields(assert_problem(response, 422, "validation-failed")) == ["file"]


async def test_a_document_over_the_limit_is_413(
    runtime: Runtime, client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    object.__setattr__(runtime.settings, "max_attachment_bytes", 500)
    envelope = await create_envelope(client, auth)
    response = await upload(client, auth, envelope["id"], pdf_bytes(3))
    assert_problem(response, 413, "attachment-too-large")
    assert await count_rows(runtime, "envelope_documents") == 0


# ---- fields ----------------


async def test_fields_are_placed_with_their_meta(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    envelope, document_id = await ready_draft(client, auth)
    ann, sam = envelope["recipients"][0]["id"], envelope["recipients"][2]["id"]
    given = [
        field(sam, document_id, type="date", page=3, x=60, y=90, width=40, height=10),
        field(
            ann,
            document_id,
            type="dropdown",
            page=2,
            required=False,
            meta={"label": "Plan", "options": ["Basic", "Pro"], "default": "Pro"},
        ),
        field(sam, document_id, type="number", meta={"min": 1, "max": 10, "read_only": True}),
    ]
    response = await client.post(
        f"/v1/envelopes/{envelope['id']}/fields", json={"fields": given}, headers=auth
    )
    assert response.status_code == 201, response.text
    placed = response.json()["data"]
    assert [f["id"][:4] for f in placed] == ["fld_"] * 3
    assert [(f["type"], f["page"], f["x"], f["y"], f["width"], f["height"]) for f in placed] == [
        ("date", 3, 60.0, 90.0, 40.0, 10.0),
        ("dropdown", 2, 10.0, 80.0, 30.0, 8.0),
        ("number", 1, 10.0, 80.0, 30.0, 8.0),
    ]
    assert [f["meta"] for f in placed] == [
        {},
        {"label": "Plan", "options": ["Basic", "Pro"], "default": "Pro"},
        {"min": 1.0, "max": 10.0, "read_only": True},
    ]
    assert [f["required"] for f in placed] == [True, False, True]
    assert [f["recipient_id"] for f in placed] == [sam, ann, sam]
    fetched = (await client.get(f"/v1/envelopes/{envelope['id']}", headers=auth)).json()
    assert len(fetched["fields"]) == 4  # with the signature field ready_draft placed


@pytest.mark.parametrize(
    ("change", "code", "field_name"),
    [
        ({"page": 4}, "page-not-found", "fields[1].page"),
        ({"x": 80, "width": 30}, "field-off-page", "fields[1]"),
        ({"y": 95, "height": 10}, "field-off-page", "fields[1]"),
        ({"recipient_id": "rcp_00000000000000000000000000"}, "unknown-recipient", None),
        ({"document_id": "doc_00000000000000000000000000"}, "unknown-document", None),
        ({"cc": True}, "recipient-cannot-fill", "fields[1].type"),
        ({"approver": True}, "recipient-cannot-fill", "fields[1].type"),
        ({"x": 101}, "validation-failed", "fields[1].x"),
        ({"width": 0}, "validation-failed", "fields[1].width"),
        ({"page": 0}, "validation-failed", "fields[1].page"),
        ({"type": "stamp"}, "validation-failed", "fields[1].type"),
        ({"type": "radio", "meta": {"options": ["Only"]}}, "validation-failed", "fields[1]"),
        ({"meta": {"colour": "red"}}, "validation-failed", "fields[1].meta.colour"),
    ],
)
async def test_a_bad_field_is_refused_and_none_is_written(
    client: httpx.AsyncClient,
    runtime: Runtime,
    auth: dict[str, str],
    change: dict[str, Any],
    code: str,
    field_name: str | None,
) -> None:
    envelope, document_id = await ready_draft(client, auth)
    ann, cee, sam = (r["id"] for r in envelope["recipients"])
    change = dict(change)  # the parameter itself is shared by every run of the test
    owner = cee if change.pop("cc", False) else ann if change.pop("approver", False) else sam
    bad = field(owner, document_id) | change
    before = await count_rows(runtime, "envelope_fields")
    response = await client.post(
        f"/v1/envelopes/{envelope['id']}/fields",
        json={"fields": [field(sam, document_id, type="name"), bad]},
        headers=auth,
    )
    problem = assert_problem(response, 422, code)
    if field_name is not None:
        assert field_name in fields(problem)
    assert await count_rows(runtime, "envelope_fields") == before


async def test_fields_of_another_envelope_are_unknown(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    first, first_doc = await ready_draft(client, auth)
    second, _ = await ready_draft(client, auth)
    signer = second["recipients"][2]["id"]
    response = await client.post(
        f"/v1/envelopes/{second['id']}/fields",
        json={"fields": [field(signer, first_doc)]},
        headers=auth,
    )
    assert fields(assert_problem(response, 422, "unknown-document")) == ["fields[0].document_id"]
    assert first["id"] != second["id"]


# ---- send ----------------


async def test_send_invites_the_first_in_order(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str]
) -> None:
    envelope, _ = await ready_draft(client, auth)
    response = await client.post(f"/v1/envelopes/{envelope['id']}/send", headers=auth)
    assert response.status_code == 202, response.text
    sent = response.json()
    assert sent["status"] == "pending"
    sent_at, expires_at = (
        datetime.fromisoformat(sent["sent_at"]),
        datetime.fromisoformat(sent["expires_at"]),
    )
    assert expires_at - sent_at == timedelta(days=90)
    # The job that expires it then (tests/envelope/test_tasks.py runs it).
    async with runtime.sessions() as session:
        [expiry] = await session.scalars(select(Job).where(Job.kind == EXPIRE_TASK))
    assert expiry.payload == {"envelope_id": sent["id"]}
    assert expiry.run_at == expires_at
    assert [(r["email"], r["status"]) for r in sent["recipients"]] == [
        ("ann@example.test", "sent"),
        ("cee@example.test", "waiting"),
        ("sam@example.test", "waiting"),
    ]
    ann = sent["recipients"][0]
    assert ann["sent_at"] == sent["sent_at"]
    assert await _jobs(runtime, INVITE_TASK) == [{"recipient_id": ann["id"]}]

    [mail] = await invitations(runtime)
    assert mail["To"] == "ann@example.test"
    assert str(mail["Subject"]) == "Acme asks you to approve \u201cService agreement\u201d"
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Please sign" in text and "Hello Ann Approver," in text
    match = re.search(r"http://tabellion\.test/s/([A-Za-z0-9_-]+)", text)
    assert match is not None
    token = match.group(1)
    assert len(token) >= 43  # 256 bits in base64url
    async with runtime.sessions() as session:
        stored = await session.get(EnvelopeRecipient, ann["id"])
        assert stored is not None
        assert stored.token_hash == token_hash(token)
        # What earlier releases stored: the links they mailed must still open after an upgrade.
        assert stored.token_hash == hashlib.sha256(f"signing:{token}".encode()).hexdigest()
        assert token not in json.dumps([stored.token_hash, stored.token_salt])


async def test_send_in_parallel_invites_every_actor(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str]
) -> None:
    envelope, _ = await ready_draft(client, auth, signing_order="parallel")
    sent = (await client.post(f"/v1/envelopes/{envelope['id']}/send", headers=auth)).json()
    assert {r["email"]: r["status"] for r in sent["recipients"]} == {
        "ann@example.test": "sent",
        "sam@example.test": "sent",
        "cee@example.test": "waiting",  # cc: the completed PDF at the end
    }
    assert sorted(m["To"] for m in await invitations(runtime)) == [
        "ann@example.test",
        "sam@example.test",
    ]


async def test_send_emits_envelope_sent(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str]
) -> None:
    envelope, _ = await ready_draft(client, auth)
    await client.post(f"/v1/envelopes/{envelope['id']}/send", headers=auth)
    async with runtime.sessions() as session:
        [event] = await session.scalars(select(Event).where(Event.type == "envelope.sent"))
    data = json.loads(event.body)["data"]
    assert data == {
        "envelope_id": envelope["id"],
        "status": "pending",
        "title": "Service agreement",
        "reference": "CTR-7",
        "recipient_ids": [envelope["recipients"][0]["id"]],
    }
    # The SENT proof names every recipient (the event, only those invited now), and the expiry.
    async with runtime.sessions() as session:
        [proof] = await session.scalars(
            select(Evidence).where(
                Evidence.envelope_id == envelope["id"], Evidence.type == "ENVELOPE_SENT"
            )
        )
    sent = (await client.get(f"/v1/envelopes/{envelope['id']}", headers=auth)).json()
    assert proof.details["recipient_ids"] == [r["id"] for r in envelope["recipients"]]
    assert proof.details["expires_at"] == sent["expires_at"]


async def test_send_refuses_a_signer_without_a_signature_field(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str]
) -> None:
    envelope = await create_envelope(client, auth)
    document_id = (await upload(client, auth, envelope["id"], pdf_bytes(1))).json()["id"]
    sam = envelope["recipients"][2]["id"]
    await client.post(
        f"/v1/envelopes/{envelope['id']}/fields",
        json={"fields": [field(sam, document_id, type="initials")]},
        headers=auth,
    )
    response = await client.post(f"/v1/envelopes/{envelope['id']}/send", headers=auth)
    problem = assert_problem(response, 422, "signer-without-signature-field")
    assert fields(problem) == ["recipients[2]"]
    assert problem["errors"][0]["code"] == "signer-without-signature-field"  # type: ignore[index]
    assert sam in str(problem["detail"])
    fetched = (await client.get(f"/v1/envelopes/{envelope['id']}", headers=auth)).json()
    assert fetched["status"] == "draft"
    assert await _jobs(runtime, INVITE_TASK) == []


async def test_send_without_a_document_is_422(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    envelope = await create_envelope(client, auth)
    response = await client.post(f"/v1/envelopes/{envelope['id']}/send", headers=auth)
    problem = assert_problem(response, 422, "no-documents")
    assert fields(problem) == ["documents"]
    assert problem["errors"][0]["message"] == "Upload at least one PDF before sending."  # type: ignore[index]


async def test_send_with_only_viewers_is_422(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    viewer = SIGNER | {"role": "viewer"}
    envelope = await create_envelope(client, auth, recipients=[viewer])
    await upload(client, auth, envelope["id"], pdf_bytes(1))
    response = await client.post(f"/v1/envelopes/{envelope['id']}/send", headers=auth)
    problem = assert_problem(response, 422, "no-signers")
    assert fields(problem) == ["recipients"]
    assert problem["errors"][0]["message"] == "Add at least one signer or approver."  # type: ignore[index]


async def test_an_approver_alone_is_enough_to_send(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """An approver acts without a signature field: an envelope with no signer can go out."""
    approver = SIGNER | {"role": "approver"}
    envelope = await create_envelope(client, auth, recipients=[approver])
    await upload(client, auth, envelope["id"], pdf_bytes(1))
    response = await client.post(f"/v1/envelopes/{envelope['id']}/send", headers=auth)
    assert response.status_code == 202, response.text
    sent = response.json()
    assert sent["status"] == "pending"
    assert [r["status"] for r in sent["recipients"]] == ["sent"]


async def test_send_refuses_totp_for_someone_without_a_confirmed_secret(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    envelope, _ = await ready_draft(client, auth, recipients=[SIGNER | {"action_auth": ["totp"]}])
    response = await client.post(f"/v1/envelopes/{envelope['id']}/send", headers=auth)
    problem = assert_problem(response, 422, "recipient-without-totp")
    assert fields(problem) == ["recipients[0].action_auth"]
    assert (await client.get(f"/v1/envelopes/{envelope['id']}", headers=auth)).json()[
        "status"
    ] == "draft"


async def test_a_sent_envelope_no_longer_changes(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str]
) -> None:
    envelope, document_id = await ready_draft(client, auth)
    path = f"/v1/envelopes/{envelope['id']}"
    assert (await client.post(f"{path}/send", headers=auth)).status_code == 202
    assert_problem(await client.post(f"{path}/send", headers=auth), 409, "envelope-not-draft")
    assert_problem(
        await upload(client, auth, envelope["id"], pdf_bytes(1)), 409, "envelope-not-draft"
    )
    sam = envelope["recipients"][2]["id"]
    response = await client.post(
        f"{path}/fields", json={"fields": [field(sam, document_id)]}, headers=auth
    )
    assert_problem(response, 409, "envelope-not-draft")
    assert_problem(await client.delete(path, headers=auth), 409, "envelope-not-draft")
    assert len(await _jobs(runtime, INVITE_TASK)) == 1


# ---- cancel, remind, delete ----------------


async def test_cancel_a_pending_envelope(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str]
) -> None:
    envelope, _ = await ready_draft(client, auth)
    path = f"/v1/envelopes/{envelope['id']}"
    assert_problem(await client.post(f"{path}/cancel", headers=auth), 409, "envelope-not-pending")
    await client.post(f"{path}/send", headers=auth)
    response = await client.post(f"{path}/cancel", headers=auth)
    assert response.status_code == 200, response.text
    cancelled = response.json()
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancelled_at"] >= cancelled["sent_at"]
    again = assert_problem(
        await client.post(f"{path}/cancel", headers=auth), 409, "envelope-not-pending"
    )
    assert again["detail"] == (
        f"Envelope {envelope['id']} is cancelled; only a pending envelope can do this."
    )
    assert_problem(await client.post(f"{path}/remind", headers=auth), 409, "envelope-not-pending")
    # The invitation queued at send is not written once the envelope is cancelled.
    assert await invitations(runtime) == []
    async with runtime.sessions() as session:
        events = list(await session.scalars(select(Event).order_by(Event.id)))
    assert [e.type for e in events] == ["envelope.created", "envelope.sent", "envelope.cancelled"]
    assert json.loads(events[-1].body)["data"] == {
        "envelope_id": envelope["id"],
        "status": "cancelled",
        "title": "Service agreement",
        "reference": "CTR-7",
        "cancelled_at": cancelled["cancelled_at"],
    }


async def test_remind_writes_again_to_who_has_not_acted(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str]
) -> None:
    envelope, _ = await ready_draft(client, auth)
    path = f"/v1/envelopes/{envelope['id']}"
    await client.post(f"{path}/send", headers=auth)
    response = await client.post(f"{path}/remind", headers=auth)
    assert response.status_code == 202, response.text
    ann = envelope["recipients"][0]["id"]
    assert await _jobs(runtime, INVITE_TASK) == [
        {"recipient_id": ann},
        {"recipient_id": ann, "reminder": 1},
    ]
    subjects = sorted(str(m["Subject"]) for m in await invitations(runtime))
    assert subjects == [
        "Acme asks you to approve \u201cService agreement\u201d",
        "Reminder: Acme asks you to approve \u201cService agreement\u201d",
    ]


async def test_delete_a_draft_removes_everything(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str]
) -> None:
    envelope, _ = await ready_draft(client, auth)
    path = f"/v1/envelopes/{envelope['id']}"
    response = await client.delete(path, headers=auth)
    assert response.status_code == 204
    assert_problem(await client.get(path, headers=auth), 404, "envelope-not-found")
    for table in ("envelopes", "envelope_recipients", "envelope_documents", "envelope_fields"):
        assert await count_rows(runtime, table) == 0, table


# ---- list ----------------


async def test_list_filters_by_status_and_pages(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    drafts = [await create_envelope(client, auth, reference=f"R{n}") for n in range(3)]
    sent, _ = await ready_draft(client, auth)
    await client.post(f"/v1/envelopes/{sent['id']}/send", headers=auth)

    listed = (await client.get("/v1/envelopes", params={"status": "pending"}, headers=auth)).json()
    assert [e["id"] for e in listed["data"]] == [sent["id"]]
    assert listed["data"][0]["status"] == "pending"

    first = (
        await client.get("/v1/envelopes", params={"status": "draft", "limit": 2}, headers=auth)
    ).json()
    assert [e["id"] for e in first["data"]] == [drafts[2]["id"], drafts[1]["id"]]
    rest = (
        await client.get(
            "/v1/envelopes",
            params={"status": "draft", "limit": 2, "cursor": first["next_cursor"]},
            headers=auth,
        )
    ).json()
    assert [e["id"] for e in rest["data"]] == [drafts[0]["id"]]
    assert rest["next_cursor"] is None
    by_reference = await client.get("/v1/envelopes", params={"reference": "R1"}, headers=auth)
    assert [e["id"] for e in by_reference.json()["data"]] == [drafts[1]["id"]]
    bad = await client.get("/v1/envelopes", params={"status": "signed"}, headers=auth)
    assert fields(assert_problem(bad, 422, "validation-failed")) == ["status"]


# ---- tenants, scopes, idempotency ----------------


async def test_another_organisation_gets_404_everywhere(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str]
) -> None:
    envelope, document_id = await ready_draft(client, auth)
    _, other_secret = await create_org_with_key(runtime, name="Other")
    other = bearer(other_secret)
    path = f"/v1/envelopes/{envelope['id']}"
    sam = envelope["recipients"][2]["id"]
    attempts = [
        client.get(path, headers=other),
        client.delete(path, headers=other),
        upload(client, other, envelope["id"], pdf_bytes(1)),
        client.post(f"{path}/fields", json={"fields": [field(sam, document_id)]}, headers=other),
        client.post(f"{path}/send", headers=other),
        client.post(f"{path}/cancel", headers=other),
        client.post(f"{path}/remind", headers=other),
    ]
    for attempt in attempts:
        assert_problem(await attempt, 404, "envelope-not-found")
    assert (await client.get("/v1/envelopes", headers=other)).json()["data"] == []
    assert (await client.get(path, headers=auth)).json()["status"] == "draft"


async def test_an_impossible_id_is_404(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    assert_problem(
        await client.get("/v1/envelopes/env_%00", headers=auth), 404, "envelope-not-found"
    )


async def test_scopes_are_those_of_messages(
    client: httpx.AsyncClient, runtime: Runtime, org_key: tuple[str, str], auth: dict[str, str]
) -> None:
    envelope = await create_envelope(client, auth)
    reader = bearer(await create_key(runtime, org_key[0], ["messages:read"]))
    assert (await client.get(f"/v1/envelopes/{envelope['id']}", headers=reader)).status_code == 200
    response = await client.post("/v1/envelopes", json=envelope_body(), headers=reader)
    assert_problem(response, 403, "insufficient-scope")
    assert_problem(await client.get("/v1/envelopes"), 401, "unauthorized")


async def test_idempotency_key_replays_the_first_answer(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str]
) -> None:
    headers = {**auth, "Idempotency-Key": "env-1"}
    first = await client.post("/v1/envelopes", json=envelope_body(), headers=headers)
    again = await client.post("/v1/envelopes", json=envelope_body(), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert await count_rows(runtime, "envelopes") == 1
    other = await client.post("/v1/envelopes", json=envelope_body(title="Else"), headers=headers)
    assert_problem(other, 409, "idempotency-key-reused")


async def test_the_openapi_document_lists_the_codes(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    send = spec["paths"]["/v1/envelopes/{envelope_id}/send"]["post"]
    assert {"202", "404", "409", "422"} <= set(send["responses"])
    upload_doc = spec["paths"]["/v1/envelopes/{envelope_id}/documents"]["post"]
    assert {"201", "413", "422"} <= set(upload_doc["responses"])
