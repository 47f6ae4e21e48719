"""Instructions per read request, ours and the floor's, counted by callgrind: a figure that
does not move with the machine's noise.

On a shared 2-core machine the wall clock and even the CPU time of the same run vary by
±15 % from one minute to the next, so a change worth 3 % cannot be seen with ``bench_read``
alone. valgrind's callgrind counts the instructions the process executes instead: the same
code gives the same count to ~0.2 %. This script runs itself under callgrind (valgrind is a
Debian package, on every machine here), builds our app and the bare floor of
``bench_read`` on one seeded SQLite database, keeps ``--in-flight`` requests going through
each app's ASGI interface (no server, no sockets: both sides alike), and zeroes and dumps
the counters around each measured batch with ``callgrind_control``.

Instructions are not time: the floor's ratio here (~0.5×) is close to, not equal to,
``bench_read``'s. Use it to compare two versions of our code (run it on each tree), and
``bench_read`` for the figures of #26. Under callgrind the run is ~50 times slower, so the
API key's verification is trusted for the whole run on both sides (a 5 s expiry would be
re-verified every few requests and count as if it were part of each).

    PYTHONPATH=src:. .venv/bin/python -m bench.read_instructions [--kind delivery|message|list]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

UNDER_CALLGRIND = "BENCH_UNDER_CALLGRIND"


class Asgi:
    """An ASGI app started (its lifespan) and driven directly."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.state: dict[str, Any] = {}
        self._stop = asyncio.Event()

    async def start(self) -> None:
        started = asyncio.Event()
        messages = iter([{"type": "lifespan.startup"}])

        async def receive() -> dict[str, Any]:
            for message in messages:
                return message
            await self._stop.wait()
            return {"type": "lifespan.shutdown"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"].startswith("lifespan.startup"):
                assert message["type"] == "lifespan.startup.complete", message
                started.set()

        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": self.state}
        self._task = asyncio.create_task(self.app(scope, receive, send))
        await started.wait()

    async def get(self, path: str, headers: list[tuple[bytes, bytes]]) -> None:
        route, _, query = path.partition("?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": route,
            "raw_path": route.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 80),
            "state": dict(self.state),  # as uvicorn: a shallow copy per request
        }
        status: list[int] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])

        await self.app(scope, receive, send)
        assert status == [200], status


async def drive(app: Asgi, path: str, headers: Any, requests: int, in_flight: int) -> None:
    remaining = iter(range(requests))

    async def client() -> None:
        for _ in remaining:
            await app.get(path, headers)

    await asyncio.gather(*(client() for _ in range(in_flight)))


def callgrind(*args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(os.getpid())], check=True, capture_output=True)


def counted(out_dir: Path) -> int:
    """The instructions of the latest dump."""
    latest = max(out_dir.glob(f"callgrind.out.{os.getpid()}*"), key=lambda p: p.stat().st_mtime)
    text = latest.read_text()
    found = re.search(r"^(?:summary|totals):\s+(\d+)", text, re.M)
    assert found, latest
    return int(found.group(1))


async def measure(args: argparse.Namespace, out_dir: Path) -> None:
    from bench import bench_read
    from tabellion.organization import service

    service.VERIFIED_KEY_SECONDS = 1e9  # see the module's docstring; the floor reads it too
    with tempfile.TemporaryDirectory() as tmp:
        seeded = await bench_read.seed(Path(tmp), None, args.recipients)
        os.environ["BENCH_DATA_DIR"] = tmp
        os.environ["BENCH_DATABASE_URL"] = seeded["database_url"]
        headers = [(b"host", b"bench"), (b"authorization", f"Bearer {seeded['secret']}".encode())]
        sides = {"ours": bench_read.our_app(), "floor": bench_read.bare_app()}
        apps = {name: Asgi(app) for name, app in sides.items()}
        for app in apps.values():
            await app.start()
        paths = {"ours": seeded[f"our:{args.kind}"], "floor": seeded[f"bare:{args.kind}"]}
        counts: dict[str, list[float]] = {name: [] for name in apps}
        for _ in range(args.rounds):
            for name, app in apps.items():
                await drive(app, paths[name], headers, args.warm_up, args.in_flight)
                gc.collect()
                callgrind("-z")
                await drive(app, paths[name], headers, args.requests, args.in_flight)
                callgrind("-d", name)
                counts[name].append(counted(out_dir) / args.requests)
        for name, values in counts.items():
            shown = ", ".join(f"{v / 1000:,.0f}k" for v in values)
            lowest = min(values) / 1000
            print(f"GET {args.kind}, {name}: {lowest:,.0f}k instructions a request ({shown})")
        ours, floor = min(counts["ours"]), min(counts["floor"])
        print(f"GET {args.kind}: floor / ours = {floor / ours:.3f}")
        sys.stdout.flush()
        os._exit(0)  # the apps' connections and threads need no orderly end here


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kind", choices=("delivery", "message", "list"), default="delivery")
    # A message or a page of deliveries is ~20 times a delivery's work: fewer of them.
    parser.add_argument("--requests", type=int, help="per measured batch (300, or 40)")
    parser.add_argument("--warm-up", type=int, help="before each batch (100, or 20)")
    parser.add_argument("--in-flight", type=int, default=100)
    parser.add_argument("--recipients", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2, help="the lowest count is reported")
    args = parser.parse_args()
    one = args.kind == "delivery"
    args.requests = args.requests or (300 if one else 40)
    args.warm_up = args.warm_up or (100 if one else 20)
    if os.environ.get(UNDER_CALLGRIND):
        asyncio.run(measure(args, Path(os.environ[UNDER_CALLGRIND])))
        return
    run_under_callgrind("bench.read_instructions")


def run_under_callgrind(module: str) -> None:
    """Run ``python -m module`` with this process's arguments again, under callgrind, with
    ``UNDER_CALLGRIND`` naming the folder of its dumps (read by ``counted``)."""
    if not shutil.which("valgrind"):
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--quiet",
                f"--callgrind-out-file={out}/callgrind.out.%p",
                sys.executable,
                "-m",
                module,
                *sys.argv[1:],
            ],
            env={**os.environ, UNDER_CALLGRIND: out},
            check=True,
        )
        print(f"({time.perf_counter() - started:.0f} s under callgrind)")


if __name__ == "__main__":
    main()
