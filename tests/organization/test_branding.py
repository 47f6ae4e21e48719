"""The organisation's logo and colour: upload rules, the public cached URLs, and where recipients
see them (pages and e-mails that may name the sender; never a registered letter before it is
accepted)."""

from __future__ import annotations

import hashlib
import io
from collections.abc import AsyncIterator

import httpx
import pytest
from PIL import Image

from tabellion.db import transaction
from tabellion.kit.time import utcnow
from tabellion.message.service.delivery import load_for_notice
from tabellion.notification.compose import compose_notice
from tabellion.organization.branding import WHITE, contrast, palette
from tabellion.runtime import Runtime
from tests.envelope.test_pages import _sent, _token
from tests.fixtures.factories import create_org_with_key
from tests.message.test_endpoints import assert_problem
from tests.portal.helpers import (
    accepted_letter,
    dispatch,
    notify,
    outbox_mails,
    vault_sign_in,
)

LOGO = "/v1/organization/logo"


def image(kind: str = "PNG", size: tuple[int, int] = (120, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (29, 78, 216)).save(buffer, format=kind)
    return buffer.getvalue()


def png_headers(auth: dict[str, str], kind: str = "image/png") -> dict[str, str]:
    return {**auth, "Content-Type": kind}


async def test_a_png_logo_is_served_from_a_public_cacheable_url(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    data = image()
    put = await client.put(LOGO, content=data, headers=png_headers(auth))
    assert put.status_code == 200, put.text
    org = put.json()
    digest = hashlib.sha256(data).hexdigest()
    assert org["logo_url"] == f"http://tabellion.test/brand/{org['id']}/logo/{digest}.png"
    assert (await client.get("/v1/organization", headers=auth)).json()["logo_url"] == org[
        "logo_url"
    ]
    served = await client.get(org["logo_url"])  # no API key: recipients' mail clients load it
    assert served.status_code == 200 and served.content == data
    assert served.headers["content-type"] == "image/png"
    assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert served.headers["x-content-type-options"] == "nosniff"
    # A JPEG, sent as a multipart part, replaces it; the old URL is gone.
    jpeg = image("JPEG")
    multipart = await client.put(
        LOGO, files={"file": ("logo.jpg", jpeg, "image/jpeg")}, headers=auth
    )
    assert multipart.status_code == 200, multipart.text
    new_url = multipart.json()["logo_url"]
    assert new_url.endswith(f"/{hashlib.sha256(jpeg).hexdigest()}.jpg")
    assert (await client.get(org["logo_url"])).status_code == 404
    assert (await client.get(new_url)).headers["content-type"] == "image/jpeg"
    # Deleted: no URL, nothing served; deleting again changes nothing.
    for _ in range(2):
        deleted = await client.delete(LOGO, headers=auth)
        assert deleted.status_code == 200 and deleted.json()["logo_url"] is None
    assert (await client.get(new_url)).status_code == 404


SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
)


@pytest.mark.parametrize(
    ("body", "content_type", "code"),
    [
        (b"", "image/png", "empty-file"),
        (SVG, "image/svg+xml", "unsupported-type"),
        (b"<svg onload='alert(1)'/>", "image/png", "unsupported-type"),
        (image("GIF"), "image/gif", "unsupported-type"),
        (image("PNG", (8, 8)), "image/png", "dimensions"),
        (image("PNG", (3000, 20)), "image/png", "dimensions"),
        (image("PNG")[:-30], "image/png", "unreadable"),
        (b"%PDF-1.4\n%%EOF\n", "image/png", "unreadable"),
    ],
)
async def test_bad_logos_are_422_naming_the_file(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
    body: bytes,
    content_type: str,
    code: str,
) -> None:
    blobs = runtime.settings.data_dir / "blobs"
    before = sorted(blobs.rglob("*")) if blobs.exists() else []
    refused = await client.put(LOGO, content=body, headers=png_headers(auth, content_type))
    problem = assert_problem(refused, 422, "logo-invalid")
    assert [(e["field"], e["code"]) for e in problem["errors"]] == [("file", code)]
    assert (await client.get("/v1/organization", headers=auth)).json()["logo_url"] is None
    # Checked before it is stored: nothing left behind.
    assert (sorted(blobs.rglob("*")) if blobs.exists() else []) == before


async def test_a_logo_over_512_kib_is_413_even_without_a_length(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    big = b"\x89PNG" + bytes(600 * 1024)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(big), 64 * 1024):
            yield big[start : start + 64 * 1024]

    declared = await client.put(LOGO, content=big, headers=png_headers(auth))
    assert_problem(declared, 413, "logo-too-large")
    streamed = await client.put(LOGO, content=chunks(), headers=png_headers(auth))
    assert_problem(streamed, 413, "logo-too-large")
    no_part = await client.put(LOGO, files={"other": ("x.png", image())}, headers=auth)
    problem = assert_problem(no_part, 422, "logo-invalid")
    assert problem["errors"][0]["field"] == "file"


async def test_only_an_admin_key_sets_the_logo(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    created = await client.post(
        "/v1/api-keys", json={"name": "ci", "scopes": ["messages:write"]}, headers=auth
    )
    limited = {"Authorization": f"Bearer {created.json()['key']}"}
    refused = await client.put(LOGO, content=image(), headers=png_headers(limited))
    assert refused.status_code == 403
    assert (await client.put(LOGO, content=image())).status_code == 401
    assert (await client.delete(LOGO, headers=limited)).status_code == 403
    # Another organisation's logo URL serves only that organisation's current logo.
    other_id, other_key = await create_org_with_key(runtime, "Other")
    ours = (await client.put(LOGO, content=image(), headers=png_headers(auth))).json()
    crossed = ours["logo_url"].replace(ours["id"], other_id)
    assert (await client.get(crossed)).status_code == 404
    other = await client.get("/v1/organization", headers={"Authorization": f"Bearer {other_key}"})
    assert other.json()["logo_url"] is None


@pytest.mark.parametrize(
    "color", ["#ffd400", "#ffffff", "#000000", "#1d4ed8", "#e11d48", "#22c55e", "#777777"]
)
def test_every_colour_gets_readable_buttons_and_links(color: str) -> None:
    chosen = palette(color)
    assert chosen.button == color
    assert contrast(chosen.button, chosen.button_ink) >= 4.5
    assert contrast(chosen.accent, WHITE) >= 4.5


async def test_colour_stylesheet_is_public_and_checked(client: httpx.AsyncClient) -> None:
    css = await client.get("/brand/colors/ffd400.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "--button: #ffd400; --button-ink: #000000;" in css.text
    assert css.headers["cache-control"] == "public, max-age=31536000, immutable"
    for bad in ("/brand/colors/red.css", "/brand/colors/ffd400", "/brand/colors/ggg000.css"):
        assert (await client.get(bad)).status_code == 404


async def _brand(client: httpx.AsyncClient, auth: dict[str, str]) -> dict:
    await client.patch(
        "/v1/organization",
        json={
            "name": "Acme Lettings",
            "legal_name": "Acme Lettings SAS",
            "identifiers": {"siren": "732829320"},
            "brand_color": "#FFD400",
        },
        headers=auth,
    )
    put = await client.put(LOGO, content=image(), headers=png_headers(auth))
    return put.json()


async def test_pages_and_emails_that_name_the_sender_carry_the_brand(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    org = await _brand(client, auth)
    path = org["logo_url"].removeprefix("http://tabellion.test")
    delivery = await dispatch(client, auth, mode="simple")
    page = (await client.get(await notify(runtime, delivery["id"]))).text
    assert f'<img class="logo" src="{path}"' in page
    assert '<link rel="stylesheet" href="/brand/colors/ffd400.css">' in page
    assert "Acme Lettings · Acme Lettings SAS · SIREN 732829320" in page
    async with transaction(runtime.sessions) as session:
        loaded = await load_for_notice(session, delivery["id"])
        mail = compose_notice(runtime.settings, *loaded, at=utcnow()).message
    html = mail.get_body(("html",)).get_content()
    assert f'<img src="{org["logo_url"]}" alt="Acme Lettings"' in html
    assert "background: #ffd400; color: #000000;" in html  # the button, readable
    assert "Acme Lettings SAS · SIREN 732829320" in mail.get_body(("plain",)).get_content()


async def test_a_registered_letter_shows_no_brand_until_accepted(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    org = await _brand(client, auth)
    delivery = await dispatch(client, auth)
    async with transaction(runtime.sessions) as session:
        loaded = await load_for_notice(session, delivery["id"])
        mail = compose_notice(runtime.settings, *loaded, at=utcnow()).message
    html = mail.get_body(("html",)).get_content()
    for secret in ("Acme", org["logo_url"], "#ffd400"):
        assert secret not in html
    page = (await client.get(await notify(runtime, delivery["id"]))).text
    for secret in ("Acme", "/brand/", "logo"):
        assert secret not in page
    _, link, _ = await accepted_letter(client, auth, runtime)
    revealed = (await client.get(link)).text
    assert "/brand/colors/ffd400.css" in revealed and "Acme Lettings" in revealed


async def test_the_blob_collector_keeps_the_current_logo_only(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    from tabellion.document.service import check_storage, collect_garbage
    from tests.document.test_service import OLD, age

    first = image(size=(100, 40))
    await client.put(LOGO, content=first, headers=png_headers(auth))
    current = image(size=(200, 40))
    await client.put(LOGO, content=current, headers=png_headers(auth))
    replaced, kept = hashlib.sha256(first).hexdigest(), hashlib.sha256(current).hexdigest()
    for key in (replaced, kept):
        age(runtime, key, OLD)
    assert await collect_garbage(runtime) == 1
    assert await runtime.storage.exists(kept) and not await runtime.storage.exists(replaced)
    report = await check_storage(runtime)
    assert report.ok and report.checked == 1


def _branded(page: str, logo: str) -> bool:
    return (
        f'<img class="logo" src="{logo}"' in page
        and '<link rel="stylesheet" href="/brand/colors/ffd400.css">' in page
        and "Acme Lettings · Acme Lettings SAS · SIREN 732829320" in page
    )


async def test_signing_tracking_and_vault_letters_carry_the_brand(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    org = await _brand(client, auth)
    logo = org["logo_url"].removeprefix("http://tabellion.test")
    # The signing page names the sender: branded.
    envelope, _ = await _sent(client, auth)
    signer = next(r for r in envelope["recipients"] if r["role"] == "signer")
    signing = await client.get(f"/s/{await _token(runtime, signer['id'])}")
    assert signing.status_code == 200 and _branded(signing.text, logo)
    # So is the invitation e-mail that links to it.
    invitations = await outbox_mails(runtime, "invite.0")
    assert invitations
    for mail in invitations:
        html = mail.get_body(("html",)).get_content()
        assert f'<img src="{org["logo_url"]}" alt="Acme Lettings"' in html
        assert "background: #ffd400; color: #000000;" in html
    # A forged signing link names nobody: neutral.
    forged = await client.get("/s/not-a-token")
    assert "/brand/" not in forged.text and "Acme" not in forged.text
    # The track-and-trace page is the sender's own: branded; an unknown token is not.
    letter = await dispatch(client, auth)
    tracking = await client.get(letter["tracking_url"].removeprefix("http://tabellion.test"))
    assert tracking.status_code == 200 and _branded(tracking.text, logo)
    assert "/brand/" not in (await client.get("/track/nothing")).text
    # The vault: its sign-in and its list (letters of many senders) stay neutral; a letter
    # that reveals its sender is branded, a registered one before acceptance is not.
    simple = await dispatch(client, auth, mode="simple")
    await notify(runtime, simple["id"])
    await notify(runtime, letter["id"])
    sign_in = (await client.get("/vault")).text
    assert "/brand/" not in sign_in and "Acme" not in sign_in
    await vault_sign_in(client, runtime, simple["recipient"]["email"])
    listing = (await client.get("/vault")).text
    assert "/brand/" not in listing
    opened = await client.get(f"/vault/d/{simple['id']}")
    assert opened.status_code == 200 and _branded(opened.text, logo)
    sealed = (await client.get(f"/vault/d/{letter['id']}")).text
    assert "/brand/" not in sealed and "Acme" not in sealed
