"""Secrets: generation, hashing and constant-time checks."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import string
from collections.abc import Callable, Sequence

_BASE62 = string.digits + string.ascii_letters


def random_base62(length: int) -> str:
    return "".join(secrets.choice(_BASE62) for _ in range(length))


def sha256_hex(value: str | bytes) -> str:
    data = value.encode() if isinstance(value, str) else value
    return hashlib.sha256(data).hexdigest()


def hmac_sha256(key: bytes, message: str | bytes) -> bytes:
    data = message.encode() if isinstance(message, str) else message
    keyed = _keyed(key).copy()
    keyed.update(data)
    return keyed.digest()


@functools.lru_cache(maxsize=256)
def _keyed(key: bytes) -> hmac.HMAC:
    """An HMAC-SHA256 primed with ``key``, to copy for each message: a process signs with a
    few keys, many times a request, and ``hmac.digest`` sets the key up afresh at each call
    (a copy costs about a quarter less)."""
    return hmac.new(key, digestmod=hashlib.sha256)


def constant_time_equals(a: str | bytes, b: str | bytes) -> bool:
    left = a.encode() if isinstance(a, str) else a
    right = b.encode() if isinstance(b, str) else b
    return hmac.compare_digest(left, right)


def made_with_any(keys: Sequence[bytes], make: Callable[[bytes], str], given: str) -> bool:
    """Whether ``given`` is what ``make`` gives with one of ``keys`` (the secret key, then the
    earlier ones still accepted), compared in constant time with each."""
    found = False
    for key in keys:
        found |= constant_time_equals(make(key), given)
    return found


def as_made(
    keys: Sequence[bytes], make: Callable[[bytes], str], stored: Callable[[str], bool]
) -> str:
    """What ``make`` gave when the value was first made and ``stored`` (its hash, say): with the
    first of ``keys`` (the secret key, then earlier ones still accepted) whose result matches,
    else with the current key. A link or a code made before the secret key changed is given
    again as it was."""
    if len(keys) == 1:
        return make(keys[0])  # what the loop below gives, whatever ``stored`` says
    for key in keys:
        value = make(key)
        if stored(value):
            return value
    return make(keys[0])
