"""Nodes that start together migrate one after another (a PostgreSQL advisory lock)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import create_engine, make_url, text

from tabellion.migrations import current_revision
from tests.conftest import TEST_DATABASE_URL


@pytest.mark.postgres_only
def test_three_nodes_migrate_an_empty_database_at_once() -> None:
    assert TEST_DATABASE_URL is not None
    base = make_url(TEST_DATABASE_URL)
    fresh = base.set(database=f"{base.database}_migrate_{os.getpid()}")
    admin = create_engine(base.set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{fresh.database}"'))
        conn.execute(text(f'CREATE DATABASE "{fresh.database}"'))
    url = fresh.render_as_string(hide_password=False)
    try:
        # Three processes, as three nodes (Alembic's context is one per process). Without the
        # lock, two of them create the same tables: "already exists".
        code = "import sys; from tabellion.migrations import upgrade_database as u; u(sys.argv[1])"
        nodes = [
            subprocess.Popen([sys.executable, "-c", code, url], stderr=subprocess.PIPE, text=True)
            for _ in range(3)
        ]
        for node in nodes:
            _, err = node.communicate(timeout=300)
            assert node.returncode == 0, err[-2000:]
        from alembic.script import ScriptDirectory

        from tabellion.migrations import alembic_config

        head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
        assert current_revision(url) == head
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{fresh.database}" WITH (FORCE)'))
        admin.dispose()
