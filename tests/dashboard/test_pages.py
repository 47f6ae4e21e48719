"""The sender dashboard's pages over HTTP: sign-in required, each role reads, filters,
pagination, timelines and proofs, attention lists, and one organisation never sees another's."""

from __future__ import annotations

import html
import io
import json
import re
import zipfile
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update

from tabellion.dashboard import repository
from tabellion.kit.time import utcnow
from tabellion.models.message import Delivery
from tabellion.runtime import Runtime
from tests.dashboard.helpers import ROLES, signed_in_user
from tests.fixtures.factories import create_org_with_key, natural_recipient
from tests.organization.helpers import send


def text_of(page: httpx.Response) -> str:
    return html.unescape(re.sub(r"\s+", " ", page.text))


async def test_signed_out_visitors_go_to_the_sign_in(client: httpx.AsyncClient) -> None:
    for path in (
        "/app",
        "/app/letters",
        "/app/letters/msg_x",
        "/app/proofs/evd_x.json",
        "/app/proofs/evd_x.pdf",
        "/app/deliveries/dlv_x/evidence.zip",
        "/app/authenticator",
    ):
        response = await client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"] == "/account/sign-in"
        assert response.headers["x-frame-options"] == "DENY", path
    # Forms too, before their fields or their CSRF token are looked at.
    for path in ("/app/authenticator/new", "/app/authenticator/confirm"):
        response = await client.post(path, data={"code": "x" * 100})
        assert response.status_code == 303, path
        assert response.headers["location"] == "/account/sign-in"


@pytest.mark.parametrize("role", ROLES)
async def test_each_role_reads_home_letters_and_a_letter(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, role: str
) -> None:
    letter = await send(client, auth, subject="Lease renewal", reference="LEASE-7")
    await signed_in_user(client, auth, runtime, role)

    home = await client.get("/app")
    assert home.status_code == 200
    assert "default-src 'none'" in home.headers["content-security-policy"]
    assert "<script" not in home.text
    assert f"{role}@acme.test · {role} · Acme" in text_of(home)
    assert re.search(r'data-status="pending">1<|data-status="notified">1<', home.text)
    assert 'name="csrf_token"' in home.text  # the sign-out form

    listing = await client.get("/app/letters")
    assert listing.status_code == 200
    assert f'href="/app/letters/{letter["id"]}"' in listing.text
    assert "Lease renewal" in listing.text and "jane0@example.test" in listing.text

    page = await client.get(f"/app/letters/{letter['id']}")
    assert page.status_code == 200
    body = text_of(page)
    assert "Lease renewal" in body and "reference LEASE-7" in body
    evidence_ids = re.findall(r'href="/app/proofs/(evd_[^".]+)\.pdf"', page.text)
    assert evidence_ids, page.text
    assert f'/app/proofs/{evidence_ids[0]}.json"' in page.text
    assert re.search(r'href="/app/deliveries/dlv_[^/]+/evidence.zip"', page.text)


async def test_proofs_download(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    letter = await send(client, auth)
    await signed_in_user(client, auth, runtime, "viewer")
    page = await client.get(f"/app/letters/{letter['id']}")
    evidence_id = re.findall(r'href="/app/proofs/(evd_[^".]+)\.pdf"', page.text)[0]
    [zip_path] = re.findall(r'href="(/app/deliveries/dlv_[^/]+/evidence.zip)"', page.text)

    proof = await client.get(f"/app/proofs/{evidence_id}.json")
    assert proof.status_code == 200, proof.text
    assert "attachment" in proof.headers["content-disposition"]
    assert "signatures" in json.loads(proof.content) or "payload" in json.loads(proof.content)
    # The same document as the API's.
    api = await client.get(f"/v1/evidence/{evidence_id}", headers=auth)
    assert json.loads(api.content)["payload"] == json.loads(proof.content)["payload"]

    pdf = await client.get(f"/app/proofs/{evidence_id}.pdf")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")

    bundle = await client.get(zip_path)
    assert bundle.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(bundle.content)).namelist()
    assert any(name.endswith(".pdf") for name in names), names


async def test_filters_and_pages(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(repository, "PAGE_SIZE", 2)
    a = await send(client, auth, subject="Alpha", reference="REF-A", mode="simple")
    b = await send(
        client, auth, subject="Bravo", reference="REF-B", recipients=[natural_recipient(7)]
    )
    c = await send(client, auth, subject="Charlie", reference="REF-C")
    await signed_in_user(client, auth, runtime, "viewer")

    async def subjects(query: str) -> list[str]:
        page = await client.get(f"/app/letters?{query}")
        assert page.status_code == 200, page.text
        return re.findall(r'<a href="/app/letters/msg_[^"]+">([^<]+)</a>', page.text)

    assert await subjects("mode=simple") == ["Alpha"]
    assert await subjects("mode=registered") == ["Charlie", "Bravo"]
    assert await subjects("reference=REF-B") == ["Bravo"]
    assert await subjects("campaign=2026-Q4") == ["Charlie", "Bravo"]  # Alpha's is on page 2
    today = utcnow().date()
    assert await subjects(f"from={today}&to={today}&mode=simple") == ["Alpha"]
    assert await subjects(f"from={today + timedelta(days=1)}") == []
    assert await subjects(f"to={today - timedelta(days=1)}") == []
    assert await subjects("recipient=JANE7") == ["Bravo"]
    assert await subjects("recipient=%25") == []  # a LIKE wildcard is a plain character
    async with runtime.sessions() as session:
        await session.execute(
            update(Delivery).where(Delivery.message_id == c["id"]).values(status="refused")
        )
        await session.commit()
    assert await subjects("status=refused") == ["Charlie"]

    first = await client.get("/app/letters")
    assert re.findall(r">(Charlie|Bravo|Alpha)<", first.text) == ["Charlie", "Bravo"]
    assert 'rel="next" href="/app/letters?page=2"' in first.text
    second = await client.get("/app/letters?page=2")
    assert re.findall(r">(Charlie|Bravo|Alpha)<", second.text) == ["Alpha"]
    assert 'rel="next"' not in second.text and 'rel="prev"' in second.text
    # The filters follow the pages.
    filtered = await client.get("/app/letters?recipient=jane&page=1")
    assert 'href="/app/letters?recipient=jane&amp;page=2"' in filtered.text
    del a, b


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("mode=fax", "mode"),
        ("status=lost", "status"),
        ("page=0", "page"),
        ("page=x", "page"),
        ("from=2026-13-01", "from"),
        ("to=yesterday", "to"),
    ],
)
async def test_a_bad_filter_is_named(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, query: str, field: str
) -> None:
    await signed_in_user(client, auth, runtime, "viewer")
    page = await client.get(f"/app/letters?{query}")
    assert page.status_code == 422
    assert f'id="{field}-error"' in page.text


async def test_needing_attention(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    lost = await send(client, auth, recipients=[natural_recipient(1)])
    refused = await send(client, auth, recipients=[natural_recipient(2)])
    soon = await send(client, auth, recipients=[natural_recipient(3)])
    later = await send(client, auth, recipients=[natural_recipient(4)])
    now = utcnow()
    async with runtime.sessions() as session:
        for message, values in (
            (lost, {"status": "undelivered"}),
            (refused, {"status": "refused"}),
            (soon, {"status": "notified", "deadline_at": now + timedelta(days=2)}),
            (later, {"status": "notified", "deadline_at": now + timedelta(days=10)}),
        ):
            await session.execute(
                update(Delivery).where(Delivery.message_id == message["id"]).values(**values)
            )
        await session.commit()
    await signed_in_user(client, auth, runtime, "viewer")
    home = await client.get("/app")

    def section(name: str) -> str:
        match = re.search(rf'id="{name}">(.*?)</(ul|p)>', home.text, re.S)
        assert match, home.text
        return match.group(1)

    assert "jane1@example.test" in section("undelivered")
    assert "jane2@example.test" in section("refused")
    assert "jane3@example.test" in section("expiring")
    assert "jane4@example.test" not in section("expiring")
    assert 'data-status="undelivered">1<' in home.text
    assert 'data-status="refused">1<' in home.text
    assert 'data-status="notified">2<' in home.text


async def test_organisations_never_see_each_other(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    mine = await send(client, auth, subject="Ours")
    _, other_key = await create_org_with_key(runtime, name="Globex")
    theirs = await send(client, {"Authorization": f"Bearer {other_key}"}, subject="Theirs")
    async with runtime.sessions() as session:
        [their_delivery] = (
            await session.scalars(select(Delivery.id).where(Delivery.message_id == theirs["id"]))
        ).all()
    their_evidence = (
        await client.get(
            f"/v1/deliveries/{their_delivery}", headers={"Authorization": f"Bearer {other_key}"}
        )
    ).json()
    await signed_in_user(client, auth, runtime, "admin")

    listing = await client.get("/app/letters")
    assert "Ours" in listing.text and "Theirs" not in listing.text
    assert (await client.get(f"/app/letters/{theirs['id']}")).status_code == 404
    assert (await client.get(f"/app/deliveries/{their_delivery}/evidence.zip")).status_code == 404
    evidence_ids = re.findall(r"evd_[A-Za-z0-9]+", json.dumps(their_evidence))
    assert evidence_ids, their_evidence
    for evidence_id in evidence_ids[:1]:
        assert (await client.get(f"/app/proofs/{evidence_id}.json")).status_code == 404
        assert (await client.get(f"/app/proofs/{evidence_id}.pdf")).status_code == 404
    assert (await client.get(f"/app/letters/{mine['id']}")).status_code == 200
    assert (await client.get("/app/letters/not%00an-id")).status_code == 404


async def test_a_deactivated_user_is_signed_out(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    await signed_in_user(client, auth, runtime, "sender")
    [user] = [u for u in (await client.get("/v1/users", headers=auth)).json()["data"]]
    assert (await client.get("/app")).status_code == 200
    await client.post(f"/v1/users/{user['id']}/deactivate", headers=auth)
    assert (await client.get("/app")).headers["location"] == "/account/sign-in"
