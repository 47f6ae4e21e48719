"""The ``tabellion`` command: first start, organisations, migrations, production checks."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tabellion.cli.main import app
from tests.conftest import TEST_DATABASE_URL
from tests.fixtures.server import free_port

runner = CliRunner()


def cli_env(data_dir: Path, database_url: str, **extra: str) -> dict[str, str]:
    return {
        "TABELLION_DATA_DIR": str(data_dir),
        "TABELLION_DATABASE_URL": database_url,
        "TABELLION_ENV": "development",
        **extra,
    }


def test_org_create_prints_id_and_key(data_dir: Path, database_url: str) -> None:
    result = runner.invoke(
        app,
        ["org", "create", "Acme", "--email", "ops@acme.test"],
        env=cli_env(data_dir, database_url),
    )
    assert result.exit_code == 0, result.output
    assert re.search(r"^Organization: org_[0-9a-z]{26}$", result.output, re.M)
    assert re.search(r"^API key: tbl_[0-9A-Za-z]{40}$", result.output, re.M)
    listed = runner.invoke(app, ["org", "list"], env=cli_env(data_dir, database_url))
    assert "Acme" in listed.output


def test_org_create_refuses_a_bad_email(data_dir: Path, database_url: str) -> None:
    result = runner.invoke(
        app, ["org", "create", "Acme", "--email", "nope"], env=cli_env(data_dir, database_url)
    )
    assert result.exit_code == 2
    assert "--email" in result.output


def test_db_upgrade(data_dir: Path, database_url: str) -> None:
    result = runner.invoke(app, ["db", "upgrade"], env=cli_env(data_dir, database_url))
    assert result.exit_code == 0, result.output
    assert "database at revision" in result.output


def test_production_refuses_unsafe_defaults(data_dir: Path, database_url: str) -> None:
    env = cli_env(data_dir, database_url, TABELLION_ENV="production")
    result = runner.invoke(app, ["db", "upgrade"], env=env)
    assert result.exit_code == 2
    assert "TABELLION_SECRET_KEY" in result.output
    assert "TABELLION_PUBLIC_URL" in result.output


@pytest.mark.skipif(TEST_DATABASE_URL is not None, reason="first start is shown on SQLite")
def test_serve_first_start_creates_default_org_and_prints_key_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TABELLION_")}
    env.update(TABELLION_DATA_DIR=str(data_dir), TABELLION_LOG_LEVEL="warning")

    def start() -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "tabellion", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def wait_healthy(proc: subprocess.Popen[str]) -> None:
        for _ in range(200):
            assert proc.poll() is None, proc.communicate()[0]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health").json() == {"status": "ok"}:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        raise AssertionError("server did not answer /health")

    proc = start()
    try:
        wait_healthy(proc)
        key_file = data_dir / "first-api-key.txt"
        key = key_file.read_text().strip()
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        response = httpx.get(
            f"http://127.0.0.1:{port}/v1/messages", headers={"Authorization": f"Bearer {key}"}
        )
        assert response.status_code == 200
    finally:
        proc.terminate()
        output = proc.communicate(timeout=20)[0]
    assert f"API key: {key}" in output
    assert "Default" in output
    # The proofs' weaknesses, said plainly: a self-issued seal, and no timestamp authority.
    flat = " ".join(output.split())
    assert "Self-issued seal:" in flat
    assert "No timestamp authority: proofs carry this server's clock only" in flat
    assert "TABELLION_TSA_URL" in flat

    again = start()
    try:
        wait_healthy(again)
    finally:
        again.terminate()
        second = again.communicate(timeout=20)[0]
    assert "API key:" not in second


def test_user_create(data_dir: Path, database_url: str) -> None:
    env = cli_env(data_dir, database_url)
    created = runner.invoke(app, ["org", "create", "Acme", "--email", "ops@acme.test"], env=env)
    org_id = re.search(r"Organization: (org_\w+)", created.output).group(1)  # type: ignore[union-attr]
    result = runner.invoke(
        app, ["user", "create", "sam@acme.test", "--org", org_id, "--role", "admin"], env=env
    )
    assert result.exit_code == 0, result.output
    assert re.search(r"User: usr_\w+ \(admin", result.output)
    again = runner.invoke(app, ["user", "create", "sam@acme.test", "--org", org_id], env=env)
    assert again.exit_code == 1
    assert "already a user" in again.output
    bad = runner.invoke(
        app, ["user", "create", "x@y.test", "--org", org_id, "--role", "god"], env=env
    )
    assert bad.exit_code == 2
