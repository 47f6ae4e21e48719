"""The acceptance deadline: counted from the day after the notice, ending at 23:59:59 local."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tabellion.message.service.delivery import acceptance_deadline


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("noticed", "days", "zone", "expected"),
    [
        # Winter time in Paris (UTC+1).
        (utc(2026, 1, 5, 10), 15, "Europe/Paris", utc(2026, 1, 20, 22, 59, 59)),
        # Crossing a month end.
        (utc(2026, 1, 20, 9), 15, "Europe/Paris", utc(2026, 2, 4, 22, 59, 59)),
        # Crossing the spring DST change: the deadline is in summer time (UTC+2).
        (utc(2026, 3, 20, 9), 15, "Europe/Paris", utc(2026, 4, 4, 21, 59, 59)),
        # Crossing the autumn DST change: back to UTC+1.
        (utc(2026, 10, 20, 9), 15, "Europe/Paris", utc(2026, 11, 4, 22, 59, 59)),
        # Ending on a leap day.
        (utc(2028, 2, 14, 12), 15, "Europe/Paris", utc(2028, 2, 29, 22, 59, 59)),
        # Late evening UTC is already the next day in Paris: counting starts a day later.
        (utc(2026, 3, 31, 23, 30), 15, "Europe/Paris", utc(2026, 4, 16, 21, 59, 59)),
        # Another organisation's zone.
        (utc(2026, 6, 1, 12), 1, "America/New_York", utc(2026, 6, 3, 3, 59, 59)),
        (utc(2026, 12, 31, 12), 1, "Europe/Paris", utc(2027, 1, 1, 22, 59, 59)),
    ],
)
def test_deadline(noticed: datetime, days: int, zone: str, expected: datetime) -> None:
    assert acceptance_deadline(noticed, days, zone) == expected
