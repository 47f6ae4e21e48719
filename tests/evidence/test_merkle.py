"""Our Merkle hashes and proofs against published RFC 6962 / RFC 9162 test vectors.

The vectors are not ours: a bug shared by our prover and our verifier would pass a
round trip, not these. Sources (transparency-dev/merkle, Apache-2.0, carried over from
certificate-transparency-go):
- leaves, subtree hashes and roots: ``testonly/constants.go`` (LeafInputs, NodeHashes,
  RootHashes);
- inclusion and consistency proofs: ``proof/verify_test.go`` (inclusionProofs,
  consistencyProofs; leaf numbers there are 1-based, ours 0-based);
- leaf and node hashes of fixed strings: ``rfc6962/rfc6962_test.go``;
- the perfect subtrees making up each tree: ``testonly/constants.go`` (CompactTrees).

Beyond eight leaves (where the published vectors stop) proofs are checked against our own
reference tree, built leaf by leaf from the definition, with every hash of each proof
corrupted in turn.
"""

from __future__ import annotations

from functools import cache

import pytest

from tabellion.evidence.transparency import merkle

LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
ROOTS = [
    bytes.fromhex(h)
    for h in (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",  # empty tree
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]
# (level, index) -> hash of every perfect subtree of the 8-leaf tree.
NODES = {
    (0, 0): "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    (0, 1): "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    (0, 2): "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    (0, 3): "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    (0, 4): "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    (0, 5): "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
    (0, 6): "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    (0, 7): "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    (1, 0): "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    (1, 1): "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    (1, 2): "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    (1, 3): "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    (2, 0): "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    (2, 1): "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    (3, 0): "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}


def h(level: int, index: int) -> bytes:
    return bytes.fromhex(NODES[(level, index)])


# (leaf index, tree size, proof); the published leaf numbers minus one.
INCLUSION = [
    (0, 1, []),
    (0, 8, [h(0, 1), h(1, 1), h(2, 1)]),
    (5, 8, [h(0, 4), h(1, 3), h(2, 0)]),
    (2, 3, [h(1, 0)]),
    (1, 5, [h(0, 0), h(1, 1), h(0, 4)]),
]
# (old size, new size, proof)
CONSISTENCY = [
    (1, 1, []),
    (1, 8, [h(0, 1), h(1, 1), h(2, 1)]),
    (6, 8, [h(1, 2), h(1, 3), h(2, 0)]),
    (2, 5, [h(1, 1), h(0, 4)]),
    (6, 7, [h(1, 2), h(0, 6), h(2, 0)]),
]
# The perfect subtrees of each tree of 0..8 leaves, left to right.
COMPACT = [
    [],
    [(0, 0)],
    [(1, 0)],
    [(1, 0), (0, 2)],
    [(2, 0)],
    [(2, 0), (0, 4)],
    [(2, 0), (1, 2)],
    [(2, 0), (1, 2), (0, 6)],
    [(3, 0)],
]
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


@cache
def computed(level: int, index: int) -> bytes:
    """A perfect subtree's hash computed by our own hashing, from the published leaves."""
    if level == 0:
        return merkle.leaf_hash(LEAVES[index])
    return merkle.node_hash(computed(level - 1, 2 * index), computed(level - 1, 2 * index + 1))


def test_leaf_and_node_hashes_match_rfc6962_vectors() -> None:
    assert (
        merkle.leaf_hash(b"L123456").hex()
        == "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    )
    assert (
        merkle.node_hash(b"N123", b"N456").hex()
        == "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
    )
    assert ROOTS[0] == merkle.EMPTY_ROOT
    assert {key: computed(*key).hex() for key in NODES} == NODES


@pytest.mark.parametrize("size", range(9))
def test_root_of_every_size_matches_the_published_root(size: int) -> None:
    assert merkle.range_hash(0, size, computed) == ROOTS[size]


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_inclusion_proofs_match_the_published_ones(
    index: int, size: int, proof: list[bytes]
) -> None:
    ours = [merkle.range_hash(lo, hi, computed) for lo, hi in merkle.inclusion_ranges(index, size)]
    assert ours == proof
    leaf = merkle.leaf_hash(LEAVES[index])
    assert merkle.verify_inclusion(index, size, leaf, proof, ROOTS[size])


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_corrupted_inclusion_proofs_are_refused(index: int, size: int, proof: list[bytes]) -> None:
    # The corruptions transparency-dev/merkle publishes beside each vector.
    leaf, root = merkle.leaf_hash(LEAVES[index]), ROOTS[size]
    wrong: list[tuple[int, int, bytes, list[bytes], bytes]] = [
        (index + 1, size, leaf, proof, root),
        (index ^ 2, size, leaf, proof, root),
        (index, size * 2, leaf, proof, root),
        (index, size, b"WrongLeaf", proof, root),
        (index, size, leaf, proof, ROOTS[0]),
        (index, size, leaf, proof, SOME_HASH),
        (index, size, leaf, [*proof, b""], root),
        (index, size, leaf, [*proof, root], root),
        (index, size, leaf, [b"", *proof], root),
        (index, size, leaf, [root, *proof], root),
    ]
    if index > 0:
        wrong.append((index - 1, size, leaf, proof, root))
    if size > 1:
        wrong.append((index, size // 2, leaf, proof, root))
    for i in range(len(proof)):
        flipped = [*proof]
        flipped[i] = bytes([proof[i][0] ^ 8]) + proof[i][1:]
        wrong.append((index, size, leaf, flipped, root))
    if proof:
        wrong.append((index, size, leaf, proof[:-1], root))
    if len(proof) > 1:
        wrong.append((index, size, leaf, [proof[0], SOME_HASH, *proof[1:]], root))
    for case in wrong:
        assert not merkle.verify_inclusion(*case), case


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY)
def test_consistency_proofs_match_the_published_ones(
    old: int, new: int, proof: list[bytes]
) -> None:
    ours = [merkle.range_hash(lo, hi, computed) for lo, hi in merkle.consistency_ranges(old, new)]
    # RFC 9162 leaves out the old root when the old tree is a perfect subtree; so does ours.
    assert ours == proof
    assert merkle.verify_consistency(old, new, ROOTS[old], ROOTS[new], proof)


@pytest.mark.parametrize(("old", "new", "proof"), [c for c in CONSISTENCY if c[2]])
def test_corrupted_consistency_proofs_are_refused(old: int, new: int, proof: list[bytes]) -> None:
    r1, r2 = ROOTS[old], ROOTS[new]
    wrong: list[tuple[int, int, bytes, bytes, list[bytes]]] = [
        (old - 1, new, r1, r2, proof),
        (old + 1, new, r1, r2, proof),
        (old ^ 2, new, r1, r2, proof),
        (old, new * 2, r1, r2, proof),
        (old, new // 2, r1, r2, proof),
        (old, new, b"WrongRoot", r2, proof),
        (old, new, r1, b"WrongRoot", proof),
        (old, new, r2, r1, proof),
        (old, new, r1, r2, []),
        (old, new, r1, r2, [*proof, b""]),
        (old, new, r1, r2, [*proof, r1]),
        (old, new, r1, r2, [*proof, r2]),
        (old, new, r1, r2, [b"", *proof]),
        (old, new, r1, r2, [r1, *proof]),
        (old, new, r1, r2, [r2, *proof]),
        (old, new, r1, r2, [proof[0], *proof]),
        (old, new, r1, r2, proof[:-1]),
    ]
    for i in range(len(proof)):
        flipped = [*proof]
        flipped[i] = bytes([proof[i][0] ^ 16]) + proof[i][1:]
        wrong.append((old, new, r1, r2, flipped))
    for case in wrong:
        assert not merkle.verify_consistency(*case), case


def test_published_edge_cases() -> None:
    # Empty trees and out-of-range indices prove nothing (``additional`` probes).
    for index, size in [(0, 0), (1, 0), (2, 1)]:
        assert not merkle.verify_inclusion(index, size, SOME_HASH, [], ROOTS[0])
    one = merkle.leaf_hash(b"data")
    assert merkle.verify_inclusion(0, 1, one, [], one)
    assert not merkle.verify_inclusion(0, 1, b"", [], one)
    assert not merkle.verify_consistency(1, 1, b"r1", b"r2", [])
    assert merkle.verify_consistency(1, 1, b"r2", b"r2", [])
    assert not merkle.verify_consistency(1, 0, b"r1", b"r2", [])
    assert not merkle.verify_consistency(2, 1, b"r1", b"r2", [])
    assert not merkle.verify_consistency(1, 2, b"r1", b"r2", [])
    assert not merkle.verify_consistency(1, 1, ROOTS[0], ROOTS[0], [ROOTS[0]])
    assert not merkle.verify_consistency(0, 1, ROOTS[0], ROOTS[0], [ROOTS[0]])
    with pytest.raises(ValueError, match=r"^the leaf is not in the tree$"):
        merkle.inclusion_ranges(3, 3)
    with pytest.raises(ValueError, match=r"^a consistency proof needs 0 < old <= new$"):
        merkle.consistency_ranges(0, 3)


@pytest.mark.parametrize("size", range(1, 9))
def test_perfect_subtrees_match_the_published_compact_trees(size: int) -> None:
    assert merkle.perfect_nodes(0, size) == COMPACT[size]
    assert merkle.needed_nodes([(0, size)]) == set(COMPACT[size])


def reference_root(leaves: list[bytes]) -> bytes:
    """MTH straight from RFC 9162 section 2.1.1, recursively over the leaf data."""
    if not leaves:
        return merkle.EMPTY_ROOT
    if len(leaves) == 1:
        return merkle.leaf_hash(leaves[0])
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return merkle.node_hash(reference_root(leaves[:k]), reference_root(leaves[k:]))


BIG = [f"leaf {i}".encode() for i in range(70)]


@cache
def big_node(level: int, index: int) -> bytes:
    return reference_root(BIG[index << level : (index + 1) << level])


def _flipped(proof: list[bytes]) -> list[list[bytes]]:
    return [[*proof[:i], bytes([h[0] ^ 1]) + h[1:], *proof[i + 1 :]] for i, h in enumerate(proof)]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 9, 16, 17, 31, 33, 63, 70])
def test_inclusion_proofs_of_larger_trees(size: int) -> None:
    root = reference_root(BIG[:size])
    assert merkle.range_hash(0, size, big_node) == root
    needed = set()
    for index in range(size):
        ranges = merkle.inclusion_ranges(index, size)
        needed |= merkle.needed_nodes(ranges)
        proof = [merkle.range_hash(lo, hi, big_node) for lo, hi in ranges]
        leaf = merkle.leaf_hash(BIG[index])
        assert merkle.verify_inclusion(index, size, leaf, proof, root), index
        for wrong in _flipped(proof):
            assert not merkle.verify_inclusion(index, size, leaf, wrong, root), index
        assert not merkle.verify_inclusion(index, size * 2, leaf, proof, root)
        for other in {index - 1, index + 1} & set(range(size)):
            assert not merkle.verify_inclusion(other, size, leaf, proof, root), (index, other)
    # Every perfect subtree the proofs need lies inside the tree.
    assert all((index + 1) << level <= size for level, index in needed)


@pytest.mark.parametrize("new", [2, 3, 5, 7, 9, 16, 17, 31, 33, 63, 70])
def test_consistency_proofs_of_larger_trees(new: int) -> None:
    new_root = reference_root(BIG[:new])
    for old in range(1, new):
        old_root = reference_root(BIG[:old])
        ranges = merkle.consistency_ranges(old, new)
        proof = [merkle.range_hash(lo, hi, big_node) for lo, hi in ranges]
        assert merkle.verify_consistency(old, new, old_root, new_root, proof), old
        for wrong in _flipped(proof):
            assert not merkle.verify_consistency(old, new, old_root, new_root, wrong), old
        assert not merkle.verify_consistency(old, new, new_root, new_root, proof), old
        assert not merkle.verify_consistency(old, new * 2, old_root, new_root, proof), old
