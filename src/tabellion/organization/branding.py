"""How recipients see an organisation: its names, identifiers, logo and colour.

The logo is a PNG or a JPEG of at most 512 KiB and 16 to 2048 pixels a side, checked by
decoding it (Pillow). SVG is refused: it can carry scripts and remote references, and most mail
clients do not show it anyway. The logo is served from a public URL that names its SHA-256, so
it can be cached for ever (a new logo is a new URL); the colour's stylesheet likewise.

The brand colour fills buttons, with black or white text, whichever contrasts more (one of them
always reaches 4.5:1, WCAG AA); links and outlined buttons on white use the colour darkened
until it reaches 4.5:1 against white.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from tabellion.errors import FieldError, TabellionError, ValidationFailed
from tabellion.models.organization import Organization

LOGO_MAX_BYTES = 512 * 1024
LOGO_MIN_SIDE = 16
LOGO_MAX_SIDE = 2048
LOGO_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg"}
LOGO_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg"}
LOGO_FIELD = "file"
# Public, cacheable: /brand/<organisation id>/logo/<sha256>.<ext>, /brand/colors/<rrggbb>.css
BRAND_PATH = "/brand"

DEFAULT_ACCENT = "#0b5cad"
WHITE, BLACK = "#ffffff", "#000000"
AA = 4.5


class LogoTooLarge(TabellionError):
    status = 413
    code = "logo-too-large"
    title = "Logo too large"


class LogoRefused(ValidationFailed):
    code = "logo-invalid"
    title = "The logo cannot be used"

    @classmethod
    def because(cls, reason: str, message: str) -> LogoRefused:
        return cls(message, errors=[FieldError(field=LOGO_FIELD, code=reason, message=message)])


async def read_capped(chunks: AsyncIterator[bytes], limit: int = LOGO_MAX_BYTES) -> bytes:
    """The whole body, refused (413) as soon as it passes ``limit``: a logo is small, and
    checking it before storing leaves nothing behind when it is refused."""
    buffer = bytearray()
    async for chunk in chunks:
        buffer += chunk
        if len(buffer) > limit:
            raise LogoTooLarge(f"A logo may be at most {limit // 1024} KiB.")
    return bytes(buffer)


def check_logo(data: bytes) -> str:
    """The logo's media type, or a 422 naming what is wrong with it."""
    if not data:
        raise LogoRefused.because("empty-file", "The logo is empty.")
    head = data[:1024].lstrip().lower()
    if head.startswith((b"<?xml", b"<svg", b"<!doctype svg")) or b"<svg" in head:
        raise LogoRefused.because(
            "unsupported-type",
            "SVG logos are refused (they can carry scripts, and most mail clients do not "
            "show them): send a PNG or a JPEG.",
        )
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind, (width, height) = image.format, image.size
            if kind in LOGO_TYPES and _sides_ok(width, height):
                image.verify()  # reads the whole file: a truncated or damaged one fails
    except Image.DecompressionBombError:
        raise LogoRefused.because(
            "dimensions", f"The logo is far larger than {LOGO_MAX_SIDE} pixels a side."
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise LogoRefused.because(
            "unreadable", "The logo is not a readable PNG or JPEG image."
        ) from None
    if kind not in LOGO_TYPES:
        raise LogoRefused.because("unsupported-type", f"The logo is {kind}: send a PNG or a JPEG.")
    if not _sides_ok(width, height):
        raise LogoRefused.because(
            "dimensions",
            f"The logo is {width}×{height} pixels: each side must be between {LOGO_MIN_SIDE} "
            f"and {LOGO_MAX_SIDE}.",
        )
    return LOGO_TYPES[kind]


def _sides_ok(width: int, height: int) -> bool:
    return all(LOGO_MIN_SIDE <= side <= LOGO_MAX_SIDE for side in (width, height))


def logo_path(org: Organization) -> str | None:
    if not org.logo_key or not org.logo_content_type:
        return None
    extension = LOGO_EXTENSIONS.get(org.logo_content_type, "img")
    return f"{BRAND_PATH}/{org.id}/logo/{org.logo_key}.{extension}"


def color_path(color: str) -> str:
    return f"{BRAND_PATH}/colors/{color.removeprefix('#').lower()}.css"


# ---- colour -----------------------------------------------------------------------------------


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def luminance(color: str) -> float:
    """WCAG 2 relative luminance of ``#rrggbb``."""
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast(first: str, second: str) -> float:
    light, dark = sorted((luminance(first), luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def _darker(color: str, step: float) -> str:
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return "#" + "".join(f"{round(v * (1 - step)):02x}" for v in (r, g, b))


@dataclass(frozen=True)
class Palette:
    button: str  # the brand colour itself, behind button text
    button_ink: str  # black or white, whichever contrasts more with it
    accent: str  # links and outlined buttons on white: at least 4.5:1 against white

    def css(self) -> str:
        return (
            f":root {{ --accent: {self.accent}; --accent-ink: #ffffff; "
            f"--button: {self.button}; --button-ink: {self.button_ink}; }}\n"
        )


def palette(color: str | None) -> Palette:
    if not color:
        return Palette(DEFAULT_ACCENT, WHITE, DEFAULT_ACCENT)
    color = color.lower()
    ink = WHITE if contrast(color, WHITE) >= contrast(color, BLACK) else BLACK
    accent, step = color, 0.0
    while contrast(accent, WHITE) < AA:
        step += 0.05
        accent = _darker(color, step)
    return Palette(color, ink, accent)


# ---- what pages and e-mails show ---------------------------------------------------------------


@dataclass(frozen=True)
class Brand:
    """The sender as recipients see it (pages and e-mails whose sender may be named)."""

    name: str
    legal_name: str | None
    identifiers: list[tuple[str, str]]
    logo_url: str | None  # absolute, for e-mails
    logo_path: str | None  # for pages on this site
    palette: Palette
    color_css: str | None  # the stylesheet of a chosen colour

    @property
    def legal_line(self) -> str:
        """ "Acme SAS · SIREN 732829320 · VAT FR40732829320" (empty without any of them)."""
        parts = [self.legal_name] if self.legal_name and self.legal_name != self.name else []
        parts += [f"{label} {value}" for label, value in self.identifiers]
        return " · ".join(p for p in parts if p)


def brand_of(org: Organization, base_url: str, *, name: str | None = None) -> Brand:
    """``name`` overrides the display name (a message's own sender name)."""
    identifiers = [
        (label, value)
        for label, value in (("SIREN", org.siren), ("KvK", org.kvk), ("VAT", org.vat))
        if value
    ]
    path = logo_path(org)
    return Brand(
        name=name or org.name,
        legal_name=org.legal_name,
        identifiers=identifiers,
        logo_url=base_url + path if path else None,
        logo_path=path,
        palette=palette(org.brand_color),
        color_css=color_path(org.brand_color) if org.brand_color else None,
    )
