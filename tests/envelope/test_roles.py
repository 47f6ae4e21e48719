"""Reassigning a recipient before they act, and the assistant who fills later recipients'
fields."""

from __future__ import annotations

from typing import Any

import httpx
import pypdfium2 as pdfium

from tabellion.runtime import Runtime
from tests.envelope.helpers import field, invitations, pdf_bytes, upload
from tests.envelope.test_auth import _trail
from tests.envelope.test_pages import UA, _post, _token
from tests.envelope.test_tasks import _get
from tests.fixtures.factories import create_org_with_key
from tests.message.test_endpoints import assert_problem, fields

SIGNER = {"email": "sam@example.test", "name": "Sam Signer", "role": "signer"}
KIM = {"email": "Kim@Example.test", "name": "Kim Other"}


async def _draft(
    client: httpx.AsyncClient, auth: dict[str, str], recipients: list[dict[str, Any]], **extra: Any
) -> tuple[dict[str, Any], str]:
    body = {"title": "Lease", "signing_order": "sequential", "recipients": recipients, **extra}
    response = await client.post("/v1/envelopes", json=body, headers=auth)
    assert response.status_code == 201, response.text
    envelope = response.json()
    uploaded = await upload(client, auth, envelope["id"], pdf_bytes(1))
    return envelope, uploaded.json()["id"]


async def _add(
    client: httpx.AsyncClient, auth: dict[str, str], envelope_id: str, items: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    response = await client.post(
        f"/v1/envelopes/{envelope_id}/fields", json={"fields": items}, headers=auth
    )
    assert response.status_code == 201, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def _send(client: httpx.AsyncClient, auth: dict[str, str], envelope_id: str) -> Any:
    response = await client.post(f"/v1/envelopes/{envelope_id}/send", headers=auth)
    assert response.status_code == 202, response.text
    return response.json()


# ---- reassign ---------------------------------------------------------------------------------


async def test_reassign_an_invited_signer(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str]
) -> None:
    envelope, document = await _draft(client, auth, [SIGNER])
    sam = envelope["recipients"][0]["id"]
    [signature] = await _add(client, auth, envelope["id"], [field(sam, document)])
    await _send(client, auth, envelope["id"])
    old = await _token(runtime, sam)
    assert (await client.get(f"/s/{old}", headers=UA)).status_code == 200
    assert [m["To"] for m in await invitations(runtime)] == ["sam@example.test"]

    path = f"/v1/envelopes/{envelope['id']}/recipients/{sam}/reassign"
    response = await client.post(path, json=KIM, headers=auth)
    assert response.status_code == 200, response.text
    [recipient] = response.json()["recipients"]
    assert recipient["id"] == sam
    assert (recipient["email"], recipient["name"]) == ("Kim@example.test", "Kim Other")
    assert recipient["status"] == "sent" and recipient["opened_at"] is None

    assert (await client.get(f"/s/{old}", headers=UA)).status_code == 404  # the old link died
    mails = await invitations(runtime)
    assert sorted(m["To"] for m in mails) == ["Kim@example.test", "sam@example.test"]
    mails = [m for m in mails if m["To"] == "Kim@example.test"]
    new = await _token(runtime, sam)
    assert new in mails[-1].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    signed = await _post(client, new, "sign", {f"typed_{signature['id']}": "Kim", "consent": "yes"})
    assert signed.status_code == 303, signed.text
    trail = await _trail(runtime, sam)
    [earlier] = trail["reassigned"]
    assert earlier["email"] == "sam@example.test" and earlier["name"] == "Sam Signer"
    assert (await _get(client, auth, envelope["id"]))["status"] == "completed"


async def test_reassign_refusals(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str]
) -> None:
    envelope, document = await _draft(client, auth, [SIGNER, SIGNER | {"email": "b@x.test"}])
    sam, bee = (r["id"] for r in envelope["recipients"])
    items = await _add(client, auth, envelope["id"], [field(sam, document), field(bee, document)])
    base = f"/v1/envelopes/{envelope['id']}/recipients"
    # A draft is edited, not reassigned.
    assert_problem(
        await client.post(f"{base}/{sam}/reassign", json=KIM, headers=auth),
        409,
        "envelope-not-pending",
    )
    await _send(client, auth, envelope["id"])
    assert_problem(
        await client.post(f"{base}/rcp_unknown/reassign", json=KIM, headers=auth),
        404,
        "recipient-not-found",
    )
    problem = assert_problem(
        await client.post(
            f"{base}/{sam}/reassign", json={"email": " SAM@example.test", "name": "S"}, headers=auth
        ),
        422,
        "same-recipient",
    )
    assert fields(problem) == ["email"]
    problem = assert_problem(
        await client.post(f"{base}/{sam}/reassign", json={"email": "nope"}, headers=auth),
        422,
        "validation-failed",
    )
    assert sorted(fields(problem)) == ["email", "name"]
    token = await _token(runtime, sam)
    response = await _post(
        client, token, "sign", {f"typed_{items[0]['id']}": "S", "consent": "yes"}
    )
    assert response.status_code == 303
    assert_problem(
        await client.post(f"{base}/{sam}/reassign", json=KIM, headers=auth),
        409,
        "recipient-already-acted",
    )
    # The waiting second signer can be reassigned: it is invited later, at the new address.
    response = await client.post(f"{base}/{bee}/reassign", json=KIM, headers=auth)
    assert response.status_code == 200
    assert response.json()["recipients"][1]["status"] == "sent"  # its turn came with Sam
    # Another organisation sees nothing.
    _, other = await create_org_with_key(runtime, "Other")
    assert_problem(
        await client.post(
            f"{base}/{bee}/reassign", json=KIM, headers={"Authorization": f"Bearer {other}"}
        ),
        404,
        "envelope-not-found",
    )


# ---- assistant --------------------------------------------------------------------------------


async def test_an_assistant_fills_the_next_signers_fields(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str]
) -> None:
    assistant = {"email": "asa@example.test", "name": "Asa Assistant", "role": "assistant"}
    envelope, document = await _draft(
        client, auth, [assistant | {"order": 1}, SIGNER | {"order": 2}]
    )
    asa, sam = (r["id"] for r in envelope["recipients"])
    signature, company, plan = await _add(
        client,
        auth,
        envelope["id"],
        [
            field(sam, document),
            field(sam, document, type="text", y=10, height=5, meta={"label": "Company"}),
            field(
                sam,
                document,
                type="dropdown",
                y=20,
                height=5,
                meta={"label": "Plan", "options": ["Basic", "Pro"]},
            ),
        ],
    )
    await _send(client, auth, envelope["id"])
    asa_token = await _token(runtime, asa)
    page = await client.get(f"/s/{asa_token}", headers=UA)
    assert "Company, for Sam Signer" in page.text and "Plan, for Sam Signer" in page.text
    assert f"typed_{signature['id']}" not in page.text  # never a signature
    bad = await _post(client, asa_token, "assist", {f"f_{plan['id']}": "Gold"})
    assert bad.status_code == 422 and "choose one of the options" in bad.text
    done = await _post(
        client, asa_token, "assist", {f"f_{company['id']}": "Acme SA", f"f_{plan['id']}": "Pro"}
    )
    assert done.status_code == 303, done.text
    state = await _get(client, auth, envelope["id"])
    assert [r["status"] for r in state["recipients"]] == ["assisted", "sent"]
    assert (await _trail(runtime, asa))["assisted"]["fields"] == [company["id"], plan["id"]]

    sam_token = await _token(runtime, sam)
    page = await client.get(f"/s/{sam_token}", headers=UA)
    assert 'value="Acme SA"' in page.text and "<option selected>Pro</option>" in page.text
    signed = await _post(
        client,
        sam_token,
        "sign",
        {
            f"typed_{signature['id']}": "Sam",
            f"f_{company['id']}": "Acme SA (Paris)",
            f"f_{plan['id']}": "Pro",
            "consent": "yes",
        },
    )
    assert signed.status_code == 303, signed.text
    final = await _get(client, auth, envelope["id"])
    assert final["status"] == "completed"
    values = {f["id"]: f["value"] for f in final["fields"]}
    assert values[company["id"]] == {"text": "Acme SA (Paris)"}  # the owner had the last word
    assert values[plan["id"]] == {"text": "Pro"}
    await invitations(runtime)  # completion runs: the certificate names the assistant's step
    signed_pdf = await client.get(f"/v1/envelopes/{envelope['id']}/certificate", headers=auth)
    assert signed_pdf.status_code == 200
    document_pdf = pdfium.PdfDocument(signed_pdf.content)
    text = "".join(page.get_textpage().get_text_range() for page in document_pdf)
    assert "Assisted:" in text and "Asa Assistant" in text


async def test_an_assistant_acts_in_turn_and_cannot_sign(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str]
) -> None:
    assistant = {"email": "asa@example.test", "name": "Asa", "role": "assistant"}
    envelope, document = await _draft(
        client,
        auth,
        [
            SIGNER | {"order": 1},
            assistant | {"order": 2},
            SIGNER | {"email": "z@x.test", "order": 3},
        ],
    )
    sam, asa, zed = (r["id"] for r in envelope["recipients"])
    problem = assert_problem(
        await client.post(
            f"/v1/envelopes/{envelope['id']}/fields",
            json={"fields": [field(asa, document)]},
            headers=auth,
        ),
        422,
        "recipient-cannot-fill",
    )
    assert fields(problem) == ["fields[0].type"]
    await _add(client, auth, envelope["id"], [field(sam, document), field(zed, document)])
    await _send(client, auth, envelope["id"])
    asa_token = await _token(runtime, asa)
    early = await _post(client, asa_token, "assist", {}, form_from=await _token(runtime, sam))
    assert early.status_code == 409 and "Others must act before you" in early.text
    sign = await _post(
        client, asa_token, "sign", {"consent": "yes"}, form_from=await _token(runtime, sam)
    )
    assert sign.status_code == 409
