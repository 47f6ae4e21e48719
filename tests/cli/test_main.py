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
def test_serve_first_start_creates_the_org_and_prints_key_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TABELLION_")}
    # At INFO, Alembic's lines would come before the key: they are silenced.
    env.update(TABELLION_DATA_DIR=str(data_dir), TABELLION_LOG_LEVEL="info")

    def start() -> subprocess.Popen[str]:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tabellion",
                "serve",
                "--port",
                str(port),
                "--org-name",
                "Acme Lettings",
            ],
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
        org = httpx.get(
            f"http://127.0.0.1:{port}/v1/organization", headers={"Authorization": f"Bearer {key}"}
        )
        assert org.json()["name"] == "Acme Lettings"
    finally:
        proc.terminate()
        output = proc.communicate(timeout=20)[0]
    assert f"API key: {key}" in output
    assert "Created organisation Acme Lettings." in output
    # The first dashboard admin: a link printed once sets the password, then one signs in.
    link = (data_dir / "first-admin-link.txt").read_text().strip()
    assert stat.S_IMODE((data_dir / "first-admin-link.txt").stat().st_mode) == 0o600
    assert f"  {link}" in output
    assert link.startswith(f"http://127.0.0.1:{port}/account/activate/")
    assert f"then sign in at http://127.0.0.1:{port}/account/sign-in as admin@example.com" in (
        " ".join(output.split())
    )
    # No TABELLION_PUBLIC_URL: the links use the port actually served.
    assert f"Docs:   http://127.0.0.1:{port}/docs" in output
    assert f"Portal: http://127.0.0.1:{port}/vault" in output
    assert f"Data:   {data_dir.resolve()}" in output
    assert "alembic" not in output.lower()
    assert output.index("API key:") < output.index("Uvicorn running")
    # The proofs' weaknesses, said plainly: a self-issued seal, and no timestamp authority.
    flat = " ".join(output.split())
    assert "Self-issued seal:" in flat
    assert "No timestamp authority: proofs carry this server's clock only" in flat
    assert "TABELLION_TSA_URL" in flat

    again = start()
    try:
        wait_healthy(again)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as browser:
            form = browser.get(link)
            assert form.status_code == 200, form.text
            token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
            password = "correct horse battery staple"
            done = browser.post(
                link, data={"password": password, "confirm": password, "csrf_token": token}
            )
            assert done.status_code == 200, done.text
            page = browser.get("/account/sign-in")
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
            signed = browser.post(
                "/account/sign-in",
                data={"email": "admin@example.com", "password": password, "csrf_token": token},
            )
            assert signed.status_code == 303, signed.text
            home = browser.get("/app/settings")  # an admin's page
            assert home.status_code == 200, home.text
            assert "admin@example.com" in home.text
            assert browser.get(link).status_code == 410  # the link sets a password once
    finally:
        again.terminate()
        second = again.communicate(timeout=20)[0]
    assert "API key:" not in second


def test_org_rename(data_dir: Path, database_url: str) -> None:
    env = cli_env(data_dir, database_url)
    created = runner.invoke(app, ["org", "create", "Default", "--email", "ops@acme.test"], env=env)
    org_id = re.search(r"Organization: (org_\w+)", created.output).group(1)  # type: ignore[union-attr]
    renamed = runner.invoke(app, ["org", "rename", "Acme Lettings"], env=env)
    assert renamed.exit_code == 0, renamed.output
    assert f"Organization {org_id} is now named Acme Lettings." in renamed.output
    assert "Lettings" in runner.invoke(app, ["org", "list"], env=env).output
    bad = runner.invoke(app, ["org", "rename", "Acme\nBcc: x"], env=env)
    assert bad.exit_code == 2 and "control characters" in bad.output
    runner.invoke(app, ["org", "create", "Other", "--email", "ops@other.test"], env=env)
    several = runner.invoke(app, ["org", "rename", "Acme"], env=env)
    assert several.exit_code == 2 and "--org" in several.output
    chosen = runner.invoke(app, ["org", "rename", "Acme SAS", "--org", org_id], env=env)
    assert chosen.exit_code == 0, chosen.output


@pytest.mark.parametrize(
    ("public_url", "host", "port", "expected", "warns"),
    [
        (None, "127.0.0.1", 8123, "http://127.0.0.1:8123", False),
        (None, "0.0.0.0", 9000, "http://127.0.0.1:9000", False),
        (None, "::", 9000, "http://127.0.0.1:9000", False),
        ("http://localhost:8000", "127.0.0.1", 8123, "http://localhost:8000", True),
        ("http://localhost:8123", "127.0.0.1", 8123, "http://localhost:8123", False),
        ("https://mail.acme.test", "127.0.0.1", 8123, "https://mail.acme.test", False),
    ],
)
def test_public_url_follows_the_served_port(
    data_dir: Path,
    capsys: pytest.CaptureFixture[str],
    public_url: str | None,
    host: str,
    port: int,
    expected: str,
    warns: bool,
) -> None:
    from tabellion.cli.main import _with_public_url
    from tests.conftest import make_settings

    settings = make_settings(data_dir, "sqlite+aiosqlite://", public_url=public_url)
    assert _with_public_url(settings, host, port).base_url == expected
    assert ("warning: TABELLION_PUBLIC_URL" in capsys.readouterr().err) is warns


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


def test_the_welcome_panel_never_crops_a_long_path(
    tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from tabellion.cli.main import FirstStart, _print_welcome
    from tests.conftest import make_settings

    deep = tmp_path / ("a-rather-long-folder-name-" * 4) / "data"
    settings = make_settings(deep, database_url)
    link = f"{settings.base_url}/account/activate/" + "t" * 43
    _print_welcome(settings, FirstStart("tbl_" + "k" * 40, "admin@example.com", link), "Acme")
    out = capsys.readouterr().out
    # Each value whole on its line, however narrow the (non-)terminal: copied as printed.
    assert f"Data:   {deep.resolve()}" in out
    assert f"saved to {deep / 'first-api-key.txt'})" in out
    assert "API key: tbl_" + "k" * 40 in out
    assert f"  {link}" in out
