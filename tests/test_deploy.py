"""The deployment files: the systemd units (checked by systemd itself), the Containerfile and
compose.yaml (read as a builder would read them), and every Tabellion command they run
(accepted by the real command line).

No container can be built on the machines the suite runs on (no container daemon, no image
registry): ``test_the_image_builds_and_answers_health`` does it where one is, when asked
(``TABELLION_TEST_CONTAINER=1``).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from tabellion.cli.main import app
from tabellion.config import Settings
from tabellion.document.s3 import S3BlobStore
from tests.fixtures.server import free_port
from tests.fixtures.tools import requires

ROOT = Path(__file__).resolve().parents[1]
UNITS = ROOT / "deploy" / "systemd"
INSTALLED = "/opt/tabellion/bin/tabellion"
runner = CliRunner()


def accepted(argv: list[str]) -> None:
    """The command line takes these arguments: unknown options fail before --help answers."""
    result = runner.invoke(app, [*argv, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, (argv, result.output)


# ---- systemd -------------------------------------------------------------------------------
def _unit_for_this_machine(tmp_path: Path, name: str, instance: str | None = None) -> Path:
    """The unit with ExecStart pointing at this environment's ``tabellion`` (systemd checks
    that the program exists)."""
    here = shutil.which("tabellion", path=str(Path(sys.executable).parent)) or shutil.which(
        "tabellion"
    )
    assert here, "the tabellion command is not installed next to this Python"
    text = (UNITS / name).read_text().replace(INSTALLED, here)
    target = tmp_path / (name.replace("@.", f"@{instance}.") if instance else name)
    target.write_text(text)
    return target


def _exec_start(name: str) -> list[str]:
    line = next(
        line for line in (UNITS / name).read_text().splitlines() if line.startswith("ExecStart=")
    )
    return shlex.split(line.removeprefix("ExecStart="))


@requires("systemd-analyze")
@pytest.mark.parametrize(
    ("name", "instance"),
    [
        ("tabellion-api.service", None),
        ("tabellion-worker@.service", None),
        ("tabellion-worker@.service", "2"),
    ],
)
def test_systemd_units_verify_without_a_warning(
    tmp_path: Path, name: str, instance: str | None
) -> None:
    unit = _unit_for_this_machine(tmp_path, name, instance)
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False
    )
    # Unknown keys and unparsable values are only warnings to systemd: none is allowed here.
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr
    # systemd's own rating of the sandbox: exposure at most 2.0 of 10 ("OK").
    rated = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--threshold=20", str(unit)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert rated.returncode == 0, rated.stdout[-2000:]


def test_systemd_units_run_the_right_commands() -> None:
    api, worker = _exec_start("tabellion-api.service"), _exec_start("tabellion-worker@.service")
    assert api[0] == worker[0] == INSTALLED
    assert api[1:3] == ["serve", "--no-worker"]
    assert worker[1] == "worker"
    accepted(api[1:])
    accepted(worker[1:])
    for name in ("tabellion-api.service", "tabellion-worker@.service"):
        text = (UNITS / name).read_text()
        for setting in (
            "User=tabellion",
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
            "StateDirectory=tabellion",
            "CapabilityBoundingSet=\n",
        ):
            assert setting in text, (name, setting)


# ---- Containerfile -------------------------------------------------------------------------
def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Containerfile, continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", (ROOT / "Containerfile").read_text())
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def test_containerfile_is_multi_stage_non_root_with_a_healthcheck() -> None:
    steps = _instructions()
    known = {
        "ARG",
        "FROM",
        "ENV",
        "WORKDIR",
        "COPY",
        "RUN",
        "LABEL",
        "USER",
        "VOLUME",
        "EXPOSE",
        "HEALTHCHECK",
        "ENTRYPOINT",
        "CMD",
    }
    assert {word for word, _ in steps} <= known
    stages = [rest for word, rest in steps if word == "FROM"]
    assert len(stages) == 2 and stages[0].endswith(" AS build")
    final = steps[max(i for i, (word, _) in enumerate(steps) if word == "FROM") :]
    assert ("COPY", "--from=build /opt/tabellion /opt/tabellion") in final
    user = next(rest for word, rest in final if word == "USER")
    assert user.split(":")[0] not in ("root", "0")
    for word, rest in steps:
        if word == "COPY" and not rest.startswith("--from"):
            for source in rest.split()[:-1]:
                assert (ROOT / source).exists(), source
    health = next(rest for word, rest in final if word == "HEALTHCHECK")
    probe = json.loads(health[health.index("CMD") + 3 :])
    assert probe[:2] == ["python", "-c"]
    compile(probe[2], "healthcheck", "exec")
    env = dict(re.findall(r"(\w+)=(\S+)", next(r for w, r in final if w == "ENV" and "PATH" in r)))
    assert env["HEALTHCHECK_URL"] == "http://127.0.0.1:8000/health"
    entry = json.loads(next(rest for word, rest in final if word == "ENTRYPOINT"))
    command = json.loads(next(rest for word, rest in final if word == "CMD"))
    assert entry == ["tabellion"] and command[0] == "serve"
    assert command[command.index("--port") + 1] == next(r for w, r in final if w == "EXPOSE")
    accepted(command)


# ---- compose.yaml --------------------------------------------------------------------------
def _compose() -> dict:
    data: dict = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return data


def _interpolated(value: str) -> str:
    """Compose's ${VAR:-default} and ${VAR:?message}, as with TABELLION_SECRET_KEY exported."""

    def one(match: re.Match[str]) -> str:
        name, operator, rest = match.group(1), match.group(2), match.group(3)
        if name == "TABELLION_SECRET_KEY":
            return "k" * 64
        assert operator == ":-", f"{name} must have a default"
        return rest

    return re.sub(r"\$\{(\w+)(:[-?])([^}]*)\}", one, value)


def test_compose_services_images_and_dependencies() -> None:
    compose = _compose()
    services = compose["services"]
    assert set(services) == {"postgres", "s3", "mailpit", "setup", "api", "worker"}
    for name, service in services.items():
        if "build" in service:
            assert service["build"]["dockerfile"] == "Containerfile"
        else:  # a real registry image, with its registry named (podman needs it)
            assert re.fullmatch(r"docker\.io/[a-z0-9./_-]+:[\w.-]+", service["image"]), name
        for needed in service.get("depends_on", {}):
            assert needed in services, (name, needed)
        for volume in service.get("volumes", []):
            assert volume.split(":")[0] in compose["volumes"], (name, volume)
    assert services["postgres"]["image"].startswith("docker.io/library/postgres:")
    assert services["mailpit"]["image"].startswith("docker.io/axllent/mailpit:")
    assert services["api"]["depends_on"]["setup"] == {"condition": "service_completed_successfully"}
    # API and workers share the data dir: the self-issued seal lives there.
    assert services["api"]["volumes"] == services["worker"]["volumes"]


def test_compose_commands_and_settings_are_tabellion_s() -> None:
    services = _compose()["services"]
    api, worker = services["api"]["command"], services["worker"]["command"]
    assert api[0] == "serve" and "--no-worker" in api
    assert worker[0] == "worker"
    accepted(api)
    accepted(worker)
    port = worker[worker.index("--metrics-port") + 1]
    assert services["worker"]["environment"]["HEALTHCHECK_URL"].endswith(f":{port}/metrics")
    script = services["setup"]["command"][0]
    compile(script.split("<<'PY'\n")[1].split("\nPY\n")[0], "setup", "exec")
    assert script.rstrip().endswith("exec tabellion db upgrade")
    for name in ("setup", "api", "worker"):
        env = {k: _interpolated(str(v)) for k, v in services[name]["environment"].items()}
        values = {
            k.removeprefix("TABELLION_").lower(): v
            for k, v in env.items()
            if k.startswith("TABELLION_")
        }
        settings = Settings(_env_file=None, **values)  # type: ignore[arg-type]
        settings.check()  # production settings a real start accepts
        store = S3BlobStore.from_url(settings.resolved_storage_url)
        assert store.bucket == "tabellion"
        assert store.client.meta.endpoint_url == "http://s3:8333"


@requires("docker-compose")
def test_compose_file_is_valid_for_compose(tmp_path: Path) -> None:
    env = {**os.environ, "TABELLION_SECRET_KEY": "k" * 64}
    done = subprocess.run(
        [
            "docker-compose",
            "--project-directory",
            str(ROOT),
            "-f",
            str(ROOT / "compose.yaml"),
            "config",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # Without the secret, compose refuses to start anything, with the hint.
    env.pop("TABELLION_SECRET_KEY")
    done = subprocess.run(
        ["docker-compose", "-f", str(ROOT / "compose.yaml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode != 0 and "openssl rand" in done.stderr


# ---- the image itself (opt-in) -------------------------------------------------------------
def _container_tool() -> str | None:
    for tool in ("podman", "docker"):
        if (
            shutil.which(tool)
            and subprocess.run([tool, "info"], capture_output=True, check=False).returncode == 0
        ):
            return tool
    return None


@pytest.mark.container
@pytest.mark.skipif(
    os.environ.get("TABELLION_TEST_CONTAINER") != "1",
    reason="builds an image: set TABELLION_TEST_CONTAINER=1 where podman or docker runs",
)
def test_the_image_builds_and_answers_health() -> None:
    tool = _container_tool()
    if tool is None:
        pytest.fail("TABELLION_TEST_CONTAINER=1 but neither podman nor docker answers `info`")
    tag = f"localhost/tabellion-test:{uuid.uuid4().hex[:8]}"
    subprocess.run([tool, "build", "-t", tag, "-f", "Containerfile", "."], cwd=ROOT, check=True)
    port = free_port()
    name = f"tabellion-test-{uuid.uuid4().hex[:8]}"
    subprocess.run(
        [tool, "run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8000", tag], check=True
    )
    try:
        for _ in range(120):
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                if answer.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(1)
        assert httpx.get(f"http://127.0.0.1:{port}/health").json() == {"status": "ok"}
        user = subprocess.run(
            [tool, "exec", name, "id", "-u"], capture_output=True, text=True, check=True
        )
        assert user.stdout.strip() == "10001"
        probe = subprocess.run(
            [tool, "healthcheck", "run", name]
            if tool == "podman"
            else [
                tool,
                "exec",
                name,
                "python",
                "-c",
                "import urllib.request;urllib.request.urlopen('http://127.0.0.1:8000/health')",
            ],
            check=False,
        )
        assert probe.returncode == 0
    finally:
        subprocess.run([tool, "rm", "-f", name], check=False)
        subprocess.run([tool, "rmi", "-f", tag], check=False)
