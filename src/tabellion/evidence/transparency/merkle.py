"""RFC 9162 (Certificate Transparency v2) Merkle tree hashing, proofs and their verification.

Pure functions. A tree of ``n`` leaves is described by ranges ``[lo, hi)``; every range the
proofs need splits into perfect, aligned subtrees, whose hashes the log stores as nodes
``(level, index)`` (see ``transparency.py``). Verification needs nothing but the proof.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

Range = tuple[int, int]


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


EMPTY_ROOT = hashlib.sha256(b"").digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1)."""
    k = 1
    while k << 1 < n:
        k <<= 1
    return k


def perfect_nodes(lo: int, hi: int) -> list[tuple[int, int]]:
    """The aligned perfect subtrees ``(level, index)`` whose hashes make up MTH(D[lo:hi]).

    Only valid for ranges met in RFC 9162's recursion (``lo`` aligned on the left subtree).
    """
    size = hi - lo
    if size & (size - 1) == 0 and lo % size == 0:
        level = size.bit_length() - 1
        return [(level, lo >> level)]
    k = _split(size)
    return perfect_nodes(lo, lo + k) + perfect_nodes(lo + k, hi)


def range_hash(lo: int, hi: int, node: Callable[[int, int], bytes]) -> bytes:
    """MTH(D[lo:hi]) from stored perfect-subtree hashes."""
    size = hi - lo
    if size == 0:
        return EMPTY_ROOT
    if size & (size - 1) == 0 and lo % size == 0:
        level = size.bit_length() - 1
        return node(level, lo >> level)
    k = _split(size)
    return node_hash(range_hash(lo, lo + k, node), range_hash(lo + k, hi, node))


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """The ranges whose hashes form PATH(index, D[0:size]), leaf upwards."""

    def path(m: int, lo: int, hi: int) -> list[Range]:
        n = hi - lo
        if n <= 1:
            return []
        k = _split(n)
        if m < k:
            return [*path(m, lo, lo + k), (lo + k, hi)]
        return [*path(m - k, lo + k, hi), (lo, lo + k)]

    if not 0 <= index < size:
        raise ValueError("the leaf is not in the tree")
    return path(index, 0, size)


def consistency_ranges(old: int, new: int) -> list[Range]:
    """The ranges whose hashes form PROOF(old, D[0:new])."""

    def subproof(m: int, lo: int, hi: int, complete: bool) -> list[Range]:
        n = hi - lo
        if m == n:
            return [] if complete else [(lo, hi)]
        k = _split(n)
        if m <= k:
            return [*subproof(m, lo, lo + k, complete), (lo + k, hi)]
        return [*subproof(m - k, lo + k, hi, False), (lo, lo + k)]

    if not 0 < old <= new:
        raise ValueError("a consistency proof needs 0 < old <= new")
    if old == new:
        return []
    return subproof(old, 0, new, True)


def needed_nodes(ranges: Sequence[Range]) -> set[tuple[int, int]]:
    needed: set[tuple[int, int]] = set()
    for lo, hi in ranges:
        needed.update(perfect_nodes(lo, hi))
    return needed


# ---- verification (RFC 9162 2.1.3.2 and 2.1.4.2) -----------------------------------------
def verify_inclusion(
    index: int, size: int, leaf: bytes, path: Sequence[bytes], root: bytes
) -> bool:
    if index >= size:
        return False
    fn, sn = index, size - 1
    r = leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    if old == new:
        return old_root == new_root and not proof
    if not 0 < old < new:
        return False
    path = list(proof)
    if old & (old - 1) == 0:  # a power of two: the old root is the first node
        path.insert(0, old_root)
    if not path:
        return False
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root
