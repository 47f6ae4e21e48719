"""Tamper evidence: the per-organisation chain and the transparency log."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import delete, select, update

from tabellion.db import transaction
from tabellion.evidence.sealing.jws import (
    flattened_json,
    protected_header,
    sign_flattened,
    verify_compact,
)
from tabellion.evidence.sealing.keys import load_seal
from tabellion.evidence.sealing.seal import PROOF_TYPE
from tabellion.evidence.transparency import merkle
from tabellion.evidence.transparency.log import (
    PUBLISH_TASK,
    append_leaves,
    consistency_proof,
    fetch_nodes,
    inclusion_proof,
    latest_tree_head,
    lock_log,
    publish_tree_head,
    root_hash,
    tree_head_out,
)
from tabellion.evidence.verification.check import Break, check_chains, payload_of
from tabellion.jobs.maintenance import ensure_periodic
from tabellion.kit.jcs import canonicalize
from tabellion.kit.time import utcnow
from tabellion.models.evidence import (
    Evidence,
    EvidenceChain,
    TransparencyLog,
    TransparencyNode,
    TreeHead,
)
from tabellion.models.job import Job
from tabellion.runtime import Runtime
from tests.envelope.helpers import ready_draft
from tests.evidence.helpers import received_delivery, run_jobs
from tests.fixtures.factories import create_org_with_key
from tests.fixtures.query_plans import statements_run, tables_scanned
from tests.portal.helpers import dispatch


async def _sealed_history(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> list[Evidence]:
    for _ in range(3):
        await received_delivery(client, auth, runtime)
    await run_jobs(runtime)
    async with runtime.sessions() as session:
        return list(await session.scalars(select(Evidence).order_by(Evidence.seq)))


async def test_check_passes_on_an_intact_history(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    rows = await _sealed_history(client, auth, runtime)
    assert [r.seq for r in rows] == list(range(1, 10))
    result = await check_chains(runtime)
    assert result.ok, (result.breaks, result.log_problem)
    assert result.proofs == 9


async def test_a_deleted_row_breaks_the_chain_and_is_named(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    rows = await _sealed_history(client, auth, runtime)
    async with transaction(runtime.sessions) as session:
        await session.execute(delete(Evidence).where(Evidence.id == rows[4].id))
    result = await check_chains(runtime)
    assert not result.ok
    assert result.breaks[0].sequence == 5
    assert "missing" in result.breaks[0].problem


async def test_an_edited_row_breaks_the_chain_and_is_named(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    rows = await _sealed_history(client, auth, runtime)
    async with transaction(runtime.sessions) as session:
        await session.execute(
            update(Evidence).where(Evidence.id == rows[2].id).values(type="ACCEPTED")
        )
    result = await check_chains(runtime)
    assert not result.ok
    assert result.breaks[0].evidence_id == rows[2].id


async def test_consistency_proofs_and_a_rewritten_history(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    await _sealed_history(client, auth, runtime)
    old = (await client.get("/v1/transparency/tree-head")).json()
    assert old["tree_size"] == 9
    await received_delivery(client, auth, runtime)
    await run_jobs(runtime)
    new = (await client.get("/v1/transparency/tree-head")).json()
    assert new["tree_size"] == 12
    proof = (
        await client.get(
            "/v1/transparency/consistency",
            params={"from": old["tree_size"], "to": new["tree_size"]},
        )
    ).json()["proof"]
    hashes = [base64.urlsafe_b64decode(h + "==") for h in proof]
    assert merkle.verify_consistency(
        9, 12, bytes.fromhex(old["root_hash"]), bytes.fromhex(new["root_hash"]), hashes
    )
    # Someone rewrites a past leaf and republishes: the old head no longer fits.
    async with transaction(runtime.sessions) as session:
        await session.execute(
            update(TransparencyNode)
            .where(TransparencyNode.level == 0, TransparencyNode.idx == 3)
            .values(hash=b"\x00" * 32)
        )
        for level in range(1, 4):
            await session.execute(
                update(TransparencyNode)
                .where(TransparencyNode.level == level, TransparencyNode.idx == 3 >> level)
                .values(hash=b"\x01" * 32)
            )
        await session.execute(delete(TransparencyNode).where(TransparencyNode.level == 99))
    await received_delivery(client, auth, runtime)
    await run_jobs(runtime)
    rewritten = (await client.get("/v1/transparency/tree-head")).json()
    proof = (
        await client.get(
            "/v1/transparency/consistency", params={"from": 9, "to": rewritten["tree_size"]}
        )
    ).json()["proof"]
    assert not merkle.verify_consistency(
        9,
        rewritten["tree_size"],
        bytes.fromhex(old["root_hash"]),
        bytes.fromhex(rewritten["root_hash"]),
        [base64.urlsafe_b64decode(h + "==") for h in proof],
    )
    result = await check_chains(runtime)
    assert result.log_problem is not None


async def test_tree_head_and_bad_requests(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    missing = await client.get("/v1/transparency/tree-head")
    assert missing.status_code == 404 and missing.json()["code"] == "tree-head-not-found"
    await _sealed_history(client, auth, runtime)
    async with transaction(runtime.sessions) as session:
        assert await publish_tree_head(session, runtime.settings) is None  # already published
    bad = await client.get("/v1/transparency/consistency", params={"from": 5, "to": 2})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "from"
    beyond = await client.get("/v1/transparency/consistency", params={"from": 1, "to": 500})
    assert beyond.status_code == 404


async def test_the_periodic_publish_job_signs_a_head_for_a_log_that_grew(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    """The worker runs ``transparency.publish``: a log without a head for its size gets one,
    signed, and the job schedules its next run."""
    await _sealed_history(client, auth, runtime)
    published = (await client.get("/v1/transparency/tree-head")).json()
    async with transaction(runtime.sessions) as session:
        await session.execute(delete(TreeHead))  # as if sealing had not published yet
    assert (await client.get("/v1/transparency/tree-head")).status_code == 404
    await ensure_periodic(runtime)
    async with transaction(runtime.sessions) as session:
        job = (await session.scalars(select(Job).where(Job.kind == PUBLISH_TASK))).one()
        job.run_at = utcnow()  # the minute is over
    await run_jobs(runtime)
    head = (await client.get("/v1/transparency/tree-head")).json()
    assert (head["tree_size"], head["root_hash"]) == (
        published["tree_size"],
        published["root_hash"],
    )
    async with runtime.sessions() as session:
        jobs = list(await session.scalars(select(Job).where(Job.kind == PUBLISH_TASK)))
    assert sorted(j.status for j in jobs) == ["done", "queued"]
    result = await check_chains(runtime)
    assert result.ok, (result.breaks, result.log_problem)


def _resealed(runtime: Runtime, row: Evidence, **changes: object) -> dict[str, object]:
    """The columns of ``row`` re-signed with the seal's own key over content that says
    otherwise: a forger who holds the key still cannot make the chain agree with itself."""
    content = json.loads(payload_of(row.jws or ""))
    chain = dict(content["chain"])
    for name, value in changes.items():
        if name in ("sequence", "previous"):
            chain[name] = value
        elif name != "chain":
            content[name] = value
    content["chain"] = chain
    if changes.get("chain", chain) is None:
        del content["chain"]
    seal = load_seal(runtime.settings)
    payload = canonicalize(content)
    jws = sign_flattened(seal, payload, protected_header(seal, PROOF_TYPE))
    return {"jws": flattened_json(jws), "hash": hashlib.sha256(payload).hexdigest()}


def _garbled_signature(row: Evidence) -> dict[str, object]:
    document = json.loads(row.jws or "")
    signature = document["signature"]
    document["signature"] = ("A" if signature[0] != "A" else "B") + signature[1:]
    return {"jws": json.dumps(document)}


MISSING_SEAL = "sealed without a signature or hash"
NOT_VERIFIED = "the seal does not verify"
OFF_CHAIN = "does not follow the previous proof (the previous one was removed or altered)"
COLUMNS = "the row's columns differ from its signed content"

# What is done to the fourth proof of nine, and the problem the check names.
TAMPERING: dict[str, tuple[Callable[[Runtime, Evidence, Evidence], dict[str, object]], str]] = {
    "no-signature": (lambda rt, row, other: {"jws": None}, MISSING_SEAL),
    "no-hash": (lambda rt, row, other: {"hash": None}, MISSING_SEAL),
    "not-json": (lambda rt, row, other: {"jws": "not json"}, NOT_VERIFIED),
    "no-signature-member": (lambda rt, row, other: {"jws": '{"protected": "x"}'}, NOT_VERIFIED),
    "a-list": (lambda rt, row, other: {"jws": "[1, 2, 3]"}, NOT_VERIFIED),
    "bad-signature": (lambda rt, row, other: _garbled_signature(row), NOT_VERIFIED),
    "another-proofs-seal": (lambda rt, row, other: {"jws": other.jws}, "the stored hash is not"),
    "hash-edited": (
        lambda rt, row, other: {"hash": other.hash},
        "the stored hash is not the hash of the signed content",
    ),
    "signed-sequence": (
        lambda rt, row, other: _resealed(rt, row, sequence=(row.seq or 0) + 1),
        "the signed sequence differs from the row's",
    ),
    "signed-without-chain": (
        lambda rt, row, other: _resealed(rt, row, chain=None),
        "the signed sequence differs from the row's",
    ),
    "signed-previous": (lambda rt, row, other: _resealed(rt, row, previous=other.hash), OFF_CHAIN),
    "previous-column": (lambda rt, row, other: {"prev_hash": other.hash}, OFF_CHAIN),
    "type-column": (lambda rt, row, other: {"type": "ACCEPTED"}, COLUMNS),
    "delivery-column": (lambda rt, row, other: {"delivery_id": other.delivery_id}, COLUMNS),
    "recipient-column": (lambda rt, row, other: {"recipient_id": "rcp_forged"}, COLUMNS),
    "signed-id": (lambda rt, row, other: _resealed(rt, row, id=other.id), COLUMNS),
    "signed-envelope": (lambda rt, row, other: _resealed(rt, row, envelope_id="env_x"), COLUMNS),
}


@pytest.mark.parametrize("tampering", TAMPERING)
async def test_each_kind_of_tampering_is_named(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, tampering: str
) -> None:
    rows = await _sealed_history(client, auth, runtime)
    change, problem = TAMPERING[tampering]
    # The fourth proof (of the second delivery) against the eighth (of the third).
    values = change(runtime, rows[3], rows[7])
    async with transaction(runtime.sessions) as session:
        await session.execute(update(Evidence).where(Evidence.id == rows[3].id).values(**values))
    result = await check_chains(runtime)
    # A hash changed (not removed) is also a log leaf that no longer matches its evidence.
    changed = values.get("hash", rows[3].hash) not in (None, rows[3].hash)
    leaf_problem = f"log leaf {rows[3].leaf_index} does not match its evidence"
    assert result.log_problem == (leaf_problem if changed else None)
    # The walk stops at the first break: one per organisation, the proofs up to it counted.
    [broken] = result.breaks
    assert (broken.evidence_id, broken.sequence) == (rows[3].id, 4)
    assert broken.problem.startswith(problem), broken.problem
    assert (result.organizations, result.proofs) == (1, 4)


async def test_a_missing_row_is_named_by_the_sequence_expected(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    rows = await _sealed_history(client, auth, runtime)
    async with transaction(runtime.sessions) as session:
        await session.execute(delete(Evidence).where(Evidence.id == rows[4].id))
    [broken] = (await check_chains(runtime)).breaks
    assert (broken.evidence_id, broken.sequence) == (rows[5].id, 5)
    assert broken.problem == "sequence 6 found where 5 was expected (a proof is missing)"
    assert str(broken) == f"{rows[0].organization_id} #5 {rows[5].id}: {broken.problem}"


async def test_a_chain_cut_short_or_a_moved_head_is_named(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    rows = await _sealed_history(client, auth, runtime)
    organization_id = rows[0].organization_id

    async def head_break() -> Break:
        result = await check_chains(runtime)
        assert result.proofs == 8 and result.log_problem is None
        [broken] = result.breaks
        return broken

    # The last proof removed: every remaining link holds, but the head says there were nine.
    async with transaction(runtime.sessions) as session:
        await session.execute(delete(Evidence).where(Evidence.id == rows[8].id))
    broken = await head_break()
    assert (broken.evidence_id, broken.sequence) == (None, 9)
    assert broken.problem == "the chain ends before its recorded head"
    assert str(broken) == f"{organization_id} #9 (missing row): {broken.problem}"
    # The head moved back to the new end by its sequence only, then by its hash only.
    async with transaction(runtime.sessions) as session:
        await session.execute(update(EvidenceChain).values(seq=8))
    assert (await head_break()).problem == "the chain ends before its recorded head"
    async with transaction(runtime.sessions) as session:
        await session.execute(update(EvidenceChain).values(seq=9, head_hash=rows[7].hash))
    assert (await head_break()).problem == "the chain ends before its recorded head"
    async with transaction(runtime.sessions) as session:
        await session.execute(update(EvidenceChain).values(seq=8, head_hash=rows[7].hash))
    assert (await check_chains(runtime)).breaks == []
    # Without its head row, a chain of sealed proofs is not whole either.
    async with transaction(runtime.sessions) as session:
        await session.execute(delete(EvidenceChain))
    result = await check_chains(runtime)
    assert [(b.organization_id, b.sequence) for b in result.breaks] == [(organization_id, 9)]


async def test_each_organisation_is_walked_on_its_own(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    _, secret = await create_org_with_key(runtime, "Other")
    other_auth = {"Authorization": f"Bearer {secret}"}
    mine = await _sealed_history(client, auth, runtime)
    await received_delivery(client, other_auth, runtime)
    await run_jobs(runtime)
    async with runtime.sessions() as session:
        theirs = list(
            await session.scalars(
                select(Evidence)
                .where(Evidence.organization_id != mine[0].organization_id)
                .order_by(Evidence.seq)
            )
        )
    assert [r.seq for r in theirs] == [1, 2, 3]  # each organisation's chain starts at 1
    result = await check_chains(runtime)
    assert result.ok and (result.organizations, result.proofs) == (2, 12)
    # A break in one chain does not hide the other's.
    async with transaction(runtime.sessions) as session:
        for row in (mine[1], theirs[1]):
            await session.execute(update(Evidence).where(Evidence.id == row.id).values(type="X"))
    result = await check_chains(runtime)
    assert sorted((b.evidence_id, b.sequence) for b in result.breaks) == sorted(
        [(mine[1].id, 2), (theirs[1].id, 2)]
    )
    assert result.proofs == 4


async def test_a_log_leaf_or_node_that_no_longer_fits_is_named(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    rows = await _sealed_history(client, auth, runtime)
    index = rows[5].leaf_index
    assert index is not None

    async def log_problem() -> str | None:
        result = await check_chains(runtime)
        assert result.breaks == []
        return result.log_problem

    async with transaction(runtime.sessions) as session:
        stored = await session.get(TransparencyNode, (0, index))
        assert stored is not None
        leaf = bytes(stored.hash)
        stored.hash = merkle.leaf_hash(bytes.fromhex(rows[6].hash or ""))
    assert await log_problem() == f"log leaf {index} does not match its evidence"
    # The leaf put back but an inner node rewritten: the published head no longer fits.
    async with transaction(runtime.sessions) as session:
        await session.execute(
            update(TransparencyNode)
            .where(TransparencyNode.level == 0, TransparencyNode.idx == index)
            .values(hash=leaf)
        )
        await session.execute(
            update(TransparencyNode)
            .where(TransparencyNode.level == 3, TransparencyNode.idx == 0)
            .values(hash=b"\x01" * 32)
        )
    assert await log_problem() == "the log no longer matches its published tree head of size 9"
    async with transaction(runtime.sessions) as session:
        await session.execute(
            delete(TransparencyNode).where(TransparencyNode.level == 3, TransparencyNode.idx == 0)
        )
    assert await log_problem() == "subtree (3, 0) is missing from the log"


async def test_evidence_not_sealed_yet_is_not_a_chain(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    result = await check_chains(runtime)
    assert result.ok and (result.organizations, result.proofs) == (0, 0)
    # Evidence waiting for the sealing job has no place in a chain yet, and no log exists.
    await dispatch(client, auth, mode="simple")
    async with runtime.sessions() as session:
        assert await session.scalar(select(Evidence.id)) is not None
    result = await check_chains(runtime)
    assert result.ok and (result.organizations, result.proofs) == (0, 0)
    assert result.log_problem is None
    # Sealed, then followed by evidence not sealed yet: the chain is the sealed part.
    await run_jobs(runtime)
    sealed = (await check_chains(runtime)).proofs
    await dispatch(client, auth, mode="simple")
    result = await check_chains(runtime)
    assert result.ok, (result.breaks, result.log_problem)
    assert result.proofs == sealed > 0


def _reference_root(leaves: list[bytes]) -> bytes:
    """RFC 9162's MTH computed from the leaves themselves, as a reader of the log would."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return merkle.leaf_hash(leaves[0])
    split = 1
    while split * 2 < len(leaves):
        split *= 2
    return merkle.node_hash(_reference_root(leaves[:split]), _reference_root(leaves[split:]))


LEAVES = [hashlib.sha256(bytes([i])).digest() for i in range(21)]


async def _appended(runtime: Runtime, batches: list[int]) -> list[int]:
    """Append the next ``LEAVES`` to the stored log in batches of these sizes; each batch's
    first index."""
    firsts = []
    for count in batches:
        async with transaction(runtime.sessions) as session:
            log = await lock_log(session)
            firsts.append(await append_leaves(session, log, LEAVES[log.size : log.size + count]))
    return firsts


async def test_the_stored_log_is_the_tree_of_its_leaves(runtime: Runtime) -> None:
    """Appended in uneven batches, the stored subtrees give every size's root, and proofs of
    inclusion and consistency that verify against roots computed from the leaves alone."""
    batches = [1, 2, 1, 4, 3, 0, 7, 3]
    assert await _appended(runtime, batches) == [0, 1, 3, 4, 8, 11, 11, 18]
    async with runtime.sessions() as session:
        log = await session.get(TransparencyLog, 1)
        assert log is not None and log.size == len(LEAVES)
        roots = [await root_hash(session, size) for size in range(len(LEAVES) + 1)]
        assert roots == [_reference_root(LEAVES[:size]) for size in range(len(LEAVES) + 1)]
        for size in range(1, len(LEAVES) + 1):
            for index in range(size):
                path = await inclusion_proof(session, index, size)
                leaf = merkle.leaf_hash(LEAVES[index])
                assert merkle.verify_inclusion(index, size, leaf, path, roots[size]), (index, size)
            for old in range(1, size):
                proof = await consistency_proof(session, old, size)
                assert merkle.verify_consistency(old, size, roots[old], roots[size], proof)


async def test_every_wanted_node_is_read_however_many_are_wanted(runtime: Runtime) -> None:
    """The nodes are read in chunks (a query takes a bounded number of parameters): more
    wanted nodes than two chunks hold come back whole, and a node not stored is left out."""
    leaves = [hashlib.sha256(i.to_bytes(2, "big")).digest() for i in range(700)]
    async with transaction(runtime.sessions) as session:
        await append_leaves(session, await lock_log(session), leaves)
    # (9, 0): the perfect subtree of the first 512 leaves; (9, 1) would need 1,024.
    wanted = {(0, i) for i in range(701)} | {(9, 0), (9, 1)}
    async with runtime.sessions() as session:
        found = await fetch_nodes(session, wanted)
    expected = {(0, i): merkle.leaf_hash(leaf) for i, leaf in enumerate(leaves)}
    assert found == expected | {(9, 0): _reference_root(leaves[:512])}


async def test_nodes_are_found_through_the_primary_key(runtime: Runtime) -> None:
    """Reading a sealing batch's frontier, or a proof's path (nodes of many levels), uses the
    primary key: SQLite reads the whole table for a row value's ``(level, idx) IN (...)``, a
    cost that grows with the log (6.8 ms for 300 nodes of a 40,000-proof log)."""
    if runtime.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's query plans")
    leaves = [hashlib.sha256(i.to_bytes(2, "big")).digest() for i in range(100)]
    async with transaction(runtime.sessions) as session:
        await append_leaves(session, await lock_log(session), leaves)
    wanted = {(0, 3), (0, 70), (1, 9), (4, 2), (6, 0)}
    with statements_run(runtime.engine) as statements:
        async with runtime.sessions() as session:
            found = await fetch_nodes(session, wanted)
            await inclusion_proof(session, 37, 100)
    assert set(found) == wanted
    reads = [(sql, args) for sql, args in statements if "transparency_nodes" in sql]
    assert reads
    url = runtime.settings.resolved_database_url
    for sql, args in reads:
        assert tables_scanned(url, sql, args) == set(), sql


async def test_a_tree_head_is_published_once_per_size_and_signed_over_the_root(
    runtime: Runtime,
) -> None:
    async with transaction(runtime.sessions) as session:
        assert await publish_tree_head(session, runtime.settings) is None  # no log yet
        assert await latest_tree_head(session) is None
        await lock_log(session)
        assert await publish_tree_head(session, runtime.settings) is None  # an empty log
    await _appended(runtime, [5])
    async with transaction(runtime.sessions) as session:
        head = await publish_tree_head(session, runtime.settings)
        assert head is not None
        assert await publish_tree_head(session, runtime.settings) is None  # published already
    out = tree_head_out(head)
    assert out.issued_at.endswith("Z") and "." not in out.issued_at  # whole seconds, UTC
    header, payload = verify_compact(head.signature)
    assert header["typ"] == "tabellion-tree-head+jws"
    assert json.loads(payload) == {
        "log": "http://tabellion.test/v1/transparency",
        "tree_size": 5,
        "root_hash": _reference_root(LEAVES[:5]).hex(),
        "issued_at": out.issued_at,
    }
    assert out.as_dict() == {
        "tree_size": 5,
        "root_hash": head.root_hash,
        "issued_at": out.issued_at,
        "signature": head.signature,
    }
    await _appended(runtime, [3])
    async with transaction(runtime.sessions) as session:
        bigger = await publish_tree_head(session, runtime.settings)
        assert bigger is not None and bigger.tree_size == 8
        latest = await latest_tree_head(session)
        assert latest is not None and latest.tree_size == 8
        assert latest.root_hash == _reference_root(LEAVES[:8]).hex()


async def test_an_envelopes_proofs_are_checked_with_their_recipient(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    envelope, _ = await ready_draft(client, auth)
    sent = await client.post(f"/v1/envelopes/{envelope['id']}/send", headers=auth)
    assert sent.status_code == 202, sent.text
    await run_jobs(runtime)
    async with runtime.sessions() as session:
        invited = await session.scalar(
            select(Evidence).where(Evidence.recipient_id.is_not(None), Evidence.seq.is_not(None))
        )
    assert invited is not None and invited.envelope_id == envelope["id"]
    result = await check_chains(runtime)
    assert result.ok, (result.breaks, result.log_problem)
    async with transaction(runtime.sessions) as session:
        await session.execute(
            update(Evidence).where(Evidence.id == invited.id).values(recipient_id="rcp_forged")
        )
    [broken] = (await check_chains(runtime)).breaks
    assert (broken.evidence_id, broken.problem) == (invited.id, COLUMNS)
