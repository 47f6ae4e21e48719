"""Helpers shared by the benchmarks: temporary data dirs, runtimes, servers, RSS."""

from __future__ import annotations

import contextlib
import gc
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tabellion.config import Settings

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://root@127.0.0.1:5432/tabellion_bench")


def freeze_floor_heap() -> None:
    """Keep what a floor's process built out of the garbage collector's full passes, as ours
    is kept by ``jobs.worker.freeze_startup_heap`` (the app's lifespan, ``tabellion worker``):
    a floor must not pay a cost ours avoids. Not ``freeze_startup_heap`` itself, whose
    warm-ups prepare our own tasks."""
    gc.collect()
    gc.freeze()


def pg_url(suffix: str) -> str:
    """``BENCH_PG_URL`` with its database name suffixed: a benchmark's own database, which it
    drops and recreates too (two benchmarks never share one)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(PG_URL)
    return parsed.set(database=f"{parsed.database}{suffix}").render_as_string(hide_password=False)


def bench_settings(data_dir: Path, database_url: str | None = None, **extra: object) -> Settings:
    values: dict[str, object] = {
        "env": "test",
        "data_dir": data_dir,
        "database_url": database_url or f"sqlite+aiosqlite:///{data_dir / 'tabellion.db'}",
        "public_url": "http://bench.test",
        "secret_key": "bench-secret-key-0123456789-0123456789",
    }
    values.update(extra)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def fresh_postgres(url: str = PG_URL) -> str | None:
    """Recreate the benchmark database; None when PostgreSQL is not reachable."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql+psycopg", database="postgres")
    try:
        engine = create_engine(admin, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
        engine.dispose()
    except Exception as exc:
        print(f"  (PostgreSQL unavailable: {type(exc).__name__}: {exc})")
        return None
    return url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, *, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port}")


def start_process(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, *args], env={**os.environ, **(env or {})}, cwd=ROOT)


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU seconds of a process so far, all its threads (``/proc/<pid>/stat``).

    On a shared machine the wall clock counts other people's jobs too; CPU time does not.
    """
    stat = Path(f"/proc/{pid or os.getpid()}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Cpu:
    """CPU seconds spent during a timed part: this process (all threads) and a receiver's."""

    sink_pid: int
    mine: float = 0.0
    sink: float = 0.0

    @contextlib.contextmanager
    def measure(self) -> Iterator[None]:
        mine, sink = cpu_seconds(), cpu_seconds(self.sink_pid)
        try:
            yield
        finally:
            self.mine = cpu_seconds() - mine
            self.sink = cpu_seconds(self.sink_pid) - sink

    def per_item(self, count: int) -> str:
        return f"{self.mine / count * 1e6:.0f} µs + sink {self.sink / count * 1e6:.0f} µs"


def reset_peak_rss(pid: int) -> bool:
    """Reset VmHWM so it measures from now (Linux ≥ 4.0); False if not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


# A line run_all.py collects from each benchmark's output, beside its own human-readable text.
RESULT_PREFIX = "BENCH-RESULT "


def report(figure: str, ours: float, floor: float | None, unit: str, target: str) -> None:
    """Print one row of ``make bench``'s table: our rate, the floor's in the same run."""
    row = {"figure": figure, "ours": ours, "floor": floor, "unit": unit, "target": target}
    print(RESULT_PREFIX + json.dumps(row), flush=True)
