"""Text messages through the built-in HTTP provider, against a real HTTP server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tabellion.cli.main import app as cli_app
from tabellion.db import transaction
from tabellion.identity.sms import (
    SEND_SMS_TASK,
    HttpSmsProvider,
    SmsRejected,
    SmsUnavailable,
    normalize_phone,
)
from tabellion.jobs.queue import enqueue
from tabellion.jobs.worker import Worker
from tabellion.models.job import Job
from tabellion.runtime import Runtime
from tests.cli.test_main import cli_env
from tests.conftest import make_settings
from tests.fixtures.receiver import Receiver, running_receiver


@pytest.mark.parametrize(
    ("written", "number"),
    [("+32 470 12 34 56", "+32470123456"), ("0033 (6) 12-34-56-78", "+33612345678")],
)
def test_numbers_are_written_in_e164(written: str, number: str) -> None:
    assert normalize_phone(written) == number


@pytest.mark.parametrize("bad", ["0470123456", "+0123456789", "+32", "call me", ""])
def test_other_numbers_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="international form"):
        normalize_phone(bad)


async def test_the_http_provider_posts_the_message() -> None:
    async with running_receiver() as receiver:
        provider = HttpSmsProvider(
            receiver.url + "/send?to={to}&msg={text}", "s3cret", sender="Acme"
        )
        answer = await provider.send("+32 470 12 34 56", "Your code: 123 456")
        assert answer.startswith("200")
        [request] = receiver.received
        assert request.path.endswith("/send")
        assert request.headers["authorization"] == "Bearer s3cret"
        assert json.loads(request.body) == {
            "to": "+32470123456",
            "text": "Your code: 123 456",
            "sender": "Acme",
        }
        receiver.answer(400)
        with pytest.raises(SmsRejected, match="400"):
            await provider.send("+32470123456", "x")
        receiver.answer(429)
        with pytest.raises(SmsUnavailable, match="429"):
            await provider.send("+32470123456", "x")
        with pytest.raises(SmsRejected, match="characters"):
            await provider.send("+32470123456", "x" * 481)


async def test_unreachable_is_worth_retrying() -> None:
    provider = HttpSmsProvider("http://127.0.0.1:9/send", None, sender="Acme", timeout=2)
    with pytest.raises(SmsUnavailable, match="unreachable"):
        await provider.send("+32470123456", "x")


async def _job(runtime: Runtime) -> Job:
    async with runtime.sessions() as session:
        from sqlalchemy import select

        job = await session.scalar(select(Job).where(Job.kind == SEND_SMS_TASK))
        assert job is not None
        return job


async def test_the_job_retries_then_sends(data_dir: Path, database_url: str) -> None:
    async with running_receiver() as receiver:
        settings = make_settings(data_dir, database_url, sms_url=receiver.url + "/sms")
        runtime = Runtime.build(settings, pool_size=2)
        try:
            receiver.answer(503)
            async with transaction(runtime.sessions) as session:
                enqueue(session, SEND_SMS_TASK, {"to": "+32470123456", "text": "Code 1"})
            worker = Worker(runtime, poll_interval=0.05)
            await worker.run_until_idle()
            assert len(receiver.received) == 1 and (await _job(runtime)).status != "done"
            async with transaction(runtime.sessions) as session:
                job = await session.get(Job, (await _job(runtime)).id)
                assert job is not None
                job.run_at = job.created_at  # its retry is due now
            await worker.run_until_idle()
            await receiver.wait_for(2)
            assert (await _job(runtime)).status == "done"
        finally:
            await runtime.close()


def test_cli_sends_a_test_message(data_dir: Path, database_url: str) -> None:
    async def scenario() -> Receiver:
        async with running_receiver() as receiver:
            env = cli_env(data_dir, database_url, TABELLION_SMS_URL=receiver.url + "/sms")
            result = await asyncio.to_thread(
                CliRunner().invoke, cli_app, ["sms", "test", "+32 470 12 34 56"], env=env
            )
            assert result.exit_code == 0, result.output
            assert "sent: 200" in result.stdout
            return receiver

    receiver = asyncio.run(scenario())
    assert json.loads(receiver.received[0].body)["to"] == "+32470123456"
