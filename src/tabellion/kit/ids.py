"""Prefixed, time-ordered identifiers (``msg_01jd…``).

The body is a ULID in lower-case Crockford base32: 48 bits of milliseconds then 80 random bits
(monotonic within a process), so ids sort by creation time and serve as pagination cursors.
"""

from __future__ import annotations

import os
import re
import threading
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_ID_RE = re.compile(r"^[a-z]{2,4}_[0-9abcdefghjkmnpqrstvwxyz]{26}$")


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


_lock = threading.Lock()
_last = 0


def new_id(prefix: str) -> str:
    """Monotonic within a process: two ids made in the same millisecond still sort in order."""
    global _last
    millis = time.time_ns() // 1_000_000
    with _lock:
        value = (millis << 80) | int.from_bytes(os.urandom(10), "big")
        if value <= _last:
            value = _last + 1
        _last = value
    return f"{prefix}_{_encode(value, 26)}"


def looks_like(prefix: str, value: str) -> bool:
    return value.startswith(prefix + "_") and bool(_ID_RE.match(value))
