"""The portal's timers run by the real worker: reminders before the deadline, then expiry."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx

from tabellion.jobs.worker import Worker
from tabellion.kit.time import utcnow
from tabellion.runtime import Runtime
from tests.portal.helpers import dispatch, outbox_read, status_of, travel

MINUTE = timedelta(minutes=1)


async def run_due(runtime: Runtime) -> int:
    return await Worker(runtime, poll_interval=0.05).run_until_idle()


async def test_reminders_then_expiry_are_sent_by_their_jobs_at_their_time(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    delivery = await dispatch(client, auth)  # registered, 15 days to answer
    await run_due(runtime)  # the notice goes out and sets the deadline
    state = await status_of(client, auth, delivery["id"])
    assert state["status"] == "notified" and len(outbox_read(runtime, ".notice")) == 1
    deadline = datetime.fromisoformat(state["deadline_at"])
    # Each step lets the time pass until a minute before a moment, then two minutes more.
    passed = timedelta(0)
    start = utcnow()

    async def until(moment: datetime) -> None:
        nonlocal passed
        await travel(runtime, delivery["id"], moment - start - passed)
        passed = moment - start
        await run_due(runtime)

    def reminders() -> list[str]:
        return sorted(str(m["Message-ID"]) for m in outbox_read(runtime, ".reminder."))

    def reminder(days: int) -> str:
        return f"<{delivery['id']}.reminder.{days}@tabellion.test>"

    await until(deadline - timedelta(days=7) - MINUTE)
    assert reminders() == []
    await until(deadline - timedelta(days=7) + MINUTE)
    assert reminders() == [reminder(7)]
    (mail,) = outbox_read(runtime, ".reminder.7")
    assert mail["To"] == delivery["recipient"]["email"]
    assert mail["Subject"] == "Reminder: a registered electronic letter awaits you"
    await until(deadline - timedelta(days=2) - MINUTE)
    assert reminders() == [reminder(7)]
    await until(deadline - timedelta(days=2) + MINUTE)
    assert reminders() == [reminder(2), reminder(7)]
    # A minute before the deadline the letter still waits; after it, the job expires it.
    await until(deadline - MINUTE)
    assert (await status_of(client, auth, delivery["id"]))["status"] == "notified"
    await until(deadline + MINUTE)
    state = await status_of(client, auth, delivery["id"])
    assert state["status"] == "expired"
    assert [e["type"] for e in state["evidence"]] == ["SENT", "NOTIFIED", "EXPIRED"]
    assert reminders() == [reminder(2), reminder(7)]
