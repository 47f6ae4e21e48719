"""Prefixed ULIDs: their digits, their order, their shape."""

from __future__ import annotations

import base64
import random

from tabellion.kit import ids

# base64's RFC 4648 base32 alphabet onto Crockford's lower case, as ids were first encoded.
_CROCKFORD = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", ids._ALPHABET.encode())


def _base32(value: int) -> str:
    return base64.b32encode(value.to_bytes(20, "big")).translate(_CROCKFORD)[-26:].decode()


def test_an_ids_body_is_its_value_in_crockford_base32() -> None:
    rng = random.Random(7)
    edges = [0, 1, 31, 32, 1023, 1024, 2**125 - 1, 2**125, 2**128 - 1]
    for value in [*edges, *(rng.getrandbits(128) for _ in range(5000))]:
        assert ids._body(value) == _base32(value)


def test_ids_sort_as_they_were_made_and_look_like_ids() -> None:
    made = [ids.new_id("evt") for _ in range(2000)]
    assert made == sorted(made)
    assert len(set(made)) == len(made)
    assert all(ids.looks_like("evt", i) for i in made)
    assert not ids.looks_like("evt", made[0].replace("evt_", "dlv_"))
