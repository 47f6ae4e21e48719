"""Shared steps of the evidence tests."""

from __future__ import annotations

import httpx

from tabellion.evidence.sealing.keys import load_seal
from tabellion.jobs.worker import Worker
from tabellion.runtime import Runtime
from tests.portal.helpers import csrf, dispatch, latest_code, notify, status_of


async def run_jobs(runtime: Runtime) -> None:
    await Worker(runtime, concurrency=4).run_until_idle(timeout=60)


async def received_delivery(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, **extra: object
) -> dict:
    """A simple delivery, notified and opened: SENT, NOTIFIED, RECEIVED."""
    delivery = await dispatch(client, auth, mode="simple", **extra)
    link = await notify(runtime, delivery["id"])
    landing = await client.get(link, headers={"User-Agent": "pytest-browser/1"})
    await client.post(
        f"{link}/open",
        data={"csrf_token": csrf(landing.text)},
        headers={"User-Agent": "pytest-browser/1"},
    )
    return delivery


async def sealed_first_proof(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> bytes:
    """The JSON proof of a received delivery's first event, sealed and logged."""
    delivery = await received_delivery(client, auth, runtime)
    await run_jobs(runtime)
    ref = (await status_of(client, auth, delivery["id"]))["evidence"][0]
    return (await client.get(f"/v1/evidence/{ref['id']}", headers=auth)).content


def trust_of(runtime: Runtime) -> list:
    return [load_seal(runtime.settings).root]


async def answer_letter(
    client: httpx.AsyncClient,
    runtime: Runtime,
    link: str,
    delivery_id: str,
    decision: str,
    *,
    headers: dict[str, str],
) -> None:
    """The recipient confirms the one-time code sent to the address, then answers."""
    page = await client.get(link)
    await client.post(f"{link}/code", data={"csrf_token": csrf(page.text)})
    form = await client.get(f"{link}?sent=1")
    code = await latest_code(runtime, delivery_id)
    verified = await client.post(
        f"{link}/verify", data={"code": code, "csrf_token": csrf(form.text)}, headers=headers
    )
    assert verified.status_code == 303, verified.text
    page = await client.get(link)
    done = await client.post(
        f"{link}/answer",
        data={"decision": decision, "confirm": "yes", "csrf_token": csrf(page.text)},
        headers=headers,
    )
    assert done.status_code == 303, done.text
