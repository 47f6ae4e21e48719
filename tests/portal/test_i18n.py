"""Languages of the portal: file sizes as each language writes them."""

from __future__ import annotations

import pytest

from tabellion.portal import i18n

NNBSP, NBSP = "\u202f", "\u00a0"  # what CLDR puts between number and unit in fr and de


@pytest.mark.parametrize(
    ("size", "lang", "shown"),
    [
        (0, "en", "0 bytes"),
        (1, "en", "1 byte"),
        (999, "en", "999 bytes"),
        (999, "fr", f"999{NBSP}octets"),
        (999, "nl", "999 byte"),
        (999, "de", "999 Byte"),
        (1000, "en", "1 kB"),  # not "1,000 bytes": past three digits, the next unit
        (1229, "en", "1.2 kB"),
        (1229, "fr", f"1,2{NNBSP}ko"),
        (1229, "nl", "1,2 kB"),
        (1229, "de", "1,2 kB"),
        (1_258_291, "en", "1.2 MB"),
        (1_258_291, "fr", f"1,2{NNBSP}Mo"),
        (1_258_291, "de", "1,2 MB"),
        (10_433_332, "en", "10 MB"),  # 9.95 MiB: no "10.0"
        (262_144_000, "en", "250 MB"),  # the default attachment limit, 250 MiB
        (262_144_000, "fr", f"250{NNBSP}Mo"),
        (5 * 1024**3, "nl", "5 GB"),
        (5 * 1024**3, "de", f"5{NBSP}GB"),
    ],
)
def test_file_sizes_are_localised(size: int, lang: str, shown: str) -> None:
    assert i18n.file_size(size, lang) == shown


def test_templates_get_a_size_formatter_in_their_language() -> None:
    size = i18n.context("fr")["size"]
    assert callable(size) and size(1229) == f"1,2{NNBSP}ko"
