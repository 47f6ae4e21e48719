"""Every string the pages and e-mails translate has a translation in fr, nl and de.

The strings are extracted as ``pybabel extract -F babel.cfg`` does (the README of
``scripts/update_translations.py``); a string missing from a catalog is shown in English to a
French, Dutch or German reader.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from tabellion.portal.i18n import LOCALE_DIR

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2)}


def extracted() -> set[str]:
    with (ROOT / "babel.cfg").open() as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    found: set[str] = set()
    for _, _, message, _, _ in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS
    ):
        found.update([message] if isinstance(message, str) else message)
    return found


def test_babel_cfg_covers_every_translated_template() -> None:
    mapped = (ROOT / "babel.cfg").read_text()
    folders = (p for p in (ROOT / "src" / "tabellion").rglob("templates") if p.is_dir())
    for folder in sorted(folders):
        uses_gettext = any("_(" in p.read_text() for p in folder.rglob("*.html"))
        relative = folder.relative_to(ROOT).as_posix()
        if uses_gettext:
            assert f"{relative}/**.html" in mapped, relative


@pytest.mark.parametrize("language", ["fr", "nl", "de"])
def test_every_string_is_translated(language: str) -> None:
    with (LOCALE_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh, locale=language)
    translated = {m.id: m.string for m in catalog if m.id}
    missing = sorted(m for m in extracted() if not translated.get(m))
    assert not missing, f"{language}: no translation for {missing}"
