"""Text in PDFs drawn with fpdf2's core fonts (Helvetica, Courier), wrapped at a fraction of
the cost of ``multi_cell``: fpdf2's line breaker measures each character again for every
candidate line (time quadratic in a line's length), where core fonts, which have no kerning,
let a word's width be the sum of its characters' widths, measured once per font and size."""

from __future__ import annotations

import functools

from fpdf import FPDF


@functools.lru_cache(maxsize=16)
def core_widths(family: str, style: str, size: float) -> dict[str, float]:
    """Character widths (mm) of a core font at a size, measured once: fpdf2's own measure
    costs a font lookup per call."""
    pdf = FPDF(format="A4")
    pdf.set_font(family, style=style, size=size)
    return {chr(c): pdf.get_string_width(chr(c)) for c in range(32, 256)}


def wrap_lines(pdf: FPDF, text: str, width: float) -> list[str]:
    """``text`` in lines no wider than ``width``, broken at spaces (inside a word only when
    the word alone is wider), as ``multi_cell`` breaks them. Core fonts have no kerning, so
    a word's width is the sum of its characters'."""
    widths = core_widths(pdf.font_family, pdf.font_style, pdf.font_size_pt)

    def measure(word: str) -> float:
        return sum(widths.get(c, 0.0) for c in word)

    lines: list[str] = []
    line: str | None = None
    line_width = 0.0
    space = widths[" "]
    for word in text.split(" "):
        word_width = measure(word)
        if line is not None and line_width + space + word_width <= width:
            line, line_width = f"{line} {word}", line_width + space + word_width
            continue
        if line is not None:
            lines.append(line)
        while word_width > width and len(word) > 1:
            cut, cut_width = 0, 0.0
            while cut < len(word) - 1 and cut_width + widths.get(word[cut], 0.0) <= width:
                cut_width += widths.get(word[cut], 0.0)
                cut += 1
            cut = max(cut, 1)
            lines.append(word[:cut])
            word = word[cut:]
            word_width = measure(word)
        line, line_width = word, word_width
    lines.append(line or "")
    return lines
