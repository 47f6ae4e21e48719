"""The end of proofs: past the organisation's proof retention period, the timer (run by the
real worker) deletes a letter's proofs' content, its remaining content and its recipients'
personal data, keeps each proof's hash in the chain and the log so that the chain check
passes and a copy of a proof still verifies, and spares a held letter (docs/data.md)."""

from __future__ import annotations

import json

import httpx
from sqlalchemy import select, update

from tabellion.db import transaction
from tabellion.evidence.sealing.seal import seal_pending
from tabellion.evidence.verification.check import check_chains
from tabellion.models.evidence import Evidence
from tabellion.runtime import Runtime
from tests.dashboard.helpers import signed_in_user
from tests.message.test_endpoints import assert_problem
from tests.retention.helpers import accept, age, letter, pdf, run_retention_timer
from tests.retention.test_envelope_retention import age_envelope, completed


async def proofs_of(runtime: Runtime, message_id: str, delivery_id: str) -> list[Evidence]:
    async with runtime.sessions() as session:
        return list(
            await session.scalars(
                select(Evidence)
                .where((Evidence.delivery_id == delivery_id) | (Evidence.message_id == message_id))
                .order_by(Evidence.seq)
            )
        )


async def test_expired_proofs_keep_the_chain_and_copies_verifiable(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    answer = await client.patch(
        "/v1/organization",
        json={"content_retention_days": 30, "proof_retention_days": 60},
        headers=auth,
    )
    assert answer.status_code == 200, answer.text
    old = await letter(client, auth, pdf("old"))
    held = await letter(client, auth, pdf("held"), first=1)
    young = await letter(client, auth, pdf("young"), first=2)
    for sent in (held, young, old):
        await accept(client, runtime, sent["deliveries"][0]["id"])
    delivery_id = old["deliveries"][0]["id"]
    await seal_pending(runtime)
    before = await proofs_of(runtime, old["id"], delivery_id)
    copies = {
        e.id: (await client.get(f"/v1/evidence/{e.id}", headers=auth)).content for e in before
    }
    accepted = next(e for e in before if e.type == "ACCEPTED")
    pdf_proof = await client.get(f"/v1/evidence/{accepted.id}/pdf", headers=auth)
    assert pdf_proof.status_code == 200
    async with runtime.sessions() as session:
        pdf_key = (await session.get(Evidence, accepted.id)).pdf_key  # type: ignore[union-attr]
    assert pdf_key and await runtime.storage.exists(pdf_key)
    assert (
        await client.post(f"/v1/messages/{held['id']}/legal-hold", headers=auth)
    ).status_code == 200

    await age(runtime, old["id"], 61)
    await age(runtime, held["id"], 61)
    await age(runtime, young["id"], 59)
    await run_retention_timer(runtime)

    message = (await client.get(f"/v1/messages/{old['id']}", headers=auth)).json()
    assert message["proofs_expired_at"] is not None
    assert message["content_purged_at"] is not None  # its own, shorter period

    after = {e.id: e for e in await proofs_of(runtime, old["id"], delivery_id)}
    for proof in before:
        expired = after[proof.id]
        assert expired.expired_at is not None and expired.jws is None and expired.details == {}
        # What the chain and the log are checked by stays.
        assert (expired.seq, expired.prev_hash, expired.hash, expired.leaf_index) == (
            proof.seq,
            proof.prev_hash,
            proof.hash,
            proof.leaf_index,
        )
        assert_problem(
            await client.get(f"/v1/evidence/{proof.id}", headers=auth), 410, "proof-expired"
        )
    assert_problem(
        await client.get(f"/v1/evidence/{accepted.id}/pdf", headers=auth), 410, "proof-expired"
    )
    assert not await runtime.storage.exists(pdf_key)
    assert_problem(
        await client.get(f"/v1/deliveries/{delivery_id}/evidence.zip", headers=auth),
        410,
        "proof-expired",
    )
    await signed_in_user(client, auth, runtime, "viewer")
    letter_page = await client.get(f"/app/letters/{old['id']}")
    assert letter_page.status_code == 200
    assert "proof deleted at the end of its retention period" in letter_page.text
    assert f"/app/proofs/{accepted.id}.json" not in letter_page.text
    assert "evidence.zip" not in letter_page.text
    page = await client.get("/verify", params={"evidence": accepted.id})
    assert page.status_code == 404  # no verdict on a proof it no longer holds
    assert "deleted at the end of its retention period" in page.text

    # A copy kept by anyone still verifies against the chain and the log, and the chain
    # check walks past the expired proofs.
    for copy in copies.values():
        verdict = (await client.post("/v1/verify", files={"file": ("p.json", copy)})).json()
        assert verdict["result"] == "authentic", verdict
    await seal_pending(runtime)
    assert (await check_chains(runtime)).ok

    # The expiry is itself a proof naming each proof by id, position and hash.
    # (The content purge of the same run, a proof of this letter too, expired with them.)
    [expiry] = [e for e in after.values() if e.type == "PROOFS_EXPIRED"]
    named = {p["id"]: (p["seq"], p["hash"]) for p in expiry.details["proofs"]}
    expired = {e.id: (e.seq, e.hash) for e in after.values() if e.expired_at is not None}
    assert named == expired and set(named) >= {p.id for p in before}
    assert {after[i].type for i in set(named) - {p.id for p in before}} == {"CONTENT_PURGED"}
    expiry_proof = await client.get(f"/v1/evidence/{expiry.id}", headers=auth)
    assert expiry_proof.status_code == 200
    payload = json.loads(expiry_proof.content)
    verdict = (
        await client.post("/v1/verify", files={"file": ("e.json", json.dumps(payload))})
    ).json()
    assert verdict["result"] == "authentic"

    # The held letter and the young one keep their proofs.
    for kept in (held, young):
        answer = (await client.get(f"/v1/messages/{kept['id']}", headers=auth)).json()
        assert answer["proofs_expired_at"] is None
        [proof, *_] = await proofs_of(runtime, kept["id"], kept["deliveries"][0]["id"])
        assert (await client.get(f"/v1/evidence/{proof.id}", headers=auth)).status_code == 200


async def test_an_expired_proofs_hash_is_still_pinned_by_the_chain(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    """Its content gone, an expired proof's hash cannot be rewritten unseen: the next proof
    signed it as its ``previous`` and the log holds it as a leaf."""
    await client.patch("/v1/organization", json={"proof_retention_days": 1}, headers=auth)
    sent = await letter(client, auth, pdf("pinned"))
    await accept(client, runtime, sent["deliveries"][0]["id"])
    await letter(client, auth, pdf("later"), first=1)  # proofs after the expired ones
    await age(runtime, sent["id"], 2)
    await run_retention_timer(runtime)
    await seal_pending(runtime)
    rows = await proofs_of(runtime, sent["id"], sent["deliveries"][0]["id"])
    victim = next(r for r in rows if r.expired_at is not None)
    assert (await check_chains(runtime)).ok

    for column, value in (("hash", "0" * 64), ("prev_hash", "f" * 64)):
        original = getattr(victim, column)
        async with transaction(runtime.sessions) as session:
            await session.execute(
                update(Evidence).where(Evidence.id == victim.id).values({column: value})
            )
        result = await check_chains(runtime)
        assert not result.ok, column
        assert result.breaks or result.log_problem
        async with transaction(runtime.sessions) as session:
            await session.execute(
                update(Evidence).where(Evidence.id == victim.id).values({column: original})
            )
    assert (await check_chains(runtime)).ok


async def test_an_envelopes_proofs_expire_and_copies_still_verify(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    await client.patch("/v1/organization", json={"proof_retention_days": 10}, headers=auth)
    envelope, document_id, _ = await completed(client, runtime, auth)
    signed = (
        await client.get(
            f"/v1/envelopes/{envelope['id']}/documents/{document_id}/signed", headers=auth
        )
    ).content
    await seal_pending(runtime)
    async with runtime.sessions() as session:
        ids = list(
            await session.scalars(select(Evidence.id).where(Evidence.envelope_id == envelope["id"]))
        )
    copies = [(await client.get(f"/v1/evidence/{i}", headers=auth)).content for i in ids]
    await age_envelope(runtime, envelope["id"], 11)
    await run_retention_timer(runtime)

    answer = (await client.get(f"/v1/envelopes/{envelope['id']}", headers=auth)).json()
    assert answer["proofs_expired_at"] is not None
    # Without a content period its documents are kept (the organisation's choice).
    assert answer["content_purged_at"] is None
    for evidence_id in ids:
        assert_problem(
            await client.get(f"/v1/evidence/{evidence_id}", headers=auth), 410, "proof-expired"
        )
    for copy in copies:
        verdict = (await client.post("/v1/verify", files={"file": ("p.json", copy)})).json()
        assert verdict["result"] == "authentic", verdict
    # The signed PDF itself carries its own seal: a copy is still recognised.
    copy = (await client.post("/v1/verify", files={"file": ("s.pdf", signed)})).json()
    assert copy["result"] == "signed-document"
    await seal_pending(runtime)
    assert (await check_chains(runtime)).ok
