"""Input rules for messages: recipients, SIREN, sanitising of sender HTML."""

from __future__ import annotations

import html
import re

import nh3
from email_validator import EmailNotValidError, validate_email

LANGUAGES = ("en", "fr", "nl", "de")
MODES = ("registered", "simple", "deliver", "secure")
MAX_SUBJECT = 255
MAX_BODY_BYTES = 1024 * 1024

_ALLOWED_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "caption",
    "code",
    "col",
    "colgroup",
    "dd",
    "del",
    "div",
    "dl",
    "dt",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "ins",
    "li",
    "ol",
    "p",
    "pre",
    "q",
    "s",
    "small",
    "span",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "u",
    "ul",
}
_ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "td": {"colspan", "rowspan", "align"},
    "th": {"colspan", "rowspan", "align", "scope"},
    "*": {"lang", "dir"},
}
# No images, styles or frames: nothing that loads a remote resource or tracks the reader.
_URL_SCHEMES = {"http", "https", "mailto", "tel"}


def text_to_html(text: str) -> str:
    """Plain text as HTML paragraphs (blank lines) and line breaks, escaped."""
    paragraphs = [p.strip() for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]
    return "".join("<p>" + html.escape(p).replace("\n", "<br>") + "</p>" for p in paragraphs)


def normalize_email(value: str) -> str:
    """A syntactically valid address, domain lower-cased; no DNS look-up (offline-safe).

    ``test_environment`` admits the ``.test`` names that integrators use in their own test
    runs (RFC 2606) while still refusing dotless, ``.invalid`` and ``.localhost`` domains.
    """
    try:
        result = validate_email(value, check_deliverability=False, test_environment=True)
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid e-mail address: {exc}") from exc
    return result.normalized


def clean_siren(value: str | None) -> str | None:
    """A SIREN as given (spaces allowed), stored without spaces; ValueError if invalid."""
    if value is None:
        return None
    digits = value.replace(" ", "")
    if not siren_is_valid(digits):
        raise ValueError("a SIREN is 9 digits that pass the Luhn check")
    return digits


def siren_is_valid(value: str) -> bool:
    """Nine digits passing the Luhn check (INSEE's SIREN key)."""
    if not re.fullmatch(r"\d{9}", value):
        return False
    total = 0
    for index, char in enumerate(reversed(value)):
        digit = int(char)
        if index % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def sanitize_html(value: str) -> str:
    return nh3.clean(
        value,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes=_URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


_BLOCK_END = re.compile(r"</(p|div|h[1-6]|li|tr|blockquote|pre|table|ul|ol|dl)>", re.I)
_BREAK = re.compile(r"<br\s*/?>", re.I)
_LIST_ITEM = re.compile(r"<li[^>]*>", re.I)
_TAG = re.compile(r"<[^>]+>")
_LINK = re.compile(r'<a\s[^>]*href="([^"]+)"[^>]*>(.*?)</a>', re.I | re.S)


def html_to_text(value: str) -> str:
    """Plain text from sanitised HTML: paragraphs, line breaks, list bullets, link targets."""

    def _link(match: re.Match[str]) -> str:
        target, label = html.unescape(match.group(1)), _TAG.sub("", match.group(2)).strip()
        return f"{label} ({target})" if label and label != target else target

    text = _LINK.sub(_link, value)
    text = _BREAK.sub("\n", text)
    text = _LIST_ITEM.sub("\n- ", text)
    text = _BLOCK_END.sub("\n\n", text)
    text = html.unescape(_TAG.sub("", text))
    lines = [re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
