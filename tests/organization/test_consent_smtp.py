"""A customer's consent, end to end: API, worker, SMTP, the link in the e-mail, the page."""

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
from tests.fixtures.factories import message_body
from tests.fixtures.smtp import ReceivedMail, SmtpServer
from tests.message.test_endpoints import assert_problem
from tests.organization.test_activation_smtp import csrf_of

LINK = re.compile(r"http://tabellion\.test/customers/consent/[A-Za-z0-9_-]+")


@pytest.fixture
def settings(data_dir: Path, database_url: str, smtp_server: SmtpServer) -> Settings:
    return smtp_server.settings(data_dir, database_url)


def link_in(mail: ReceivedMail) -> str:
    [link] = set(LINK.findall(mail.text))
    assert f'href="{link}"' in mail.html
    return urlsplit(link).path


async def press(client: httpx.AsyncClient, path: str, action: str) -> httpx.Response:
    page = await client.get(path)
    assert page.status_code == 200, page.text
    return await client.post(path, data={"action": action, "csrf_token": csrf_of(page.text)})


async def state_of(client: httpx.AsyncClient, auth: dict[str, str], customer_id: str) -> str:
    return str((await client.get(f"/v1/customers/{customer_id}", headers=auth)).json()["state"])


async def test_accept_then_revoke_from_the_link_in_the_email(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, smtp_server: SmtpServer
) -> None:
    created = await client.post(
        "/v1/customers",
        json={
            "customers": [
                {"name": "Bakery Dupont", "email": "boss@dupont.test"},
                {"name": "Garage Martin", "email": "paul@martin.test"},
            ]
        },
        headers=auth,
    )
    assert created.status_code == 201, created.text
    dupont, martin = created.json()["customers"]
    await Worker(runtime, concurrency=4).run_until_idle()
    mails = await smtp_server.wait_for(2)
    by_rcpt = {m.rcpt_tos[0]: m for m in mails}
    assert set(by_rcpt) == {"boss@dupont.test", "paul@martin.test"}
    mail = by_rcpt["boss@dupont.test"]
    assert mail.message["To"] == "boss@dupont.test"
    assert mail.message["From"] == runtime.settings.mail_from
    assert mail.message["Subject"] == "Acme asks your consent to send on behalf of Bakery Dupont"
    assert "Acme registered Bakery Dupont as its customer" in mail.text
    assert "the same link lets you withdraw your consent later" in mail.text
    path = link_in(mail)
    assert path != link_in(by_rcpt["paul@martin.test"])

    accepted = await press(client, path, "accept")
    assert accepted.status_code == 200 and "Accepted." in accepted.text
    assert await state_of(client, auth, dupont["id"]) == "ACCEPTED"
    assert await state_of(client, auth, martin["id"]) == "PENDING"
    sent = await client.post(
        "/v1/messages", json=message_body(on_behalf_of=dupont["id"]), headers=auth
    )
    assert sent.status_code == 201, sent.text

    # Weeks later, the same e-mail's link withdraws the consent.
    page = await client.get(path)
    assert "Withdraw my consent" in page.text
    revoked = await press(client, path, "revoke")
    assert revoked.status_code == 200 and "Withdrawn." in revoked.text
    assert await state_of(client, auth, dupont["id"]) == "REVOKED"
    assert_problem(
        await client.post(
            "/v1/messages", json=message_body(on_behalf_of=dupont["id"]), headers=auth
        ),
        422,
        "customer-not-registered",
    )
    types = [e["type"] for e in (await client.get("/v1/events", headers=auth)).json()["data"]]
    assert types == ["customer.accepted", "customer.revoked"]

    # Refusing in the other e-mail is independent.
    refused = await press(client, link_in(by_rcpt["paul@martin.test"]), "refuse")
    assert refused.status_code == 200 and "Refused." in refused.text
    assert await state_of(client, auth, martin["id"]) == "REFUSED"


async def test_concurrent_answers_to_a_consent_apply_one(
    served: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, smtp_server: SmtpServer
) -> None:

    created = await served.post(
        "/v1/customers",
        json={"customers": [{"name": "Bakery Dupont", "email": "boss@dupont.test"}]},
        headers=auth,
    )
    [dupont] = created.json()["customers"]
    await Worker(runtime, concurrency=4).run_until_idle()
    [mail] = await smtp_server.wait_for(1)
    path = link_in(mail)
    token = csrf_of((await served.get(path)).text)
    actions = ["accept" if n % 2 else "refuse" for n in range(20)]
    answers = await race_on_row(
        runtime,
        "organizations",
        dupont["id"],
        (served.post(path, data={"action": a, "csrf_token": token}) for a in actions),
    )
    assert sorted(r.status_code for r in answers) == [200] + [409] * 19
    [winner] = [a for a, r in zip(actions, answers, strict=True) if r.status_code == 200]
    state = {"accept": "ACCEPTED", "refuse": "REFUSED"}[winner]
    assert await state_of(served, auth, dupont["id"]) == state
    types = [e["type"] for e in (await served.get("/v1/events", headers=auth)).json()["data"]]
    assert types == [f"customer.{state.lower()}"]
