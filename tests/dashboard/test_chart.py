"""The home page's chart: the last 30 days' deliveries by the day they were sent, each day
split by where its deliveries stand (delivered, failed, open), drawn as SVG with no script."""

from __future__ import annotations

import itertools
import re
from datetime import timedelta

import httpx
from sqlalchemy import update

from tabellion.kit.time import utcnow
from tabellion.models.message import Delivery
from tabellion.runtime import Runtime
from tests.dashboard.helpers import signed_in_user
from tests.fixtures.factories import create_org_with_key, natural_recipient
from tests.organization.helpers import send


async def test_the_chart_counts_each_day_by_outcome(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    letters = [
        await send(client, auth, recipients=[natural_recipient(n) for n in range(3)])
        for _ in range(2)
    ]
    # Another organisation's letters never count.
    _, other = await create_org_with_key(runtime, name="Other")
    await send(client, {"Authorization": f"Bearer {other}"})
    [first, second] = [[d["id"] for d in letter["deliveries"]] for letter in letters]
    today = utcnow()
    three_days_ago = today - timedelta(days=3)
    async with runtime.sessions() as session, session.begin():
        # Three days ago: one accepted, one refused, one still notified.
        for delivery_id, status in zip(first, ("accepted", "refused", "notified"), strict=True):
            await session.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id)
                .values(status=status, created_at=three_days_ago)
            )
        # Today: one received, one undelivered, one pending. And one from 40 days ago: out.
        for delivery_id, status in zip(second, ("received", "undelivered", "pending"), strict=True):
            await session.execute(
                update(Delivery).where(Delivery.id == delivery_id).values(status=status)
            )
        await session.execute(
            update(Delivery)
            .where(Delivery.id == second[2])
            .values(created_at=today - timedelta(days=40))
        )
    await signed_in_user(client, auth, runtime, "viewer")
    home = await client.get("/app")
    assert home.status_code == 200 and "<script" not in home.text
    assert "2 delivered, 2 failed, 1 still open" in home.text
    days = dict(re.findall(r'data-day="([\d-]+)" data-total="(\d+)"', home.text))
    assert len(days) == 30
    assert days[three_days_ago.date().isoformat()] == "3"
    assert days[today.date().isoformat()] == "2"
    assert sum(int(n) for n in days.values()) == 5
    title = re.search(
        rf"<title>{three_days_ago.date().isoformat()}: (\d+) delivered, (\d+) failed, (\d+) open",
        home.text,
    )
    assert title and title.groups() == ("1", "1", "1")
    assert 'role="img"' in home.text and 'aria-labelledby="chart-title chart-summary"' in home.text
    # The dates under the bars: weekly and the last day's, never two close enough to overlap.
    labels = re.findall(r'<text x="([\d.]+)"[^>]*>(\d\d-\d\d)</text>', home.text)
    assert labels[-1][1] == today.date().isoformat()[5:]
    xs = [float(x) for x, _ in labels]
    bar = re.search(r'<rect class="seg-[a-z]+" x="[\d.]+" y="[\d.]+" width="([\d.]+)"', home.text)
    assert bar is not None
    width = float(bar.group(1))
    assert all(b - a >= 3 * width for a, b in itertools.pairwise(xs)), xs
