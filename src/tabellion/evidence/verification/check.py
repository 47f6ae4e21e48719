"""``tabellion evidence check``: walk every organisation's chain and the transparency log.

For each organisation, sealed evidence must run 1, 2, 3... with each proof naming the hash of
the one before; each row's hash must be the hash of its signed content, its signature must
hold, and its columns must say what the content says. A proof past its retention period
(``expired_at``) keeps only its hash, which the next proof's signature and its log leaf pin.
The first broken link is named.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from tabellion.evidence.sealing.jws import JwsInvalid, b64url_decode, verify_parts
from tabellion.evidence.transparency import merkle
from tabellion.evidence.transparency.log import NodeMissing, fetch_nodes, root_hash
from tabellion.models.evidence import Evidence, EvidenceChain, TransparencyLog, TreeHead

if TYPE_CHECKING:
    from tabellion.runtime import Runtime


@dataclass(frozen=True)
class Break:
    organization_id: str
    evidence_id: str | None
    sequence: int
    problem: str

    def __str__(self) -> str:
        where = self.evidence_id or "(missing row)"
        return f"{self.organization_id} #{self.sequence} {where}: {self.problem}"


@dataclass(frozen=True)
class CheckResult:
    organizations: int
    proofs: int
    breaks: list[Break]
    log_problem: str | None

    @property
    def ok(self) -> bool:
        return not self.breaks and self.log_problem is None


def _check_row(row: Evidence, expected_seq: int, previous: str | None) -> str | None:
    if row.seq != expected_seq:
        return f"sequence {row.seq} found where {expected_seq} was expected (a proof is missing)"
    if row.expired_at is not None:
        # Past its retention period its content is gone: its hash is pinned by the next
        # proof's signed ``previous`` and by its log leaf, both checked.
        if not row.hash:
            return "expired without its hash"
        if row.prev_hash != previous:
            return "does not follow the previous proof (the previous one was removed or altered)"
        return None
    if not row.jws or not row.hash:
        return "sealed without a signature or hash"
    try:
        document = json.loads(row.jws)
        _, payload = verify_parts(document["protected"], document["payload"], document["signature"])
    except (JwsInvalid, ValueError, KeyError, TypeError) as exc:
        return f"the seal does not verify ({exc})"
    if hashlib.sha256(payload).hexdigest() != row.hash:
        return "the stored hash is not the hash of the signed content"
    content = json.loads(payload)
    chain = content.get("chain", {})
    if chain.get("sequence") != row.seq:
        return "the signed sequence differs from the row's"
    if chain.get("previous") != previous or row.prev_hash != previous:
        return "does not follow the previous proof (the previous one was removed or altered)"
    if (
        content.get("id") != row.id
        or content.get("type") != row.type
        or content.get("delivery_id") != row.delivery_id
        or content.get("envelope_id") != row.envelope_id
        or content.get("recipient_id") != row.recipient_id
    ):
        return "the row's columns differ from its signed content"
    return None


async def check_chains(runtime: Runtime) -> CheckResult:
    breaks: list[Break] = []
    proofs = 0
    async with runtime.sessions() as session:
        heads = {c.organization_id: c for c in await session.scalars(select(EvidenceChain))}
        org_ids = sorted(
            set(heads)
            | set(
                await session.scalars(
                    select(Evidence.organization_id).where(Evidence.seq.is_not(None)).distinct()
                )
            )
        )
        for org_id in org_ids:
            expected, previous = 1, None
            rows = await session.stream_scalars(
                select(Evidence)
                .where(Evidence.organization_id == org_id, Evidence.seq.is_not(None))
                .order_by(Evidence.seq)
                .execution_options(yield_per=1000)
            )
            async for row in rows:
                proofs += 1
                problem = _check_row(row, expected, previous)
                if problem:
                    breaks.append(Break(org_id, row.id, expected, problem))
                    break
                expected, previous = expected + 1, row.hash
            else:
                head = heads.get(org_id)
                if head is None or head.seq != expected - 1 or head.head_hash != previous:
                    breaks.append(
                        Break(org_id, None, expected, "the chain ends before its recorded head")
                    )
        log_problem = await _check_log(session)
    return CheckResult(len(org_ids), proofs, breaks, log_problem)


async def _check_log(session: object) -> str | None:
    from sqlalchemy.ext.asyncio import AsyncSession

    assert isinstance(session, AsyncSession)
    log = await session.get(TransparencyLog, 1)
    if log is None:
        return None
    leaves = await session.execute(
        select(Evidence.leaf_index, Evidence.hash).where(Evidence.leaf_index.is_not(None))
    )
    stored = {}
    for start in range(0, log.size, 5000):
        stored.update(
            await fetch_nodes(session, {(0, i) for i in range(start, min(log.size, start + 5000))})
        )
    for index, digest in leaves:
        if index is None or digest is None:
            continue
        if stored.get((0, index)) != merkle.leaf_hash(bytes.fromhex(digest)):
            return f"log leaf {index} does not match its evidence"
    try:
        for head in await session.scalars(select(TreeHead).order_by(TreeHead.tree_size)):
            if (await root_hash(session, head.tree_size)).hex() != head.root_hash:
                return f"the log no longer matches its published tree head of size {head.tree_size}"
    except NodeMissing as exc:
        return str(exc)
    return None


def payload_of(jws: str) -> bytes:
    return b64url_decode(json.loads(jws)["payload"])
