"""GET /metrics after real requests and jobs: series read back with prometheus-client's parser."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from tabellion.app import create_app
from tabellion.config import Settings
from tabellion.jobs.worker import Worker
from tabellion.message.service.message import NOTICE_TASK
from tabellion.models.job import Job
from tabellion.runtime import Runtime
from tests.conftest import make_settings
from tests.fixtures.factories import bearer, create_org_with_key, message_body
from tests.fixtures.server import client_from
from tests.fixtures.smtp import SmtpServer
from tests.fixtures.tsa import TimestampAuthority, settings_with, tsa  # noqa: F401

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

# A separate process's server answers slowly on a loaded machine; httpx's 5 s would fail it.
SLOW = 60


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def scrape(client: httpx.AsyncClient, **headers: str) -> Samples:
    response = await client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return parse(response.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def names(samples: Samples) -> set[str]:
    return {name for name, _ in samples}


async def dispatch(client: httpx.AsyncClient, auth: dict[str, str], **headers: str) -> dict:
    created = await client.post("/v1/messages", json=message_body(), headers=auth)
    assert created.status_code == 201, created.text
    response = await client.post(
        f"/v1/messages/{created.json()['id']}/dispatch", headers={**auth, **headers}
    )
    assert response.status_code == 202, response.text
    return response.json()


@pytest.fixture
def settings(data_dir: Path, database_url: str, smtp_server: SmtpServer) -> Settings:
    return smtp_server.settings(data_dir, database_url)


async def test_requests_are_counted_by_route_template_and_status(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    before = await scrape(client)
    for message_id in ("msg_one", "msg_two"):
        response = await client.get(f"/v1/messages/{message_id}", headers=auth)
        assert response.status_code == 404
    assert (await client.get("/health")).status_code == 200
    assert (await client.get("/no/such/page")).status_code == 404
    after = await scrape(client)

    total = "tabellion_http_requests_total"
    route = "/v1/messages/{message_id}"
    labels = {"method": "GET", "route": route, "status": "404"}
    assert value(after, total, **labels) - value(before, total, **labels) == 2
    health = {"method": "GET", "route": "/health", "status": "200"}
    assert value(after, total, **health) - value(before, total, **health) == 1
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert value(after, total, **unmatched) - value(before, total, **unmatched) == 1
    count = "tabellion_http_request_duration_seconds_count"
    assert (
        value(after, count, method="GET", route=route)
        - value(before, count, method="GET", route=route)
        == 2
    )
    # Raw paths never become labels.
    assert not any("msg_one" in str(labels) for _, labels in after)


async def test_a_dispatch_then_its_jobs_show_in_the_queue_gauges_and_counters(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
    smtp_server: SmtpServer,
) -> None:
    before = await scrape(client)
    await dispatch(client, auth)

    queued = await scrape(client)
    assert value(queued, "tabellion_jobs", kind=NOTICE_TASK, status="queued") == 1
    assert value(queued, "tabellion_jobs_due", kind=NOTICE_TASK) == 1
    assert value(queued, "tabellion_jobs_oldest_due_age_seconds", kind=NOTICE_TASK) >= 0
    assert value(queued, "tabellion_jobs", kind=NOTICE_TASK, status="dead") == 0
    assert value(queued, "tabellion_database_up") == 1

    await Worker(runtime, concurrency=4).run_until_idle()
    assert len(await smtp_server.wait_for(1)) == 1
    after = await scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert value(after, "tabellion_jobs", kind=NOTICE_TASK, status="queued") == 0
    assert delta("tabellion_emails_total", outcome="sent") == 1
    assert delta("tabellion_jobs_run_total", kind=NOTICE_TASK, outcome="done") == 1
    assert delta("tabellion_job_duration_seconds_count", kind=NOTICE_TASK) == 1
    # SENT at dispatch, NOTIFIED once the relay took the notice.
    assert delta("tabellion_proofs_sealed_total") >= 2
    assert value(after, "tabellion_db_pool_size", pool="write") >= 1
    assert "tabellion_db_pool_checked_out" in names(after)


async def test_a_relay_outage_counts_retries_not_failures(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, smtp_server: SmtpServer
) -> None:
    before = await scrape(client)
    smtp_server.stop()
    await dispatch(client, auth)
    await Worker(runtime, concurrency=4).run_until_idle()
    after = await scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("tabellion_notice_relay_failures_total", outcome="retry") == 1
    assert delta("tabellion_emails_total", outcome="temporary_failure") == 1
    assert delta("tabellion_emails_total", outcome="sent") == 0
    assert delta("tabellion_jobs_run_total", kind=NOTICE_TASK, outcome="retry") == 1
    # Queued again for later: not due, so it does not count as waiting.
    assert value(after, "tabellion_jobs", kind=NOTICE_TASK, status="queued") == 1
    assert value(after, "tabellion_jobs_due", kind=NOTICE_TASK) == 0


async def test_the_request_id_is_echoed_and_stored_with_the_jobs_it_enqueues(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    sent = await client.get("/health", headers={"X-Request-ID": "req-1234.abc"})
    assert sent.headers["x-request-id"] == "req-1234.abc"
    made_up = await client.get("/health")
    assert len(made_up.headers["x-request-id"]) == 32
    # Not a sane token (spaces, a line break, too long): replaced, never logged as given.
    for bad in ("two words", "x" * 200, "a\tb"):
        replaced = await client.get("/health", headers={"X-Request-ID": bad})
        assert replaced.headers["x-request-id"] != bad

    await dispatch(client, auth, **{"X-Request-ID": "dispatch-42"})
    async with runtime.sessions() as session:
        jobs = list(await session.scalars(select(Job).where(Job.kind == NOTICE_TASK)))
    assert [job.request_id for job in jobs] == ["dispatch-42"]


async def test_the_token_guards_metrics(
    data_dir: Path, database_url: str, smtp_server: SmtpServer
) -> None:
    settings = smtp_server.settings(data_dir, database_url, metrics_token="s3cret-metrics-token")
    runtime = Runtime.build(settings, pool_size=2)
    try:
        transport = httpx.ASGITransport(app=create_app(runtime=runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://t.test") as client:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}):
                refused = await client.get("/metrics", headers=headers)
                assert refused.status_code == 401
                assert refused.headers["content-type"] == "application/problem+json"
                assert refused.json()["code"] == "unauthorized"
                assert refused.headers["www-authenticate"].startswith("Bearer")
                assert "tabellion_" not in refused.text
            good = {"Authorization": "Bearer s3cret-metrics-token"}
            samples = await scrape(client, **good)
            assert "tabellion_http_requests_total" in names(samples)
            # With a token, the client's address does not matter.
            async with client_from(client, "203.0.113.9") as remote:
                assert (await remote.get("/metrics", headers=good)).status_code == 200
                assert (await remote.get("/metrics")).status_code == 401
    finally:
        await runtime.close()


async def test_without_a_token_only_loopback_clients_are_answered(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.get("/metrics")).status_code == 200
    async with client_from(client, "203.0.113.9") as remote:
        response = await remote.get("/metrics")
    assert response.status_code == 404
    assert response.json()["code"] == "not-found"
    assert "/metrics" not in (await client.get("/openapi.json")).json()["paths"]


async def test_the_scrape_answers_while_the_database_is_away(
    data_dir: Path, tmp_path: Path
) -> None:
    # A database file in a directory that does not exist cannot be opened.
    missing = tmp_path / "gone" / "nowhere" / "tabellion.db"
    settings = make_settings(data_dir, f"sqlite+aiosqlite:///{missing}")
    runtime = Runtime.build(settings, pool_size=1)
    missing.parent.rmdir()  # the engine made it; take it away again
    try:
        transport = httpx.ASGITransport(app=create_app(runtime=runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://t.test") as client:
            samples = await scrape(client)
    finally:
        await runtime.close()
    assert value(samples, "tabellion_database_up") == 0
    assert "tabellion_jobs" not in names(samples)


@pytest.mark.parametrize("damage", ["missing", "corrupted"])
async def test_a_lost_or_damaged_stored_file_is_counted(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, damage: str
) -> None:
    from tabellion.document.local import LocalBlobStore
    from tabellion.document.storage import StoredFileUnavailable

    before = await scrape(client)
    draft = await client.post("/v1/messages", json=message_body(), headers=auth)
    stored = await client.post(
        f"/v1/messages/{draft.json()['id']}/attachments?filename=a.txt",
        content=b"hello",
        headers={**auth, "Content-Type": "text/plain"},
    )
    assert stored.status_code == 201, stored.text
    key = stored.json()["sha256"]
    backend = runtime.storage.inner  # the disk behind the key-less guard
    assert isinstance(backend, LocalBlobStore)
    path = backend.path_of(key)
    if damage == "missing":
        path.unlink()
    else:
        path.write_bytes(b"HELLO")
    with pytest.raises(StoredFileUnavailable):
        async for _ in runtime.storage.open(key):
            pass
    after = await scrape(client)
    name = "tabellion_stored_file_unavailable_total"
    assert value(after, name, reason=damage) - value(before, name, reason=damage) == 1


async def test_time_stamp_requests_are_timed_and_their_failures_counted(
    data_dir: Path,
    database_url: str,
    tsa: TimestampAuthority,  # noqa: F811
) -> None:
    runtime = Runtime.build(settings_with(tsa, data_dir, database_url), pool_size=2)
    try:
        _, secret = await create_org_with_key(runtime)
        auth = bearer(secret)
        transport = httpx.ASGITransport(app=create_app(runtime=runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://t.test") as client:
            before = await scrape(client)
            await dispatch(client, auth)
            await Worker(runtime, concurrency=4).run_until_idle()
            stamped = await scrape(client)
            tsa.set_mode("503")
            await dispatch(client, auth)
            await Worker(runtime, concurrency=4).run_until_idle()
            refused = await scrape(client)
    finally:
        await runtime.close()
    count = "tabellion_tsa_request_duration_seconds_count"
    ok = value(stamped, count, outcome="ok") - value(before, count, outcome="ok")
    assert ok >= 1 and ok == tsa.granted
    assert value(stamped, count, outcome="unavailable") == value(
        before, count, outcome="unavailable"
    )
    assert value(stamped, "tabellion_tsa_last_success_timestamp_seconds") > 0
    assert value(refused, count, outcome="unavailable") > value(
        stamped, count, outcome="unavailable"
    )
    assert value(refused, count, outcome="ok") == value(stamped, count, outcome="ok")


async def test_webhook_attempts_are_counted_by_outcome(data_dir: Path, database_url: str) -> None:
    from tabellion.db import transaction
    from tabellion.webhook import service
    from tests.fixtures.receiver import running_receiver

    settings = make_settings(data_dir, database_url, webhook_allowed_hosts="127.0.0.1")
    runtime = Runtime.build(settings, pool_size=2)
    try:
        org_id, _ = await create_org_with_key(runtime)
        transport = httpx.ASGITransport(app=create_app(runtime=runtime))
        async with (
            running_receiver() as receiver,
            httpx.AsyncClient(transport=transport, base_url="http://t.test") as client,
        ):
            receiver.answer(500)
            async with transaction(runtime.sessions) as session:
                await service.create_endpoint(
                    session,
                    org_id,
                    url=receiver.url,
                    events=["*"],
                    description=None,
                    signing_key=settings.signing_key,
                )
                await service.emit(session, org_id, "delivery.accepted", {"delivery": {}})
                await service.emit(session, org_id, "delivery.refused", {"delivery": {}})
            before = await scrape(client)
            await Worker(runtime, concurrency=1).run_until_idle()
            after = await scrape(client)
            assert len(receiver.received) == 2
    finally:
        await runtime.close()
    name = "tabellion_webhook_attempts_total"
    for outcome, expected in (("succeeded", 1), ("retrying", 1), ("dead", 0)):
        assert value(after, name, outcome=outcome) - value(before, name, outcome=outcome) == (
            expected
        ), outcome


def test_multiprocess_mode_adds_up_the_processes_of_a_host(tmp_path: Path) -> None:
    """Worker processes sharing PROMETHEUS_MULTIPROC_DIR with the API are in its scrape."""
    import os
    import subprocess
    import sys

    shared = tmp_path / "prometheus"
    shared.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(shared)}
    count = (
        "from tabellion.kit import metrics; metrics.proofs_sealed(3); "
        "metrics.job_run('evidence.seal', 'done', 0.2)"
    )
    for _ in range(2):  # two worker processes, one after the other
        subprocess.run([sys.executable, "-c", count], env=env, check=True, timeout=60)
    read = (
        "from prometheus_client import generate_latest; from tabellion.kit import metrics; "
        "print(generate_latest(metrics._process_registry()).decode())"
    )
    scraped = subprocess.run(
        [sys.executable, "-c", read],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    samples = parse(scraped)
    assert value(samples, "tabellion_proofs_sealed_total") == 6
    labels = {"kind": "evidence.seal", "outcome": "done"}
    assert value(samples, "tabellion_jobs_run_total", **labels) == 2
    assert value(samples, "tabellion_job_duration_seconds_count", kind="evidence.seal") == 2


def test_a_worker_process_serves_its_own_metrics(data_dir: Path, database_url: str) -> None:
    """``tabellion worker --metrics-port``: a worker on a host without an API process."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.fixtures.server import free_port

    port = free_port()
    token = "worker-metrics-token"
    env = {
        **os.environ,
        "TABELLION_DATA_DIR": str(data_dir),
        "TABELLION_DATABASE_URL": database_url,
        "TABELLION_ENV": "development",
        "TABELLION_LOG_FORMAT": "json",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env["TABELLION_METRICS_TOKEN"] = token
    command = [sys.executable, "-m", "tabellion", "worker", "--concurrency", "2"]
    worker = subprocess.Popen(
        [*command, "--metrics-port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        deadline = time.monotonic() + 60
        while True:
            try:
                response = httpx.get(url, headers={"X-Request-ID": "scrape-1"}, timeout=SLOW)
                break
            except httpx.ConnectError:
                assert worker.poll() is None, worker.communicate()
                assert time.monotonic() < deadline, "the worker's metrics server never came up"
                time.sleep(0.1)
        assert response.status_code == 401
        assert response.json()["code"] == "unauthorized"
        response = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=SLOW)
        assert response.status_code == 200, response.text
        samples = parse(response.text)
        assert value(samples, "tabellion_database_up") == 1
        assert "tabellion_jobs" in names(samples)
        assert httpx.get(f"http://127.0.0.1:{port}/v1/messages", timeout=SLOW).status_code == 404
    finally:
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, err
    assert any('"worker ' in line and "stopped" in line for line in err.splitlines()), err
    # On uvloop's loop, as the worker inside `tabellion serve` is under uvicorn.
    assert any("started (concurrency 2, event loop uvloop)" in line for line in err.splitlines())
