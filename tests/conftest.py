"""Shared fixtures.

Every test gets its own data dir and an empty database: a fresh SQLite file copied from a
template migrated once per run, or, when ``TABELLION_TEST_DATABASE_URL`` names PostgreSQL,
the shared test database truncated after each test. Tests use real parts: the worker runs
jobs, the SMTP server is aiosmtpd, S3 is moto's server.

The suite runs in parallel processes (pytest-xdist, ``-n``): on PostgreSQL each process has a
database of its own beside the named one (``test_gw0``, ``test_gw1``...), and the job kinds the
processes ran are added up before the whole-suite check.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import make_url, text

from tabellion.config import Settings
from tabellion.runtime import Runtime
from tests.fixtures import column_lengths, job_kinds
from tests.fixtures.database import database_beside, migrate_template, truncate_all
from tests.fixtures.smtp import smtp_server  # noqa: F401
from tests.fixtures.tools import REQUIRE_TOOLS, require

# xdist's worker processes inherit COLUMNS=80, and a Rich console made at import would keep that
# width; the CLI tests give the width they want to each command.
for _name in ("COLUMNS", "LINES"):
    os.environ.pop(_name, None)


def _worker_database(url: str | None) -> str | None:
    """This xdist process's own PostgreSQL database, created beside ``url``'s if missing."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not (url and worker and url.startswith("postgresql")):
        return url
    worker_url = database_beside(url, f"{make_url(url).database}_{worker}")
    # Tests that read the variable, and the servers they start, use this process's database.
    os.environ["TABELLION_TEST_DATABASE_URL"] = worker_url
    return worker_url


TEST_DATABASE_URL = _worker_database(os.environ.get("TABELLION_TEST_DATABASE_URL"))
TESTS_DIR = Path(__file__).parent
job_kinds.install()
column_lengths.install()
# Whether to name the job kinds the worker never ran (the whole suite, or asked for).
REPORT_KINDS = pytest.StashKey[bool]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if TEST_DATABASE_URL and TEST_DATABASE_URL.startswith("postgresql"):
        return
    if TEST_DATABASE_URL and REQUIRE_TOOLS:
        # The PostgreSQL pass of CI must not quietly become a second SQLite pass.
        raise pytest.UsageError(
            f"TABELLION_TEST_DATABASE_URL is not PostgreSQL: {TEST_DATABASE_URL}"
        )
    skip = pytest.mark.skip(reason="needs TABELLION_TEST_DATABASE_URL=postgresql+psycopg://...")
    for item in items:
        if "postgres_only" in item.keywords:
            item.add_marker(skip)


def _whole_suite(session: pytest.Session) -> bool:
    config = session.config
    if config.option.keyword or config.option.markexpr or config.option.deselect:
        return False
    paths = [Path(arg.split("::")[0]).resolve() for arg in config.args] or [TESTS_DIR]
    return paths == [TESTS_DIR] and "::" not in "".join(config.args)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """xdist's controller: add up the job kinds a worker process ran. A worker that died
    (``error`` set) left no output: xdist reports its crash, not an error of this hook."""
    output = getattr(node, "workeroutput", None) or {}
    job_kinds.RAN.update(output.get("job_kinds_ran", ()))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        # An xdist worker ran a part of the suite: the controller judges the whole.
        workeroutput["job_kinds_ran"] = sorted(job_kinds.RAN)
        return
    whole = _whole_suite(session)
    if exitstatus == 0 and whole and job_kinds.never_ran():
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    session.config.stash[REPORT_KINDS] = whole or bool(os.environ.get("TABELLION_TEST_JOB_KINDS"))


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    missing = job_kinds.never_ran()
    if missing and config.stash.get(REPORT_KINDS, False):
        terminalreporter.write_line(f"job kinds the real worker never ran: {', '.join(missing)}")


def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("requires_tools"):
        require(*mark.args)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    if TEST_DATABASE_URL:
        migrate_template(TEST_DATABASE_URL, reset=True)
        return None
    path = tmp_path_factory.mktemp("template") / "tabellion.db"
    migrate_template(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def database_url(data_dir: Path, sqlite_template: Path | None) -> Iterator[str]:
    if TEST_DATABASE_URL:
        yield TEST_DATABASE_URL
        truncate_all(TEST_DATABASE_URL)
        return
    assert sqlite_template is not None
    target = data_dir / "tabellion.db"
    shutil.copyfile(sqlite_template, target)
    yield f"sqlite+aiosqlite:///{target}"


def make_settings(data_dir: Path, database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": "test",
        "data_dir": data_dir,
        "database_url": database_url,
        "public_url": "http://tabellion.test",
        "secret_key": "test-secret-key-that-is-long-enough-0123456789",
        "smtp_url": None,
        # Seal after each transaction, so that running due jobs seals everything.
        "seal_delay_seconds": 0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def settings(data_dir: Path, database_url: str) -> Settings:
    return make_settings(data_dir, database_url)


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    rt = Runtime.build(settings, pool_size=5)
    try:
        yield rt
    finally:
        await rt.close()


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    from tabellion.app import create_app

    app = create_app(runtime=runtime)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://tabellion.test") as c:
        yield c


@pytest.fixture
async def served(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app served by uvicorn on a loopback port: its requests run side by
    side on the runtime's connection pool, as concurrent browsers' would. Many at once queue
    on a loaded machine: the timeout is a minute, not httpx's 5 s."""
    from tests.fixtures.server import live_server

    async with (
        live_server(runtime) as base,
        httpx.AsyncClient(base_url=base, limits=httpx.Limits(max_connections=50), timeout=60) as c,
    ):
        yield c


@pytest.fixture
async def org_key(runtime: Runtime) -> tuple[str, str]:
    """An organisation and its admin API key: ``(organization_id, secret)``."""
    from tests.fixtures.factories import create_org_with_key

    return await create_org_with_key(runtime)


@pytest.fixture
def auth(org_key: tuple[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {org_key[1]}"}


async def count_rows(runtime: Runtime, table: str) -> int:
    async with runtime.sessions() as session:
        return int((await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())  # noqa: S608
