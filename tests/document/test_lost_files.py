"""A stored file that vanished or no longer matches its hash: no proof, clear errors, a check.

Before: the portal recorded DOWNLOADED, then failed mid-stream; the API answered a bare 500.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tabellion.cli.main import app
from tabellion.config import Settings
from tabellion.db import transaction
from tabellion.document.local import LocalBlobStore
from tabellion.document.service import check_storage
from tabellion.models.message import Attachment, Reply
from tabellion.runtime import Runtime
from tests.fixtures.factories import message_body
from tests.portal.helpers import (
    accepted_letter,
    attachment_ids,
    dispatch,
    notify,
    reply_in_portal,
    signed_in,
    status_of,
)

PDF = b"%PDF-1.4\n%%EOF\n"


def blob_path(runtime: Runtime, key: str) -> Path:
    backend = runtime.storage.inner  # the disk behind the key-less guard
    assert isinstance(backend, LocalBlobStore)
    return backend.path_of(key)


def unavailable_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The "stored file unavailable" errors logged, in order."""
    return [r.getMessage() for r in caplog.records if "stored file unavailable" in r.getMessage()]


async def replied_with_a_file(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> tuple[str, str, dict[str, Any]]:
    """A secure message's recipient replied with one file (``reply``): the portal link, the
    reply's id and the file's entry in the reply (id, storage key, SHA-256...)."""
    delivery = await dispatch(client, auth, mode="secure")
    link = await reply_in_portal(
        client, runtime, delivery["id"], "Here", files={"files": ("r.txt", b"reply", "text/plain")}
    )
    async with runtime.sessions() as session:
        [reply] = await session.scalars(select(Reply).where(Reply.delivery_id == delivery["id"]))
    [stored] = reply.attachments
    return link, reply.id, stored


@pytest.mark.parametrize("damage", ["vanished", "altered"])
async def test_portal_download_of_a_lost_file_records_nothing(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
    caplog: pytest.LogCaptureFixture,
    damage: str,
) -> None:
    delivery, link, attachment = await accepted_letter(client, auth, runtime)
    path = blob_path(runtime, attachment["sha256"])
    if damage == "vanished":
        path.unlink()
    else:
        path.write_bytes(PDF.replace(b"1.4", b"1.7"))
    with caplog.at_level(logging.ERROR):
        response = await client.get(f"{link}/files/{attachment['id']}")
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert "This file cannot be retrieved right now" in response.text
    assert "Its download was not recorded" in response.text
    kinds = Counter(e["type"] for e in (await status_of(client, auth, delivery["id"]))["evidence"])
    assert kinds == {"SENT": 1, "NOTIFIED": 1, "ACCEPTED": 1}
    logged = unavailable_logged(caplog)
    problem = "missing" if damage == "vanished" else "does not match its hash"
    assert logged == [
        f"stored file unavailable: attachment {attachment['id']} "
        f"(blob {attachment['sha256']}) {problem}"
    ]


async def test_api_bundle_of_a_lost_file_is_a_stable_problem(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
    caplog: pytest.LogCaptureFixture,
) -> None:
    delivery, _, attachment = await accepted_letter(client, auth, runtime)
    blob_path(runtime, attachment["sha256"]).unlink()
    with caplog.at_level(logging.ERROR):
        response = await client.get(f"/v1/deliveries/{delivery['id']}/evidence.zip", headers=auth)
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "urn:tabellion:problem:stored-file-unavailable"
    assert problem["code"] == "stored-file-unavailable"
    assert problem["detail"] == f"The stored file {attachment['sha256']} is missing."
    assert any("stored-file-unavailable on GET" in r.getMessage() for r in caplog.records)


async def test_storage_check_names_every_damaged_blob(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    _, _, first = await accepted_letter(client, auth, runtime)
    assert (await check_storage(runtime)).ok
    blob_path(runtime, first["sha256"]).write_bytes(b"tampered")
    report = await check_storage(runtime)
    assert report.problems == [
        f"attachment {first['id']}: blob {first['sha256']} does not match its hash"
    ]
    blob_path(runtime, first["sha256"]).unlink()
    report = await check_storage(runtime)
    assert report.problems == [f"attachment {first['id']}: blob {first['sha256']} missing"]


def test_storage_check_command(settings: Settings) -> None:
    async def attach() -> str:
        from tabellion.app import create_app
        from tests.fixtures.factories import create_org_with_key

        runtime = Runtime.build(settings, pool_size=1)
        try:
            _, secret = await create_org_with_key(runtime)
            transport = httpx.ASGITransport(app=create_app(runtime=runtime))
            async with httpx.AsyncClient(transport=transport, base_url="http://t.test") as c:
                auth = {"Authorization": f"Bearer {secret}"}
                delivery = await dispatch(c, auth)
                message = await c.get(f"/v1/messages/{delivery['message_id']}", headers=auth)
                return str(message.json()["attachments"][0]["sha256"])
        finally:
            await runtime.close()

    key = asyncio.run(attach())
    env = {
        "TABELLION_DATA_DIR": str(settings.data_dir),
        "TABELLION_DATABASE_URL": settings.resolved_database_url,
        "TABELLION_ENV": "development",
    }
    runner = CliRunner()
    ok = runner.invoke(app, ["storage", "check"], env=env)
    assert ok.exit_code == 0, ok.output
    assert "ok: 1 stored files match their hashes" in ok.output
    (LocalBlobStore.from_url(settings.resolved_storage_url).path_of(key)).unlink()
    broken = runner.invoke(app, ["storage", "check"], env=env)
    assert broken.exit_code == 1
    assert f"blob {key} missing" in broken.output
    assert "1 of 1 stored files unavailable" in broken.output


async def test_portal_download_of_an_altered_reply_file_is_refused(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The recipient's own reply file is checked against its hash like a letter's file."""
    link, _, stored = await replied_with_a_file(client, auth, runtime)
    url = f"{link}/files/{stored['id']}"
    assert (await client.get(url)).content == b"reply"
    blob_path(runtime, stored["storage_key"]).write_bytes(b"reply, altered")
    with caplog.at_level(logging.ERROR):
        response = await client.get(url)
    assert response.status_code == 500 and b"altered" not in response.content
    assert "This file cannot be retrieved right now" in response.text
    assert unavailable_logged(caplog) == [
        f"stored file unavailable: reply file {stored['id']} "
        f"(blob {stored['storage_key']}) does not match its hash"
    ]


async def another_blob(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, content: bytes
) -> str:
    """The storage key of another file, whole in storage (uploaded to a draft of its own)."""
    draft = (await client.post("/v1/messages", json=message_body(), headers=auth)).json()
    uploaded = await client.post(
        f"/v1/messages/{draft['id']}/attachments?filename=other.pdf",
        content=content,
        headers={**auth, "Content-Type": "application/pdf"},
    )
    async with runtime.sessions() as session:
        row = await session.get(Attachment, uploaded.json()["id"])
    assert row is not None
    return row.storage_key


async def test_portal_download_of_a_row_naming_another_intact_file_is_refused(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A file row whose storage key names another blob, itself whole (a key mixed up in a
    restore): the store finds nothing wrong with that blob, but it is not the file whose hash
    the proofs name, so it is not handed over as that file."""
    delivery, link, attachment = await accepted_letter(client, auth, runtime)
    other = await another_blob(client, auth, runtime, b"%PDF-1.4\n% another letter\n%%EOF\n")
    async with transaction(runtime.sessions) as session:
        row = await session.get(Attachment, attachment["id"])
        assert row is not None and row.storage_key != other
        row.storage_key = other
    with caplog.at_level(logging.ERROR):
        response = await client.get(f"{link}/files/{attachment['id']}")
    assert response.status_code == 500 and b"another letter" not in response.content
    assert "This file cannot be retrieved right now" in response.text
    # The error page keeps the letter's own links, to try again from.
    assert f'href="{link}/files/{attachment["id"]}"' in response.text
    assert unavailable_logged(caplog) == [
        f"stored file unavailable: attachment {attachment['id']} (blob {other}) "
        f"does not match its recorded hash {attachment['sha256']}"
    ]
    kinds = Counter(e["type"] for e in (await status_of(client, auth, delivery["id"]))["evidence"])
    assert kinds == {"SENT": 1, "NOTIFIED": 1, "ACCEPTED": 1}


async def test_portal_download_of_a_reply_file_naming_another_intact_file_is_refused(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The same for the recipient's own reply file: checked against the hash it recorded."""
    link, reply_id, stored = await replied_with_a_file(client, auth, runtime)
    other = await another_blob(client, auth, runtime, b"%PDF-1.4\n% someone else's\n%%EOF\n")
    async with transaction(runtime.sessions) as session:
        reply = await session.get(Reply, reply_id)
        assert reply is not None
        reply.attachments = [{**stored, "storage_key": other}]
    with caplog.at_level(logging.ERROR):
        response = await client.get(f"{link}/files/{stored['id']}")
    assert response.status_code == 500 and b"someone else" not in response.content
    assert "This file cannot be retrieved right now" in response.text
    assert unavailable_logged(caplog) == [
        f"stored file unavailable: reply file {stored['id']} (blob {other}) "
        f"does not match its recorded hash {stored['sha256']}"
    ]


async def test_the_lost_file_page_speaks_the_letters_language(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    """A browser that asks for no language reads the error in its letter's language."""
    delivery = await dispatch(client, auth, language="fr")
    link = await notify(runtime, delivery["id"])
    token = await signed_in(client, runtime, link, delivery["id"])
    answer = {"decision": "accept", "confirm": "yes", "csrf_token": token}
    assert (await client.post(f"{link}/answer", data=answer)).status_code == 303
    [attachment_id] = await attachment_ids(client, auth, delivery)
    async with runtime.sessions() as session:
        row = await session.get(Attachment, attachment_id)
    assert row is not None
    blob_path(runtime, row.storage_key).unlink()
    response = await client.get(f"{link}/files/{attachment_id}")
    assert response.status_code == 500 and '<html lang="fr">' in response.text
    assert "Ce fichier ne peut pas être récupéré pour le moment" in response.text
