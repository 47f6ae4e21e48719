"""RFC 8785 JSON Canonicalization Scheme: one byte string per JSON value.

Object members are sorted by their names' UTF-16 code units, no insignificant whitespace,
strings escaped minimally as ECMAScript's JSON.stringify does. Numbers: integers in the
IEEE 754 safe range, and finite floats serialised as ECMAScript does (shortest round-trip).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}
MAX_SAFE_INTEGER = 2**53 - 1


class NotCanonicalizable(ValueError):
    """The value has no RFC 8785 form (NaN, a huge integer, a non-JSON type)."""


def _string(value: str) -> str:
    out = ['"']
    for char in value:
        escaped = _ESCAPES.get(char)
        if escaped is not None:
            out.append(escaped)
        elif ord(char) < 0x20:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _number(value: float) -> str:
    if not math.isfinite(value):
        raise NotCanonicalizable("NaN and infinities are not JSON")
    if value == 0:
        return "0"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)  # shortest round-trip digits, as ECMAScript
    mantissa, _, exponent = text.partition("e")
    if not exponent:
        return text
    exp = int(exponent)
    if -7 < exp < 21:
        return format(value, "f").rstrip("0").rstrip(".")
    return f"{mantissa}e{'+' if exp > 0 else '-'}{abs(exp)}"


def _utf16_key(name: str) -> list[int]:
    return list(name.encode("utf-16-be"))


def _emit(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise NotCanonicalizable(f"integer {value} is outside the safe range")
        out.append(str(value))
    elif isinstance(value, float):
        out.append(_number(value))
    elif isinstance(value, dict):
        out.append("{")
        first = True
        if not all(isinstance(key, str) for key in value):
            raise NotCanonicalizable("object member names must be strings")
        for key in sorted(value, key=_utf16_key):
            if not first:
                out.append(",")
            first = False
            out.append(_string(key))
            out.append(":")
            _emit(value[key], out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _emit(item, out)
        out.append("]")
    else:
        raise NotCanonicalizable(f"{type(value).__name__} is not a JSON type")


def _plain(value: Any) -> bool:
    """Whether the stdlib's sorted, compact JSON is already the canonical form.

    It is when every member name is ASCII (code point order is then UTF-16 order), every
    number a safe integer (floats print differently), and every type a JSON one; strings
    escape alike. Checking is much cheaper than writing the text out piece by piece.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is int:
            if -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
                continue
            return False
        if kind is dict:
            for key in item:
                if type(key) is not str or not key.isascii():
                    return False
            stack.extend(item.values())
        elif kind is list or kind is tuple:
            stack.extend(item)
        else:
            return False
    return True


# The stdlib's sorted, compact JSON. ``JSONEncoder.encode`` makes a new C encoder at each
# call (~1 µs, as much as encoding a small object): it is made once here from the same
# options, without the check for reference cycles, as canonical JSON is made of trees (our
# builders' or parsed JSON).
_OPTIONS = json.JSONEncoder(
    ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
)
_C_ENCODER = c_make_encoder(
    None,
    _OPTIONS.default,
    encode_basestring,
    _OPTIONS.indent,
    _OPTIONS.key_separator,
    _OPTIONS.item_separator,
    _OPTIONS.sort_keys,
    _OPTIONS.skipkeys,
    _OPTIONS.allow_nan,
)


def _encode(value: Any) -> str:
    if type(value) is str:
        return encode_basestring(value)
    return "".join(_C_ENCODER(value, 0))


def canonicalize(value: Any) -> bytes:
    if type(value) is str or _plain(value):
        return _encode(value).encode("utf-8")
    return canonicalize_slowly(value)


class SharedMembers:
    """Canonical JSON of many objects that share some members, the shared ones written once.

    ``SharedMembers(shared).canonicalize(own)`` is ``canonicalize({**shared, **own})``: the
    canonical form of an object is its members' texts in name order, so each member's text can
    be made apart and the texts merged. The proofs of one message share their issuer, sender
    and content digests, most of their bytes.
    """

    def __init__(self, shared: Mapping[str, Any]) -> None:
        self._names: dict[str, bytes] = {}  # each member name's text and colon
        self._texts = {name: self._name(name) + canonicalize(v) for name, v in shared.items()}
        self._ascii = all(name.isascii() for name in shared)

    def canonicalize(self, own: Mapping[str, Any]) -> bytes:
        texts = self._texts.copy()
        for name, value in own.items():
            if name in texts:
                raise ValueError(f"{name!r} is a shared member")
            texts[name] = self._name(name) + canonicalize(value)
        if self._ascii and all(name.isascii() for name in own):
            order = sorted(texts)  # code point order is UTF-16 order for ASCII
        else:
            order = sorted(texts, key=_utf16_key)
        return b"{" + b",".join(texts[name] for name in order) + b"}"

    def _name(self, name: str) -> bytes:
        text = self._names.get(name)
        if text is None:
            if type(name) is not str:
                raise NotCanonicalizable("object member names must be strings")
            text = self._names[name] = canonicalize(name) + b":"
        return text


def canonicalize_slowly(value: Any) -> bytes:
    """The general path, for any value (also the reference the fast path is tested against)."""
    out: list[str] = []
    _emit(value, out)
    return "".join(out).encode("utf-8")
