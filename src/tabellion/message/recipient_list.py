"""Recipients given as text: lines typed into a form, or a CSV file with a header row.

Each row becomes a ``RecipientIn`` checked as ``POST /v1/messages`` checks one (the schema,
then the mode's rule that registered and simple letters name their recipients), or the reason
it cannot be one. A file that cannot be read as a list at all (no ``email`` column, an unknown
column, not UTF-8, too many rows) is refused as a whole with ``RecipientListUnreadable``.

Typed lines are positional, one recipient each: ``address``; ``address, first name, last
name``; ``address, company, SIREN`` (the third value nine digits); each optionally followed by
a language (``en fr nl de``). Commas or semicolons separate the values.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from tabellion.config import Settings
from tabellion.errors import TabellionError, ValidationFailed
from tabellion.message.schemas import RecipientIn
from tabellion.message.service.message import check_recipients

MAX_CSV_BYTES = 5 * 1024 * 1024
# The columns a CSV may have (any order; only ``email`` is required).
COLUMNS = ("email", "first_name", "last_name", "company", "siren", "language", "phone")
ALIASES = {"e-mail": "email", "mail": "email", "firstname": "first_name",
           "lastname": "last_name", "first": "first_name", "last": "last_name"}  # fmt: skip
LANGUAGE_CODES = frozenset({"en", "fr", "nl", "de"})
_SIREN = re.compile(r"[0-9 ]{9,11}")


class RecipientListUnreadable(ValidationFailed):
    code = "recipient-list-unreadable"
    title = "The list of recipients cannot be read"


@dataclass
class Row:
    """One line of the list: ``number`` is its line in the text or the file (a CSV's header
    is line 1), as an editor or a spreadsheet numbers it; ``recipient`` when it is good,
    else ``error`` says why not."""

    number: int
    values: dict[str, str]
    recipient: RecipientIn | None = None
    error: str | None = None
    # What the error is about, for pages that word it in their language: the field at fault,
    # or the line with the same address first.
    field: str | None = None
    duplicate_of: int | None = None


def _plain(error: ValidationError) -> str:
    first = error.errors(include_url=False)[0]
    message = str(first["msg"]).removeprefix("Value error, ")
    where = ".".join(str(p) for p in first["loc"])
    return f"{where}: {message}" if where else message


def check_rows(rows: Iterable[Row], mode: str | None, *, settings: Settings) -> list[Row]:
    """Each row checked, in place: the schema, the mode's rule, and an address given twice."""
    seen: dict[str, int] = {}
    checked = list(rows)
    for row in checked:
        if row.error is not None:
            continue
        values = {k: v for k, v in row.values.items() if v}
        try:
            recipient = RecipientIn.model_validate(values)
            if mode is not None:
                check_recipients(mode, [recipient], settings=settings)
        except ValidationError as exc:
            row.error = _plain(exc)
            location = exc.errors(include_url=False)[0]["loc"]
            # The rules across fields (a natural or a legal person) name none.
            row.field = str(location[0]) if location else "person"
            continue
        except TabellionError as exc:
            row.error = exc.detail
            if exc.errors:  # "recipients[0].last_name" names the field
                row.field = exc.errors[0].field.rsplit(".", 1)[-1]
            continue
        first = seen.setdefault(recipient.email.lower(), row.number)
        if first != row.number:
            row.error = f"{recipient.email} is already on line {first}."
            row.field, row.duplicate_of = "email", first
            continue
        row.recipient = recipient
    return checked


def typed_rows(text: str) -> list[Row]:
    """Rows of the lines typed into a form (blank lines skipped); see the module's doc."""
    rows: list[Row] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        delimiter = ";" if ";" in line and "," not in line else ","
        values = [v.strip() for v in next(csv.reader([line], delimiter=delimiter))]
        rows.append(_positional(number, values))
    return rows


def _positional(number: int, values: list[str]) -> Row:
    found: dict[str, str] = {}
    if len(values) > 1 and values[-1].lower() in LANGUAGE_CODES:
        found["language"] = values.pop().lower()
    found["email"], rest = values[0], values[1:]
    row = Row(number, found)
    if len(rest) == 2 and _SIREN.fullmatch(rest[1]):
        found.update(company=rest[0], siren=rest[1])
    elif len(rest) == 2:
        found.update(first_name=rest[0], last_name=rest[1])
    elif rest:
        row.values["name"] = " ".join(rest)
        row.error = (
            "Give the address, then a first and a last name, or a company and its SIREN "
            "(separated by commas)."
        )
    return row


def csv_rows(data: bytes, *, max_rows: int) -> list[Row]:
    """Rows of a CSV file (UTF-8, comma, semicolon or tab separated, a header row)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RecipientListUnreadable.field(
            "recipients_csv", "The file is not UTF-8 text: save it as “CSV UTF-8” and retry."
        ) from None
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise RecipientListUnreadable.field(
            "recipients_csv", "The file is empty: the first line names the columns."
        )
    reader = csv.reader(io.StringIO(text), delimiter=_delimiter(lines[0]))
    header = _header(next(reader))
    rows: list[Row] = []
    for cells in reader:
        if not any(c.strip() for c in cells):
            continue
        if len(rows) >= max_rows:
            raise RecipientListUnreadable.field(
                "recipients_csv", f"A letter may have at most {max_rows} recipients."
            )
        number = reader.line_num  # (its last line, for a quoted value over several)
        if len(cells) > len(header):
            row = Row(number, dict(zip(header, cells, strict=False)))
            row.error = f"{len(cells)} values for {len(header)} columns."
            rows.append(row)
            continue
        rows.append(Row(number, {k: v.strip() for k, v in zip(header, cells, strict=False)}))
    if not rows:
        raise RecipientListUnreadable.field(
            "recipients_csv", "The file has no recipient after its header line."
        )
    return rows


def _delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    return max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","


def _header(cells: Sequence[str]) -> list[str]:
    header: list[str] = []
    for cell in cells:
        name = cell.strip().lower().replace(" ", "_")
        name = ALIASES.get(name, name)
        if name not in COLUMNS:
            raise RecipientListUnreadable.field(
                "recipients_csv",
                f"Unknown column “{cell.strip()}”; the columns are {', '.join(COLUMNS)}.",
            )
        if name in header:
            raise RecipientListUnreadable.field(
                "recipients_csv", f"The column {name} appears twice."
            )
        header.append(name)
    if "email" not in header:
        raise RecipientListUnreadable.field(
            "recipients_csv", "The first line names the columns, and one of them is email."
        )
    return header
