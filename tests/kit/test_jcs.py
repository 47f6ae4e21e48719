"""RFC 8785: the fast path (stdlib JSON) writes exactly what the general path writes."""

from __future__ import annotations

import random
import string
from typing import Any

import pytest

from tabellion.kit.jcs import (
    NotCanonicalizable,
    SharedMembers,
    canonicalize,
    canonicalize_slowly,
)

ALPHABET = string.printable + '\x00\x01\x1f\x7f\u00e9\u2028\u20ac\U0001f600\ufb01"\\'


def random_value(rng: random.Random, depth: int = 0) -> Any:
    choice = rng.randrange(8 if depth < 4 else 5)
    if choice == 0:
        return None
    if choice == 1:
        return rng.choice([True, False])
    if choice == 2:
        return rng.randint(-(2**53) + 1, 2**53 - 1)
    if choice in (3, 4):
        return "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(12)))
    if choice == 5:
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if choice == 6:
        return rng.uniform(-1e30, 1e30)
    keys = ["".join(rng.choice(ALPHABET) for _ in range(rng.randrange(1, 6))) for _ in range(4)]
    return {key: random_value(rng, depth + 1) for key in keys}


def test_both_paths_agree_on_random_values() -> None:
    rng = random.Random(8785)
    for _ in range(3000):
        value = random_value(rng)
        assert canonicalize(value) == canonicalize_slowly(value), value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"b": 1, "a": [True, None, "\u20ac\n"]}, '{"a":[true,null,"\u20ac\\n"],"b":1}'),
        ({"\u00e9": 1, "z": 2}, '{"z":2,"\u00e9":1}'),
        # UTF-16 order: U+1F600 (surrogates D83D...) sorts before U+FB01.
        ({"\ufb01": 1, "\U0001f600": 2}, '{"\U0001f600":2,"\ufb01":1}'),
        ({"n": 1e21, "m": 0.000001, "z": -0.0}, '{"m":0.000001,"n":1e+21,"z":0}'),
        ("\x1f\x7f", '"\\u001f\x7f"'),
    ],
)
def test_known_forms(value: Any, expected: str) -> None:
    assert canonicalize(value) == expected.encode()


@pytest.mark.parametrize("value", [2**53, {"x": float("nan")}, {1: "a"}, {"s": {1, 2}}])
def test_values_without_a_canonical_form(value: Any) -> None:
    with pytest.raises(NotCanonicalizable):
        canonicalize(value)


@pytest.mark.parametrize("depth", [3, 1])  # 1: own members with floats, lists and objects too
def test_shared_members_write_what_the_whole_object_writes(depth: int) -> None:
    rng = random.Random(319522)
    for _ in range(1000):
        members = random_value(rng, depth=depth)
        if not isinstance(members, dict):
            continue
        names = list(members)
        cut = rng.randrange(len(names) + 1)
        shared = SharedMembers({name: members[name] for name in names[:cut]})
        own = {name: members[name] for name in names[cut:]}
        assert shared.canonicalize(own) == canonicalize(members), members


def test_shared_members_sort_by_utf16_across_shared_and_own() -> None:
    shared = SharedMembers({"\ufb01": 1, "a": 2})
    assert shared.canonicalize({"\U0001f600": 3, "b": 4}) == (
        '{"a":2,"b":4,"\U0001f600":3,"\ufb01":1}'.encode()
    )
    assert shared.canonicalize({}) == '{"a":2,"\ufb01":1}'.encode()


def test_shared_members_cannot_be_given_again() -> None:
    with pytest.raises(ValueError, match="shared member"):
        SharedMembers({"a": 1}).canonicalize({"a": 2})
