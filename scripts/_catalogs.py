"""Writing a gettext catalog, shared by the translation scripts."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po


def existing(target: Path) -> dict[str, str]:
    """The translations ``target`` holds today (entries added by hand included)."""
    if not target.exists():
        return {}
    with target.open("rb") as fh:
        catalog = read_po(fh)
    return {m.id: m.string for m in catalog if isinstance(m.id, str) and m.id and m.string}


def write_catalog(target: Path, language: str, entries: Iterable[tuple[str, str]]) -> None:
    """Write ``entries`` (message, translation) as ``target``, sorted, 100 columns wide."""
    catalog = Catalog(locale=language, project="Tabellion", charset="utf-8", fuzzy=False)
    for message, translation in entries:
        catalog.add(message, translation, flags=("python-format",) if "%(" in message else ())
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as fh:
        write_po(fh, catalog, width=100, omit_header=False, sort_output=True)
