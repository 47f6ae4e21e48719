"""Languages of the recipient pages and e-mails: gettext catalogs (Babel .po files).

The catalogs are compiled in memory once per process, so no build step is needed.
"""

from __future__ import annotations

import gettext
from datetime import UTC, datetime
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.units import format_unit
from jinja2 import Environment
from starlette.requests import Request
from starlette.responses import HTMLResponse

LANGUAGES = ("en", "fr", "nl", "de")
# The visitor's choice of language, one for every page (portal, signing, verify, tracking).
LANG_COOKIE = "tbl_lang"
NAMES = {"en": "English", "fr": "Français", "nl": "Nederlands", "de": "Deutsch"}
LOCALE_DIR = Path(__file__).parent / "locale"


@cache
def translations(language: str) -> gettext.NullTranslations:
    path = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    if language == "en" or not path.exists():
        return gettext.NullTranslations()
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=language)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def pick(*candidates: str | None) -> str:
    for candidate in candidates:
        if candidate:
            code = candidate.strip().lower()[:2]
            if code in LANGUAGES:
                return code
    return "en"


_ENVIRONMENTS: dict[tuple[int, str], Environment] = {}


def localized(env: Environment, language: str) -> Environment:
    """An overlay of ``env`` whose ``_``/``gettext`` and ``{% trans %}`` speak ``language``."""
    key = (id(env), language)
    if key not in _ENVIRONMENTS:
        # Its own compiled templates and its own globals: an overlay otherwise shares the
        # parent's globals dict, and the parent's ``install_gettext_translations`` writes there,
        # so every language would speak the last one installed.
        overlay = env.overlay(cache_size=400)
        overlay.globals = dict(env.globals)
        extension = overlay.extensions["jinja2.ext.InternationalizationExtension"]
        extension._install(translations(language), newstyle=True)  # type: ignore[attr-defined]
        _ENVIRONMENTS[key] = overlay
    return _ENVIRONMENTS[key]


# Steps of 1024, as the attachment limit (250 MiB) is counted, named with CLDR's units.
_SIZE_UNITS = ("digital-kilobyte", "digital-megabyte", "digital-gigabyte", "digital-terabyte")


def file_size(size: int, language: str) -> str:
    """A file size as ``language`` writes it: "1.2 MB" in en, "1,2 Mo" in fr.

    Below 1000 bytes the unit is spelled out ("512 bytes", "512 octets"); above, one decimal
    while the number is under 10 and none after ("1.2 MB", "250 MB").
    """
    if size < 1000:
        return format_unit(size, "digital-byte", length="long", format="#,##0", locale=language)
    value, unit = size / 1024, _SIZE_UNITS[0]
    for bigger in _SIZE_UNITS[1:]:
        if value < 1000:
            break
        value, unit = value / 1024, bigger
    pattern = "#,##0.#" if value < 9.95 else "#,##0"
    return format_unit(value, unit, length="short", format=pattern, locale=language)


@cache
def _time_pattern(language: str) -> str:
    """The language's long date, short time, and the zone's full name: "December 4, 2026,
    5:43 PM (Central European Standard Time)", "4 décembre 2026, 17:43 (heure normale
    d’Europe centrale)". One format for every page and e-mail: no "+0100", no "12/4/26"."""
    locale = Locale.parse(language)
    joined = str(locale.datetime_formats["long"]).format(
        locale.time_formats["short"].pattern, locale.date_formats["long"].pattern
    )
    return joined + " (zzzz)"


def human_time(value: datetime | str | None, language: str, timezone: str) -> str:
    """A moment as people read it, in ``timezone``; an ISO 8601 string is read first."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # stored times are UTC
    return format_datetime(
        value, _time_pattern(pick(language)), tzinfo=ZoneInfo(timezone), locale=pick(language)
    )


def context(language: str, timezone: str = "Europe/Paris") -> dict[str, object]:
    """What templates need besides translations: language, choices, date and size formatters."""

    def when(value: datetime | str | None) -> str:
        return human_time(value, language, timezone)

    def size(value: int) -> str:
        return file_size(value, language)

    return {
        "lang": language,
        "languages": NAMES,
        "when": when,
        "size": size,
    }


def request_language(request: Request, fallback: str | None = None) -> str:
    """The language of a page: chosen (``?lang=``, then the cookie), else ``fallback``, else
    the browser's."""
    return pick(
        request.query_params.get("lang"),
        request.cookies.get(LANG_COOKIE),
        fallback,
        request.headers.get("accept-language"),
    )


def page(
    env: Environment,
    request: Request,
    template: str,
    *,
    language: str,
    csrf: str,
    status_code: int = 200,
    timezone: str = "Europe/Paris",
    **ctx: Any,
) -> HTMLResponse:
    """A page in ``language``; a language chosen with ``?lang=`` is remembered in a cookie."""
    response = HTMLResponse(
        localized(env, language)
        .get_template(template)
        .render(csrf=csrf, path=request.url.path, **context(language, timezone), **ctx),
        status_code=status_code,
    )
    if request.query_params.get("lang") in LANGUAGES:
        response.set_cookie(LANG_COOKIE, language, max_age=365 * 86400, samesite="lax")
    return response
