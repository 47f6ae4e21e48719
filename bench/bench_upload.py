"""Upload of a large attachment through the API, encrypted at rest and plain, against a minimal
hashing ASGI endpoint; then reading it back (the download's server side), encrypted and plain.

Three uvicorn processes on loopback receive the same 250 MiB stream from the same httpx client:
the API with encryption at rest (the default: a master key made on the first start), the API
with TABELLION_STORAGE_ENCRYPTION=false, and the floor (a bare ASGI app that hashes the body and
writes it in 1 MiB blocks from a thread, as fast as plain means go). Figures, best of the rounds:

- plain API upload / floor: target >= 0.9x (issue 26);
- encrypted upload / plain upload: target >= 0.8x, and each API server's peak RSS growth during
  an upload <= 32 MiB (issue 22);
- reading the stored file back through the blob store (what a download streams: decrypting
  and authenticating each chunk, or reading the plain file), encrypted / plain: target >= 0.8x,
  this process's peak RSS growth <= 32 MiB.

    .venv/bin/python -m bench.bench_upload [--mib 250] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from sqlalchemy import select

from bench.common import free_port, report, reset_peak_rss, rss_kib, start_process, wait_for_port

CHUNK = 64 * 1024


def payload(mib: int) -> Iterator[bytes]:
    block = os.urandom(CHUNK)
    for i in range(mib * 1024 * 1024 // CHUNK):
        yield block[:-8] + i.to_bytes(8, "big")


def upload(url: str, mib: int, headers: dict[str, str]) -> float:
    size = mib * 1024 * 1024
    with httpx.Client(timeout=600) as client:
        started = time.perf_counter()
        response = client.post(
            url, content=payload(mib), headers={**headers, "Content-Length": str(size)}
        )
        elapsed = time.perf_counter() - started
    response.raise_for_status()
    assert response.json()["size"] == size, response.text
    return elapsed


def api_upload_url(port: int, data: Path) -> tuple[str, dict[str, str]]:
    """A draft's attachment URL on the API at ``port``, and the headers to upload with."""
    key = (data / "first-api-key.txt").read_text().strip()
    auth = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as c:
        created = c.post(
            "/v1/messages",
            headers=auth,
            json={
                "mode": "deliver",
                "subject": "Bench",
                "recipients": [{"email": "r@example.test", "first_name": "A", "last_name": "B"}],
            },
        )
        created.raise_for_status()
    url = f"http://127.0.0.1:{port}/v1/messages/{created.json()['id']}/attachments?filename=b.bin"
    return url, {**auth, "Content-Type": "application/octet-stream"}


async def read_back(data: Path, env: dict[str, str]) -> tuple[float, float]:
    """Seconds to stream the last uploaded attachment out of the data dir's blob store, and
    this process's peak RSS growth (MiB) meanwhile."""
    from tabellion.config import Settings
    from tabellion.models.message import Attachment
    from tabellion.runtime import Runtime

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=data,
        storage_encryption=env.get("TABELLION_STORAGE_ENCRYPTION", "true") != "false",
    )
    runtime = Runtime.build(settings, pool_size=1)
    try:
        async with runtime.sessions() as session:
            key = await session.scalar(
                select(Attachment.storage_key).order_by(Attachment.created_at.desc()).limit(1)
            )
        assert key is not None
        before = rss_kib(os.getpid())
        exact = reset_peak_rss(os.getpid())
        started = time.perf_counter()
        size = 0
        async for chunk in runtime.storage.open(key):
            size += len(chunk)
        elapsed = time.perf_counter() - started
        growth = (rss_kib(os.getpid(), "VmHWM") - before) / 1024 if exact else float("nan")
        return elapsed, growth
    finally:
        await runtime.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mib", type=int, default=250)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        dirs = {"encrypted": Path(tmp) / "encrypted", "plain": Path(tmp) / "plain"}
        base_dir = Path(tmp) / "baseline"
        base_dir.mkdir()
        envs = {
            name: {
                "TABELLION_DATA_DIR": str(path),
                "TABELLION_LOG_LEVEL": "warning",
                "TABELLION_PUBLIC_URL": "http://bench.test",
                **({"TABELLION_STORAGE_ENCRYPTION": "false"} if name == "plain" else {}),
            }
            for name, path in dirs.items()
        }
        ports = {name: free_port() for name in dirs}
        base_port = free_port()
        apis = {
            name: start_process(
                ["-m", "tabellion.cli.main", "serve", "--port", str(ports[name]), "--no-worker"],
                envs[name],
            )
            for name in dirs
        }
        base = start_process(
            ["bench/baseline_upload_app.py", str(base_port)], {"BASELINE_DIR": str(base_dir)}
        )
        times: dict[str, list[float]] = {"encrypted": [], "plain": [], "floor": []}
        growth: dict[str, list[float]] = {"encrypted": [], "plain": []}
        try:
            for port in (*ports.values(), base_port):
                wait_for_port(port)
            assert (dirs["encrypted"] / "master.key").exists()
            assert not (dirs["plain"] / "master.key").exists()
            targets = {name: api_upload_url(ports[name], dirs[name]) for name in dirs}
            base_url = f"http://127.0.0.1:{base_port}/"
            upload(base_url, 8, {})  # warm each up
            for url, headers in targets.values():
                upload(url, 8, headers)
            for _ in range(args.rounds):
                times["floor"].append(upload(base_url, args.mib, {}))
                for name, (url, headers) in targets.items():
                    pid = apis[name].pid
                    before = rss_kib(pid)
                    exact = reset_peak_rss(pid)
                    times[name].append(upload(url, args.mib, headers))
                    peak = rss_kib(pid, "VmHWM")
                    growth[name].append((peak - before) / 1024 if exact else float("nan"))
        finally:
            for proc in (*apis.values(), base):
                proc.terminate()
                proc.wait(timeout=10)
        reads = {
            name: [asyncio.run(read_back(dirs[name], envs[name])) for _ in range(args.rounds)]
            for name in dirs
        }
    mb = args.mib * 1.048576
    best = {name: min(values) for name, values in times.items()}
    print(f"upload {args.mib} MiB, best of {args.rounds}:")
    print(f"  floor (bare ASGI hash + write):  {mb / best['floor']:7.1f} MB/s")
    print(f"  API, stored plain:               {mb / best['plain']:7.1f} MB/s")
    print(f"  API, encrypted at rest:          {mb / best['encrypted']:7.1f} MB/s")
    plain_ratio = best["floor"] / best["plain"]
    encrypted_ratio = best["plain"] / best["encrypted"]
    print(f"  plain / floor:       {plain_ratio:.2f}x (target >= 0.9x)")
    print(f"  encrypted / plain:   {encrypted_ratio:.2f}x (target >= 0.8x)")
    for name in dirs:
        worst = max(growth[name])
        print(f"  peak RSS growth of the API ({name}): {worst:.1f} MiB (target <= 32 MiB)")
    report(f"upload {args.mib} MiB", mb / best["plain"], mb / best["floor"], "MB/s", "≥ 0.9× floor")
    report(
        f"upload {args.mib} MiB encrypted vs plain",
        mb / best["encrypted"],
        mb / best["plain"],
        "MB/s",
        "≥ 0.8× plain",
    )
    read_best = {name: min(t for t, _ in values) for name, values in reads.items()}
    read_growth = {name: max(g for _, g in values) for name, values in reads.items()}
    print(f"reading it back (a download's server side), best of {args.rounds}:")
    for name in dirs:
        print(
            f"  {name:9s} {mb / read_best[name]:7.1f} MB/s, peak RSS growth "
            f"{read_growth[name]:.1f} MiB (target <= 32 MiB)"
        )
    print(
        f"  encrypted / plain: {read_best['plain'] / read_best['encrypted']:.2f}x (target >= 0.8x)"
    )
    report(
        f"download {args.mib} MiB encrypted vs plain",
        mb / read_best["encrypted"],
        mb / read_best["plain"],
        "MB/s",
        "≥ 0.8× plain",
    )


if __name__ == "__main__":
    main()
