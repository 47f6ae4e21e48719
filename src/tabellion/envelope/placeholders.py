"""Fields placed by text tags written in the PDF, such as ``{{signature, r1}}``.

A tag names a field type and a recipient: ``rN`` is the N-th recipient as the envelope lists
them (by order, then as created). Options may follow: ``{{text, r2, label=Company}}``,
``{{date, r1, optional}}``. The tag's box (found with pdfium's text extraction) is where the
field goes, grown to a usable size; the completed PDF covers the tag with white before the
value is drawn, so the tag does not show in the signed document. The original is kept as is.
"""

from __future__ import annotations

import ctypes
import re
from dataclasses import dataclass, field
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from tabellion.errors import FieldError, ValidationFailed

TAG = re.compile(r"\{\{\s*([A-Za-z]+)\s*,\s*[rR](\d{1,3})\s*((?:,[^{}]{0,200})?)\}\}")
MAX_TAGS = 500
# The smallest field a tag gives, in percent of the page (width, height).
MIN_SIZE: dict[str, tuple[float, float]] = {
    "signature": (25.0, 6.0),
    "initials": (8.0, 4.0),
    "checkbox": (2.5, 2.0),
    "radio": (15.0, 3.0),
}
DEFAULT_SIZE = (20.0, 3.0)
# White drawn over a tag: a little wider than its glyph boxes.
COVER_PAD = 0.15  # percent of the page


class BadPlaceholder(ValidationFailed):
    code = "bad-placeholder"
    title = "A text tag in the PDF cannot become a field"


@dataclass
class Tag:
    text: str
    type: str
    recipient: int  # 1-based, as rN
    page: int
    box: tuple[float, float, float, float]  # x, y, width, height in percent, top-left origin
    options: dict[str, Any] = field(default_factory=dict)

    def placement(self) -> tuple[float, float, float, float]:
        """The field's box: the tag's, grown to the type's minimum size within the page."""
        x, y, width, height = self.box
        min_w, min_h = MIN_SIZE.get(self.type, DEFAULT_SIZE)
        width, height = min(max(width, min_w), 100.0), min(max(height, min_h), 100.0)
        # Grown from the tag's top-left corner; pushed back inside the page if it overflows.
        return min(x, 100.0 - width), min(y, 100.0 - height), width, height


def _options(raw: str) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        key = key.strip().lower()
        if not sep:
            options[key] = True
        else:
            options[key] = value.strip()
    return options


def _charbox_union(textpage: pdfium.PdfTextPage, start: int, end: int) -> tuple[float, ...] | None:
    boxes = []
    for index in range(start, end):
        left, bottom, right, top = textpage.get_charbox(index, loose=True)
        if right > left and top > bottom:
            boxes.append((left, bottom, right, top))
    if not boxes:
        return None
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def _percent(fraction: float) -> float:
    return max(0.0, min(100.0, float(fraction) * 100))


def find_tags(path: str) -> list[Tag]:
    """Every tag in the PDF at ``path``, page by page."""
    document = pdfium.PdfDocument(path)
    tags: list[Tag] = []
    try:
        for number in range(len(document)):
            page = document[number]
            textpage = page.get_textpage()
            count = textpage.count_chars()
            text = textpage.get_text_range(0, count) if count else ""
            # One character per index: the regex's offsets are character indices.
            if "{{" not in text:
                continue
            left0, bottom0, right0, top0 = page.get_bbox()
            page_w, page_h = right0 - left0, top0 - bottom0
            for match in TAG.finditer(text):
                union = _charbox_union(textpage, match.start(), match.end())
                if union is None:
                    continue
                left, bottom, right, top = union
                box = (
                    _percent((left - left0) / page_w),
                    _percent((top0 - top) / page_h),
                    _percent((right - left) / page_w),
                    _percent((top - bottom) / page_h),
                )
                tags.append(
                    Tag(
                        text=match.group(0),
                        type=match.group(1).lower(),
                        recipient=int(match.group(2)),
                        page=number + 1,
                        box=box,
                        options=_options(match.group(3)),
                    )
                )
                if len(tags) > MAX_TAGS:
                    raise BadPlaceholder.field(
                        "file",
                        f"The PDF has more than {MAX_TAGS} text tags.",
                        code=BadPlaceholder.code,
                    )
    finally:
        document.close()
    return tags


def find_texts(path: str, needles: list[str], *, limit: int = MAX_TAGS) -> dict[str, list[Tag]]:
    """Where each of ``needles`` is written in the PDF at ``path`` (any text, as an API gives
    it), page by page, as tags of no type and no recipient yet: at most ``limit`` in all."""
    found: dict[str, list[Tag]] = {needle: [] for needle in needles}
    count = 0
    document = pdfium.PdfDocument(path)
    try:
        for number in range(len(document)):
            page = document[number]
            textpage = page.get_textpage()
            chars = textpage.count_chars()
            text = textpage.get_text_range(0, chars) if chars else ""
            left0, bottom0, right0, top0 = page.get_bbox()
            page_w, page_h = right0 - left0, top0 - bottom0
            for needle in needles:
                start = text.find(needle) if needle else -1
                while start >= 0:
                    union = _charbox_union(textpage, start, start + len(needle))
                    if union is not None:
                        left, bottom, right, top = union
                        box = (
                            _percent((left - left0) / page_w),
                            _percent((top0 - top) / page_h),
                            _percent((right - left) / page_w),
                            _percent((top - bottom) / page_h),
                        )
                        found[needle].append(Tag(needle, "", 0, number + 1, box))
                        count += 1
                        if count > limit:
                            raise BadPlaceholder.field(
                                "placeholder",
                                f"The texts are found more than {limit} times in the PDF.",
                                code=BadPlaceholder.code,
                            )
                    start = text.find(needle, start + len(needle))
    finally:
        document.close()
    return found


def field_data(tag: Tag) -> dict[str, Any]:
    """The field a tag asks for, as the API's FieldIn takes it (less its ids)."""
    x, y, width, height = tag.placement()
    options = tag.options
    meta: dict[str, Any] = {}
    for key in ("label", "placeholder", "default"):
        if isinstance(options.get(key), str):
            meta[key] = options[key]
    if isinstance(options.get("options"), str):
        meta["options"] = [o.strip() for o in options["options"].split("|") if o.strip()]
    return {
        "type": tag.type,
        "page": tag.page,
        "x": round(x, 4),
        "y": round(y, 4),
        "width": round(width, 4),
        "height": round(height, 4),
        "required": not options.get("optional", False),
        "meta": meta,
    }


def tag_error(tag: Tag, message: str) -> BadPlaceholder:
    where = f"page {tag.page}, {tag.text}"
    return BadPlaceholder(
        f"{where}: {message}",
        errors=[FieldError(field="file", code=BadPlaceholder.code, message=f"{where}: {message}")],
    )


def _object_text(obj: pdfium.PdfObject, textpage: pdfium.PdfTextPage) -> str:
    size = pdfium_c.FPDFTextObj_GetText(obj.raw, textpage.raw, None, 0)
    if size <= 2:
        return ""
    buffer = ctypes.create_string_buffer(size)
    pointer = ctypes.cast(buffer, ctypes.POINTER(pdfium_c.FPDF_WCHAR))
    pdfium_c.FPDFTextObj_GetText(obj.raw, textpage.raw, pointer, size)
    return buffer.raw[: size - 2].decode("utf-16-le", errors="replace")


def clear(page: pdfium.PdfPage, tags: list[dict[str, Any]]) -> None:
    """Take the page's tags out of the completed PDF: a text object that holds a tag alone is
    removed (its text no longer extracts either); a tag sharing its object with other text is
    covered with white."""
    wanted = {str(t["text"]).strip() for t in tags}
    textpage = page.get_textpage()
    removed: set[str] = set()
    for obj in list(page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_TEXT,), max_depth=1)):
        text = _object_text(obj, textpage).strip()
        if text in wanted:
            page.remove_obj(obj)
            removed.add(text)
    textpage.close()
    for tag in tags:
        if str(tag["text"]).strip() not in removed:
            cover(page, tag["box"])


def cover(page: pdfium.PdfPage, box: list[float]) -> None:
    """White over a tag's box (percent, top-left origin), below what is drawn next."""
    left0, bottom0, right0, top0 = page.get_bbox()
    page_w, page_h = right0 - left0, top0 - bottom0
    x, y, width, height = box
    pad_x, pad_y = COVER_PAD / 100 * page_w, COVER_PAD / 100 * page_h
    left = left0 + x / 100 * page_w - pad_x
    bottom = top0 - (y + height) / 100 * page_h - pad_y
    rect = pdfium_c.FPDFPageObj_CreateNewRect(
        left, bottom, width / 100 * page_w + 2 * pad_x, height / 100 * page_h + 2 * pad_y
    )
    pdfium_c.FPDFPageObj_SetFillColor(rect, 255, 255, 255, 255)
    pdfium_c.FPDFPath_SetDrawMode(rect, pdfium_c.FPDF_FILLMODE_ALTERNATE, False)
    pdfium_c.FPDFPage_InsertObject(page.raw, rect)
