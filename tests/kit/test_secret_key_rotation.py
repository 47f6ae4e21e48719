"""Changing TABELLION_SECRET_KEY with the old one in TABELLION_SECRET_KEY_PREVIOUS: what the old
key made keeps working (links, codes, forms, encrypted secrets), new things are made with the
new key, `tabellion keys reencrypt-secrets` moves the stored secrets to it, and without the old
key listed what it signed is refused."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import InvalidToken
from sqlalchemy import select
from typer.testing import CliRunner

from tabellion.app import create_app
from tabellion.cli.main import app as cli_app
from tabellion.db import transaction
from tabellion.envelope.service import signing_token, signing_token_of, token_hash
from tabellion.jobs.worker import Worker
from tabellion.kit import crypto
from tabellion.kit.ids import new_id
from tabellion.kit.time import utcnow
from tabellion.message.service.delivery import portal_token, portal_token_of
from tabellion.models.envelope import EnvelopeRecipient
from tabellion.models.message import Delivery
from tabellion.models.user import User
from tabellion.models.webhook import WebhookEndpoint
from tabellion.notification.compose import compose_notice
from tabellion.organization import totp
from tabellion.runtime import Runtime
from tests.cli.test_main import cli_env
from tests.conftest import make_settings
from tests.message.test_endpoints import assert_problem
from tests.portal.helpers import csrf, dispatch, notify, outbox_codes, status_of
from tests.webhook.test_endpoints import register

OLD = "the-old-secret-key-that-is-long-enough-0123456789"
NEW = "the-new-secret-key-that-is-long-enough-9876543210"


@asynccontextmanager
async def serving(
    data_dir: Path, database_url: str, key: str, previous: str | None = None
) -> AsyncIterator[tuple[Runtime, httpx.AsyncClient]]:
    """The service on the same database and data dir, with the given secret keys."""
    settings = make_settings(
        data_dir,
        database_url,
        secret_key=key,
        secret_key_previous=previous,
        webhook_allowed_hosts="127.0.0.1",
    )
    runtime = Runtime.build(settings, pool_size=5)
    try:
        transport = httpx.ASGITransport(app=create_app(runtime=runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://tabellion.test") as c:
            yield runtime, c
    finally:
        await runtime.close()


def test_previous_keys_are_read_newest_first(data_dir: Path, database_url: str) -> None:
    settings = make_settings(
        data_dir, database_url, secret_key=NEW, secret_key_previous=f" {OLD} ,, older-key "
    )
    assert settings.signing_keys == (NEW.encode(), OLD.encode(), b"older-key")
    assert make_settings(data_dir, database_url, secret_key=NEW).signing_keys == (NEW.encode(),)


async def test_what_the_old_key_made_keeps_working_after_a_change(
    data_dir: Path, database_url: str
) -> None:
    async with serving(data_dir, database_url, OLD) as (runtime, client):
        from tests.fixtures.factories import create_org_with_key

        org_id, secret = await create_org_with_key(runtime)
        auth = {"Authorization": f"Bearer {secret}"}
        delivery = await dispatch(client, auth)
        link = await notify(runtime, delivery["id"])
        # A code asked for under the old key, e-mailed after the change (its job not run yet).
        page = await client.get(link)
        form_token = csrf(page.text)
        asked = await client.post(f"{link}/code", data={"csrf_token": form_token})
        assert asked.status_code in (200, 303), asked.text
        proof = (await status_of(client, auth, delivery["id"]))["evidence"][0]
        pdf_url = proof["pdf_url"].removeprefix("http://tabellion.test")
        endpoint = await register(client, auth, "http://127.0.0.1:9/hooks")
        cookies = dict(client.cookies)
        async with transaction(runtime.sessions) as session:
            user = User(id=new_id("usr"), organization_id=org_id, email="ann@example.test",
                        role="admin",
                        created_at=utcnow())  # fmt: skip
            app_secret, _ = totp.enrol(user, runtime.settings.signing_keys)
            session.add(user)
        user_id = user.id

    async with serving(data_dir, database_url, NEW, previous=OLD) as (runtime, client):
        client.cookies.update(cookies)
        # The link of the first notice opens, and later e-mails repeat that same link.
        assert (await client.get(link)).status_code == 200
        async with runtime.sessions() as session:
            row = await session.get(Delivery, delivery["id"])
            assert row is not None
            keys = runtime.settings.signing_keys
            assert f"/r/{portal_token_of(keys, row)}" == link
            assert link != f"/r/{portal_token(NEW.encode(), row.id, row.token_salt)}"
        # The code's e-mail, sent by the new worker, gives the code that was issued.
        [mail] = await outbox_codes(runtime)
        body = mail.get_body(("plain",))
        assert body is not None
        [code] = re.findall(r"\b\d{6}\b", body.get_content())
        verified = await client.post(
            f"{link}/verify", data={"code": code, "csrf_token": form_token}
        )
        assert verified.status_code == 303, verified.text
        # A proof link signed before the change still opens (until it expires).
        pdf = await client.get(pdf_url)
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        # The webhook secret encrypted with the old key is read; new forms use the new key.
        async with runtime.sessions() as session:
            stored = await session.get(WebhookEndpoint, endpoint["id"])
            assert stored is not None
            [entry] = stored.secrets
        assert crypto.decrypt(keys, entry["value"]) == endpoint["secret"]
        with pytest.raises(InvalidToken):
            crypto.decrypt([NEW.encode()], entry["value"])

        # Moved to the new key: then readable without the old one.
        result = await asyncio.to_thread(
            CliRunner().invoke,
            cli_app,
            ["keys", "reencrypt-secrets"],
            env=cli_env(
                data_dir,
                database_url,
                TABELLION_SECRET_KEY=NEW,
                TABELLION_SECRET_KEY_PREVIOUS=OLD,
            ),
        )
        assert result.exit_code == 0, result.output
        assert "1 webhook signing secrets and 1 authenticator secrets" in result.output
        async with runtime.sessions() as session:
            [entry] = (await session.get(WebhookEndpoint, endpoint["id"])).secrets  # type: ignore[union-attr]
        assert crypto.decrypt([NEW.encode()], entry["value"]) == endpoint["secret"]
        async with runtime.sessions() as session:
            user = await session.get(User, user_id)
            assert user is not None
        assert totp.secret_of(user, [NEW.encode()]) == app_secret

    # The old key dropped: what it signed alone is refused; stored secrets were moved.
    async with serving(data_dir, database_url, NEW) as (runtime, client):
        client.cookies.update(cookies)
        assert_problem(await client.get(pdf_url), 403, "link-invalid")
        refused = await client.post(f"{link}/code", data={"csrf_token": form_token})
        assert refused.status_code == 403 and "security token" in refused.text
        async with runtime.sessions() as session:
            [entry] = (await session.get(WebhookEndpoint, endpoint["id"])).secrets  # type: ignore[union-attr]
        assert crypto.decrypt(runtime.settings.signing_keys, entry["value"]) == endpoint["secret"]


async def test_reencrypt_refuses_a_secret_of_an_unknown_key_and_changes_nothing(
    data_dir: Path, database_url: str
) -> None:
    async with serving(data_dir, database_url, OLD) as (runtime, client):
        from tests.fixtures.factories import create_org_with_key

        _, secret = await create_org_with_key(runtime)
        endpoint = await register(
            client, {"Authorization": f"Bearer {secret}"}, "http://127.0.0.1:9/h"
        )
        async with runtime.sessions() as session:
            before = (await session.get(WebhookEndpoint, endpoint["id"])).secrets  # type: ignore[union-attr]
    result = await asyncio.to_thread(
        CliRunner().invoke,
        cli_app,
        ["keys", "reencrypt-secrets"],
        env=cli_env(data_dir, database_url, TABELLION_SECRET_KEY=NEW),
    )
    assert result.exit_code == 1
    assert (
        "TABELLION_SECRET_KEY_PREVIOUS" in result.output and "Nothing was changed" in result.output
    )
    async with (
        serving(data_dir, database_url, OLD) as (runtime, _),
        runtime.sessions() as session,
    ):
        after = (await session.get(WebhookEndpoint, endpoint["id"])).secrets  # type: ignore[union-attr]
    assert after == before


async def test_signing_links_and_notices_keep_the_token_their_hash_was_stored_for(
    data_dir: Path, database_url: str
) -> None:
    """An envelope recipient's link and a delivery's link are looked up by the hash of the
    token made when they were created: a later e-mail or API answer must give that token."""
    recipient = EnvelopeRecipient(id="rcp_1", token_salt="salt")
    recipient.token_hash = token_hash(signing_token(OLD.encode(), "rcp_1", "salt"))
    keys = (NEW.encode(), OLD.encode())
    assert signing_token_of(keys, recipient) == signing_token(OLD.encode(), "rcp_1", "salt")
    # With the old key gone, the new key's token (the link can no longer be recomputed).
    assert signing_token_of(keys[:1], recipient) == signing_token(NEW.encode(), "rcp_1", "salt")
    async with serving(data_dir, database_url, OLD) as (runtime, client):
        from tests.fixtures.factories import create_org_with_key

        _, secret = await create_org_with_key(runtime)
        delivery = await dispatch(client, {"Authorization": f"Bearer {secret}"})
        await Worker(runtime, poll_interval=0.05).run_until_idle()
        async with runtime.sessions() as session:
            row = await session.get(Delivery, delivery["id"])
            first = compose_notice(
                runtime.settings, row, *await _message_and_org(session, row), at=utcnow()
            )
    async with (
        serving(data_dir, database_url, NEW, previous=OLD) as (runtime, _),
        runtime.sessions() as session,
    ):
        row = await session.get(Delivery, delivery["id"])
        again = compose_notice(
            runtime.settings, row, *await _message_and_org(session, row), at=utcnow()
        )
    token = portal_token(OLD.encode(), delivery["id"], row.token_salt)  # type: ignore[union-attr]
    for notice in (first, again):
        assert f"/r/{token}" in notice.message.as_string()


async def _message_and_org(session, row):  # type: ignore[no-untyped-def]
    from tabellion.models.message import Message
    from tabellion.models.organization import Organization

    message = await session.get(Message, row.message_id)
    organization = await session.scalar(
        select(Organization).where(Organization.id == row.organization_id)
    )
    return message, organization
