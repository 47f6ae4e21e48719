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


# Every pair of digits, by the ten bits it stands for: an id's body is 14 look-ups, where
# base32-encoding its bytes took twice as long (``base64.b32encode`` is Python code).
_PAIRS = tuple(a + b for a in _ALPHABET for b in _ALPHABET)


def _body(value: int) -> str:
    """A 128-bit ``value`` as 26 base32 digits, the first holding its top 3 bits."""
    pairs = [_PAIRS[(value >> shift) & 1023] for shift in range(115, 4, -10)]
    return "".join((_ALPHABET[value >> 125], *pairs, _ALPHABET[value & 31]))


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
    return f"{prefix}_{_body(value)}"


def looks_like(prefix: str, value: str) -> bool:
    return value.startswith(prefix + "_") and bool(_ID_RE.match(value))


def possible_id(value: str) -> bool:
    """Whether ``value`` could be one of our ids; anything else cannot name a row.

    Checked before querying: PostgreSQL refuses a NUL character outright, and an id that
    cannot exist is simply not found.
    """
    return 0 < len(value) <= 64 and value.isascii() and value.isprintable()
