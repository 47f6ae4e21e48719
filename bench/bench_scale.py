"""Scale-out: letters notified per second by 2 API + 3 worker processes vs 1 API + 1 worker,
and GET delivery's p99 at 100 clients vs a bare FastAPI endpoint, on PostgreSQL and S3.

Each size of deployment runs as an operator runs it (``tabellion serve --no-worker`` and
``tabellion worker`` processes, the machinery of ``tests/scale``) on a fresh PostgreSQL
database, storing in moto's S3 server and mailing to ``bench_smtp``'s sink, each in a process
of its own. ``--letters`` registered letters go through the APIs in turn (create, dispatch;
16 clients), and the rate is letters notified per second, from the first request to the last
delivery notified with every proof sealed. The ratio of the two rates is the figure (target
≥ 1.6×); on a machine with fewer cores than processes it measures how much the processes
share, not how they scale.

Then, on the larger deployment's database, GET /v1/deliveries/{id} from one of its API
processes at ``--connections`` clients vs ``bench_read``'s bare app (a FastAPI endpoint that
reads the same rows with plain SQL and answers the same JSON), with ``bench_read``'s load
generator: the p99 of each.

    python bench/bench_scale.py [--letters 1000] [--connections 100]

Five processes may open 20 PostgreSQL connections each: with the default
``max_connections = 100``, run it with nothing else using the server (or raise the limit).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import tempfile
import time
from pathlib import Path

import boto3
from tests.fixtures.cluster import (
    Sender,
    cluster_env,
    database,
    running_cluster,
    scalar,
    settle,
)

from bench.bench_read import measure
from bench.common import free_port, fresh_postgres, pg_url, report, start_process, wait_for_port


def cpu_times() -> tuple[float, float]:
    """The machine's (busy, total) CPU time in clock ticks since boot, all cores (/proc/stat)."""
    fields = [float(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def busy_share(before: tuple[float, float], after: tuple[float, float]) -> float:
    """How busy the machine's cores were between two readings (1.0: every core, always)."""
    total = after[1] - before[1]
    return (after[0] - before[0]) / total if total else 0.0


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


async def deployment(
    apis: int, workers: int, letters: int, *, s3_endpoint: str, smtp_port: int, keep: bool
) -> tuple[float, dict[str, str] | None]:
    """Letters notified per second by ``apis`` API and ``workers`` worker processes; with
    ``keep``, what the read benchmark needs (database, key, a delivery) before stopping."""
    url = fresh_postgres(pg_url(f"_scale_{apis}x{workers}"))
    if url is None:
        raise SystemExit("bench_scale needs PostgreSQL (BENCH_PG_URL)")
    bucket = f"bench-scale-{apis}x{workers}-{os.getpid()}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(
        Bucket=bucket
    )
    storage = f"s3://{bucket}/bench?endpoint_url={s3_endpoint}&region=us-east-1"
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        env = cluster_env(
            data_dir,
            url,
            storage,
            f"smtp://127.0.0.1:{smtp_port}",
            # Production's lease: nothing is killed here.
            TABELLION_WORKER_LEASE_SECONDS="60",
        )
        async with running_cluster(env, Path(tmp), apis=apis, workers=workers) as cluster:
            sender = Sender(cluster)
            try:
                started, cpu_before = time.perf_counter(), cpu_times()
                await sender.send_many(letters, prefix="bench", clients=16)
                with database(url) as engine:
                    await settle(engine, cluster, timeout=600 + letters)
                    elapsed = time.perf_counter() - started
                    busy = busy_share(cpu_before, cpu_times())
                    delivery = scalar(engine, "SELECT id FROM deliveries ORDER BY id LIMIT 1")
            finally:
                await sender.aclose()
            rate = letters / elapsed
            # With every core busy already, more processes cannot go faster: this says whether
            # the machine or the design is the limit.
            print(
                f"{apis} API + {workers} worker(s): {letters} letters notified in "
                f"{elapsed:.1f} s, {rate:.1f}/s; the machine's {os.cpu_count()} cores "
                f"{busy:.0%} busy (every process: ours, PostgreSQL, S3, SMTP, the clients)",
                flush=True,
            )
            if not keep:
                return rate, None
            kept = {"url": url, "key": cluster.api_key(), "delivery": str(delivery)}
    return rate, kept


async def read_p99(kept: dict[str, str], args: argparse.Namespace) -> None:
    """GET delivery from a Tabellion API process vs bench_read's bare app, same database."""
    auth = {"Authorization": f"Bearer {kept['key']}"}
    with tempfile.TemporaryDirectory() as tmp:
        env = cluster_env(Path(tmp), kept["url"], "", "smtp://127.0.0.1:1")
        env.pop("TABELLION_STORAGE_URL")
        env.pop("TABELLION_SMTP_URL")
        ours_port, bare_port = free_port(), free_port()
        servers = [
            start_process(
                ["-m", "tabellion", "serve", "--no-worker", "--port", str(ours_port)], env
            ),
            start_process(
                [
                    "-m", "uvicorn", "--factory", "bench.bench_read:bare_app",
                    "--port", str(bare_port), "--log-level", "warning", "--no-access-log",
                ],
                {"BENCH_DATA_DIR": tmp, "BENCH_DATABASE_URL": kept["url"]},
            ),
        ]  # fmt: skip
        try:
            wait_for_port(ours_port, timeout=180)
            wait_for_port(bare_port, timeout=180)
            path = f"/v1/deliveries/{kept['delivery']}"
            ours = await measure(args, f"http://127.0.0.1:{ours_port}", path, auth, servers[0].pid)
            floor = await measure(
                args,
                f"http://127.0.0.1:{bare_port}",
                f"/delivery/{kept['delivery']}",
                auth,
                servers[1].pid,
            )
        finally:
            for server in servers:
                stop(server)
    print(
        f"GET delivery at {args.connections} clients: ours {ours[0]:.0f} req/s p99 "
        f"{ours[1] * 1000:.0f} ms CPU {ours[2] * 1000:.2f} ms/req; bare {floor[0]:.0f} req/s "
        f"p99 {floor[1] * 1000:.0f} ms CPU {floor[2] * 1000:.2f} ms/req; p99 ratio "
        f"{ours[1] / floor[1]:.2f}"
    )
    report(
        f"GET delivery p99, {args.connections} conn, scaled-out PostgreSQL",
        ours[1] * 1000,
        floor[1] * 1000,
        "ms",
        "≤ 2× floor",
    )


async def main_async(args: argparse.Namespace) -> None:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    s3_port, smtp_port = free_port(), free_port()
    helpers = [
        start_process(["-m", "moto.server", "-H", "127.0.0.1", "-p", str(s3_port)]),
        start_process(["-m", "bench.bench_smtp", "--sink", str(smtp_port)]),
    ]
    try:
        wait_for_port(s3_port)
        wait_for_port(smtp_port)
        s3 = f"http://127.0.0.1:{s3_port}"
        single, _ = await deployment(
            1, 1, args.letters, s3_endpoint=s3, smtp_port=smtp_port, keep=False
        )
        scaled, kept = await deployment(
            2, 3, args.letters, s3_endpoint=s3, smtp_port=smtp_port, keep=True
        )
        print(f"scale-out: {scaled / single:.2f}× (target ≥ 1.6×) on {os.cpu_count()} cores")
        report(
            "letters notified, 2 API + 3 workers vs 1 + 1, PostgreSQL + S3",
            scaled,
            single,
            "letters/s",
            "≥ 1.6× floor",
        )
        assert kept is not None
        await read_p99(kept, args)
    finally:
        for helper in helpers:
            stop(helper)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--letters", type=int, default=1_000)
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--requests", type=int, default=3_000, help="GET requests (httpx)")
    parser.add_argument(
        "--wrk-seconds", type=int, default=10, help="GET with wrk if installed; 0: httpx"
    )
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
