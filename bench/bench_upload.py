"""Upload of a large attachment through the API vs a minimal hashing ASGI endpoint.

Both servers run as separate uvicorn processes on loopback and receive the same 250 MiB stream
from the same httpx client. Prints MB/s for each, the ratio (target ≥ 0.9×) and the API
server's peak RSS growth during the upload (target ≤ 32 MiB).

    .venv/bin/python bench/bench_upload.py [--mib 250] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mib", type=int, default=250)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        base_dir = Path(tmp) / "baseline"
        base_dir.mkdir()
        api_port, base_port = free_port(), free_port()
        env = {
            "TABELLION_DATA_DIR": str(data),
            "TABELLION_LOG_LEVEL": "warning",
            "TABELLION_PUBLIC_URL": "http://bench.test",
        }
        api = start_process(
            ["-m", "tabellion.cli.main", "serve", "--port", str(api_port), "--no-worker"], env
        )
        base = start_process(
            ["bench/baseline_upload_app.py", str(base_port)], {"BASELINE_DIR": str(base_dir)}
        )
        try:
            wait_for_port(api_port)
            wait_for_port(base_port)
            key = (data / "first-api-key.txt").read_text().strip()
            auth = {"Authorization": f"Bearer {key}"}
            with httpx.Client(base_url=f"http://127.0.0.1:{api_port}") as c:
                created = c.post(
                    "/v1/messages",
                    headers=auth,
                    json={
                        "mode": "deliver",
                        "subject": "Bench",
                        "recipients": [
                            {"email": "r@example.test", "first_name": "A", "last_name": "B"}
                        ],
                    },
                )
                created.raise_for_status()
                message_id = created.json()["id"]
            api_url = (
                f"http://127.0.0.1:{api_port}/v1/messages/{message_id}/attachments?filename=big.bin"
            )
            base_url = f"http://127.0.0.1:{base_port}/"
            upload(base_url, 8, {})  # warm both up
            upload(api_url, 8, {**auth, "Content-Type": "application/octet-stream"})
            ours, theirs, growth = [], [], []
            for _ in range(args.rounds):
                theirs.append(upload(base_url, args.mib, {}))
                before = rss_kib(api.pid)
                exact = reset_peak_rss(api.pid)
                ours.append(
                    upload(api_url, args.mib, {**auth, "Content-Type": "application/octet-stream"})
                )
                peak = rss_kib(api.pid, "VmHWM")
                growth.append((peak - before) / 1024 if exact else float("nan"))
        finally:
            for proc in (api, base):
                proc.terminate()
                proc.wait(timeout=10)
    mb = args.mib * 1.048576
    best_ours, best_theirs = min(ours), min(theirs)
    ratio = best_theirs / best_ours
    print(f"upload {args.mib} MiB, best of {args.rounds}:")
    print(f"  baseline (bare ASGI hash+write): {mb / best_theirs:7.1f} MB/s")
    print(f"  tabellion API:                   {mb / best_ours:7.1f} MB/s")
    print(f"  ratio: {ratio:.2f}x  [{'ok' if ratio >= 0.9 else 'BELOW TARGET'}, target 0.9x]")
    report(f"upload {args.mib} MiB", mb / best_ours, mb / best_theirs, "MB/s", "≥ 0.9× floor")
    worst = max(growth)
    print(
        f"  API server peak RSS growth during upload: {worst:.1f} MiB "
        f"[{'ok' if worst <= 32 else 'ABOVE TARGET'}, target ≤ 32 MiB]"
    )


if __name__ == "__main__":
    main()
