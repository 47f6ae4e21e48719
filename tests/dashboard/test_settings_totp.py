"""The second step at sign-in for users with an authenticator app (TOTP): after the right
password, the session opens only with a right code (a wrong or replayed code refused, wrong
codes throttled, the step in each language); users without one are not asked. Each user sees
their browser sessions and ends one, the others, or all of them."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator

import httpx
import pyotp
import pytest
from sqlalchemy import select

from tabellion.app import create_app
from tabellion.kit.time import utcnow
from tabellion.models.user import User
from tabellion.organization import totp
from tabellion.portal import i18n
from tabellion.runtime import Runtime
from tests.dashboard.helpers import PASSWORD, signed_in_user
from tests.dashboard.test_pages import text_of
from tests.organization.test_activation_smtp import csrf_of

CODE_PAGE = "/account/sign-in/code"


async def enrolled(runtime: Runtime, email: str) -> pyotp.TOTP:
    """The user's authenticator app, set up and confirmed (as /app/authenticator does)."""
    async with runtime.sessions() as session:
        user = await session.scalar(select(User).where(User.email == email))
        assert user is not None
        secret, _ = totp.enrol(user, runtime.settings.signing_keys)
        user.totp_confirmed_at = utcnow()
        await session.commit()
    return pyotp.TOTP(secret)


def wrong_code(app: pyotp.TOTP) -> str:
    valid = {app.at(time.time() + shift) for shift in (-60, -30, 0, 30, 60)}
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in valid)


async def password_step(client: httpx.AsyncClient, email: str) -> httpx.Response:
    form = await client.get("/account/sign-in")
    return await client.post(
        "/account/sign-in",
        data={"email": email, "password": PASSWORD, "csrf_token": csrf_of(form.text)},
    )


async def code_step(client: httpx.AsyncClient, code: str) -> httpx.Response:
    form = await client.get(CODE_PAGE)
    return await client.post(CODE_PAGE, data={"code": code, "csrf_token": csrf_of(form.text)})


async def sign_out(client: httpx.AsyncClient) -> None:
    home = await client.get("/app")
    out = await client.post("/account/sign-out", data={"csrf_token": csrf_of(home.text)})
    assert out.status_code == 303


@pytest.fixture
async def second_browser(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(runtime=runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://tabellion.test") as c:
        yield c


async def test_a_user_with_an_authenticator_needs_its_code(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    email = await signed_in_user(client, auth, runtime, "sender")
    app = await enrolled(runtime, email)
    await sign_out(client)

    asked = await password_step(client, email)
    assert asked.status_code == 303 and asked.headers["location"] == CODE_PAGE
    # The password alone opens nothing.
    assert (await client.get("/app")).headers["location"] == "/account/sign-in"
    assert (await client.get("/account")).headers["location"] == "/account/sign-in"
    form = await client.get(CODE_PAGE)
    assert form.status_code == 200 and 'autocomplete="one-time-code"' in form.text
    assert "<script" not in form.text

    refused = await code_step(client, wrong_code(app))
    assert refused.status_code == 401 and "That code is not right." in text_of(refused)
    assert 'aria-invalid="true"' in refused.text
    assert (await client.get("/app")).status_code == 303

    code = app.now()
    opened = await code_step(client, code)
    assert opened.status_code == 303 and opened.headers["location"] == "/account"
    home = await client.get("/app")
    assert home.status_code == 200 and email in home.text
    assert (await client.get(CODE_PAGE)).headers["location"] == "/account/sign-in"  # done

    # The same code cannot open another session (replay), a later one can.
    await sign_out(client)
    assert (await password_step(client, email)).headers["location"] == CODE_PAGE
    replayed = await code_step(client, code)
    assert replayed.status_code == 401
    later = await code_step(client, app.at(time.time() + 30))
    assert later.status_code == 303 and (await client.get("/app")).status_code == 200


async def test_users_without_an_authenticator_are_not_asked(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    email = await signed_in_user(client, auth, runtime, "viewer")
    await sign_out(client)
    signed = await password_step(client, email)
    assert signed.status_code == 303 and signed.headers["location"] == "/account"
    assert (await client.get("/app")).status_code == 200
    # Nor is a code accepted in place of a password step that never happened.
    assert (await client.get(CODE_PAGE)).headers["location"] == "/account/sign-in"
    posted = await client.post(
        CODE_PAGE, data={"code": "123456", "csrf_token": csrf_of((await client.get("/app")).text)}
    )
    assert posted.status_code == 303 and posted.headers["location"] == "/account/sign-in"


async def test_an_unconfirmed_authenticator_is_not_asked(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    email = await signed_in_user(client, auth, runtime, "viewer")
    page = await client.get("/app/authenticator")
    await client.post("/app/authenticator/new", data={"csrf_token": csrf_of(page.text)})
    await sign_out(client)
    assert (await password_step(client, email)).headers["location"] == "/account"


async def test_wrong_codes_are_throttled(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    email = await signed_in_user(client, auth, runtime, "admin")
    app = await enrolled(runtime, email)
    await sign_out(client)
    await password_step(client, email)
    for _ in range(5):
        assert (await code_step(client, wrong_code(app))).status_code == 401
    # Then even the right code waits: the page says how long, with Retry-After.
    blocked = await code_step(client, app.now())
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
    assert (await client.get("/app")).status_code == 303


@pytest.mark.parametrize("lang", ["en", "fr", "nl", "de"])
async def test_the_code_step_in_each_language(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, lang: str
) -> None:
    email = await signed_in_user(client, auth, runtime, "viewer")
    app = await enrolled(runtime, email)
    await sign_out(client)
    await password_step(client, email)
    page = await client.get(CODE_PAGE, params={"lang": lang})
    _ = i18n.translations(lang).gettext
    assert f'<html lang="{lang}">' in page.text
    for text in (
        "Code from your authenticator app",
        "Your account asks for a second step: enter the 6-digit code your authenticator app "
        "shows now.",
        "6-digit code",
    ):
        assert _(text) in text_of(page)
        assert lang == "en" or _(text) != text
    refused = await code_step(client, wrong_code(app))
    assert _("That code is not right.") in text_of(refused)


async def test_sessions_are_listed_and_ended(
    client: httpx.AsyncClient,
    second_browser: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
) -> None:
    email = await signed_in_user(client, auth, runtime, "viewer")
    assert (await password_step(second_browser, email)).status_code == 303
    page = await client.get("/app/sessions")
    assert page.status_code == 200 and 'href="/app/sessions"' in page.text
    rows = text_of(page).count("Signed in:")
    assert rows == 2 and text_of(page).count("This browser") == 1
    # End the other browser's session: it is signed out at its next page, this one is not.
    ended = await client.post("/app/sessions/others/end", data={"csrf_token": csrf_of(page.text)})
    assert ended.headers["location"] == "/app/sessions?done=others"
    assert (await second_browser.get("/app")).headers["location"] == "/account/sign-in"
    assert (await client.get("/app")).status_code == 200
    after = await client.get(ended.headers["location"])
    assert text_of(after).count("Signed in:") == 1 and "Every other session" in text_of(after)

    # One session by its id; another user's id ends nothing.
    assert (await password_step(second_browser, email)).status_code == 303
    listing = await client.get("/app/sessions")
    ids = re.findall(r'<li id="session-(ses_[^"]+)">', listing.text)
    [mine] = re.findall(r'<li id="session-(ses_[^"]+)">\s*<strong>', listing.text)
    [other] = [i for i in ids if i != mine]
    one = await client.post(
        f"/app/sessions/{other}/end", data={"csrf_token": csrf_of(listing.text)}
    )
    assert one.headers["location"] == "/app/sessions?done=ended"
    assert (await second_browser.get("/app")).status_code == 303
    await signed_in_user(second_browser, auth, runtime, "sender")  # another user
    theirs = re.findall(
        r'<li id="session-(ses_[^"]+)">', (await second_browser.get("/app/sessions")).text
    )
    refused = await client.post(
        f"/app/sessions/{theirs[0]}/end", data={"csrf_token": csrf_of(listing.text)}
    )
    assert refused.status_code == 404
    assert (await second_browser.get("/app")).status_code == 200

    # Everywhere, this browser included.
    everywhere = await client.post(
        "/app/sessions/all/end", data={"csrf_token": csrf_of(listing.text)}
    )
    assert everywhere.headers["location"] == "/account/sign-in"
    assert (await client.get("/app")).headers["location"] == "/account/sign-in"
    forged = await second_browser.post("/app/sessions/all/end", data={"csrf_token": "x"})
    assert forged.status_code == 403
    assert (await second_browser.get("/app")).status_code == 200
