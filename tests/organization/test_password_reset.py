"""A forgotten password: the request page, the e-mail through the job table and a real SMTP
server, the single-use link, the new password, the sessions it ends, and the throttles."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import func, select, update

from tabellion.config import Settings
from tabellion.jobs.worker import Worker
from tabellion.kit.time import utcnow
from tabellion.models.job import Job
from tabellion.models.portal import OneTimeCode, WebSession
from tabellion.organization import accounts
from tabellion.runtime import Runtime
from tests.fixtures.server import client_from
from tests.fixtures.smtp import ReceivedMail, SmtpServer
from tests.kit.test_ratelimit import assert_limited_page
from tests.organization.test_activation_smtp import csrf_of, invite
from tests.organization.test_users import token_of

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a brand new passphrase here"
LINK = re.compile(r"http://tabellion\.test/account/password-reset/[A-Za-z0-9_-]+")
SENT = "If an account uses this address, we have sent it a link"


@pytest.fixture
def settings(data_dir: Path, database_url: str, smtp_server: SmtpServer) -> Settings:
    return smtp_server.settings(
        data_dir,
        database_url,
        rate_limits={"password-reset.ip": "1000/minute", "password-reset.address": "1000/hour"},
    )


async def active_user(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, email: str
) -> dict:
    user = await invite(client, auth, email)
    path = f"/account/activate/{await token_of(runtime, user['id'])}"
    form = await client.get(path)
    done = await client.post(
        path, data={"password": PASSWORD, "confirm": PASSWORD, "csrf_token": csrf_of(form.text)}
    )
    assert done.status_code == 200, done.text
    return user


async def ask_reset(client: httpx.AsyncClient, email: str) -> httpx.Response:
    form = await client.get("/account/password-reset")
    assert form.status_code == 200
    return await client.post(
        "/account/password-reset", data={"email": email, "csrf_token": csrf_of(form.text)}
    )


async def sign_in(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    form = await client.get("/account/sign-in")
    return await client.post(
        "/account/sign-in",
        data={"email": email, "password": password, "csrf_token": csrf_of(form.text)},
    )


def reset_link(mail: ReceivedMail) -> str:
    links = set(LINK.findall(mail.text))
    assert len(links) == 1, mail.text
    [link] = links
    assert f'href="{link}"' in mail.html
    return urlsplit(link).path


async def choose(client: httpx.AsyncClient, path: str, password: str) -> httpx.Response:
    form = await client.get(path)
    assert form.status_code == 200, form.text
    return await client.post(
        path, data={"password": password, "confirm": password, "csrf_token": csrf_of(form.text)}
    )


async def test_the_whole_flow_through_the_email(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, smtp_server: SmtpServer
) -> None:
    await active_user(client, auth, runtime, "sam@acme.test")
    # A browser signed in before the reset: it is signed out by it.
    signed_in = await sign_in(client, "sam@acme.test", PASSWORD)
    assert signed_in.status_code == 303
    assert (await client.get("/account")).status_code == 200

    sign_in_page = await client.get("/account/sign-in")
    assert 'href="/account/password-reset"' in sign_in_page.text
    assert "Forgot your password?" in sign_in_page.text

    asked = await ask_reset(client, "Sam@Acme.test")
    assert asked.status_code == 200
    assert SENT in html.unescape(asked.text)
    # The e-mail is a job written with the request, sent by the worker.
    async with runtime.sessions() as session:
        kinds = (await session.scalars(select(Job.kind))).all()
    assert accounts.RESET_TASK in kinds
    await Worker(runtime, concurrency=2).run_until_idle()
    [mail] = smtp_server.to("sam@acme.test")
    assert mail.message["Subject"] == "Reset your Tabellion password for Acme"
    assert "Hello Sam Sender," in mail.text
    assert "The link works once, until" in mail.text
    path = reset_link(mail)
    assert len(path.rsplit("/", 1)[1]) >= 43  # 256 bits

    # Only a hash of the token is stored.
    async with runtime.sessions() as session:
        stored = (
            await session.scalars(
                select(OneTimeCode).where(OneTimeCode.purpose == accounts.RESET_PURPOSE)
            )
        ).one()
    assert path.rsplit("/", 1)[1] not in (stored.code_hash, stored.id)

    # Same rules as activation.
    form = await client.get(path)
    assert "For sam@acme.test." in form.text
    short = await client.post(
        path, data={"password": "short", "confirm": "short", "csrf_token": csrf_of(form.text)}
    )
    assert short.status_code == 422
    assert "Use at least 12 characters." in short.text
    differ = await client.post(
        path,
        data={"password": NEW_PASSWORD, "confirm": PASSWORD, "csrf_token": csrf_of(form.text)},
    )
    assert differ.status_code == 422
    assert "The two passwords differ." in differ.text

    done = await choose(client, path, NEW_PASSWORD)
    assert done.status_code == 200, done.text
    assert "Your password is changed" in done.text

    # Every session of the user ended; the old password no longer works, the new one does.
    assert (await client.get("/account")).headers.get("location") == "/account/sign-in"
    async with runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(WebSession)) == 0
    assert (await sign_in(client, "sam@acme.test", PASSWORD)).status_code == 401
    assert (await sign_in(client, "sam@acme.test", NEW_PASSWORD)).status_code == 303

    # Single use: the link is dead, on the form and on the submission.
    again = await client.get(path)
    assert again.status_code == 410
    assert "This link is no longer valid" in again.text
    reused = await client.post(
        path,
        data={"password": PASSWORD, "confirm": PASSWORD, "csrf_token": csrf_of(form.text)},
    )
    assert reused.status_code == 410
    assert (await sign_in(client, "sam@acme.test", NEW_PASSWORD)).status_code == 303


async def test_the_link_expires_after_an_hour(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, smtp_server: SmtpServer
) -> None:
    await active_user(client, auth, runtime, "kim@acme.test")
    await ask_reset(client, "kim@acme.test")
    await Worker(runtime, concurrency=2).run_until_idle()
    path = reset_link(smtp_server.to("kim@acme.test")[0])
    async with runtime.sessions() as session:
        row = (await session.scalars(select(OneTimeCode))).one()
        assert row.expires_at - row.created_at == timedelta(hours=1)
        await session.execute(
            update(OneTimeCode).values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    assert (await client.get(path)).status_code == 410
    refused = await client.post(
        path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD, "csrf_token": "x"}
    )
    assert refused.status_code in (403, 410)
    assert (await sign_in(client, "kim@acme.test", PASSWORD)).status_code == 303


async def test_a_new_request_replaces_the_previous_link(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, smtp_server: SmtpServer
) -> None:
    await active_user(client, auth, runtime, "lee@acme.test")
    await ask_reset(client, "lee@acme.test")
    await ask_reset(client, "lee@acme.test")
    await Worker(runtime, concurrency=2).run_until_idle()
    # The first job found its link replaced and sent nothing.
    [mail] = smtp_server.to("lee@acme.test")
    assert (await choose(client, reset_link(mail), NEW_PASSWORD)).status_code == 200


async def test_an_unknown_address_gets_the_same_answer(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, smtp_server: SmtpServer
) -> None:
    await active_user(client, auth, runtime, "sam@acme.test")
    invited = await invite(client, auth, "new@acme.test")  # not active: no reset
    await Worker(runtime, concurrency=2).run_until_idle()
    before = len(smtp_server.messages)
    known = await ask_reset(client, "sam@acme.test")
    unknown = await ask_reset(client, "nobody@acme.test")
    pending = await ask_reset(client, invited["email"])
    assert known.status_code == unknown.status_code == pending.status_code == 200

    def main(page: httpx.Response) -> str:
        return re.sub(r'value="[^"]*"', "", page.text)

    assert main(known) == main(unknown) == main(pending)
    assert known.headers.get("set-cookie") == unknown.headers.get("set-cookie")
    await Worker(runtime, concurrency=2).run_until_idle()
    assert [m.rcpt_tos for m in smtp_server.messages[before:]] == [["sam@acme.test"]]


async def test_not_an_address_is_said_in_the_visitors_language(client: httpx.AsyncClient) -> None:
    client.cookies.set("tbl_lang", "fr")
    answer = await ask_reset(client, "not an address")
    assert answer.status_code == 422
    assert "Saisissez une adresse e-mail" in html.unescape(answer.text)
    assert '<html lang="fr">' in answer.text


@pytest.mark.parametrize("language", ["en", "fr", "nl", "de"])
async def test_the_pages_in_four_languages(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
    smtp_server: SmtpServer,
    language: str,
) -> None:
    titles = {
        "en": ("Reset your password", "Reset your Tabellion password for Acme"),
        "fr": ("Réinitialiser votre mot de passe", "Réinitialisez votre mot de passe Tabellion"),
        "nl": ("Uw wachtwoord opnieuw instellen", "Stel uw Tabellion-wachtwoord voor Acme"),
        "de": ("Passwort zurücksetzen", "Setzen Sie Ihr Tabellion-Passwort für Acme"),
    }
    await active_user(client, auth, runtime, "sam@acme.test")
    client.cookies.set("tbl_lang", language)
    page = await client.get("/account/password-reset")
    assert f'<html lang="{language}">' in page.text
    assert f"<h1>{titles[language][0]}</h1>" in html.unescape(page.text)
    await ask_reset(client, "sam@acme.test")
    await Worker(runtime, concurrency=2).run_until_idle()
    [mail] = smtp_server.to("sam@acme.test")
    assert mail.message["Subject"].startswith(titles[language][1])
    form = await client.get(reset_link(mail))
    assert f'<html lang="{language}">' in form.text


async def test_csrf_is_required(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, smtp_server: SmtpServer
) -> None:
    await active_user(client, auth, runtime, "sam@acme.test")
    await client.get("/account/password-reset")  # the CSRF cookie, but no token
    for data in ({"email": "sam@acme.test"}, {"email": "sam@acme.test", "csrf_token": "forged"}):
        refused = await client.post("/account/password-reset", data=data)
        assert refused.status_code == 403
    await ask_reset(client, "sam@acme.test")
    await Worker(runtime, concurrency=2).run_until_idle()
    [mail] = smtp_server.to("sam@acme.test")  # only the request with its token
    path = reset_link(mail)
    await client.get(path)
    refused = await client.post(
        path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD, "csrf_token": "forged"}
    )
    assert refused.status_code == 403
    assert (await client.get(path)).status_code == 200  # the link still works
    assert (await sign_in(client, "sam@acme.test", PASSWORD)).status_code == 303


class TestThrottles:
    @pytest.fixture
    def settings(self, data_dir: Path, database_url: str, smtp_server: SmtpServer) -> Settings:
        return smtp_server.settings(
            data_dir,
            database_url,
            rate_limits={"password-reset.ip": "3/minute", "password-reset.address": "2/hour"},
        )

    async def test_by_ip(self, client: httpx.AsyncClient) -> None:
        client.cookies.set("tbl_lang", "de")
        for n in range(3):
            assert (await ask_reset(client, f"a{n}@x.test")).status_code == 200
        refused = await ask_reset(client, "b@x.test")
        assert_limited_page(refused, "de", back="/account/password-reset")
        # Another client is not refused.
        async with client_from(client, "192.0.2.9") as other:
            assert (await ask_reset(other, "c@x.test")).status_code == 200

    async def test_by_address_whether_it_exists_or_not(
        self,
        client: httpx.AsyncClient,
        auth: dict[str, str],
        runtime: Runtime,
        smtp_server: SmtpServer,
    ) -> None:
        await active_user(client, auth, runtime, "sam@acme.test")
        for email in ("sam@acme.test", "nobody@acme.test"):
            async with client_from(client, "192.0.2.1") as first:
                assert (await ask_reset(first, email)).status_code == 200
            async with client_from(client, "192.0.2.2") as second:
                assert (await ask_reset(second, email.upper())).status_code == 200
            async with client_from(client, "192.0.2.3") as third:
                assert_limited_page(await ask_reset(third, email), back="/account/password-reset")
        await Worker(runtime, concurrency=2).run_until_idle()
        # Two links were asked for; the second replaced the first, whose job sent nothing.
        assert len(smtp_server.to("sam@acme.test")) == 1
