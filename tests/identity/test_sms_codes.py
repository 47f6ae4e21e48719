"""The registered letter's code by SMS, when the sender gave a mobile number: the same code
machinery as by e-mail (one live code, tries counted atomically), sent through the HTTP SMS
provider to a real HTTP server run by the test."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tabellion.config import Settings
from tabellion.jobs.worker import Worker
from tabellion.models.job import Job
from tabellion.runtime import Runtime
from tests.conftest import make_settings
from tests.fixtures.factories import message_body, natural_recipient
from tests.fixtures.receiver import Receiver, running_receiver
from tests.message.test_endpoints import assert_problem, fields
from tests.portal.helpers import csrf, latest_code, notify


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as running:
        yield running


@pytest.fixture
def settings(data_dir: Path, database_url: str, receiver: Receiver) -> Settings:
    return make_settings(data_dir, database_url, sms_url=receiver.url + "/sms")


async def letter(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, **recipient: Any
) -> tuple[str, str]:
    body = message_body(recipients=[{**natural_recipient(0), **recipient}])
    created = await client.post("/v1/messages?dispatch=true", json=body, headers=auth)
    assert created.status_code in (201, 202), created.text
    delivery_id = created.json()["deliveries"][0]["id"]
    return delivery_id, await notify(runtime, delivery_id)


async def test_the_code_by_sms(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, receiver: Receiver
) -> None:
    delivery_id, link = await letter(client, auth, runtime, phone="+32 470 12 34 56")
    page = await client.get(link)
    assert "Send it by text message to \u2022\u2022\u2022 56" in page.text
    asked = await client.post(
        f"{link}/code", data={"csrf_token": csrf(page.text), "channel": "sms"}
    )
    assert asked.status_code == 303 and asked.headers["location"].endswith("?sent=sms")
    await Worker(runtime, poll_interval=0.05).run_until_idle()
    code = await latest_code(runtime, delivery_id)
    [sent] = receiver.received
    message = json.loads(sent.body)
    assert message["to"] == "+32470123456" and code in message["text"]
    shown = await client.get(asked.headers["location"])
    assert "We sent a 6-digit code by text message to \u2022\u2022\u2022 56" in shown.text
    wrong = "000000" if code != "000000" else "111111"
    refused = await client.post(
        f"{link}/verify", data={"code": wrong, "csrf_token": csrf(shown.text)}
    )
    assert refused.status_code == 200 and 'value="accept"' not in refused.text
    confirmed = await client.post(
        f"{link}/verify", data={"code": code, "csrf_token": csrf(shown.text)}
    )
    assert confirmed.status_code == 303
    assert 'value="accept"' in (await client.get(link)).text


async def test_without_a_number_the_code_goes_by_email(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, receiver: Receiver
) -> None:
    _, link = await letter(client, auth, runtime)
    page = await client.get(link)
    assert "by text message" not in page.text
    asked = await client.post(
        f"{link}/code", data={"csrf_token": csrf(page.text), "channel": "sms"}
    )
    assert asked.headers["location"].endswith("?sent=1")
    async with runtime.sessions() as session:
        kinds = list(await session.scalars(select(Job.kind).where(Job.kind.like("%code%"))))
    assert "identity.send_code_sms" not in kinds
    await Worker(runtime, poll_interval=0.05).run_until_idle()
    assert receiver.received == []


async def test_a_number_in_international_form(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    body = message_body(recipients=[{**natural_recipient(0), "phone": "0470 12 34 56"}])
    refused = await client.post("/v1/messages", json=body, headers=auth)
    problem = assert_problem(refused, 422, "validation-failed")
    assert fields(problem) == ["recipients[0].phone"]
