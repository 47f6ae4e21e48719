"""Tamper evidence: the per-organisation chain and the transparency log."""

from __future__ import annotations

import base64

import httpx
from sqlalchemy import delete, select, update

from tabellion.db import transaction
from tabellion.evidence.transparency import merkle
from tabellion.evidence.transparency.log import PUBLISH_TASK, publish_tree_head
from tabellion.evidence.verification.check import check_chains
from tabellion.jobs.maintenance import ensure_periodic
from tabellion.kit.time import utcnow
from tabellion.models.evidence import Evidence, TransparencyNode, TreeHead
from tabellion.models.job import Job
from tabellion.runtime import Runtime
from tests.evidence.helpers import received_delivery, run_jobs


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
