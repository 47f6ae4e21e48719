"""kit.tokens: the keyed HMAC served from a primed copy gives what a fresh one gives."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

import pytest

from tabellion.kit import logs
from tabellion.kit.tokens import hmac_sha256


@pytest.mark.parametrize("key_size", [0, 1, 32, 64, 65, 200])
@pytest.mark.parametrize("size", [0, 1, 63, 64, 2047, 2048, 100_000])
def test_hmac_sha256_is_the_standard_hmac(key_size: int, size: int) -> None:
    key = secrets.token_bytes(key_size)
    message = secrets.token_bytes(size)
    assert hmac_sha256(key, message) == hmac.digest(key, message, hashlib.sha256)
    text = message.hex()
    assert hmac_sha256(key, text) == hmac.digest(key, text.encode(), hashlib.sha256)


def test_hmac_sha256_keeps_keys_apart_past_its_cache() -> None:
    # More keys than the primed copies kept, each used twice, interleaved: a copy never
    # carries one message's state into the next, nor one key's into another's.
    keys = [secrets.token_bytes(32) for _ in range(600)]
    for key in keys + keys[::-1]:
        for message in (b"", b"a", b"evidence-link:json:evd_1:1733400000"):
            assert hmac_sha256(key, message) == hmac.digest(key, message, hashlib.sha256)


def test_new_request_ids_are_long_random_and_distinct() -> None:
    made = {logs.request_id_from(None) for _ in range(10_000)}
    assert len(made) == 10_000
    assert all(re.fullmatch("[0-9a-f]{32}", value) for value in made)


def test_as_made_with_one_key_is_the_key_s_value_whatever_is_stored() -> None:
    from tabellion.kit.tokens import as_made

    keys = (b"k" * 32, b"old" * 11)
    make = lambda key: hmac_sha256(key, "v").hex()  # noqa: E731
    assert as_made(keys[:1], make, lambda value: False) == make(keys[0])
    assert as_made(keys[:1], make, lambda value: True) == make(keys[0])
    # With earlier keys the stored value decides, else the current key.
    assert as_made(keys, make, lambda value: value == make(keys[1])) == make(keys[1])
    assert as_made(keys, make, lambda value: False) == make(keys[0])
