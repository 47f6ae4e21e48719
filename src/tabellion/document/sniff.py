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

from tabellion.errors import ValidationFailed

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


class EmptyFile(ValidationFailed):
    code = "empty-file"
    title = "The file is empty"


class ContentTypeMismatch(ValidationFailed):
    code = "content-type-mismatch"
    title = "The file's content is not of the type declared"


class ExecutableRefused(ValidationFailed):
    code = "executable-refused"
    title = "Executable files are not accepted"


# Other names clients give the same type.
_ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "image/x-png": "image/png",
    "application/x-pdf": "application/pdf",
    "application/x-zip-compressed": "application/zip",
    "application/x-zip": "application/zip",
    "application/x-gzip": "application/gzip",
    "audio/mp3": "audio/mpeg",
    "audio/wav": "audio/x-wav",
    "audio/wave": "audio/x-wav",
    "audio/flac": "audio/x-flac",
    "video/avi": "video/x-msvideo",
}
# Containers whose magic bytes say little about the document inside: a .docx starts as a zip,
# a .doc as any OLE file, an .m4a as an MP4. A declared type within the family is believed.
_FAMILIES = (
    frozenset(
        {
            "application/zip",
            "application/epub+zip",
            "application/java-archive",
            "application/x-google-chrome-extension",
            "application/vnd.oasis.opendocument.text",
            "application/vnd.oasis.opendocument.spreadsheet",
            "application/vnd.oasis.opendocument.presentation",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        }
    ),
    frozenset(
        {
            "application/msword",
            "application/vnd.ms-excel",
            "application/vnd.ms-powerpoint",
            "application/vnd.ms-outlook",
            "application/x-ole-storage",
        }
    ),
    frozenset({"video/mp4", "audio/mp4", "video/x-m4v", "video/quicktime", "video/3gpp"}),
)
# Types recognisable by their first bytes: declared, their content must show them.
_MAGIC_TYPES = frozenset(t.mime for t in filetype.types) - {FALLBACK_TYPE}
_EXECUTABLE_TYPES = frozenset(
    {
        "application/x-msdownload",
        "application/x-executable",
        "application/x-mach-binary",
        "application/x-sharedlib",
        "application/vnd.microsoft.portable-executable",
        "application/x-msi",
        "application/x-deb",
        "application/x-rpm",
        "application/vnd.android.package-archive",
    }
)
# Names Windows, macOS or a shell would run when opened, whatever the content says.
_EXECUTABLE_EXTENSIONS = frozenset(
    {
        "exe",
        "dll",
        "com",
        "scr",
        "msi",
        "msp",
        "pif",
        "cpl",
        "bat",
        "cmd",
        "ps1",
        "psm1",
        "vbs",
        "vbe",
        "js",
        "jse",
        "wsf",
        "wsh",
        "hta",
        "jar",
        "sh",
        "app",
        "apk",
        "lnk",
        "reg",
        "gadget",
        "appimage",
        "run",
        "deb",
        "rpm",
        "command",
    }
)


def checked_content_type(
    head: bytes,
    size: int,
    *,
    filename: str,
    declared: str | None,
    allow_executables: bool,
    field: str = "file",
    trust_declared: bool = False,
) -> str:
    """The type to store for an upload, or the reason it is refused: empty, an executable
    the organisation does not accept, or a declared type its content contradicts."""
    if size == 0:
        raise EmptyFile.field(field, f"{filename} is empty (0 bytes).", code="empty-file")
    found = filetype.guess_mime(head) if head else None
    if not allow_executables and _is_executable(found, filename):
        raise ExecutableRefused.field(
            field,
            f"{filename} is an executable file; the organisation does not accept executables "
            '(PATCH /v1/organization {"allow_executable_attachments": true} allows them).',
            code="executable-refused",
        )
    kind = _normalise(declared)
    kind = _ALIASES.get(kind, kind) if kind else None
    if kind and kind not in (FALLBACK_TYPE, "binary/octet-stream") and not trust_declared:
        content = found or ("text/plain" if _looks_like_text(head) else "unrecognised data")
        if _contradicts(kind, found):
            raise ContentTypeMismatch.field(
                field,
                f"{filename} is declared {kind} but its content is {content}; send its "
                "real type, or application/octet-stream to let the server tell.",
                code="content-type-mismatch",
            )
        if found is not None and found != kind:
            return kind  # within the container's family, the declared type says more
    return sniff_content_type(head, filename=filename, declared=declared)


def _contradicts(declared: str, found: str | None) -> bool:
    if found is None:
        return declared in _MAGIC_TYPES
    if found == declared:
        return False
    return not any(declared in family and found in family for family in _FAMILIES)


def _is_executable(found: str | None, filename: str) -> bool:
    extension = filename.rpartition(".")[2].lower() if "." in filename else ""
    return found in _EXECUTABLE_TYPES or extension in _EXECUTABLE_EXTENSIONS


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
