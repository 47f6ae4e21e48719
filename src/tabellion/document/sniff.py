"""File names and content types of uploaded files.

A sender's (or a recipient's) declared type is never trusted on its own: the first bytes decide
when they are recognisable, the name's extension helps otherwise, and HTML is never served as
HTML (it would run in our origin).
"""

from __future__ import annotations

import mimetypes
import re
import unicodedata
from urllib.parse import quote

import filetype

MAX_FILENAME_LENGTH = 200
FALLBACK_TYPE = "application/octet-stream"
# Types that a browser would render as active content in our origin (any ``+xml`` type too:
# XML may carry XHTML or SVG with scripts).
_DANGEROUS = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "image/svg+xml",
        "text/xml",
        "application/xml",
        "text/xsl",
        "text/javascript",
        "application/javascript",
        "application/x-javascript",
        "text/ecmascript",
        "application/ecmascript",
        "multipart/x-mixed-replace",
    }
)
# Control, format (bidirectional overrides, zero-width...), separator and surrogate code
# points: a name such as "invoice\u202egpj.exe" would otherwise read as "invoiceexe.jpg".
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_UNSAFE = re.compile(r'[\\/:*?"<>|]')
_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")


def clean_filename(name: str | None) -> str:
    """A name safe to store and show: no path, no control characters, bounded length."""
    if not name:
        return "file"
    name = unicodedata.normalize("NFC", name)
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c) not in _INVISIBLE)
    name = _UNSAFE.sub("_", name).strip().strip(".")
    if len(name) > MAX_FILENAME_LENGTH:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 16:
            name = stem[: MAX_FILENAME_LENGTH - len(ext) - 1].rstrip(" .") + "." + ext
        else:
            name = name[:MAX_FILENAME_LENGTH].rstrip(" .")
    return name or "file"


def _normalise(declared: str | None) -> str | None:
    if not declared:
        return None
    kind = declared.split(";", 1)[0].strip().lower()
    return kind if _TYPE.match(kind) else None


def sniff_content_type(
    head: bytes, *, filename: str | None = None, declared: str | None = None
) -> str:
    """The type to record for a file whose first bytes are ``head``."""
    found = filetype.guess_mime(head) if head else None
    if not found:
        by_name = mimetypes.guess_type(filename or "", strict=False)[0]
        declared_kind = _normalise(declared)
        if declared_kind and declared_kind not in (FALLBACK_TYPE, "binary/octet-stream"):
            found = declared_kind
        elif by_name:
            found = by_name
        elif head and _looks_like_text(head):
            found = "text/plain"
    if not found:
        return FALLBACK_TYPE
    found = found.lower()
    if found in _DANGEROUS or found.endswith("+xml"):
        # Shown as source, never rendered.
        return "text/plain"
    return found


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is still text.
        return exc.start >= len(head) - 3
    return True


def content_disposition(filename: str, *, inline: bool = False) -> str:
    """An RFC 6266 header with an ASCII fallback and the UTF-8 name."""
    kind = "inline" if inline else "attachment"
    # Accents dropped ("é" → "e"), other non-ASCII characters kept visible as "_".
    decomposed = unicodedata.normalize("NFKD", filename)
    ascii_name = "".join(
        c if c.isascii() else "_" for c in decomposed if unicodedata.category(c) != "Mn"
    )
    ascii_name = re.sub(r'["\\\x00-\x1f\x7f]', "_", ascii_name).strip() or "file"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"
