"""Log lines: JSON or console rendering of stdlib records, and the request id that follows a
request into the jobs it enqueued."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog

from tabellion.config import Settings
from tabellion.jobs.worker import Worker
from tabellion.kit import logs
from tabellion.message.service.message import NOTICE_TASK
from tabellion.runtime import Runtime
from tests.fixtures.factories import message_body
from tests.fixtures.smtp import SmtpServer


@pytest.fixture
def settings(data_dir: Path, database_url: str, smtp_server: SmtpServer) -> Settings:
    return smtp_server.settings(data_dir, database_url)


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """Everything logged during the test, rendered as the JSON format renders it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.formatter("json"))
    ours = logging.getLogger("tabellion")
    level = ours.level
    ours.addHandler(handler)
    ours.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        ours.removeHandler(handler)
        ours.setLevel(level)


def parsed(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


async def test_the_request_id_follows_a_dispatch_into_its_jobs_log_lines(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
    smtp_server: SmtpServer,
    json_lines: io.StringIO,
) -> None:
    created = await client.post("/v1/messages", json=message_body(), headers=auth)
    message_id = created.json()["id"]
    traced = {**auth, "X-Request-ID": "dispatch-7f3a"}
    response = await client.post(f"/v1/messages/{message_id}/dispatch", headers=traced)
    assert response.status_code == 202
    assert response.headers["x-request-id"] == "dispatch-7f3a"
    await Worker(runtime, concurrency=2).run_until_idle()
    assert len(await smtp_server.wait_for(1)) == 1

    lines = parsed(json_lines)
    [access] = [
        line
        for line in lines
        if line["logger"] == "tabellion.access" and line.get("request_id") == "dispatch-7f3a"
    ]
    assert access["route"] == "/v1/messages/{message_id}/dispatch"
    assert access["path"] == f"/v1/messages/{message_id}/dispatch"
    assert (access["method"], access["status"], access["level"]) == ("POST", 202, "info")
    assert access["timestamp"].endswith("Z")
    notice = [line for line in lines if line.get("job_kind") == NOTICE_TASK]
    assert notice, "the worker logs each job it ran"
    assert {line["request_id"] for line in notice} == {"dispatch-7f3a"}
    assert all(isinstance(line["job_id"], int) for line in notice)
    # Jobs the notice's job enqueued carry the id on: the NOTIFIED proof's sealing.
    caused = {line.get("job_kind") for line in lines if line.get("request_id") == "dispatch-7f3a"}
    assert {NOTICE_TASK, "evidence.seal"} <= caused, caused
    # The creating request had its own id, bound to its own lines only.
    [creation] = [
        line
        for line in lines
        if line["logger"] == "tabellion.access" and line["path"] == "/v1/messages"
    ]
    assert creation["request_id"] == created.headers["x-request-id"] != "dispatch-7f3a"


def test_a_stdlib_call_renders_with_the_bound_values(json_lines: io.StringIO) -> None:
    log = logging.getLogger("tabellion.example")
    with logs.bound(request_id="abc", job_id=3):
        assert logs.current_request_id() == "abc"
        log.warning("sent %d of %d", 1, 2)
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("failed")
    log.warning("after")
    assert logs.current_request_id() is None
    first, failure, after = parsed(json_lines)
    assert first["event"] == "sent 1 of 2"
    assert (first["request_id"], first["job_id"], first["level"]) == ("abc", 3, "warning")
    assert failure["exception"][0]["exc_type"] == "ValueError"
    assert "request_id" not in after


def test_console_rendering_is_one_readable_line() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.formatter("console"))
    log = logging.getLogger("tabellion.console-example")
    log.addHandler(handler)
    log.propagate = False
    try:
        with logs.bound(request_id="r-1"):
            log.warning("relay down")
    finally:
        log.removeHandler(handler)
        log.propagate = True
    text = stream.getvalue()
    assert "relay down" in text and "request_id=r-1" in text
    assert text.count("\n") == 1 and not text.lstrip().startswith("{")


def test_configure_logging_routes_every_logger_through_structlog() -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        logs.configure_logging("warning", "json")
        [handler] = root.handlers
        assert isinstance(handler.formatter, structlog.stdlib.ProcessorFormatter)
        assert root.level == logging.WARNING
        assert logging.getLogger("uvicorn.error").propagate
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        structlog.reset_defaults()


@pytest.mark.parametrize(("level", "commands_logged"), [("info", False), ("debug", True)])
def test_the_bounce_receivers_command_lines_are_logged_only_at_debug(
    level: str, commands_logged: bool
) -> None:
    """aiosmtpd logs each SMTP command (``RCPT TO:<jane@…>``) at info: at the default
    level a mail server's every command, and the addresses in them, stayed in the logs."""
    root, smtp_log = logging.getLogger(), logging.getLogger("mail.log")
    saved = (list(root.handlers), root.level, smtp_log.level)
    try:
        logs.configure_logging(level, "json")
        assert smtp_log.isEnabledFor(logging.INFO) is commands_logged
        assert smtp_log.isEnabledFor(logging.WARNING)
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        smtp_log.setLevel(saved[2])
        structlog.reset_defaults()


@pytest.mark.parametrize(
    ("given", "kept"),
    [("abc-123", True), ("a" * 128, True), ("a" * 129, False), ("a b", False), ("", False)],
)
def test_only_sane_request_ids_are_kept(given: str, kept: bool) -> None:
    assert (logs.request_id_from(given) == given) is kept


async def test_an_unexpected_error_is_logged_and_answered_under_the_request_id(
    runtime: Runtime, json_lines: io.StringIO
) -> None:
    from tabellion.app import create_app

    app = create_app(runtime=runtime)

    @app.get("/test-only/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t.test") as client:
        response = await client.get("/test-only/boom", headers={"X-Request-ID": "bug-1"})
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "bug-1"
    assert response.json()["code"] == "internal-error"
    lines = parsed(json_lines)
    [failure] = [line for line in lines if line["event"].startswith("unhandled error")]
    assert failure["request_id"] == "bug-1"
    assert failure["exception"][0]["exc_value"] == "a bug"
    [access] = [line for line in lines if line["logger"] == "tabellion.access"]
    assert (access["request_id"], access["status"], access["route"]) == (
        "bug-1",
        500,
        "/test-only/boom",
    )
