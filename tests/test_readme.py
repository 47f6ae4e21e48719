"""The README's shell blocks, run as a newcomer would: the quick start builds and installs the
package from a copy of this checkout into a fresh venv and starts it, then the curl
walkthrough runs against that server, step by step, down to a verified proof.

What is changed, and only that: the port (8000 may be taken on a shared machine), the
placeholders the README asks the reader to fill in (``tbl_...``, ``msg_01j...``, ``dlv_...``,
``evd_...``, by values from the answers before them), ``notice.pdf`` (made here) and the
install command, which runs offline: ``pip install .`` keeps its meaning (a real, non-editable
build of the checkout), with ``--no-deps --no-build-isolation --no-index`` and the test venv's
libraries on the path instead of downloading them.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

from tests.fixtures import tools
from tests.fixtures.server import free_port

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"```sh\n(.*?)```", re.S)
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def shell_blocks() -> list[str]:
    return BLOCK.findall((ROOT / "README.md").read_text())


def block_with(marker: str) -> str:
    found = [b for b in shell_blocks() if marker in b]
    assert len(found) == 1, f"one README block with {marker!r}, found {len(found)}"
    return found[0]


def steps(block: str) -> list[str]:
    """The block's commands in groups (separated by blank lines), comments left out."""
    groups: list[str] = []
    for chunk in re.split(r"\n\s*\n", block):
        lines = [line for line in chunk.splitlines() if not line.lstrip().startswith("#")]
        text = "\n".join(lines).strip()
        if text:
            groups.append(text)
    return groups


def clean_env() -> dict[str, str]:
    """A newcomer's environment: no settings, no PYTHONPATH pointing at this checkout."""
    return {
        k: v for k, v in os.environ.items() if not k.startswith("TABELLION_") and k != "PYTHONPATH"
    }


def bash(script: str, cwd: Path, *, timeout: float = 120) -> str:
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, (script, done.stdout, done.stderr)
    return done.stdout


def copy_checkout(target: Path) -> Path:
    """The checkout as a newcomer gets it (no venvs, data or caches)."""
    ignore = shutil.ignore_patterns(
        ".git", ".venv*", "tabellion-data", "__pycache__", "*.egg-info", "build", ".*_cache"
    )
    shutil.copytree(ROOT, target, ignore=ignore)
    return target


def test_the_readme_has_the_blocks_this_test_runs() -> None:
    quick = block_with("pip install .")
    assert quick.strip().startswith("python3 -m venv .venv && .venv/bin/pip install . && ")
    walkthrough = block_with("curl")
    assert "export TBL=tbl_..." in walkthrough and "tabellion verify" in walkthrough
    # The others: running the suite (not from inside it).
    others = [b for b in shell_blocks() if b not in (quick, walkthrough)]
    assert [b.strip() for b in others] == ["make test"]


@pytest.fixture
def quick_start(tmp_path: Path) -> Iterator[tuple[Path, int, str]]:
    """The quick start block, run in a copy of the checkout; yields (folder, port, output)."""
    tools.require("curl")
    folder = copy_checkout(tmp_path / "tabellion")
    port = free_port()
    block = block_with("pip install .").strip()
    install, serve = block.rsplit(" && ", 1)
    libraries = sysconfig.get_paths()["purelib"]
    offline = install.replace("python3", sys.executable, 1).replace(
        ".venv/bin/pip install .",
        # The test venv's libraries, by path only: its editable install of Tabellion (a
        # .pth hook) stays out, so the package imported is the one just built.
        # The venv's own bundled setuptools may predate pyproject's license field: the test
        # venv's is used instead (a real install would fetch a recent one).
        f"echo {libraries} > $(.venv/bin/python -c 'import sysconfig; "
        'print(sysconfig.get_paths()["purelib"])\')/test-libraries.pth && '
        "{ .venv/bin/pip uninstall --quiet --yes setuptools || true; } && "
        ".venv/bin/pip install --quiet --no-deps --no-build-isolation --no-index .",
    )
    bash(offline, folder, timeout=600)
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen(  # noqa: S602 - the README's own command line
            f"{serve} --port {port}",
            shell=True,
            cwd=folder,
            env=clean_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert server.poll() is None, log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail("the quick start's server did not answer within 120 s")
        yield folder, port, log.read_text()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


@tools.requires("curl")
def test_quick_start_and_curl_walkthrough_run_as_written(
    quick_start: tuple[Path, int, str], tmp_path: Path
) -> None:
    folder, port, printed = quick_start
    # The installed package is the one just built, not this checkout's source.
    where = bash(".venv/bin/python -c 'import tabellion; print(tabellion.__file__)'", folder)
    assert "/site-packages/tabellion/" in where, where
    key_file = folder / "tabellion-data" / "first-api-key.txt"
    key = key_file.read_text().strip()
    assert re.fullmatch(r"tbl_[0-9A-Za-z]{40}", key)
    assert key_file.stat().st_mode & 0o777 == 0o600
    # The first start's panel: the key once, and where things are (on the port served).
    assert f"API key: {key}" in printed, printed
    for line in ("API:", "Docs:", "Portal:"):
        assert f"{line}" in printed and f"http://127.0.0.1:{port}/" in printed, printed
    (folder / "notice.pdf").write_bytes(PDF)

    found: dict[str, str] = {"tbl_...": key}

    def run(step: str) -> str:
        for placeholder, value in found.items():
            step = step.replace(placeholder, value)
        return bash(step.replace(":8000", f":{port}"), folder)

    preamble, create, attach, dispatch, follow, proof = steps(block_with("curl"))
    assert preamble.startswith("export TBL=")

    draft = json.loads(run(f"{preamble}\n{create}"))
    assert draft["status"] == "draft" and draft["subject"] == "Notice of termination"
    found["msg_01j..."] = draft["id"]

    attached = json.loads(run(f"{preamble}\n{attach}"))
    assert (attached["filename"], attached["content_type"]) == ("notice.pdf", "application/pdf")
    assert attached["size"] == len(PDF)

    dispatched = json.loads(run(f"{preamble}\n{dispatch}"))
    assert dispatched["status"] == "dispatched"
    found["dlv_..."] = dispatched["deliveries"][0]["id"]

    delivery = json.loads(run(f"{preamble}\n{follow}"))
    assert delivery["status"] in ("pending", "notified")
    found["evd_..."] = delivery["evidence"][0]["id"]

    verified = run(f"{preamble}\n{proof}")  # exits 0 only for an authentic proof
    assert (folder / "proof.pdf").read_bytes().startswith(b"%PDF")
    assert found["evd_..."] in verified or "authentic" in verified.lower(), verified
    # Without SMTP, the notice is in the outbox, with the recipient's link on this port.
    deadline = time.monotonic() + 60
    while not list((folder / "tabellion-data" / "outbox").glob("*.eml")):
        assert time.monotonic() < deadline, "no notice in the outbox"
        time.sleep(0.2)
    raw = next((folder / "tabellion-data" / "outbox").glob("*.eml")).read_bytes()
    notice = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(notice, EmailMessage)
    text = notice.get_body(("plain",))
    assert text is not None and f"http://127.0.0.1:{port}/r/" in text.get_content()
