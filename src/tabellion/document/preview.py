"""PDF pages as images, so a recipient can read a document without downloading it."""

from __future__ import annotations

import asyncio
import io
import os
import tempfile
from collections.abc import Callable
from typing import TypeVar

import pypdfium2 as pdfium

from tabellion.document.storage import BlobStore

MAX_PREVIEW_BYTES = 100 * 1024 * 1024
MAX_PAGES = 200
SCALE = 1.5  # 108 dpi: legible on a phone, small enough to send quickly


T = TypeVar("T")


class PreviewUnavailable(Exception):
    """The document cannot be previewed (not a PDF, too large, damaged, no such page)."""


async def page_count(storage: BlobStore, key: str, size: int) -> int:
    return await _with_file(storage, key, size, _count)


async def render_page(storage: BlobStore, key: str, size: int, page: int) -> bytes:
    """PNG of page ``page`` (1-based)."""
    return await _with_file(storage, key, size, lambda path: _render(path, page))


async def _with_file(storage: BlobStore, key: str, size: int, work: Callable[[str], T]) -> T:
    if size > MAX_PREVIEW_BYTES:
        raise PreviewUnavailable("too large to preview")
    fd, path = tempfile.mkstemp(suffix=".pdf")
    try:
        with os.fdopen(fd, "wb") as fh:
            async for chunk in storage.open(key):
                fh.write(chunk)
        return await asyncio.to_thread(work, path)
    finally:
        os.unlink(path)


def _count(path: str) -> int:
    try:
        document = pdfium.PdfDocument(path)
    except pdfium.PdfiumError as exc:
        raise PreviewUnavailable(str(exc)) from exc
    try:
        return min(len(document), MAX_PAGES)
    finally:
        document.close()


def _render(path: str, page: int) -> bytes:
    try:
        document = pdfium.PdfDocument(path)
    except pdfium.PdfiumError as exc:
        raise PreviewUnavailable(str(exc)) from exc
    try:
        if not 1 <= page <= min(len(document), MAX_PAGES):
            raise PreviewUnavailable("no such page")
        image = document[page - 1].render(scale=SCALE).to_pil()
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", optimize=True)
        return buffer.getvalue()
    finally:
        document.close()
