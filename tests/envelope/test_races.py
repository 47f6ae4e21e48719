"""Concurrent requests on one envelope, through a real server and a multi-connection pool.

Each race fires 20+ requests at once (``asyncio.gather`` over httpx, the envelope's row held by
``race_on_row`` until they wait on it, so that all of them read before any writes) and asserts
one outcome: one action per recipient, the documented 409 for the others, one webhook event
per change and one completion job. They run on SQLite and on the suite's PostgreSQL
(``TABELLION_TEST_DATABASE_URL``), where they fail when the signing page reads its recipient
without ``SELECT ... FOR UPDATE`` on the envelope (``signing.recipient_by_token``): a signer
then signs twice, or signs after a rejection, and two last signatures both complete the
envelope.

The signing page's codes keep their five tries under 40 concurrent wrong guesses.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from tabellion.config import Settings
from tabellion.db import transaction
from tabellion.envelope.completion import COMPLETE_TASK
from tabellion.envelope.service import ENDED_TASK, expire_due
from tabellion.kit.sessions import CODE_MAX_ATTEMPTS
from tabellion.kit.time import utcnow
from tabellion.models.envelope import Envelope, EnvelopeRecipient
from tabellion.models.job import Job
from tabellion.models.portal import OneTimeCode
from tabellion.models.webhook import Event
from tabellion.runtime import Runtime
from tests.conftest import make_settings
from tests.envelope.helpers import ready_draft
from tests.envelope.test_pages import UA, _token
from tests.fixtures.database import race_on_row, race_on_writes
from tests.portal.helpers import csrf, latest_code

RACERS = 24
GUESSES = 40
# A loaded test machine serves 40 requests at once slowly: no request may give up first.
TIMEOUT = 120


@pytest.fixture
def settings(data_dir: Path, database_url: str) -> Settings:
    # The per-IP and per-address limits (tests/kit/test_ratelimit.py) would stop most requests
    # before they reach the envelope: here its own transitions and count of tries are tested.
    relaxed = {
        f"{name}.{kind}": "1000/minute"
        for name in ("code-check", "code-request", "sign-in")
        for kind in ("ip", "address")
    }
    return make_settings(data_dir, database_url, rate_limits=relaxed)


@pytest.fixture(autouse=True)
def patient(served: httpx.AsyncClient) -> None:
    served.timeout = httpx.Timeout(TIMEOUT)


def signer(n: int) -> dict[str, str]:
    return {"email": f"signer{n}@example.test", "name": f"Signer {n}", "role": "signer"}


async def sent_envelope(
    client: httpx.AsyncClient, auth: dict[str, str], recipients: list[dict[str, Any]]
) -> dict[str, Any]:
    envelope, _ = await ready_draft(client, auth, recipients=recipients, signing_order="parallel")
    response = await client.post(f"/v1/envelopes/{envelope['id']}/send", headers=auth)
    assert response.status_code == 202, response.text
    sent: dict[str, Any] = response.json()
    return sent


async def page_of(
    client: httpx.AsyncClient, runtime: Runtime, recipient_id: str
) -> tuple[str, str]:
    """The recipient's link token and a CSRF token of its page."""
    token = await _token(runtime, recipient_id)
    page = await client.get(f"/s/{token}", headers=UA)
    assert page.status_code == 200, page.text
    return token, csrf(page.text)


def signature_of(envelope: dict[str, Any], recipient_id: str) -> str:
    [field] = [f["id"] for f in envelope["fields"] if f["recipient_id"] == recipient_id]
    return field


def sign_request(
    client: httpx.AsyncClient, envelope: dict[str, Any], recipient_id: str, token: str, csrf_: str
) -> Any:
    return client.post(
        f"/s/{token}/sign",
        data={
            "csrf_token": csrf_,
            f"typed_{signature_of(envelope, recipient_id)}": "Signed",
            "consent": "yes",
        },
        headers=UA,
    )


async def events(runtime: Runtime) -> Counter[str]:
    async with runtime.sessions() as session:
        return Counter(await session.scalars(select(Event.type)))


async def jobs_of(runtime: Runtime, kind: str, envelope_id: str) -> int:
    async with runtime.sessions() as session:
        jobs = await session.scalars(select(Job).where(Job.kind == kind))
        return sum(j.payload.get("envelope_id") == envelope_id for j in jobs)


async def completion_jobs(runtime: Runtime, envelope_id: str) -> int:
    return await jobs_of(runtime, COMPLETE_TASK, envelope_id)


async def state_of(
    client: httpx.AsyncClient, auth: dict[str, str], envelope_id: str
) -> dict[str, Any]:
    response = await client.get(f"/v1/envelopes/{envelope_id}", headers=auth)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_sign_and_reject_race_ends_one_way(
    served: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    envelope = await sent_envelope(served, auth, [signer(1)])
    sam = envelope["recipients"][0]["id"]
    token, form = await page_of(served, runtime, sam)
    answers = await race_on_row(
        runtime,
        "envelopes",
        envelope["id"],
        (
            sign_request(served, envelope, sam, token, form)
            if n % 2
            else served.post(
                f"/s/{token}/reject",
                data={"csrf_token": form, "reason": "Not this one"},
                headers=UA,
            )
            for n in range(RACERS)
        ),
    )
    statuses = Counter(r.status_code for r in answers)
    assert statuses == {303: 1, 409: RACERS - 1}, statuses
    state = await state_of(served, auth, envelope["id"])
    # The loser's page says the envelope ended (EnvelopeNotPending, 409).
    assert all(
        f"The envelope is {state['status']}" in r.text for r in answers if r.status_code == 409
    )
    kinds = await events(runtime)
    assert kinds["envelope.signed"] + kinds["envelope.rejected"] == 1, kinds
    if state["status"] == "completed":
        assert state["recipients"][0]["status"] == "signed"
        assert kinds["envelope.completed"] == 1
        assert await completion_jobs(runtime, envelope["id"]) == 1
    else:
        assert state["status"] == "rejected"
        assert state["recipients"][0]["status"] == "rejected"
        assert kinds["envelope.completed"] == 0
        assert await completion_jobs(runtime, envelope["id"]) == 0


async def test_last_signatures_racing_complete_the_envelope_once(
    served: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    envelope = await sent_envelope(served, auth, [signer(n) for n in range(RACERS)])
    pages = [(r["id"], *await page_of(served, runtime, r["id"])) for r in envelope["recipients"]]
    signed = await race_on_row(
        runtime,
        "envelopes",
        envelope["id"],
        (sign_request(served, envelope, rid, token, form) for rid, token, form in pages),
    )
    assert [r.status_code for r in signed] == [303] * RACERS
    state = await state_of(served, auth, envelope["id"])
    assert state["status"] == "completed"
    assert {r["status"] for r in state["recipients"]} == {"signed"}
    kinds = await events(runtime)
    assert kinds["envelope.signed"] == RACERS
    assert kinds["envelope.completed"] == 1, kinds
    assert await completion_jobs(runtime, envelope["id"]) == 1


async def test_concurrent_openings_record_one(
    served: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    envelope = await sent_envelope(served, auth, [signer(1)])
    sam = envelope["recipients"][0]["id"]
    token = await _token(runtime, sam)
    opened = await race_on_row(
        runtime,
        "envelopes",
        envelope["id"],
        (served.get(f"/s/{token}", headers=UA) for _ in range(RACERS)),
    )
    assert [r.status_code for r in opened] == [200] * RACERS
    assert (await events(runtime))["envelope.opened"] == 1
    assert (await state_of(served, auth, envelope["id"]))["recipients"][0]["status"] == "opened"


async def test_reassign_and_sign_race_ends_one_way(
    served: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    envelope = await sent_envelope(served, auth, [signer(1), signer(2)])
    sam = envelope["recipients"][0]["id"]
    token, form = await page_of(served, runtime, sam)
    path = f"/v1/envelopes/{envelope['id']}/recipients/{sam}/reassign"
    answers = await race_on_row(
        runtime,
        "envelopes",
        envelope["id"],
        (
            sign_request(served, envelope, sam, token, form)
            if n % 2
            else served.post(
                path,
                json={"email": f"other{n}@example.test", "name": f"Other {n}"},
                headers=auth,
            )
            for n in range(RACERS)
        ),
    )
    signs = Counter(r.status_code for n, r in enumerate(answers) if n % 2)
    reassigns = Counter(r.status_code for n, r in enumerate(answers) if not n % 2)
    async with runtime.sessions() as session:
        row = await session.get(EnvelopeRecipient, sam)
    assert row is not None
    handed_over = len((row.trail or {}).get("reassigned", []))
    assert reassigns[200] == handed_over, reassigns
    assert set(reassigns) <= {200, 409}
    if row.status == "signed":
        # Signed with the first link, before any reassignment; then none could happen.
        assert signs[303] == 1 and handed_over == 0, (signs, reassigns)
        assert row.email == "signer1@example.test"
        assert all(
            r.json()["code"] == "recipient-already-acted"
            for n, r in enumerate(answers)
            if not n % 2 and r.status_code == 409
        )
    else:
        # Reassigned first: the old link stopped working, nobody signed.
        assert signs[303] == 0 and handed_over >= 1, (signs, reassigns)
        assert (await events(runtime))["envelope.signed"] == 0
    assert set(signs) <= {303, 404, 409}


async def test_cancel_and_sign_race_ends_one_way(
    served: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    envelope = await sent_envelope(served, auth, [signer(1)])
    sam = envelope["recipients"][0]["id"]
    token, form = await page_of(served, runtime, sam)
    answers = await race_on_row(
        runtime,
        "envelopes",
        envelope["id"],
        (
            sign_request(served, envelope, sam, token, form)
            if n % 2
            else served.post(f"/v1/envelopes/{envelope['id']}/cancel", headers=auth)
            for n in range(RACERS)
        ),
    )
    wins = [r for r in answers if r.status_code in (200, 303)]
    assert len(wins) == 1, Counter(r.status_code for r in answers)
    assert all(r.status_code == 409 for r in answers if r not in wins)
    state = await state_of(served, auth, envelope["id"])
    kinds = await events(runtime)
    if wins[0].status_code == 303:
        assert state["status"] == "completed" and kinds["envelope.cancelled"] == 0
        assert await completion_jobs(runtime, envelope["id"]) == 1
    else:
        assert state["status"] == "cancelled" and kinds["envelope.cancelled"] == 1
        assert kinds["envelope.signed"] == 0
        assert await completion_jobs(runtime, envelope["id"]) == 0


async def test_expiry_and_signatures_race_expire_once(
    served: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    envelope = await sent_envelope(served, auth, [signer(1)])
    sam = envelope["recipients"][0]["id"]
    token, form = await page_of(served, runtime, sam)
    async with transaction(runtime.sessions) as session:
        await session.execute(
            update(Envelope).where(Envelope.id == envelope["id"]).values(expires_at=utcnow())
        )

    async def expire() -> bool:
        async with transaction(runtime.sessions) as session:
            return await expire_due(session, envelope["id"])

    racing: list[Any] = [
        sign_request(served, envelope, sam, token, form) if n % 2 else expire()
        for n in range(RACERS)
    ]
    results = await race_on_row(runtime, "envelopes", envelope["id"], racing)
    expired = [r for n, r in enumerate(results) if not n % 2]
    signs = [r for n, r in enumerate(results) if n % 2]
    assert expired.count(True) == 1, expired
    assert [r.status_code for r in signs] == [409] * (RACERS // 2)
    assert (await state_of(served, auth, envelope["id"]))["status"] == "expired"
    assert (await events(runtime))["envelope.expired"] == 1
    assert await jobs_of(runtime, ENDED_TASK, envelope["id"]) == 1
    assert await completion_jobs(runtime, envelope["id"]) == 0


async def tries_recorded(runtime: Runtime, recipient_id: str) -> int:
    async with runtime.sessions() as session:
        row = await session.scalar(select(OneTimeCode).where(OneTimeCode.subject == recipient_id))
    assert row is not None and row.consumed_at is None
    return row.attempts


@pytest.mark.parametrize("step", ["access", "action"])
async def test_concurrent_wrong_guesses_lock_the_signing_code(
    served: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, step: str
) -> None:
    envelope = await sent_envelope(served, auth, [signer(1) | {f"{step}_auth": ["email_otp"]}])
    sam = envelope["recipients"][0]["id"]
    token, form = await page_of(served, runtime, sam)
    sent = await served.post(
        f"/s/{token}/code", data={"csrf_token": form, "step": step}, headers=UA
    )
    assert sent.status_code == 303, sent.text
    right = await latest_code(runtime, sam)
    wrong = "000000" if right != "000000" else "111111"

    def guess(code: str) -> Any:
        return served.post(
            f"/s/{token}/verify",
            data={"csrf_token": form, "step": step, "method": "email_otp", "code": code},
            headers=UA,
        )

    guesses = await asyncio.gather(*(guess(wrong) for _ in range(GUESSES)))
    assert all(r.status_code == 200 for r in guesses)
    locked = sum("Too many wrong codes" in r.text for r in guesses)
    assert locked == GUESSES - (CODE_MAX_ATTEMPTS - 1)
    assert await tries_recorded(runtime, sam) == CODE_MAX_ATTEMPTS
    after = await guess(right)
    assert after.status_code == 200 and "Too many wrong codes" in after.text
    assert "tbl_envelope" not in after.headers.get("set-cookie", "")
    refused = await sign_request(served, envelope, sam, token, form)
    assert refused.status_code == 403
    assert (await state_of(served, auth, envelope["id"]))["recipients"][0]["status"] != "signed"


async def test_concurrent_code_requests_send_one_code(
    served: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    envelope = await sent_envelope(served, auth, [signer(1) | {"access_auth": ["email_otp"]}])
    sam = envelope["recipients"][0]["id"]
    token, form = await page_of(served, runtime, sam)
    asked = await race_on_writes(
        runtime,
        "one_time_codes",
        (
            served.post(f"/s/{token}/code", data={"csrf_token": form, "step": "access"}, headers=UA)
            for _ in range(RACERS)
        ),
    )
    assert sorted(r.status_code for r in asked) == [303] + [429] * (RACERS - 1)
    async with runtime.sessions() as session:
        codes = await session.scalar(
            select(func.count()).select_from(OneTimeCode).where(OneTimeCode.subject == sam)
        )
    assert codes == 1
