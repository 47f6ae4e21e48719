"""Documenso's PDF placeholders on ``/envelope/create``: ``{{signature, r1}}`` tags become
fields of the payload's recipients (r1 the first listed), with Documenso's option names; the
signed item no longer shows them."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import httpx
import pypdfium2 as pdfium

from tabellion.jobs.worker import Worker
from tabellion.runtime import Runtime
from tests.compat.documenso.helpers import BASE, assert_error, envelope, post, token_of
from tests.compat.test_documenso import CREATE_PAYLOAD, create
from tests.conftest import count_rows
from tests.envelope.helpers import assert_sealed
from tests.envelope.test_pages import UA, _post
from tests.envelope.test_placeholders import _gray_pixels, tagged_pdf

TAGGED = tagged_pdf(
    (1, 60, 120, "Company: {{TEXT, r2, required=false, label=Company, characterLimit=20}}"),
    (1, 60, 200, "{{number, r2, minValue=0, maxValue=100, value=50}}"),
    (1, 60, 650, "{{signature, r1}}"),
    (1, 320, 650, "{{ signature, R2 }}"),
    # Not Documenso tags: no recipient, and an unknown type; both stay text.
    (2, 60, 100, "{{signature}} {{stamp, r1}}"),
)


def _payload() -> dict[str, Any]:
    payload = copy.deepcopy(CREATE_PAYLOAD)
    first = {**payload["recipients"][0], "fields": [], "signingOrder": 1}
    second = {"email": "second@example.com", "name": "Sue Second", "role": "SIGNER",
              "signingOrder": 0}  # fmt: skip
    payload["recipients"] = [first, second]
    payload["meta"]["signingOrder"] = "SEQUENTIAL"
    return payload


def _files(pdf: bytes) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", ("tagged.pdf", pdf, "application/pdf"))]


async def _sign(
    client: httpx.AsyncClient, runtime: Runtime, body: dict[str, Any], email: str
) -> None:
    token = await token_of(runtime, email)
    assert (await client.get(f"/s/{token}", headers=UA)).status_code == 200
    recipient = next(r for r in body["recipients"] if r["email"] == email)
    # The optional TEXT is left empty: where its tag was, nothing shows.
    typed = {"NUMBER": "42", "TEXT": "", "SIGNATURE": recipient["name"]}
    values = {
        f"f_{f['secondaryId']}": typed[f["type"]]
        for f in body["fields"]
        if f["recipientId"] == recipient["id"]
    }
    response = await _post(client, token, "sign", {**values, "consent": "yes"})
    assert response.status_code == 303, response.text


async def test_placeholders_become_fields_of_the_payloads_recipients(
    client: httpx.AsyncClient, runtime: Runtime, key: dict[str, str], tmp_path: Path
) -> None:
    response = await create(client, key, _payload(), _files(TAGGED))
    assert response.status_code == 200, response.text
    envelope_id = response.json()["id"]
    body = await envelope(client, key, envelope_id)
    ids = {r["email"]: r["id"] for r in body["recipients"]}
    first, second = ids["signer@example.com"], ids["second@example.com"]
    by_type: dict[str, list[dict[str, Any]]] = {}
    for f in body["fields"]:
        by_type.setdefault(f["type"], []).append(f)
    assert sorted(by_type) == ["NUMBER", "SIGNATURE", "TEXT"]
    # r1 is the payload's first recipient, though the second signs first.
    assert sorted((f["recipientId"], f["positionX"][:2]) for f in by_type["SIGNATURE"]) == sorted(
        [(first, "10"), (second, "53")]
    )
    [text] = by_type["TEXT"]
    assert text["recipientId"] == second and text["page"] == 1
    assert text["fieldMeta"]["required"] is False and text["fieldMeta"]["label"] == "Company"
    assert text["fieldMeta"]["characterLimit"] == 20
    [number] = by_type["NUMBER"]
    meta = number["fieldMeta"]
    assert (meta["minValue"], meta["maxValue"], meta["value"], meta["required"]) == (
        0,
        100,
        "50",
        True,
    )

    await post(client, key, "envelope/distribute", {"envelopeId": envelope_id})
    await _sign(client, runtime, body, "second@example.com")
    await Worker(runtime, poll_interval=0.05).run_until_idle()
    await _sign(client, runtime, body, "signer@example.com")
    await Worker(runtime, poll_interval=0.05).run_until_idle()
    done = await envelope(client, key, envelope_id)
    assert done["status"] == "COMPLETED", done
    item_id = done["envelopeItems"][0]["id"]
    signed = await client.get(f"{BASE}/envelope/item/{item_id}/download", headers=key)
    assert signed.status_code == 200
    await assert_sealed(runtime, signed.content, tmp_path)
    text_of = "".join(p.get_textpage().get_text_range() for p in pdfium.PdfDocument(signed.content))
    for tag in ("{{signature, r1}}", "{{ signature, R2 }}", "{{number"):
        assert tag not in text_of  # a tag alone in its text object is taken out
    assert "Company:" in text_of and "{{stamp, r1}}" in text_of  # the rest stays
    # A tag sharing its line is covered with white.
    box = tuple(float(text[k]) for k in ("positionX", "positionY", "width", "height"))
    assert _gray_pixels(TAGGED, 1, box) > 50  # type: ignore[arg-type]
    assert _gray_pixels(signed.content, 1, box) == 0  # type: ignore[arg-type]


async def test_a_placeholder_naming_no_payload_recipient(
    client: httpx.AsyncClient, runtime: Runtime, key: dict[str, str]
) -> None:
    pdf = tagged_pdf((1, 60, 100, "{{signature, r3}}"))
    response = await create(client, key, _payload(), _files(pdf))
    body = assert_error(response, 400, "INVALID_BODY", "no r3")
    assert body["issues"][0]["path"] == ["file"]
    bad_option = tagged_pdf((1, 60, 100, "{{number, r1, minValue=zero}}"))
    response = await create(client, key, _payload(), _files(bad_option))
    assert_error(response, 400, "INVALID_BODY", "page 1, {{number, r1, minValue=zero}}")
    assert await count_rows(runtime, "envelopes") == 0
    assert await count_rows(runtime, "envelope_fields") == 0


async def test_placeholders_beside_coordinate_fields(
    client: httpx.AsyncClient, key: dict[str, str]
) -> None:
    payload = copy.deepcopy(CREATE_PAYLOAD)
    response = await client.post(
        f"{BASE}/envelope/create",
        data={"payload": json.dumps(payload)},
        files=_files(tagged_pdf((2, 60, 400, "{{initials, r1}}"))),
        headers=key,
    )
    assert response.status_code == 200, response.text
    body = await envelope(client, key, response.json()["id"])
    assert sorted(f["type"] for f in body["fields"]) == ["DATE", "INITIALS", "SIGNATURE"]
    [initials] = [f for f in body["fields"] if f["type"] == "INITIALS"]
    assert initials["page"] == 2


async def test_fields_placed_by_a_text_of_the_pdf(
    client: httpx.AsyncClient, runtime: Runtime, key: dict[str, str], tmp_path: Path
) -> None:
    pdf = tagged_pdf(
        (1, 60, 300, "{{name}}"),
        (1, 60, 600, "[SIGN-HERE]"),
        (2, 60, 600, "[SIGN-HERE]"),
    )
    payload = copy.deepcopy(CREATE_PAYLOAD)
    payload["recipients"][0]["fields"] = []
    response = await create(client, key, payload, _files(pdf))
    assert response.status_code == 200, response.text
    envelope_id = response.json()["id"]
    body = await envelope(client, key, envelope_id)
    assert body["fields"] == []  # {{name}} names no recipient: left for the API, as Documenso
    [signer] = body["recipients"]

    def item(**extra: Any) -> dict[str, Any]:
        return {"recipientId": signer["id"], **extra}

    missing = await post(
        client, key, "envelope/field/create-many",
        {"envelopeId": envelope_id, "data": [item(type="NAME", placeholder="{{nowhere}}")]},
    )  # fmt: skip
    issue = assert_error(missing, 400, "INVALID_BODY", "not found")["issues"][0]
    assert issue["path"] == ["data", "0", "placeholder"]
    made = await post(
        client,
        key,
        "envelope/field/create-many",
        {
            "envelopeId": envelope_id,
            "data": [
                item(type="NAME", placeholder="{{name}}", width=30),
                item(type="SIGNATURE", placeholder="[SIGN-HERE]", matchAll=True),
                item(type="DATE", page=1, positionX=60, positionY=10, width=20, height=3),
            ],
        },
    )
    assert made.status_code == 200, made.text
    data = made.json()["data"]
    assert [(f["type"], f["page"]) for f in data] == [
        ("NAME", 1),
        ("SIGNATURE", 1),
        ("SIGNATURE", 2),
        ("DATE", 1),
    ]
    assert data[0]["width"] == "30" and float(data[0]["positionX"]) < 15
    assert float(data[1]["positionY"]) > 60  # where [SIGN-HERE] is, 600 pt down of 842

    await post(client, key, "envelope/distribute", {"envelopeId": envelope_id})
    token = await token_of(runtime, "signer@example.com")
    assert (await client.get(f"/s/{token}", headers=UA)).status_code == 200
    values = {
        f"f_{f['secondaryId']}": "2026-12-04" if f["type"] == "DATE" else "John Smith" for f in data
    }
    signed = await _post(client, token, "sign", {**values, "consent": "yes"})
    assert signed.status_code == 303, signed.text
    await Worker(runtime, poll_interval=0.05).run_until_idle()
    done = await envelope(client, key, envelope_id)
    assert done["status"] == "COMPLETED"
    item_id = done["envelopeItems"][0]["id"]
    result = await client.get(f"{BASE}/envelope/item/{item_id}/download", headers=key)
    await assert_sealed(runtime, result.content, tmp_path)
    text_of = "".join(p.get_textpage().get_text_range() for p in pdfium.PdfDocument(result.content))
    assert "[SIGN-HERE]" not in text_of and "{{name}}" not in text_of


async def test_inline_fields_belong_to_their_payload_recipient(
    client: httpx.AsyncClient, key: dict[str, str]
) -> None:
    """A recipient's inline fields are its own even when signingOrder reorders recipients."""
    payload = _payload()
    signature = CREATE_PAYLOAD["recipients"][0]["fields"][0]
    payload["recipients"][0]["fields"] = [signature]
    payload["recipients"][1]["fields"] = [{**signature, "type": "INITIALS", "positionY": 10}]
    response = await create(client, key, payload)
    assert response.status_code == 200, response.text
    body = await envelope(client, key, response.json()["id"])
    emails = {r["id"]: r["email"] for r in body["recipients"]}
    assert {f["type"]: emails[f["recipientId"]] for f in body["fields"]} == {
        "SIGNATURE": "signer@example.com",
        "INITIALS": "second@example.com",
    }
    # Listed by signing order: the second recipient of the payload acts first.
    assert [r["email"] for r in body["recipients"]] == ["second@example.com", "signer@example.com"]
