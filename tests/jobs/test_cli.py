"""``tabellion jobs list | retry | purge``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, insert, select
from typer.testing import CliRunner

from tabellion.cli import jobs as cli_jobs
from tabellion.cli.jobs import jobs_app
from tabellion.kit.time import utcnow
from tabellion.migrations import sync_url
from tabellion.models.job import Job

runner = CliRunner()


@pytest.fixture
def env(data_dir: Path, database_url: str) -> dict[str, str]:
    return {
        "TABELLION_DATA_DIR": str(data_dir),
        "TABELLION_DATABASE_URL": database_url,
        "TABELLION_ENV": "development",
    }


@pytest.fixture
def db(database_url: str) -> Iterator[Engine]:
    engine = create_engine(sync_url(database_url))
    yield engine
    engine.dispose()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    # Rich would wrap the table at 80 columns under the test runner.
    monkeypatch.setattr(cli_jobs.console, "width", 200)


def add_job(
    db: Engine, *, status: str, kind: str = "mail.send", age_days: float = 0, **more: Any
) -> int:
    moment = utcnow() - timedelta(days=age_days)
    values: dict[str, Any] = {
        "kind": kind,
        "payload": {},
        "status": status,
        "attempts": 3 if status == "dead" else 0,
        "max_attempts": 3,
        "run_at": moment,
        "finished_at": moment if status in ("done", "dead") else None,
        "created_at": moment,
        "updated_at": moment,
        **more,
    }
    with db.begin() as conn:
        return int(conn.execute(insert(Job).values(values).returning(Job.id)).scalar_one())


def statuses(db: Engine) -> dict[int, tuple[str, int]]:
    with db.connect() as conn:
        return {row.id: (row.status, row.attempts) for row in conn.execute(select(Job))}


def test_list_shows_jobs_newest_first_with_the_first_error_line(
    env: dict[str, str], db: Engine
) -> None:
    first = add_job(db, status="done", kind="webhook.deliver")
    second = add_job(
        db, status="dead", last_error="PermanentFailure: 550 no such user\nmore detail"
    )

    result = runner.invoke(jobs_app, ["list"], env=env)

    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("│")]
    assert len(lines) == 2
    assert lines[0].split()[1] == str(second)
    assert lines[1].split()[1] == str(first)
    assert "dead" in lines[0]
    assert "3/3" in lines[0]
    assert "PermanentFailure: 550 no such user" in lines[0]
    assert "more detail" not in result.output
    assert "webhook.deliver" in lines[1]


def test_list_filters_by_status_and_kind(env: dict[str, str], db: Engine) -> None:
    add_job(db, status="done", kind="webhook.deliver")
    add_job(db, status="dead", kind="webhook.deliver")
    add_job(db, status="dead", kind="mail.send")

    result = runner.invoke(
        jobs_app, ["list", "--status", "dead", "--kind", "webhook.deliver"], env=env
    )

    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if "webhook.deliver" in line]
    assert len(rows) == 1
    assert "dead" in rows[0]
    assert "mail.send" not in result.output


def test_list_refuses_an_unknown_status(env: dict[str, str]) -> None:
    result = runner.invoke(jobs_app, ["list", "--status", "lost"], env=env)

    assert result.exit_code == 2


def test_retry_by_id_requeues_dead_jobs_only(env: dict[str, str], db: Engine) -> None:
    dead = add_job(db, status="dead")
    done = add_job(db, status="done")

    result = runner.invoke(jobs_app, ["retry", str(dead), str(done)], env=env)

    assert result.exit_code == 0, result.output
    assert "1 job(s) queued again" in result.output
    assert statuses(db) == {dead: ("queued", 0), done: ("done", 0)}


def test_retry_dead_requeues_every_dead_job(env: dict[str, str], db: Engine) -> None:
    dead = [add_job(db, status="dead") for _ in range(3)]
    queued = add_job(db, status="queued")

    result = runner.invoke(jobs_app, ["retry", "--dead"], env=env)

    assert result.exit_code == 0, result.output
    assert "3 job(s) queued again" in result.output
    assert statuses(db) == {job_id: ("queued", 0) for job_id in [*dead, queued]}


@pytest.mark.parametrize("args", [["retry"], ["retry", "1", "--dead"]])
def test_retry_needs_ids_or_dead(env: dict[str, str], args: list[str]) -> None:
    result = runner.invoke(jobs_app, args, env=env)

    assert result.exit_code == 2
    assert "give job ids or --dead" in result.output


def test_purge_uses_the_retention_of_each_state(env: dict[str, str], db: Engine) -> None:
    old_done = add_job(db, status="done", age_days=8)
    recent_done = add_job(db, status="done", age_days=2)
    old_dead = add_job(db, status="dead", age_days=31)
    recent_dead = add_job(db, status="dead", age_days=8)
    old_queued = add_job(db, status="queued", age_days=60)

    result = runner.invoke(jobs_app, ["purge"], env=env)

    assert result.exit_code == 0, result.output
    assert "2 job(s) deleted" in result.output
    assert set(statuses(db)) == {recent_done, recent_dead, old_queued}
    assert old_done not in statuses(db) and old_dead not in statuses(db)


def test_purge_one_state_older_than_n_days(env: dict[str, str], db: Engine) -> None:
    done = add_job(db, status="done", age_days=2)
    dead = add_job(db, status="dead", age_days=2)

    result = runner.invoke(
        jobs_app, ["purge", "--status", "dead", "--older-than-days", "1"], env=env
    )

    assert result.exit_code == 0, result.output
    assert "1 job(s) deleted" in result.output
    assert set(statuses(db)) == {done}
    assert dead not in statuses(db)


def test_purge_refuses_unfinished_states(env: dict[str, str]) -> None:
    result = runner.invoke(jobs_app, ["purge", "--status", "queued"], env=env)

    assert result.exit_code == 2
