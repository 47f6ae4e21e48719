"""The streaming JSON reader and base64 decoder: any chunking reads alike; memory stays flat."""

from __future__ import annotations

import base64
import json
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tabellion.document.jsonstream import (
    Base64Decoder,
    Base64Error,
    JsonReader,
    JsonSyntaxError,
    ValueTooLarge,
)


async def chunked(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]
        yield b""  # a server may hand over an empty chunk anywhere


async def read_all(reader: JsonReader, stream: str = "file") -> Any:
    """The document, with the values of ``stream`` keys decoded from base64 by streaming."""
    first = await reader.peek()
    if first == "{":
        out: dict[str, Any] = {}
        async for key in reader.members():
            if key == stream and await reader.peek() == '"':
                out[key] = b"".join(
                    [c async for c in Base64Decoder().decode(reader.string_chunks())]
                )
            else:
                out[key] = await read_all(reader, stream)
        return out
    if first == "[":
        return [await read_all(reader, stream) async for _ in reader.items()]
    return await reader.value()


async def read_document(raw: bytes) -> Any:
    reader = JsonReader(chunked(raw, 2), max_value_bytes=100)
    document = await read_all(reader)
    await reader.end()
    return document


async def members_whole(reader: JsonReader) -> dict[str, Any]:
    return {key: await reader.value() async for key in reader.members()}


DOCUMENT = {
    "subject": 'Quote " and back\\slash, unicode é ✓ \u2028',
    "n": -12.5e3,
    "flags": [True, False, None],
    "nested": {"a": [1, {"b": "}]"}], "empty": {}, "list": []},
    "files": [{"file": base64.b64encode(bytes(range(256)) * 4).decode(), "name": "x/y.pdf"}],
}


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 64, 100_000])
async def test_every_chunking_reads_the_same(size: int) -> None:
    raw = json.dumps(DOCUMENT, ensure_ascii=False).replace("/", "\\/").encode()
    reader = JsonReader(chunked(raw, size), max_value_bytes=10_000)
    got = await read_all(reader)
    await reader.end()
    expected = json.loads(raw)
    expected["files"][0]["file"] = bytes(range(256)) * 4
    assert got == expected


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b'{"a"', b'{"a":}', b'{"a":1,}', b'{"a" 1}', b'{"a":"x}', b"[1 2]", b'{"a":tru}'],
)
async def test_broken_json_is_a_syntax_error(raw: bytes) -> None:
    with pytest.raises(JsonSyntaxError):
        await read_document(raw)


async def test_trailing_data_is_an_error() -> None:
    reader = JsonReader(chunked(b'{"a": 1} {"b": 2}', 3), max_value_bytes=100)
    await read_all(reader)
    with pytest.raises(JsonSyntaxError):
        await reader.end()


@pytest.mark.parametrize(
    "raw", [b'{"a": "' + b"x" * 200 + b'"}', b'{"a": [' + b"1," * 100 + b"1]}"]
)
async def test_values_read_whole_are_bounded(raw: bytes) -> None:
    with pytest.raises(ValueTooLarge):
        await members_whole(JsonReader(chunked(raw, 16), max_value_bytes=100))


@pytest.mark.parametrize(
    "text",
    [b"QUJD=RA==", b"QU*D", b"QUJDR", b"QUI=QUI=", b"====", b"QUJD\\u0041"],
)
async def test_bad_base64(text: bytes) -> None:
    raw = b'{"file": "' + text + b'"}'
    with pytest.raises((Base64Error, JsonSyntaxError)):
        await read_all(JsonReader(chunked(raw, 3), max_value_bytes=100))


@pytest.mark.parametrize("size", [1, 3, 4, 1000])
def test_base64_decoder_any_split(size: int) -> None:
    data = bytes(range(256)) * 10 + b"ab"
    text = base64.b64encode(data)
    decoder = Base64Decoder()
    out = b"".join(decoder.feed(text[i : i + size]) for i in range(0, len(text), size))
    assert out + decoder.finish() == data


async def test_a_large_base64_string_streams_in_flat_memory() -> None:
    """20 MiB of base64 (15 MiB decoded) through reader and decoder: peak well under 1 MiB."""
    block = base64.b64encode(b"\x00\xff" * 24_576)  # 64 KiB of text
    count = 320

    async def body() -> AsyncIterator[bytes]:
        yield b'{"name": "big.bin", "file": "'
        for _ in range(count):
            yield block
        yield b'"}'

    tracemalloc.start()
    try:
        reader = JsonReader(body(), max_value_bytes=1024)
        total = 0
        async for key in reader.members():
            if key == "file":
                async for chunk in Base64Decoder().decode(reader.string_chunks()):
                    total += len(chunk)
            else:
                await reader.value()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == count * 49_152
    assert peak < 1024 * 1024, peak
