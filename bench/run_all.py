"""Run every ``bench/bench_*.py`` and print one table: ours, the floor, ratio and target.

Each benchmark prints its own report and one ``BENCH-RESULT`` JSON line per figure (see
``common.report``); this collects them. ``--smoke`` runs each at a tiny size, to prove the
benchmarks work, not to measure: figures on a busy or tiny run mean little.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import RESULT_PREFIX  # noqa: E402

# Small sizes for a smoke run, by benchmark.
SMOKE_ARGS: dict[str, list[str]] = {
    "bench_dispatch": ["--recipients", "200"],
    "bench_evidence": ["--recipients", "100", "--pdfs", "2"],
    "bench_read": ["--requests", "300", "--connections", "20", "--wrk-seconds", "2"],
    "bench_regmail_base64": ["--mib", "1"],
    "bench_signing": ["--smoke"],
    "bench_smtp": ["--messages", "50"],
    "bench_upload": ["--mib", "8", "--rounds", "1"],
    "bench_webhooks": ["--events", "50", "--rounds", "1"],
}


def machine() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{os.cpu_count()} cores, load average {one:.2f} {five:.2f} {fifteen:.2f}"


def run(script: Path, extra: list[str]) -> tuple[list[dict[str, object]], int]:
    command = [sys.executable, str(script), *extra]
    print(f"$ {' '.join(command)}", flush=True)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    process = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    rows = []
    for line in process.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            rows.append(json.loads(line[len(RESULT_PREFIX) :]))
        else:
            print("  " + line)
    if process.returncode:
        print(process.stderr[-4000:])
    return rows, process.returncode


def table(rows: list[dict[str, object]]) -> str:
    lines = [
        "| figure | ours | floor | ratio | target |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        ours, floor, unit = float(row["ours"]), row["floor"], row["unit"]  # type: ignore[arg-type]
        floor_text = "—" if floor is None else f"{float(floor):,.0f} {unit}"  # type: ignore[arg-type]
        ratio = "—" if not floor else f"{ours / float(floor):.2f}×"  # type: ignore[arg-type]
        lines.append(
            f"| {row['figure']} | {ours:,.0f} {unit} | {floor_text} | {ratio} | {row['target']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: check, don't measure")
    parser.add_argument("--only", nargs="*", default=[], help="benchmark names, e.g. bench_read")
    args = parser.parse_args()
    before = machine()
    rows: list[dict[str, object]] = []
    failed = []
    for script in sorted((ROOT / "bench").glob("bench_*.py")):
        if args.only and script.stem not in args.only:
            continue
        found, code = run(script, SMOKE_ARGS.get(script.stem, []) if args.smoke else [])
        rows += found
        if code:
            failed.append(script.stem)
    print()
    print(
        f"machine: {before} at start; {machine()} at end" + ("  (SMOKE RUN)" if args.smoke else "")
    )
    print(table(rows))
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
