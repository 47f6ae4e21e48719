"""Reading uploaded PDFs: is it one, can it be opened without a password, how many pages."""

from __future__ import annotations

import asyncio
import os
import tempfile

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from tabellion.document.storage import BlobStore
from tabellion.envelope.placeholders import Tag, find_tags, find_texts
from tabellion.errors import ValidationFailed

# Where a PDF header may start: readers accept leading junk within the first kilobyte.
HEADER_WINDOW = 1024


class NotAPdf(ValidationFailed):
    code = "not-a-pdf"
    title = "The file is not a PDF"


class EncryptedPdf(ValidationFailed):
    code = "pdf-encrypted"
    title = "The PDF is encrypted"


class BrokenPdf(ValidationFailed):
    code = "pdf-unreadable"
    title = "The PDF cannot be read"


def _page_count(path: str) -> int:
    try:
        document = pdfium.PdfDocument(path)
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise EncryptedPdf("The PDF needs a password; upload it unencrypted.") from exc
        raise BrokenPdf(f"The PDF cannot be read: {exc}.") from exc
    try:
        # An owner-password-only PDF opens, but signing would have to break its permissions.
        if pdfium_c.FPDF_GetSecurityHandlerRevision(document.raw) != -1:
            raise EncryptedPdf("The PDF is encrypted; upload it unencrypted.")
        pages = len(document)
        if pages < 1:
            raise BrokenPdf("The PDF has no page.")
        return pages
    finally:
        document.close()


async def inspect_pdf(storage: BlobStore, key: str, head: bytes) -> int:
    """The page count of a stored PDF, or a 422 saying why it cannot be signed."""
    pages, _ = await inspect_pdf_tags(storage, key, head, tags=False)
    return pages


async def inspect_pdf_tags(
    storage: BlobStore, key: str, head: bytes, *, tags: bool = True
) -> tuple[int, list[Tag]]:
    """The page count and the text tags (``placeholders``) of a stored PDF."""
    if b"%PDF-" not in head[:HEADER_WINDOW]:
        raise NotAPdf("Only PDF files can be signed.")
    fd, path = tempfile.mkstemp(suffix=".pdf")
    try:
        with os.fdopen(fd, "wb") as fh:
            async for chunk in storage.open(key):
                fh.write(chunk)
        pages = await asyncio.to_thread(_page_count, path)
        return pages, (await asyncio.to_thread(find_tags, path) if tags else [])
    finally:
        os.unlink(path)


async def locate_texts(storage: BlobStore, key: str, needles: list[str]) -> dict[str, list[Tag]]:
    """Where each text of ``needles`` is written in a stored (already checked) PDF."""
    fd, path = tempfile.mkstemp(suffix=".pdf")
    try:
        with os.fdopen(fd, "wb") as fh:
            async for chunk in storage.open(key):
                fh.write(chunk)
        return await asyncio.to_thread(find_texts, path, needles)
    finally:
        os.unlink(path)
