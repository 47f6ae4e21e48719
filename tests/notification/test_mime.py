"""The notices' MIME pieces, held equal to what the standard library makes of the same input."""

from __future__ import annotations

import binascii
import random
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime, formataddr

import pytest

from tabellion.notification.compose import date_header
from tabellion.notification.mime import _quoted_printable, address_header

# What quoted-printable treats apart: spaces and tabs before a line end, a lone dot, "=",
# long lines (soft breaks at 76), bytes above 127, and every line break splitlines knows.
PIECES = [" ", "\t", ".", "=", "a", "é", "€", "\U0001f600", "-", "<p>", "\x0c", "\r"]
PIECES += ["\n", "\r\n", "\u2028", "x" * 70, "x" * 75, "Hello Jane Doe 0,", "  "]


def _whole(text: str) -> bytes:
    """The text encoded in one call, as notices were before they were encoded line by line."""
    data = "\n".join(text.splitlines()).encode()
    return binascii.b2a_qp(data, quotetabs=False, istext=True).replace(b"\n", b"\r\n")


def test_quoted_printable_line_by_line_is_the_whole_text_encoded() -> None:
    rng = random.Random(2026)
    texts = ["", "\n", ".", ". \n.\n", "a" * 200, "é" * 80 + " \n" + "=" * 90]
    texts += ["".join(rng.choices(PIECES, k=rng.randint(1, 60))) for _ in range(3000)]
    for text in texts:
        assert _quoted_printable(text) == _whole(text), repr(text)
        assert _quoted_printable(text) == _whole(text), repr(text)  # and from the cache


@pytest.mark.parametrize(
    "value",
    [
        "r0@example.test",
        "<r0@example.test>",
        "Jane Doe <jane@example.test>",
        '"Doe, Jane" <jane@example.test>',
        "Zoë Ünal <zoe@example.test>",
        "zoë@exämple.test",
        "Zoë <zoë@exämple.test>",
    ],
)
def test_address_headers_are_formataddr_s(value: str) -> None:
    line, address = address_header("To", value)
    display = value.split("<")[0].strip().strip('"') if "<" in value else ""
    assert address == (value.split("<")[-1].rstrip(">") if "<" in value else value)
    if address.isascii():
        assert line == f"To: {formataddr((display, address), charset='utf-8')}"
    else:  # SMTPUTF8: the header travels as UTF-8
        assert line == (f'To: "{display}" <{address}>' if display else f"To: {address}")


@pytest.mark.parametrize(
    "at",
    [
        datetime(2026, 3, 2, 10, 0, tzinfo=UTC),
        datetime(2026, 12, 7, 16, 30, 57, 999_999, tzinfo=UTC),
        datetime(2026, 7, 1, 23, 59, 59, 500_000, tzinfo=timezone(timedelta(hours=2))),
        datetime(2027, 1, 1, 0, 0, 0, 1, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
    ],
)
def test_the_date_header_is_the_instant_in_utc_to_the_second(at: datetime) -> None:
    expected = format_datetime(at.astimezone(UTC))
    assert date_header(at) == expected
    assert date_header(at) == expected  # and from the cache
    assert date_header(at.replace(microsecond=0)) == expected
    assert date_header(at + timedelta(seconds=1)) != expected
    assert expected.endswith("+0000")
