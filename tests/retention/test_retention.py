"""Retention: the timer (run by the real worker) purges the content of letters past their
organisation's retention period, keeps a held letter's, and leaves every proof verifiable."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import httpx
from sqlalchemy import select

from tabellion.config import Settings
from tabellion.document.encryption import generate_key_file
from tabellion.document.migrate import encrypt_storage
from tabellion.document.service import check_storage
from tabellion.evidence.sealing.seal import seal_pending
from tabellion.evidence.verification.check import check_chains
from tabellion.models.evidence import Evidence
from tabellion.models.message import Attachment, Message, Reply
from tabellion.runtime import Runtime
from tests.message.test_endpoints import assert_problem
from tests.retention.helpers import accept, age, letter, pdf, run_retention_timer


async def _blob_key(runtime: Runtime, attachment_id: str) -> str:
    async with runtime.sessions() as session:
        row = await session.get(Attachment, attachment_id)
    assert row is not None
    return row.storage_key


async def _evidence(runtime: Runtime, message_id: str) -> list[Evidence]:
    async with runtime.sessions() as session:
        return list(
            await session.scalars(
                select(Evidence).where(Evidence.message_id == message_id).order_by(Evidence.id)
            )
        )


async def test_retention_purges_content_keeps_proofs_and_held_letters(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    settings = await client.patch(
        "/v1/organization", json={"content_retention_days": 30}, headers=auth
    )
    assert settings.status_code == 200, settings.text
    assert settings.json()["content_retention_days"] == 30
    assert settings.json()["proof_retention_days"] == 3650

    purged_data, held_data, young_data = pdf("purged"), pdf("held"), pdf("young")
    purged = await letter(client, auth, purged_data)
    held = await letter(client, auth, held_data)
    young = await letter(client, auth, young_data)
    links = {}
    # The purged letter last: the client's portal session is then its recipient's.
    for sent in (held, young, purged):
        links[sent["id"]] = await accept(client, runtime, sent["deliveries"][0]["id"])
    hold = await client.post(
        f"/v1/messages/{held['id']}/legal-hold", json={"reason": "Case 2026-17"}, headers=auth
    )
    assert hold.status_code == 200, hold.text
    assert hold.json()["legal_hold"] is True
    again = await client.post(f"/v1/messages/{held['id']}/legal-hold", headers=auth)
    assert again.status_code == 200 and again.json()["legal_hold"] is True

    before = (await client.get(f"/v1/messages/{purged['id']}", headers=auth)).json()
    attachment = before["attachments"][0]
    key = await _blob_key(runtime, attachment["id"])
    await seal_pending(runtime)
    proofs = {
        e.id: (await client.get(f"/v1/evidence/{e.id}", headers=auth)).content
        for e in await _evidence(runtime, purged["id"])
    }
    assert len(proofs) >= 3  # SENT, NOTIFIED, ACCEPTED at least

    await age(runtime, purged["id"], 31)
    await age(runtime, held["id"], 31)
    await age(runtime, young["id"], 29)
    await run_retention_timer(runtime)

    after = (await client.get(f"/v1/messages/{purged['id']}", headers=auth)).json()
    assert after["content_purged_at"] is not None
    assert after["body_html"] == "" and after["body_text"] == ""
    assert after["subject"] == "Retention subject"
    assert after["attachments"][0]["purged_at"] is not None
    assert after["attachments"][0]["sha256"] == hashlib.sha256(purged_data).hexdigest()
    assert not await runtime.storage.exists(key)
    # The held letter and the one still within its period keep everything.
    for kept, data in ((held, held_data), (young, young_data)):
        message = (await client.get(f"/v1/messages/{kept['id']}", headers=auth)).json()
        assert message["content_purged_at"] is None
        assert message["body_html"] == "<p>Secret body</p>"
        kept_key = await _blob_key(runtime, message["attachments"][0]["id"])
        stored = b"".join([c async for c in runtime.storage.open(kept_key)])
        assert stored == data

    # One CONTENT_PURGED proof naming the file by its SHA-256, and the hold's proof.
    await seal_pending(runtime)
    [purge] = [e for e in await _evidence(runtime, purged["id"]) if e.type == "CONTENT_PURGED"]
    assert purge.event == "urn:tabellion:evidence:event:content-purged"
    [file] = purge.details["files"]
    assert file["id"] == attachment["id"]
    assert file["sha256"] == attachment["sha256"] and file["blob"] == key
    assert purge.details["reason"] == "retention" and purge.details["retention_days"] == 30
    held_types = [e.type for e in await _evidence(runtime, held["id"])]
    assert "LEGAL_HOLD_PLACED" in held_types and "CONTENT_PURGED" not in held_types
    assert held_types.count("LEGAL_HOLD_PLACED") == 1  # placing it again recorded nothing

    # Every proof still verifies: those from before, and the purge's own.
    purge_proof = await client.get(f"/v1/evidence/{purge.id}", headers=auth)
    assert purge_proof.status_code == 200
    payload = json.loads(purge_proof.content)["payload"]
    assert payload
    for proof in [*proofs.values(), purge_proof.content]:
        verdict = (await client.post("/v1/verify", files={"file": ("p.json", proof)})).json()
        assert verdict["result"] == "authentic", verdict
    document = (await client.post("/v1/verify", files={"file": ("c.pdf", purged_data)})).json()
    assert document["result"] == "delivered-document"
    assert (await check_chains(runtime)).ok

    # The recipient's download: a clear 410; the bundle says the content went.
    link = links[purged["id"]]
    gone = await client.get(f"{link}/files/{attachment['id']}")
    assert gone.status_code == 410
    assert "deleted at the end of its retention period" in gone.text
    delivery_id = purged["deliveries"][0]["id"]
    bundle = await client.get(f"/v1/deliveries/{delivery_id}/evidence.zip", headers=auth)
    assert bundle.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(bundle.content)).namelist()
    assert "content/PURGED.txt" in names
    assert not any(n.startswith("documents/") for n in names)
    assert all(f"evidence/{i}.json" in names for i in proofs)

    # Released, the held letter goes at the next run.
    released = await client.delete(f"/v1/messages/{held['id']}/legal-hold", headers=auth)
    assert released.status_code == 200 and released.json()["legal_hold"] is False
    await run_retention_timer(runtime)
    message = (await client.get(f"/v1/messages/{held['id']}", headers=auth)).json()
    assert message["content_purged_at"] is not None
    types = [e.type for e in await _evidence(runtime, held["id"])]
    assert types.count("LEGAL_HOLD_RELEASED") == 1 and types.count("CONTENT_PURGED") == 1
    async with runtime.sessions() as session:
        assert (await session.get(Message, young["id"])).content_purged_at is None  # type: ignore[union-attr]


async def test_without_a_retention_period_nothing_is_purged(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    sent = await letter(client, auth, pdf("kept"))
    await accept(client, runtime, sent["deliveries"][0]["id"])
    await age(runtime, sent["id"], 5000)
    await run_retention_timer(runtime)
    message = (await client.get(f"/v1/messages/{sent['id']}", headers=auth)).json()
    assert message["content_purged_at"] is None and message["legal_hold"] is False


async def test_letters_under_way_are_not_purged(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    await client.patch("/v1/organization", json={"content_retention_days": 1}, headers=auth)
    sent = await letter(client, auth, pdf("pending"))
    await age(runtime, sent["id"], 10)  # notified long ago, never answered nor expired
    await run_retention_timer(runtime)
    message = (await client.get(f"/v1/messages/{sent['id']}", headers=auth)).json()
    assert message["content_purged_at"] is None


async def test_purged_reply_file_answers_410(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    from tests.portal.helpers import dispatch, reply_in_portal

    await client.patch("/v1/organization", json={"content_retention_days": 7}, headers=auth)
    delivery = await dispatch(client, auth, mode="secure")
    link = await reply_in_portal(
        client, runtime, delivery["id"], "Here", files={"files": ("r.txt", b"reply", "text/plain")}
    )
    [reply] = (await client.get(f"/v1/deliveries/{delivery['id']}/replies", headers=auth)).json()[
        "data"
    ]
    file_id = reply["attachments"][0]["id"]
    url = f"/v1/deliveries/{delivery['id']}/replies/{reply['id']}/files/{file_id}"
    assert (await client.get(url, headers=auth)).content == b"reply"
    assert (await client.get(f"{link}/files/{file_id}")).content == b"reply"  # the recipient's
    await age(runtime, delivery["message_id"], 8)
    await run_retention_timer(runtime)
    assert_problem(await client.get(url, headers=auth), 410, "content-purged")
    # On the portal too: the letter's page, saying the file went and its proof stays.
    gone = await client.get(f"{link}/files/{file_id}")
    assert gone.status_code == 410 and gone.headers["content-type"].startswith("text/html")
    assert "deleted at the end of its retention period" in gone.text
    async with runtime.sessions() as session:
        row = await session.get(Reply, reply["id"])
    assert row is not None and row.body_text == "" and row.attachments[0]["purged"] is True


async def test_storage_check_and_encrypt_skip_purged_files(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
    settings: Settings,
    tmp_path: Path,
) -> None:
    """A purged file is gone on purpose: neither `tabellion storage check` nor `storage
    encrypt` reports it; the files still held are checked and encrypted."""
    await client.patch("/v1/organization", json={"content_retention_days": 2}, headers=auth)
    gone = await letter(client, auth, pdf("gone"))
    await accept(client, runtime, gone["deliveries"][0]["id"])
    kept = await letter(client, auth, pdf("kept"))
    await age(runtime, gone["id"], 3)
    await run_retention_timer(runtime)
    report = await check_storage(runtime)
    assert report.ok and report.checked >= 1, report.problems

    key_file = tmp_path / "master.key"
    generate_key_file(key_file)
    encrypting = Runtime.build(settings.model_copy(update={"master_key_file": key_file}))
    try:
        migrated = await encrypt_storage(encrypting)
        assert migrated.problems == [] and migrated.encrypted >= 1
        message = (await client.get(f"/v1/messages/{kept['id']}", headers=auth)).json()
        held = await _blob_key(encrypting, message["attachments"][0]["id"])
        assert b"".join([c async for c in encrypting.storage.open(held)]) == pdf("kept")
    finally:
        await encrypting.close()


async def test_the_portal_says_a_file_went_in_the_letters_language(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    """A browser that asks for no language reads the 410 in its letter's language."""
    from tests.portal.helpers import dispatch, reply_in_portal

    await client.patch("/v1/organization", json={"content_retention_days": 7}, headers=auth)
    delivery = await dispatch(client, auth, mode="secure", language="fr")
    link = await reply_in_portal(
        client, runtime, delivery["id"], "Voici", files={"files": ("r.txt", b"reply", "text/plain")}
    )
    [reply] = (await client.get(f"/v1/deliveries/{delivery['id']}/replies", headers=auth)).json()[
        "data"
    ]
    file_id = reply["attachments"][0]["id"]
    await age(runtime, delivery["message_id"], 8)
    await run_retention_timer(runtime)
    gone = await client.get(f"{link}/files/{file_id}")
    assert gone.status_code == 410 and '<html lang="fr">' in gone.text
    assert "Ce fichier a été supprimé à la fin de sa durée de conservation" in gone.text
    assert f'action="{link}/reply"' in gone.text  # the letter's own page, its links whole
