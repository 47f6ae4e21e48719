"""Is the person a provider vouched for the one the sender named?

Names are compared after normalising what differs between registers without being a different
name: accents and other marks (Zoë = Zoe), case, hyphens, apostrophes and repeated spaces
(Jean-Pierre = jean pierre, d'Ornano = D Ornano), and ligatures (Œ = OE, ß = ss). A first name
matches when every declared given name is among the provider's (registers list all given
names; a letter often names one). Dates are compared as calendar dates.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Any

_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015'\u2019`.,]+")
_FOLD = str.maketrans({"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "ı": "i"})


def normalize_name(value: str) -> str:
    lowered = unicodedata.normalize("NFKC", value).casefold().translate(_FOLD)
    decomposed = unicodedata.normalize("NFKD", lowered)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(part for part in _SEPARATORS.split(bare) if part)


def _as_date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        return None


def attribute_matches(attribute: str, declared: Any, claimed: Any) -> bool:
    if declared is None or claimed is None:
        return False
    if attribute == "birth_date":
        wanted, given = _as_date(declared), _as_date(claimed)
        return wanted is not None and wanted == given
    wanted_name, given_name = normalize_name(str(declared)), normalize_name(str(claimed))
    if not wanted_name:
        return False
    if attribute == "first_name":
        return set(wanted_name.split()) <= set(given_name.split())
    return wanted_name == given_name


@dataclass(frozen=True)
class MatchResult:
    matched: tuple[str, ...]
    mismatched: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.mismatched


def match(attributes: list[str], declared: dict[str, Any], claimed: dict[str, Any]) -> MatchResult:
    good: list[str] = []
    bad: list[str] = []
    for attribute in attributes:
        ok = attribute_matches(attribute, declared.get(attribute), claimed.get(attribute))
        (good if ok else bad).append(attribute)
    return MatchResult(tuple(good), tuple(bad))
