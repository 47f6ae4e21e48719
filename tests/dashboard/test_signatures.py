"""The dashboard's signatures pages: envelopes with each recipient's progress, remind and
cancel for senders and admins only, the signed PDF and the certificate, one organisation never
seeing another's."""

from __future__ import annotations

import base64
import io
import re

import httpx
import pytest
from PIL import Image

from tabellion.jobs.worker import Worker
from tabellion.runtime import Runtime
from tests.dashboard.helpers import ROLES, signed_in_user
from tests.dashboard.test_pages import text_of
from tests.envelope.test_pages import _post, _sent, _signature_field, _token
from tests.fixtures.factories import create_org_with_key
from tests.organization.test_activation_smtp import csrf_of


async def test_signed_out_visitors_go_to_the_sign_in(client: httpx.AsyncClient) -> None:
    for path in (
        "/app/signatures",
        "/app/signatures/env_x",
        "/app/signatures/env_x/certificate.pdf",
        "/app/signatures/env_x/documents/edoc_x/signed.pdf",
    ):
        response = await client.get(path)
        assert response.status_code == 303 and response.headers["location"] == "/account/sign-in"
    for path in ("/app/signatures/env_x/remind", "/app/signatures/env_x/cancel"):
        response = await client.post(path)
        assert response.status_code == 303 and response.headers["location"] == "/account/sign-in"


@pytest.mark.parametrize("role", ROLES)
async def test_each_role_reads_envelopes_and_only_senders_act(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, role: str
) -> None:
    envelope, _ = await _sent(client, auth)
    await signed_in_user(client, auth, runtime, role)

    listing = await client.get("/app/signatures")
    assert listing.status_code == 200 and "<script" not in listing.text
    assert f'href="/app/signatures/{envelope["id"]}"' in listing.text
    assert "0 of 2 done" in text_of(listing)  # the approver and the signer; a cc only receives
    assert 'aria-current="page">Signatures<' in listing.text
    assert (await client.get("/app/signatures?status=completed")).text.count(
        "/app/signatures/env_"
    ) == 0

    page = await client.get(f"/app/signatures/{envelope['id']}")
    assert page.status_code == 200
    body = text_of(page)
    for recipient in envelope["recipients"]:
        assert f"{recipient['name']} <{recipient['email']}>" in body
    acts = 'action="/app/signatures/' + envelope["id"] + '/remind"'
    token = csrf_of(page.text)
    remind = await client.post(
        f"/app/signatures/{envelope['id']}/remind", data={"csrf_token": token}
    )
    if role == "viewer":
        assert acts not in page.text  # no control it may not use
        assert remind.status_code == 403 and "a sender or an admin acts" in text_of(remind)
        cancel = await client.post(
            f"/app/signatures/{envelope['id']}/cancel", data={"csrf_token": token}
        )
        assert cancel.status_code == 403
        state = (await client.get(f"/v1/envelopes/{envelope['id']}", headers=auth)).json()
        assert state["status"] == "pending"
        return
    assert acts in page.text
    assert remind.status_code == 303
    assert remind.headers["location"] == f"/app/signatures/{envelope['id']}?done=reminded"
    shown = await client.get(remind.headers["location"])
    assert "were e-mailed again" in text_of(shown)
    cancelled = await client.post(
        f"/app/signatures/{envelope['id']}/cancel", data={"csrf_token": token}
    )
    assert cancelled.status_code == 303
    state = (await client.get(f"/v1/envelopes/{envelope['id']}", headers=auth)).json()
    assert state["status"] == "cancelled"
    # Again: refused with its reason, on the page, nothing changed.
    again = await client.post(
        f"/app/signatures/{envelope['id']}/cancel", data={"csrf_token": token}
    )
    assert again.status_code == 409 and "only a pending envelope" in text_of(again)
    assert acts not in again.text


async def test_a_form_without_its_token_is_refused(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    envelope, _ = await _sent(client, auth)
    await signed_in_user(client, auth, runtime, "admin")
    refused = await client.post(f"/app/signatures/{envelope['id']}/cancel", data={})
    assert refused.status_code == 403
    state = (await client.get(f"/v1/envelopes/{envelope['id']}", headers=auth)).json()
    assert state["status"] == "pending"


async def test_signed_pdf_and_certificate_once_completed(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    envelope, document_id = await _sent(client, auth)
    await signed_in_user(client, auth, runtime, "sender")
    base = f"/app/signatures/{envelope['id']}"
    early = await client.get(f"{base}/certificate.pdf")
    assert early.status_code == 409 and "once it is completed" in text_of(early)

    ann, _, sam = envelope["recipients"]
    assert (await _post(client, await _token(runtime, ann["id"]), "approve", {})).status_code == 303
    buffer = io.BytesIO()
    Image.new("RGBA", (120, 40), (0, 0, 80, 255)).save(buffer, format="PNG")
    drawn = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    field = _signature_field(envelope, "sam@example.test")
    signed = await _post(
        client, await _token(runtime, sam["id"]), "sign", {f"f_{field}": drawn, "consent": "yes"}
    )
    assert signed.status_code == 303
    await Worker(runtime, poll_interval=0.05).run_until_idle()

    page = await client.get(base)
    assert "completed" in text_of(page) and "Remind who has not acted" not in page.text
    assert "2 of 2 done" in text_of(await client.get("/app/signatures?status=completed"))
    pdf = await client.get(f"{base}/documents/{document_id}/signed.pdf")
    api = await client.get(
        f"/v1/envelopes/{envelope['id']}/documents/{document_id}/signed", headers=auth
    )
    assert pdf.status_code == 200 and pdf.content == api.content
    assert pdf.headers["content-type"] == "application/pdf"
    assert re.search(r'href="[^"]+/signed\.pdf" download', page.text)
    certificate = await client.get(f"{base}/certificate.pdf")
    assert certificate.status_code == 200 and certificate.content.startswith(b"%PDF")


async def test_organisations_never_see_each_others_envelopes(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    _, other_key = await create_org_with_key(runtime, name="Other")
    theirs, document_id = await _sent(client, {"Authorization": f"Bearer {other_key}"})
    await signed_in_user(client, auth, runtime, "admin")
    assert theirs["id"] not in (await client.get("/app/signatures")).text
    base = f"/app/signatures/{theirs['id']}"
    for path in (base, f"{base}/certificate.pdf", f"{base}/documents/{document_id}/signed.pdf"):
        assert (await client.get(path)).status_code == 404, path
    page = await client.get("/app/signatures")
    cancel = await client.post(f"{base}/cancel", data={"csrf_token": csrf_of(page.text)})
    assert cancel.status_code == 404
    state = (
        await client.get(
            f"/v1/envelopes/{theirs['id']}", headers={"Authorization": f"Bearer {other_key}"}
        )
    ).json()
    assert state["status"] == "pending"


async def test_bad_filters_are_named(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    await signed_in_user(client, auth, runtime, "viewer")
    bad = await client.get("/app/signatures?status=signed")
    assert bad.status_code == 422 and "Unknown status" in text_of(bad)
    cursor = await client.get("/app/signatures?after=not-a-cursor!")
    assert cursor.status_code == 422 and "page link is not valid" in text_of(cursor)
    assert (await client.get("/app/signatures/env_'<x>")).status_code == 404
