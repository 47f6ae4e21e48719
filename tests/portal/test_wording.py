"""Portal wording: a heading per state, one message when a code was just sent, and every time in
one localised, human format with the time zone's name."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tabellion.db import transaction
from tabellion.message.service.lifecycle import expire
from tabellion.models.message import Delivery
from tabellion.portal import i18n
from tabellion.runtime import Runtime
from tests.portal.helpers import (
    accepted_letter,
    csrf,
    dispatch,
    notify,
    outbox_read,
    ready_to_answer,
    vault_sign_in,
)

H1 = re.compile(r"<h1>(.*?)</h1>", re.S)
# What a time must never look like on a page or in an e-mail.
RAW_TIMES = [
    re.compile(r"[+-]\d{4}\b"),  # "+0100"
    re.compile(r"\b\d{1,2}/\d{1,2}/\d{2}\b"),  # "12/4/26"
    re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}"),  # ISO 8601
]


def heading(page: str) -> str:
    found = H1.search(page)
    assert found, page
    return found.group(1).strip()


def no_raw_times(text: str) -> None:
    # Links and tokens may hold anything; only what a person reads counts.
    readable = re.sub(r'(href|src|action|datetime)="[^"]*"', "", text)
    readable = re.sub(r"https?://\S+", "", readable)
    for pattern in RAW_TIMES:
        assert not pattern.search(readable), (pattern.pattern, pattern.search(readable))


@pytest.mark.parametrize(
    ("lang", "winter", "summer"),
    [
        (
            "en",
            "December 4, 2026, 5:43\u202fPM (Central European Standard Time)",
            "July 4, 2026, 6:43\u202fPM (Central European Summer Time)",
        ),
        (
            "fr",
            "4 décembre 2026, 17:43 (heure normale d’Europe centrale)",
            "4 juillet 2026, 18:43 (heure d’été d’Europe centrale)",
        ),
        (
            "nl",
            "4 december 2026, 17:43 (Midden-Europese standaardtijd)",
            "4 juli 2026, 18:43 (Midden-Europese zomertijd)",
        ),
        (
            "de",
            "4. Dezember 2026, 17:43 (Mitteleuropäische Normalzeit)",
            "4. Juli 2026, 18:43 (Mitteleuropäische Sommerzeit)",
        ),
    ],
)
def test_one_human_time_format_per_language(lang: str, winter: str, summer: str) -> None:
    when = i18n.context(lang, "Europe/Paris")["when"]
    assert when(datetime(2026, 12, 4, 16, 43, tzinfo=UTC)) == winter  # type: ignore[operator]
    assert when(datetime(2026, 7, 4, 16, 43, tzinfo=UTC)) == summer  # type: ignore[operator]
    assert when("2026-12-04T16:43:00Z") == winter  # type: ignore[operator]  # a proof's ISO text
    assert when(None) == ""  # type: ignore[operator]


async def test_each_state_of_a_registered_letter_has_its_own_heading(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    delivery = await dispatch(client, auth)
    link = await notify(runtime, delivery["id"])
    landing = (await client.get(link)).text
    assert heading(landing) == "A registered electronic letter awaits you"
    await client.post(f"{link}/code", data={"csrf_token": csrf(landing)})
    assert heading((await client.get(f"{link}?sent=1")).text) == "Enter the code we sent you"

    _, ready_link, token = await ready_to_answer(client, auth, runtime)
    assert heading((await client.get(ready_link)).text) == "Accept or refuse the registered letter"
    refused = await client.post(
        f"{ready_link}/answer", data={"decision": "refuse", "confirm": "yes", "csrf_token": token}
    )
    assert refused.status_code == 303
    after = (await client.get(ready_link)).text
    assert heading(after) == "You refused this registered letter"
    assert "awaits you" not in after
    no_raw_times(after)

    async with transaction(runtime.sessions) as session:
        row = await session.get(Delivery, delivery["id"])
        assert row is not None and row.deadline_at is not None
        assert await expire(session, row.id, now=row.deadline_at + timedelta(seconds=1))
    expired = (await client.get(link)).text
    assert heading(expired) == "This registered letter has expired"
    assert "(Central European" in expired  # the deadline, with its zone's name
    no_raw_times(expired)

    _, accepted_link, _ = await accepted_letter(client, auth, runtime)
    page = (await client.get(accepted_link)).text
    assert heading(page) == "Secret subject"
    no_raw_times(page)


async def test_a_code_asked_again_too_soon_is_said_once_and_not_in_red(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    delivery = await dispatch(client, auth)
    link = await notify(runtime, delivery["id"])
    landing = (await client.get(link)).text
    await client.post(f"{link}/code", data={"csrf_token": csrf(landing)})
    sent = (await client.get(f"{link}?sent=1")).text
    assert 'class="ok" role="status">We sent a 6-digit code' in sent
    again = await client.post(f"{link}/code", data={"csrf_token": csrf(landing)})
    assert again.status_code == 429
    assert (
        '<p class="notice" role="status" id="page-notice">A code was sent less than a minute '
        "ago; check your inbox.</p>" in again.text
    )
    assert 'class="error"' not in again.text and "We sent a 6-digit code" not in again.text
    assert 'id="code"' in again.text  # the code field stays
    # The vault's code step likewise.
    email = delivery["recipient"]["email"]
    form = await client.get("/vault")
    await client.post("/vault/code", data={"email": email, "csrf_token": csrf(form.text)})
    vault = await client.post("/vault/code", data={"email": email, "csrf_token": csrf(form.text)})
    assert 'class="notice"' in vault.text and 'class="error"' not in vault.text
    assert "a 6-digit code is on its way" not in vault.text
    assert heading(vault.text) == "Enter the code we sent you"


async def test_vault_and_emails_show_human_times(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    delivery = await dispatch(client, auth, language="fr")
    await dispatch(client, auth, mode="secure", language="fr")
    from tabellion.jobs.worker import Worker

    await Worker(runtime, poll_interval=0.05).run_until_idle(timeout=60)
    (notice,) = outbox_read(runtime, f"{delivery['id']}.notice@")
    text = notice.get_body(("plain",)).get_content()
    assert "(heure normale d’Europe centrale)" in text or "(heure d’été" in text
    no_raw_times(text)
    await vault_sign_in(client, runtime, delivery["recipient"]["email"])
    vault = (await client.get("/vault?lang=fr")).text
    assert "(heure normale d’Europe centrale)" in vault or "(heure d’été" in vault
    no_raw_times(vault)
