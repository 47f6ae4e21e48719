"""Notification e-mails built straight into bytes, ready for SMTP.

A notice is a fixed shape (a few headers, a text and an HTML part), so it is written out
directly instead of through ``email.message.EmailMessage``, whose header parsing and
generator cost several times the SMTP exchange itself. Headers are single-line (CR and LF
cannot slip in: no header injection), encoded as RFC 2047 words when not ASCII, and folded;
both parts are UTF-8 in quoted-printable, so the message is 7-bit clean and lines stay short.
Only an address that needs SMTPUTF8 travels raw, as RFC 6532 allows.
"""

from __future__ import annotations

import binascii
import functools
import itertools
import secrets
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import formataddr, parseaddr
from typing import NamedTuple

CRLF = "\r\n"
CRLF_BYTES = b"\r\n"
_FOLD_AT = 78
_WORD_BYTES = 45  # base64 of 45 bytes is 60 characters: 75 with "=?utf-8?b?" and "?="


_BOUNDARY_PREFIX = secrets.token_hex(8)
_boundaries = itertools.count(1)


class RawMail(NamedTuple):
    """A message as it goes on the wire, with the addresses of its envelope."""

    data: bytes
    sender: str  # the From address; the envelope sender unless the caller gives one
    recipients: tuple[str, ...]
    smtputf8: bool = False  # an address needs SMTPUTF8

    def parsed(self) -> EmailMessage:
        return message_from_bytes(self.data, policy=policy.default)


def one_line(text: str) -> str:
    return " ".join(text.split())


def _fold(name: str, value: str) -> str:
    """An ASCII header folded at spaces to lines of at most 78 characters where it can."""
    lines: list[str] = []
    line = f"{name}:"
    for word in value.split(" "):
        if len(line) + 1 + len(word) > _FOLD_AT and line != f"{name}:":
            lines.append(line)
            line = ""
        line += " " + word
    lines.append(line)
    return CRLF.join(lines)


@functools.lru_cache(maxsize=256)
def encoded_words(value: str) -> str:
    """RFC 2047 "B" words of at most 75 characters, never splitting a character.

    Kept for the values seen last: a dispatch's notices share a subject in each language, and
    encoding one character at a time costs more than the rest of its header."""
    words: list[str] = []
    chunk = bytearray()
    for char in value:
        encoded = char.encode()
        if len(chunk) + len(encoded) > _WORD_BYTES:
            words.append(_word(chunk))
            chunk.clear()
        chunk += encoded
    if chunk:
        words.append(_word(chunk))
    return (CRLF + " ").join(words)


def _word(chunk: bytes | bytearray) -> str:
    return f"=?utf-8?b?{binascii.b2a_base64(chunk, newline=False).decode()}?="


def text_header(name: str, value: str) -> str:
    value = one_line(value)
    if not value.isascii():
        return f"{name}: {encoded_words(value)}"
    if len(name) + 2 + len(value) <= _FOLD_AT:
        return f"{name}: {value}"
    return _fold(name, value)


@functools.lru_cache(maxsize=64)
def address_header(name: str, value: str) -> tuple[str, str]:
    """``Name: Display <address>`` and the bare address."""
    value = one_line(value)
    if "<" not in value and " " not in value and "@" in value:
        display, address = "", value  # a bare address: nothing to parse
    else:
        display, address = parseaddr(value)
    if not address:
        raise ValueError(f"no address in {value!r}")
    if not display:
        return f"{name}: {address}", address  # as formataddr gives it
    if not address.isascii():
        # SMTPUTF8: the header travels as UTF-8; the display name may too.
        return f'{name}: "{display}" <{address}>', address
    return f"{name}: {formataddr((display, address), charset='utf-8')}", address


def _quoted_printable(text: str) -> bytes:
    """``text`` in quoted-printable with CRLF line ends, encoded line by line.

    A line's encoding depends on that line alone and on whether a line end follows it (a
    space closing the text is counted otherwise than one before a line end), and the notices
    of a dispatch share all their lines but the greeting's and the link's: most lines come
    from ``_encoded_line``'s cache (``binascii.b2a_qp`` costs ~15 ns a byte). The result is
    what one ``b2a_qp`` of the whole text gives (tests/notification/test_mime.py)."""
    lines = text.splitlines()
    if not lines:
        return b""
    *body, last = lines
    return CRLF_BYTES.join([*[_encoded_line(line + "\n") for line in body], _encoded_line(last)])


@functools.lru_cache(maxsize=1024)
def _encoded_line(line: str) -> bytes:
    encoded = binascii.b2a_qp(line.encode(), quotetabs=False, istext=True)
    return encoded.removesuffix(b"\n").replace(b"\n", CRLF_BYTES)  # soft line breaks


@dataclass
class MailBuilder:
    """Headers first, then ``alternative(text, html)``."""

    lines: list[str] = field(default_factory=list)
    sender: str = ""
    recipients: list[str] = field(default_factory=list)

    def header(self, name: str, value: str) -> MailBuilder:
        self.lines.append(text_header(name, value))
        return self

    def from_(self, value: str) -> MailBuilder:
        line, self.sender = address_header("From", value)
        self.lines.append(line)
        return self

    def to(self, value: str) -> MailBuilder:
        line, address = address_header("To", value)
        self.lines.append(line)
        self.recipients.append(address)
        return self

    def alternative(self, text: str, html: str, *, language: str | None = None) -> RawMail:
        # "=_" never occurs in quoted-printable, so the boundary needs no randomness of its
        # own; a process's random prefix and a count keep each message's apart all the same.
        boundary = f"=_{_BOUNDARY_PREFIX}{next(_boundaries):x}"
        head = [
            *self.lines,
            "MIME-Version: 1.0",
            f'Content-Type: multipart/alternative; boundary="{boundary}"',
        ]
        if language:
            head.append(text_header("Content-Language", language))
        part = "Content-Type: text/{}; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable"
        data = b"".join(
            (
                (CRLF.join(head) + CRLF + CRLF).encode(),
                f"--{boundary}\r\n{part.format('plain')}\r\n\r\n".encode(),
                _quoted_printable(text),
                f"\r\n--{boundary}\r\n{part.format('html')}\r\n\r\n".encode(),
                _quoted_printable(html),
                f"\r\n--{boundary}--\r\n".encode(),
            )
        )
        addresses = [self.sender, *self.recipients]
        return RawMail(
            data=data,
            sender=self.sender,
            recipients=tuple(self.recipients),
            smtputf8=not all(a.isascii() for a in addresses),
        )
