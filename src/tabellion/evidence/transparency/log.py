"""The transparency log: every sealed evidence hash is a leaf of one Merkle tree (RFC 9162).

Appending stores the hashes of the perfect subtrees the new leaves complete, so any inclusion
or consistency proof needs O(log² n) stored hashes and no pass over the leaves. Signed tree
heads are published by a periodic job; a proof carries its inclusion in the latest head.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tabellion.config import Settings
from tabellion.db import bulk_insert
from tabellion.evidence.sealing.jws import b64url, sign_compact
from tabellion.evidence.sealing.keys import load_seal
from tabellion.evidence.transparency import merkle
from tabellion.kit.jcs import canonicalize
from tabellion.kit.time import utcnow
from tabellion.models.base import table_of
from tabellion.models.evidence import TransparencyLog, TransparencyNode, TreeHead

TREE_HEAD_TYPE = "tabellion-tree-head+jws"
PUBLISH_TASK = "transparency.publish"


class NodeMissing(Exception):
    """A stored subtree hash is missing: the log is damaged."""


async def lock_log(session: AsyncSession) -> TransparencyLog:
    """The log row, locked for this transaction (created on first use)."""
    log = await session.scalar(
        select(TransparencyLog).where(TransparencyLog.id == 1).with_for_update()
    )
    if log is None:
        bind = session.get_bind()
        if bind.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            await session.execute(
                pg_insert(TransparencyLog)
                .values(id=1, size=0, updated_at=utcnow())
                .on_conflict_do_nothing()
            )
        else:
            session.add(TransparencyLog(id=1, size=0, updated_at=utcnow()))
            await session.flush()
        log = await session.scalar(
            select(TransparencyLog).where(TransparencyLog.id == 1).with_for_update()
        )
    assert log is not None
    return log


async def fetch_nodes(
    session: AsyncSession, wanted: set[tuple[int, int]]
) -> dict[tuple[int, int], bytes]:
    """The stored subtree hashes among ``wanted`` ((level, index) pairs).

    Asked level by level (``level = ? AND idx IN (...)``, OR-ed), not as a row value's
    ``(level, idx) IN (...)``: SQLite reads the whole table for the latter, 6.8 ms for 300
    nodes of a log of 40,000 proofs and growing with it, against 0.36 ms through the primary
    key (docs/performance.md, "6 December, late night").
    """
    found: dict[tuple[int, int], bytes] = {}
    keys = sorted(wanted)
    for start in range(0, len(keys), 300):
        levels: dict[int, list[int]] = {}
        for level, idx in keys[start : start + 300]:
            levels.setdefault(level, []).append(idx)
        rows = await session.execute(
            select(TransparencyNode.level, TransparencyNode.idx, TransparencyNode.hash).where(
                or_(
                    *(
                        and_(TransparencyNode.level == level, TransparencyNode.idx.in_(indexes))
                        for level, indexes in levels.items()
                    )
                )
            )
        )
        for level, idx, digest in rows:
            found[(level, idx)] = bytes(digest)
    return found


def _lookup(nodes: dict[tuple[int, int], bytes]) -> Any:
    def node(level: int, idx: int) -> bytes:
        try:
            return nodes[(level, idx)]
        except KeyError as exc:
            raise NodeMissing(f"subtree ({level}, {idx}) is missing from the log") from exc

    return node


async def append_leaves(session: AsyncSession, log: TransparencyLog, data: Sequence[bytes]) -> int:
    """Append leaves (evidence hashes) to the locked log; returns the first leaf's index."""
    first = log.size
    # The pending left siblings: for each level whose bit is set in the size.
    frontier_keys = {
        (level, (first >> level) - 1) for level in range(first.bit_length()) if (first >> level) & 1
    }
    known = await fetch_nodes(session, frontier_keys)
    new_nodes: list[dict[str, Any]] = []
    size = first
    for item in data:
        index = size
        digest = merkle.leaf_hash(item)
        level = 0
        known[(0, index)] = digest
        new_nodes.append({"level": 0, "idx": index, "hash": digest})
        while index & 1:
            left = known[(level, index - 1)]
            digest = merkle.node_hash(left, digest)
            level += 1
            index >>= 1
            known[(level, index)] = digest
            new_nodes.append({"level": level, "idx": index, "hash": digest})
        size += 1
    if new_nodes:
        await bulk_insert(session, table_of(TransparencyNode), new_nodes)
    log.size = size
    log.updated_at = utcnow()
    return first


async def root_hash(session: AsyncSession, size: int) -> bytes:
    if size == 0:
        return merkle.EMPTY_ROOT
    nodes = await fetch_nodes(session, set(merkle.perfect_nodes(0, size)))
    return merkle.range_hash(0, size, _lookup(nodes))


async def inclusion_proof(session: AsyncSession, index: int, size: int) -> list[bytes]:
    ranges = merkle.inclusion_ranges(index, size)
    nodes = await fetch_nodes(session, merkle.needed_nodes(ranges))
    lookup = _lookup(nodes)
    return [merkle.range_hash(lo, hi, lookup) for lo, hi in ranges]


async def consistency_proof(session: AsyncSession, old: int, new: int) -> list[bytes]:
    ranges = merkle.consistency_ranges(old, new)
    nodes = await fetch_nodes(session, merkle.needed_nodes(ranges))
    lookup = _lookup(nodes)
    return [merkle.range_hash(lo, hi, lookup) for lo, hi in ranges]


@dataclass(frozen=True)
class SignedTreeHead:
    tree_size: int
    root_hash: str
    issued_at: str
    signature: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "tree_size": self.tree_size,
            "root_hash": self.root_hash,
            "issued_at": self.issued_at,
            "signature": self.signature,
        }


def tree_head_out(row: TreeHead) -> SignedTreeHead:
    return SignedTreeHead(
        tree_size=row.tree_size,
        root_hash=row.root_hash,
        issued_at=row.issued_at.isoformat().replace("+00:00", "Z"),
        signature=row.signature,
    )


async def latest_tree_head(session: AsyncSession) -> TreeHead | None:
    result: TreeHead | None = await session.scalar(
        select(TreeHead).order_by(TreeHead.tree_size.desc()).limit(1)
    )
    return result


async def publish_tree_head(session: AsyncSession, settings: Settings) -> TreeHead | None:
    """Sign and store a head for the log's current size, unless that size is published."""
    log = await session.scalar(select(TransparencyLog).where(TransparencyLog.id == 1))
    if log is None or log.size == 0:
        return None
    if await session.get(TreeHead, log.size) is not None:
        return None
    root = (await root_hash(session, log.size)).hex()
    now = utcnow().replace(microsecond=0)
    body = {
        "log": settings.base_url + "/v1/transparency",
        "tree_size": log.size,
        "root_hash": root,
        "issued_at": now.isoformat().replace("+00:00", "Z"),
    }
    signature = sign_compact(load_seal(settings), canonicalize(body), TREE_HEAD_TYPE)
    head = TreeHead(tree_size=log.size, root_hash=root, issued_at=now, signature=signature)
    try:
        # Two workers may publish the same size at once: the first one wins, the other skips.
        async with session.begin_nested():
            session.add(head)
    except IntegrityError:
        return None
    return head


def proof_hashes(hashes: Sequence[bytes]) -> list[str]:
    return [b64url(h) for h in hashes]


def inclusion_header(leaf_index: int, head: TreeHead, path: Sequence[bytes]) -> dict[str, Any]:
    return {
        "leaf_index": leaf_index,
        "tree_size": head.tree_size,
        "audit_path": proof_hashes(path),
        "tree_head": head.signature,
    }


def dumps(value: Any) -> str:
    return _ENCODER.encode(value)


# ``json.dumps`` given options builds an encoder at each call: one serves every call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
