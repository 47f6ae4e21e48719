"""A signed-in user sets up their own authenticator app (TOTP) from the dashboard: a QR code of
the otpauth URI and the key, confirmed with a first code; in each language of the pages."""

from __future__ import annotations

import html
import re

import httpx
import pyotp
import pytest
import segno
from sqlalchemy import select

from tabellion.models.user import User
from tabellion.organization import totp
from tabellion.runtime import Runtime
from tests.dashboard.helpers import signed_in_user
from tests.dashboard.test_pages import text_of
from tests.organization.test_activation_smtp import csrf_of

PAGE = "/app/authenticator"


async def _user(runtime: Runtime, email: str) -> User:
    async with runtime.sessions() as session:
        user = await session.scalar(select(User).where(User.email == email))
        assert user is not None
        return user


def _secret(page: httpx.Response) -> str:
    match = re.search(r'<code id="totp-secret">([A-Z2-7]+)</code>', page.text)
    assert match, page.text
    return match.group(1)


async def test_a_user_sets_up_and_confirms_an_authenticator_app(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    email = await signed_in_user(client, auth, runtime, "viewer")
    page = await client.get(PAGE)
    assert page.status_code == 200
    assert "No authenticator app is set up yet." in text_of(page)
    started = await client.post(f"{PAGE}/new", data={"csrf_token": csrf_of(page.text)})
    assert started.status_code == 303 and started.headers["location"] == PAGE

    page = await client.get(PAGE)
    secret = _secret(page)
    user = await _user(runtime, email)
    assert totp.secret_of(user, runtime.settings.signing_keys) == secret
    assert secret not in (user.totp_secret or "")
    assert user.totp_confirmed_at is None
    # The QR code is the otpauth URI of this user and this key.
    uri = totp.provisioning_uri(user, secret)
    assert uri.startswith("otpauth://totp/Tabellion:viewer%40acme.test?secret=" + secret)
    qr = re.search(r'<img id="totp-qr" src="([^"]+)"', page.text)
    assert qr, page.text
    expected = segno.make(uri, error="m").svg_data_uri(scale=5, border=2)
    assert html.unescape(qr.group(1)) == expected

    wrong = "000000" if pyotp.TOTP(secret).now() != "000000" else "111111"
    refused = await client.post(
        f"{PAGE}/confirm", data={"code": wrong, "csrf_token": csrf_of(page.text)}
    )
    assert refused.status_code == 422
    assert "That code is not right." in text_of(refused)
    assert _secret(refused) == secret  # the same key, still to confirm

    confirmed = await client.post(
        f"{PAGE}/confirm",
        data={"code": pyotp.TOTP(secret).now(), "csrf_token": csrf_of(page.text)},
    )
    assert confirmed.status_code == 303
    page = await client.get(PAGE)
    assert "Your authenticator app is set up." in text_of(page)
    assert secret not in page.text and "totp-qr" not in page.text  # never shown again
    user = await _user(runtime, email)
    assert totp.enrolled(user)


async def test_forms_need_their_token_and_a_session(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    assert (await client.get(PAGE)).headers["location"] == "/account/sign-in"
    email = await signed_in_user(client, auth, runtime, "sender")
    refused = await client.post(f"{PAGE}/new", data={"csrf_token": "forged"})
    assert refused.status_code == 403
    assert (await _user(runtime, email)).totp_secret is None


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("fr", "Configurer une application d'authentification"),
        ("nl", "Een authenticator-app instellen"),
        ("de", "Eine Authenticator-App einrichten"),
        ("en", "Set up an authenticator app"),
    ],
)
async def test_the_page_speaks_each_language(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, lang: str, expected: str
) -> None:
    await signed_in_user(client, auth, runtime, "admin")
    page = await client.get(f"{PAGE}?lang={lang}")
    assert page.status_code == 200
    assert expected in text_of(page)
    assert f'<html lang="{lang}">' in page.text
    page = await client.get(PAGE)  # the choice is remembered
    assert expected in text_of(page)
