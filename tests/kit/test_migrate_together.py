"""Nodes that start together migrate one after another (a PostgreSQL advisory lock)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from alembic.script import ScriptDirectory

from tabellion.migrations import alembic_config, current_revision
from tests.conftest import TEST_DATABASE_URL
from tests.fixtures.database import database_beside, drop_database_beside


@pytest.mark.postgres_only
def test_three_nodes_migrate_an_empty_database_at_once() -> None:
    assert TEST_DATABASE_URL is not None
    name = f"tabellion_migrate_{os.getpid()}"
    url = database_beside(TEST_DATABASE_URL, name, fresh=True)
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
        head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
        assert current_revision(url) == head
    finally:
        drop_database_beside(TEST_DATABASE_URL, name)
