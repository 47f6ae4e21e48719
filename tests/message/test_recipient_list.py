"""Recipients as text (message.recipient_list): the typed shapes, CSV files (delimiters,
header names, encodings), each line checked as the API checks a recipient, the file refused
whole when it cannot be read as a list."""

from __future__ import annotations

import pytest

from tabellion.config import Settings
from tabellion.message.recipient_list import (
    RecipientListUnreadable,
    check_rows,
    csv_rows,
    typed_rows,
)


def test_typed_lines_take_each_shape(settings: Settings) -> None:
    rows = check_rows(
        typed_rows(
            "jane@example.test, Jane, Doe, FR\n"
            "\n"
            "billing@corp.test; Corp SAS; 732 829 320\n"
            "solo@example.test\n"
            "solo2@example.test, de\n"
            '"Quoted, Name" <x@example.test>, A, B\n'
            "odd@example.test, Only\n"
        ),
        "deliver",
        settings=settings,
    )
    assert [r.number for r in rows] == [1, 3, 4, 5, 6, 7]
    jane, corp, solo, solo2, quoted, odd = rows
    assert jane.recipient and jane.recipient.last_name == "Doe"
    assert jane.recipient.language == "fr"
    assert corp.recipient and corp.recipient.siren == "732829320"
    assert corp.recipient.company == "Corp SAS"
    assert solo.recipient and solo.recipient.address_only
    assert solo2.recipient and solo2.recipient.language == "de"
    assert quoted.recipient is None and quoted.error
    assert odd.recipient is None and odd.error and "first and a last name" in odd.error


def test_the_mode_decides_whether_an_address_is_enough(settings: Settings) -> None:
    for mode, named in (("registered", True), ("simple", True), ("deliver", False),
                        ("secure", False), (None, False)):  # fmt: skip
        [row] = check_rows(typed_rows("solo@example.test"), mode, settings=settings)
        assert (row.recipient is None) is named, mode
        if named:
            assert row.error and "names its recipients" in row.error


def test_a_csv_is_read_with_its_header_and_delimiter(settings: Settings) -> None:
    for delimiter in (",", ";", "\t"):
        text = delimiter.join(["E-mail", "First Name", "last_name", "LANGUAGE"]) + "\r\n"
        text += delimiter.join(["ann@example.test", "Ann", "Archer", "nl"]) + "\r\n"
        text += delimiter.join(["bob@example.test", "Bob", "", ""]) + "\r\n"
        ann, bob = check_rows(
            csv_rows(text.encode("utf-8-sig"), max_rows=10), "simple", settings=settings
        )
        assert ann.number == 2 and ann.recipient and ann.recipient.language == "nl"
        assert bob.number == 3 and bob.recipient is None
        assert bob.error and "last_name" in bob.error


def test_a_csv_line_is_numbered_as_a_spreadsheet_shows_it(settings: Settings) -> None:
    text = 'email,first_name,last_name\n\na@example.test,"Ann\nMarie",A\nb@example.test,B\n'
    rows = check_rows(csv_rows(text.encode(), max_rows=10), "simple", settings=settings)
    assert [r.number for r in rows] == [4, 5]
    assert rows[1].error and "last_name" in rows[1].error
    extra = csv_rows(b"email\nc@example.test,surplus\n", max_rows=10)
    assert extra[0].error == "2 values for 1 columns."


def test_an_address_given_twice_is_named(settings: Settings) -> None:
    rows = check_rows(
        csv_rows(b"email\na@example.test\nb@example.test\nA@Example.test\n", max_rows=10),
        "deliver",
        settings=settings,
    )
    assert [r.error for r in rows][:2] == [None, None]
    assert rows[2].error == "A@example.test is already on line 2."  # the mailbox as given


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty"),
        (b"email,email\na@example.test,b@example.test\n", "appears twice"),
        (b"email,age\na@example.test,3\n", "Unknown column"),
        (b"first_name\nAnn\n", "one of them is email"),
        (b"email\n\n\n", "no recipient after its header"),
        ("email\nrené@example.test\n".encode("latin-1"), "not UTF-8"),
        (b"email\n" + b"a@example.test\n" * 4, "at most 3 recipients"),
    ],
)
def test_a_csv_that_is_no_list_is_refused_whole(data: bytes, message: str) -> None:
    with pytest.raises(RecipientListUnreadable) as refused:
        csv_rows(data, max_rows=3)
    assert message in refused.value.detail
    assert refused.value.errors[0].field == "recipients_csv"
