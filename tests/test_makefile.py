"""`make test` must never change the quick start's install (a server may be running from it)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _dry_run(target: str) -> list[str]:
    result = subprocess.run(
        ["make", "-n", "-B", target], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return result.stdout.splitlines()


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
@pytest.mark.parametrize("target", ["test", "test-postgres", "install", "bench"])
def test_test_targets_never_touch_the_quick_start_venv(target: str) -> None:
    commands = _dry_run(target)
    assert ".venv-test/bin/pip install --quiet -e '.[test]'" in commands
    assert [c for c in commands if ".venv/" in c or c.endswith(".venv")] == []


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_serve_installs_the_quick_start_venv_non_editable() -> None:
    commands = _dry_run("serve")
    assert ".venv/bin/pip install --quiet ." in commands
    assert not [c for c in commands if "-e" in c.split()]
