"""Reading a JSON body as it arrives, with chosen string values streamed instead of held.

A JSON body that carries files as base64 strings (the Registered E-mail dialect) would need
the body, the string and the decoded bytes in memory at once: three times a 100 MB file. Here
the structure is walked piece by piece; small values are read whole (each bounded), and a
string the caller chooses is handed over in chunks (``string_chunks``), which ``Base64Decoder``
turns into bytes for ``BlobStore.put_stream``. Memory stays flat whatever the file's size.
"""

from __future__ import annotations

import binascii
import json
from collections.abc import AsyncIterator
from typing import Any

_WHITESPACE = b" \t\r\n"
_COMPACT_AT = 1 << 16
# Escapes that may appear inside a base64 string: "\/" (PHP and others escape slashes) and
# the line breaks of MIME-wrapped base64.
_STREAM_ESCAPES = {ord("/"): b"/", ord("n"): b"", ord("r"): b"", ord("t"): b""}


class JsonSyntaxError(ValueError):
    """The body is not JSON (or ends early)."""


class ValueTooLarge(ValueError):
    """A value read whole is larger than the reader allows."""


class JsonReader:
    """A pull reader over a stream of byte chunks: ``members``, ``items``, ``value``."""

    def __init__(self, chunks: AsyncIterator[bytes], *, max_value_bytes: int) -> None:
        self._chunks = chunks
        self._buf = bytearray()
        self._pos = 0
        self._eof = False
        self.max_value_bytes = max_value_bytes

    # ---- buffer ----

    async def _more(self) -> bool:
        """Append the next chunk; False at the end of the stream."""
        if self._eof:
            return False
        if self._pos > _COMPACT_AT:
            del self._buf[: self._pos]
            self._pos = 0
        try:
            chunk = await anext(self._chunks)
        except StopAsyncIteration:
            self._eof = True
            return False
        self._buf += chunk
        return True

    async def peek(self) -> str:
        """The next significant character ("" at the end), left unread."""
        while True:
            while self._pos < len(self._buf) and self._buf[self._pos] in _WHITESPACE:
                self._pos += 1
            if self._pos < len(self._buf):
                return chr(self._buf[self._pos])
            if not await self._more():
                return ""

    async def _expect(self, char: str) -> None:
        found = await self.peek()
        if found != char:
            raise JsonSyntaxError(f"expected {char!r}, found {found or 'the end'!r}")
        self._pos += 1

    async def end(self) -> None:
        """Only whitespace may follow the top-level value."""
        if await self.peek():
            raise JsonSyntaxError("unexpected data after the JSON value")

    # ---- containers ----

    async def members(self) -> AsyncIterator[str]:
        """The keys of an object; the caller reads each value before asking for the next."""
        await self._expect("{")
        if await self.peek() == "}":
            self._pos += 1
            return
        while True:
            if await self.peek() != '"':
                raise JsonSyntaxError("expected a key in double quotes")
            key = await self._string()
            await self._expect(":")
            yield key
            after = await self.peek()
            self._pos += 1
            if after == "}":
                return
            if after != ",":
                raise JsonSyntaxError(f"expected ',' or '}}', found {after or 'the end'!r}")

    async def items(self) -> AsyncIterator[int]:
        """The positions of an array's items; the caller reads each item."""
        await self._expect("[")
        if await self.peek() == "]":
            self._pos += 1
            return
        index = 0
        while True:
            yield index
            index += 1
            after = await self.peek()
            self._pos += 1
            if after == "]":
                return
            if after != ",":
                raise JsonSyntaxError(f"expected ',' or ']', found {after or 'the end'!r}")

    # ---- values read whole ----

    async def value(self) -> Any:
        """The next value, read whole (at most ``max_value_bytes`` of JSON text)."""
        first = await self.peek()
        if first == '"':
            return await self._string()
        if first == "":
            raise JsonSyntaxError("the body ends where a value was expected")
        raw = await self._capture(nested=first in "[{")
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise JsonSyntaxError(str(exc)) from exc

    async def _capture(self, *, nested: bool) -> bytes:
        """The raw text of a number, literal, object or array."""
        start, depth, in_string, escaped = self._pos, 0, False, False
        i = self._pos
        while True:
            if i >= len(self._buf):
                offset = i - start
                if not await self._more():
                    if nested or in_string:
                        raise JsonSyntaxError("the body ends inside a value")
                    break
                start, i = self._pos, self._pos + offset  # the buffer may have been compacted
                continue
            char = self._buf[i]
            if i - start > self.max_value_bytes:
                raise ValueTooLarge(f"a value is larger than {self.max_value_bytes} bytes")
            if in_string:
                if escaped:
                    escaped = False
                elif char == 0x5C:
                    escaped = True
                elif char == 0x22:
                    in_string = False
            elif char == 0x22:
                in_string = True
            elif char in b"[{":
                depth += 1
            elif char in b"]}":
                if not nested:
                    break
                depth -= 1
                if depth == 0:
                    i += 1
                    break
            elif not nested and (char in _WHITESPACE or char == 0x2C):
                break
            i += 1
        raw = bytes(self._buf[self._pos : i])
        self._pos = i
        return raw

    async def _string(self) -> str:
        """A string read whole and decoded (its escapes and \\u sequences)."""
        self._pos += 1  # the opening quote
        start, i = self._pos, self._pos
        while True:
            end = self._buf.find(b'"', i)
            if end < 0:
                offset = len(self._buf) - start
                if offset > self.max_value_bytes:
                    raise ValueTooLarge(f"a value is larger than {self.max_value_bytes} bytes")
                if not await self._more():
                    raise JsonSyntaxError("the body ends inside a string")
                start = self._pos
                i = start + offset
                continue
            backslashes = 0
            while end - 1 - backslashes >= start and self._buf[end - 1 - backslashes] == 0x5C:
                backslashes += 1
            if backslashes % 2:
                i = end + 1
                continue
            if end - start > self.max_value_bytes:
                raise ValueTooLarge(f"a value is larger than {self.max_value_bytes} bytes")
            raw = bytes(self._buf[start:end])
            self._pos = end + 1
            try:
                decoded = json.loads(b'"' + raw + b'"')
            except ValueError as exc:
                raise JsonSyntaxError(f"a string is not valid JSON: {exc}") from exc
            assert isinstance(decoded, str)
            return decoded

    # ---- a string streamed ----

    async def string_chunks(self) -> AsyncIterator[bytes]:
        """The content of the next string (which must be ASCII, as base64 is), in chunks.

        Escapes are resolved as base64 needs them: "\\/" is "/", and escaped line breaks and
        tabs are dropped. Any other escape is refused.
        """
        await self._expect('"')
        while True:
            if self._pos >= len(self._buf) and not await self._more():
                raise JsonSyntaxError("the body ends inside a string")
            buf, start = self._buf, self._pos
            quote = buf.find(b'"', start)
            backslash = buf.find(b"\\", start, quote if quote >= 0 else len(buf))
            stop = backslash if backslash >= 0 else (quote if quote >= 0 else len(buf))
            if stop > start:
                yield bytes(buf[start:stop])
            self._pos = stop
            if stop == quote:
                self._pos += 1
                return
            if stop == backslash:
                while self._pos + 1 >= len(self._buf):
                    if not await self._more():
                        raise JsonSyntaxError("the body ends inside a string")
                escape = self._buf[self._pos + 1]
                if escape not in _STREAM_ESCAPES:
                    raise JsonSyntaxError(f"unexpected escape \\{chr(escape)} in base64 text")
                self._pos += 2
                if replaced := _STREAM_ESCAPES[escape]:
                    yield replaced

    async def skip_string(self) -> None:
        async for _ in self.string_chunks():
            pass


class Base64Error(ValueError):
    """The text is not base64."""


class Base64Decoder:
    """Standard base64 decoded piece by piece: every four characters are three bytes.

    Whitespace is ignored; any other character outside the alphabet, or padding anywhere but
    at the end, is an error. Missing final padding is tolerated (some encoders drop it).
    """

    def __init__(self) -> None:
        self._left = b""
        self._ended = False

    def feed(self, text: bytes) -> bytes:
        data = self._left + text.translate(None, _WHITESPACE)
        usable = len(data) - len(data) % 4
        self._left = data[usable:]
        if not usable:
            return b""
        if self._ended:
            raise Base64Error("data after the padding")
        if data[usable - 1 : usable] == b"=":
            self._ended = True
        return self._decode(data[:usable])

    def finish(self) -> bytes:
        left, self._left = self._left, b""
        if not left:
            return b""
        if self._ended or len(left) == 1:
            raise Base64Error("the text is cut short")
        return self._decode(left + b"=" * (-len(left) % 4))

    @staticmethod
    def _decode(data: bytes) -> bytes:
        try:
            return binascii.a2b_base64(data, strict_mode=True)
        except binascii.Error as exc:
            raise Base64Error(str(exc)) from exc

    async def decode(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        async for chunk in chunks:
            if decoded := self.feed(chunk):
                yield decoded
        if tail := self.finish():
            yield tail
