"""DKIM: every kind of e-mail we send leaves signed, and the signature verifies with dkimpy
against the DNS record ``tabellion dkim keygen`` prints (looked up by a function of the test,
as a resolver would)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import dkim
import httpx
import pytest
from typer.testing import CliRunner

from tabellion.app import create_app
from tabellion.cli.main import app as cli_app
from tabellion.config import ConfigError
from tabellion.jobs.worker import Worker
from tabellion.notification.dkim import DkimKey, DkimTransport, dns_value, new_private_key
from tabellion.notification.transport import open_transport
from tabellion.runtime import Runtime
from tests.cli.test_main import cli_env
from tests.compat.registered_email.helpers import SENDER, active_sender
from tests.conftest import make_settings
from tests.envelope.helpers import ready_draft
from tests.fixtures.factories import bearer, create_org_with_key
from tests.fixtures.smtp import ReceivedMail, SmtpServer
from tests.portal.helpers import csrf, dispatch, latest_code

SELECTOR = "s2026"
DOMAIN = "mail.acme.test"


def resolver(records: dict[str, str]):  # type: ignore[no-untyped-def]
    """dkimpy's ``dnsfunc``: TXT lookups answered from ``records`` (name -> value)."""

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        value = records.get(name.decode().rstrip("."))
        return value.encode() if value is not None else None

    return lookup


def verified(mail: ReceivedMail, records: dict[str, str]) -> bool:
    return bool(dkim.verify(mail.raw, dnsfunc=resolver(records)))


def kind_of(mail: ReceivedMail) -> str:
    match = re.search(r"\.([a-z0-9.-]+)@", str(mail.message["Message-ID"]))
    assert match, mail.message["Message-ID"]
    return match.group(1)


@asynccontextmanager
async def signing_app(
    data_dir: Path, database_url: str, smtp: SmtpServer, key_file: Path
) -> AsyncIterator[tuple[Runtime, httpx.AsyncClient]]:
    settings = make_settings(
        data_dir,
        database_url,
        smtp_url=smtp.url(),
        mail_from="Acme Notices <notices@mail.acme.test>",
        dkim_key_file=key_file,
        dkim_selector=SELECTOR,
    )
    runtime = Runtime.build(settings, pool_size=2)
    try:
        transport = httpx.ASGITransport(app=create_app(runtime=runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://tabellion.test") as c:
            yield runtime, c
    finally:
        await runtime.close()


async def settle(worker: Worker, smtp: SmtpServer, count: int) -> list[ReceivedMail]:
    async with asyncio.timeout(30):
        while len(smtp.messages) < count:
            await worker.run_until_idle()
            await asyncio.sleep(0.05)
    return list(smtp.messages)


async def test_every_kind_of_mail_is_signed_and_verifies(
    data_dir: Path, database_url: str, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    key_file = tmp_path / "dkim.key"
    key_file.write_bytes(new_private_key())
    records = {f"{SELECTOR}._domainkey.{DOMAIN}": dns_value(key_file.read_bytes())}
    async with signing_app(data_dir, database_url, smtp_server, key_file) as (runtime, client):
        org_id, secret = await create_org_with_key(runtime)
        auth = bearer(secret)
        await active_sender(runtime, org_id)
        worker = Worker(runtime, poll_interval=0.05)
        # A registered letter (notice: built as bytes), its code, the sender's status and the
        # recipient's copy with the attachment (composed with the stdlib), a simple one, and a
        # signing invitation.
        letter = await dispatch(
            client,
            auth,
            sender={"email": SENDER},
            copy_to_mailbox_after_acceptance=True,
            notify_sender=True,
        )
        await dispatch(client, auth, mode="simple")
        envelope, _ = await ready_draft(client, auth)
        sent = await client.post(f"/v1/envelopes/{envelope['id']}/send", headers=auth)
        assert sent.status_code == 202, sent.text
        notices = await settle(worker, smtp_server, 3)
        [notice] = [m for m in notices if letter["id"] in str(m.message["Message-ID"])]
        link = "/r/" + re.findall(r"/r/([A-Za-z0-9_.-]+)", notice.text)[0]
        page = await client.get(link)
        await client.post(f"{link}/code", data={"csrf_token": csrf(page.text)})
        await settle(worker, smtp_server, 4)
        code = await latest_code(runtime, letter["id"])
        await client.post(f"{link}/verify", data={"code": code, "csrf_token": csrf(page.text)})
        answer = {"decision": "accept", "confirm": "yes", "csrf_token": csrf(page.text)}
        assert (await client.post(f"{link}/answer", data=answer)).status_code == 303
        mails = await settle(worker, smtp_server, 6)

    kinds = {kind_of(m) for m in mails}
    assert {"notice", "code", "status.accepted", "copy"} <= kinds, kinds
    assert any(".invite." in f".{k}." for k in kinds), kinds
    for mail in mails:
        header = str(mail.message["DKIM-Signature"])
        assert f"d={DOMAIN}" in header and f"s={SELECTOR}" in header, kind_of(mail)
        assert verified(mail, records), kind_of(mail)
    # The signature means something: another key's record, or a changed body, fail.
    other = {f"{SELECTOR}._domainkey.{DOMAIN}": dns_value(new_private_key())}
    assert not verified(mails[0], other)
    tampered = ReceivedMail(
        mails[0].envelope_from,
        mails[0].rcpt_tos,
        mails[0].message,
        mails[0].raw.replace(b"\r\n\r\n", b"\r\n\r\nTampered ", 1),
    )
    assert not verified(tampered, records)


def test_without_a_key_nothing_is_signed(data_dir: Path) -> None:
    transport = open_transport(make_settings(data_dir, "sqlite://"))
    assert not isinstance(transport, DkimTransport)


def test_a_missing_or_unfit_key_refuses_to_start(data_dir: Path, tmp_path: Path) -> None:
    base = {"smtp_url": None, "dkim_selector": SELECTOR}
    with pytest.raises(ConfigError, match="cannot read"):
        open_transport(make_settings(data_dir, "sqlite://", dkim_key_file=tmp_path / "no", **base))
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key")
    with pytest.raises(ConfigError, match="not an unencrypted PEM"):
        open_transport(make_settings(data_dir, "sqlite://", dkim_key_file=junk, **base))


def test_keygen_prints_the_record_that_verifies_our_signatures(
    data_dir: Path, database_url: str
) -> None:
    env = cli_env(
        data_dir,
        database_url,
        TABELLION_MAIL_FROM="Acme <notices@mail.acme.test>",
        TABELLION_DKIM_SELECTOR=SELECTOR,
    )
    result = CliRunner().invoke(cli_app, ["dkim", "keygen"], env=env)
    assert result.exit_code == 0, result.output
    key_file = data_dir / "dkim.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    line = next(x for x in result.stdout.splitlines() if "IN TXT" in x)
    assert line.startswith(f"{SELECTOR}._domainkey.{DOMAIN}. IN TXT ( ")
    # The zone file's strings joined back are the record's value.
    value = "".join(re.findall(r'"([^"]*)"', line))
    assert value == dns_value(key_file.read_bytes())
    key = DkimKey.load(key_file, selector=SELECTOR, domain=DOMAIN)
    message = (
        b"From: Acme <notices@mail.acme.test>\r\nTo: jane@example.test\r\n"
        b"Subject: hello\r\n\r\nHello Jane.\r\n"
    )
    signed = key.sign(message)
    assert dkim.verify(signed, dnsfunc=resolver({f"{SELECTOR}._domainkey.{DOMAIN}": value}))
    # Run again: the key is kept, the same record printed.
    again = CliRunner().invoke(cli_app, ["dkim", "keygen"], env=env)
    assert again.exit_code == 0 and line in again.stdout
