"""Names and dates compared as registers and senders write them."""

from __future__ import annotations

import pytest

from tabellion.identity.matching import attribute_matches, match, normalize_name


@pytest.mark.parametrize(
    ("written", "normal"),
    [
        ("Zoë", "zoe"),
        ("Jean-Pierre", "jean pierre"),
        ("  JEAN   PIERRE ", "jean pierre"),
        ("d’Ornano", "d ornano"),
        ("Strauß", "strauss"),
        ("Œdipe", "oedipe"),
        ("Łukasz", "lukasz"),
        ("Ångström", "angstrom"),
    ],
)
def test_normalize_name(written: str, normal: str) -> None:
    assert normalize_name(written) == normal


@pytest.mark.parametrize(
    ("attribute", "declared", "claimed", "ok"),
    [
        ("last_name", "Dupont-Durand", "DUPONT DURAND", True),
        ("last_name", "Dupont", "Dupont-Durand", False),  # a part is not the name
        ("last_name", "Dupont", None, False),
        ("first_name", "Zoë", "ZOE Marie", True),  # one of the given names
        ("first_name", "Zoë Anne", "Zoe Marie", False),
        ("first_name", "", "Zoe", False),
        ("birth_date", "1980-04-27", "1980-04-27", True),
        ("birth_date", "1980-04-27", "1980-04-28", False),
        ("birth_date", "1980-04-27", "27/04/1980", False),  # not a date we can read
        ("birth_date", "1980-04-27", 19800427, False),
    ],
)
def test_attribute_matches(attribute: str, declared: str, claimed: object, ok: bool) -> None:
    assert attribute_matches(attribute, declared, claimed) is ok


def test_match_lists_what_failed() -> None:
    result = match(
        ["first_name", "last_name", "birth_date"],
        {"first_name": "Zoë", "last_name": "Dupont", "birth_date": "1980-04-27"},
        {"first_name": "Zoe", "last_name": "Martin", "birth_date": "1980-04-27"},
    )
    assert not result.ok
    assert result.matched == ("first_name", "birth_date")
    assert result.mismatched == ("last_name",)
    assert match([], {}, {}).ok  # nothing asked, nothing to fail
