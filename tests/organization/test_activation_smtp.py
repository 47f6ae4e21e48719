"""A new user's activation, end to end: API, worker, SMTP, the link in the e-mail, the page."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tabellion.config import Settings
from tabellion.jobs.worker import Worker
from tabellion.runtime import Runtime
from tests.fixtures.database import race_on_row
from tests.fixtures.smtp import ReceivedMail, SmtpServer

PASSWORD = "correct horse battery staple"
LINK = re.compile(r"http://tabellion\.test/account/activate/[A-Za-z0-9_-]+")


@pytest.fixture
def settings(data_dir: Path, database_url: str, smtp_server: SmtpServer) -> Settings:
    return smtp_server.settings(data_dir, database_url)


async def invite(client: httpx.AsyncClient, auth: dict[str, str], email: str) -> dict:
    response = await client.post(
        "/v1/users", json={"email": email, "name": "Sam Sender", "role": "sender"}, headers=auth
    )
    assert response.status_code == 201, response.text
    return response.json()


def link_in(mail: ReceivedMail) -> str:
    links = set(LINK.findall(mail.text))
    assert len(links) == 1, mail.text
    [link] = links
    assert f'href="{link}"' in mail.html
    return urlsplit(link).path


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


async def user_status(client: httpx.AsyncClient, auth: dict[str, str], user_id: str) -> str:
    response = await client.get(f"/v1/users/{user_id}", headers=auth)
    assert response.status_code == 200, response.text
    return str(response.json()["status"])


async def test_activation_through_the_email(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, smtp_server: SmtpServer
) -> None:
    user = await invite(client, auth, "sam@acme.test")
    assert user["status"] == "invited"

    await Worker(runtime, concurrency=4).run_until_idle()

    [mail] = await smtp_server.wait_for(1)
    assert mail.rcpt_tos == ["sam@acme.test"]
    assert mail.message["To"] == "sam@acme.test"
    assert mail.message["Subject"] == "Activate your Tabellion account for Acme"
    assert mail.message["From"] == runtime.settings.mail_from
    assert "Hello Sam Sender," in mail.text
    assert "Acme added you to Tabellion as sender." in mail.text
    path = link_in(mail)

    form = await client.get(path)
    assert form.status_code == 200
    assert "sam@acme.test" in form.text
    done = await client.post(
        path, data={"password": PASSWORD, "confirm": PASSWORD, "csrf_token": csrf_of(form.text)}
    )
    assert done.status_code == 200, done.text
    assert "Your account is active" in done.text
    assert await user_status(client, auth, user["id"]) == "active"

    # The same link again: refused, and the page says why.
    for reused in (
        await client.get(path),
        await client.post(
            path,
            data={
                "password": "another password!",
                "confirm": "another password!",
                "csrf_token": csrf_of(form.text),
            },
        ),
    ):
        assert reused.status_code == 410
        assert "This link is no longer valid" in reused.text
        assert "been used already" in reused.text
    assert await user_status(client, auth, user["id"]) == "active"

    # The password chosen on the page is the one that signs in.
    sign_in = await client.get("/account/sign-in")
    signed = await client.post(
        "/account/sign-in",
        data={"email": "sam@acme.test", "password": PASSWORD, "csrf_token": csrf_of(sign_in.text)},
    )
    assert signed.status_code == 303
    assert signed.headers["location"] == "/account"


async def test_a_resent_link_replaces_the_first(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, smtp_server: SmtpServer
) -> None:
    user = await invite(client, auth, "kim@acme.test")
    await Worker(runtime, concurrency=4).run_until_idle()
    [first] = await smtp_server.wait_for(1)

    resent = await client.post(f"/v1/users/{user['id']}/resend-activation", headers=auth)
    assert resent.status_code == 200, resent.text
    await Worker(runtime, concurrency=4).run_until_idle()
    _, second = await smtp_server.wait_for(2)
    assert second.rcpt_tos == ["kim@acme.test"]

    old, new = link_in(first), link_in(second)
    assert old != new
    assert (await client.get(old)).status_code == 410
    form = await client.get(new)
    assert form.status_code == 200
    done = await client.post(
        new, data={"password": PASSWORD, "confirm": PASSWORD, "csrf_token": csrf_of(form.text)}
    )
    assert done.status_code == 200
    assert await user_status(client, auth, user["id"]) == "active"


async def test_no_email_for_a_user_already_active(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, smtp_server: SmtpServer
) -> None:
    """The activation job of a user who activated meanwhile sends nothing."""
    user = await invite(client, auth, "lee@acme.test")
    from tests.organization.test_users import token_of

    path = f"/account/activate/{await token_of(runtime, user['id'])}"
    form = await client.get(path)
    await client.post(
        path, data={"password": PASSWORD, "confirm": PASSWORD, "csrf_token": csrf_of(form.text)}
    )
    assert await user_status(client, auth, user["id"]) == "active"

    await Worker(runtime, concurrency=4).run_until_idle()
    assert smtp_server.messages == []


async def test_concurrent_activations_set_one_password(
    served: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, smtp_server: SmtpServer
) -> None:

    user = await invite(served, auth, "sam@acme.test")
    await Worker(runtime, concurrency=4).run_until_idle()
    [mail] = await smtp_server.wait_for(1)
    path = link_in(mail)
    token = csrf_of((await served.get(path)).text)
    passwords = [f"{PASSWORD} {n}" for n in range(20)]
    answers = await race_on_row(
        runtime,
        "users",
        user["id"],
        (
            served.post(path, data={"password": p, "confirm": p, "csrf_token": token})
            for p in passwords
        ),
    )
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [200] + [410] * 19, statuses
    assert await user_status(served, auth, user["id"]) == "active"
    # The password that won is the one that works: no later request replaced it.
    [winner] = [p for p, r in zip(passwords, answers, strict=True) if r.status_code == 200]
    for password, expected in ((winner, 303), (passwords[passwords.index(winner) - 1], 401)):
        form = await served.get("/account/sign-in")
        signed = await served.post(
            "/account/sign-in",
            data={"email": "sam@acme.test", "password": password, "csrf_token": csrf_of(form.text)},
        )
        assert signed.status_code == expected
