"""Content types from bytes, safe file names, and Content-Disposition headers."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest

from tabellion.document.sniff import (
    FALLBACK_TYPE,
    MAX_FILENAME_LENGTH,
    clean_filename,
    content_disposition,
    sniff_content_type,
)

PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
BINARY = bytes(range(256)) * 4  # no known signature, has NUL bytes


# ---- content types ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "declared",
    [None, "application/pdf", "text/html", "image/png", "application/octet-stream", "nonsense"],
)
@pytest.mark.parametrize("filename", [None, "scan.pdf", "page.html", "photo.png", "x"])
@pytest.mark.parametrize(("head", "expected"), [(PDF, "application/pdf"), (PNG, "image/png")])
def test_recognisable_bytes_decide_whatever_was_declared(
    head: bytes, expected: str, declared: str | None, filename: str | None
) -> None:
    assert sniff_content_type(head, filename=filename, declared=declared) == expected


@pytest.mark.parametrize(
    "declared",
    [
        "text/html",
        "TEXT/HTML; charset=utf-8",
        "application/xhtml+xml",
        "image/svg+xml",
        "text/xml",
        "application/xml",
        "application/rss+xml",
        "text/javascript",
        "application/x-javascript",
    ],
)
def test_active_content_declared_is_plain_text(declared: str) -> None:
    head = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'
    assert sniff_content_type(head, declared=declared) == "text/plain"


@pytest.mark.parametrize("filename", ["index.html", "page.htm", "logo.svg", "feed.xml", "app.js"])
def test_active_content_by_name_is_plain_text(filename: str) -> None:
    assert sniff_content_type(b"<html><script>alert(1)</script>", filename=filename) == (
        "text/plain"
    )


@pytest.mark.parametrize(
    ("declared", "filename"),
    [
        (None, None),
        ("application/octet-stream", None),
        ("binary/octet-stream", "blob"),
        ("not a type", "data"),
        (None, "archive.unknownext"),
    ],
)
def test_unknown_binary_is_octet_stream(declared: str | None, filename: str | None) -> None:
    assert sniff_content_type(BINARY, filename=filename, declared=declared) == FALLBACK_TYPE


def test_empty_file_without_hints_is_octet_stream() -> None:
    assert sniff_content_type(b"") == FALLBACK_TYPE


def test_unrecognised_bytes_fall_back_to_declared_then_name_then_text() -> None:
    text = b"Dear Jane,\nplease find our terms.\n"
    assert sniff_content_type(text, declared="text/csv; charset=utf-8") == "text/csv"
    assert sniff_content_type(text, filename="terms.csv") == "text/csv"
    assert sniff_content_type(text, declared="application/octet-stream", filename="a.txt") == (
        "text/plain"
    )
    assert sniff_content_type(text) == "text/plain"
    # UTF-8 cut in the middle of a character at the end of the sample is still text.
    assert sniff_content_type("Résumé, 日本".encode()[:-1]) == "text/plain"
    assert sniff_content_type(b"Latin-1 \xe9t\xe9 text") == FALLBACK_TYPE


# ---- file names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("contract.pdf", "contract.pdf"),
        ("../../etc/passwd", "passwd"),
        ("/var/tmp/report.pdf", "report.pdf"),
        ("C:\\Users\\jane\\Desktop\\scan 01.pdf", "scan 01.pdf"),
        ("dir/", "file"),
        ("a\x00b\r\nc\x1b[31m\x7f.txt", "abc[31m.txt"),
        ("bill\u202egpj.exe", "billgpj.exe"),  # a right-to-left override hides ".exe"
        ("zero\u200bwidth\ufeff.pdf", "zerowidth.pdf"),
        ("line\u2028break\x85.pdf", "linebreak.pdf"),
        ('what?<is>:this*|"name".pdf', "what__is__this___name_.pdf"),
        ("  ..hidden.pdf.  ", "hidden.pdf"),
        ("Re\u0301sume\u0301.pdf", "Résumé.pdf"),  # NFC
        ("日本語の契約書.pdf", "日本語の契約書.pdf"),
        ("", "file"),
        (None, "file"),
        ("...", "file"),
        ("\x00\x01\u202e", "file"),
    ],
)
def test_clean_filename(raw: str | None, expected: str) -> None:
    assert clean_filename(raw) == expected


def test_long_names_keep_their_extension() -> None:
    name = clean_filename("x" * 1000 + ".pdf")
    assert len(name) == MAX_FILENAME_LENGTH
    assert name == "x" * (MAX_FILENAME_LENGTH - 4) + ".pdf"
    wide = clean_filename("契" * 500 + ".docx")
    assert len(wide) == MAX_FILENAME_LENGTH and wide.endswith("契.docx")
    no_ext = clean_filename("y" * 1000)
    assert no_ext == "y" * MAX_FILENAME_LENGTH
    odd_ext = clean_filename("z" * 300 + "." + "e" * 40)  # not an extension worth keeping
    assert len(odd_ext) == MAX_FILENAME_LENGTH and odd_ext.startswith("z")
    # A cut that ends in spaces or dots does not leave "report  ..pdf".
    spaced = clean_filename("a" * 190 + " ." * 10 + "b" * 50 + ".pdf")
    assert spaced == "a" * 190 + ".pdf"


# ---- Content-Disposition ----------------------------------------------------------------------

_HEADER = re.compile(r"^(attachment|inline); filename=\"([\x20-\x7e]*)\"; filename\*=UTF-8''(\S+)$")


@pytest.mark.parametrize(
    ("name", "fallback"),
    [
        ("contract.pdf", "contract.pdf"),
        ("Résumé été.pdf", "Resume ete.pdf"),
        ("Ångström naïve façade.txt", "Angstrom naive facade.txt"),
        ("日本語.pdf", "___.pdf"),
        ("Заявление.docx", "_________.docx"),
        ("emoji 📄.pdf", "emoji _.pdf"),
        ('quote " and \\ backslash.txt', "quote _ and _ backslash.txt"),
        ("ﬁle ①.txt", "file 1.txt"),  # compatibility forms become plain letters
    ],
)
def test_content_disposition_has_ascii_fallback_and_utf8_name(name: str, fallback: str) -> None:
    header = content_disposition(name)
    match = _HEADER.match(header)
    assert match, header
    assert match.group(1) == "attachment"
    assert match.group(2) == fallback
    assert unquote(match.group(3), encoding="utf-8", errors="strict") == name
    header.encode("latin-1")  # a header value must be sendable as is


def test_content_disposition_inline_and_injection() -> None:
    assert content_disposition("a.pdf", inline=True).startswith('inline; filename="a.pdf"')
    header = content_disposition("evil\r\nSet-Cookie: x=1.pdf")
    assert "\r" not in header and "\n" not in header
    assert 'filename="evil__Set-Cookie: x=1.pdf"' in header
    assert content_disposition("").startswith('attachment; filename="file"')
