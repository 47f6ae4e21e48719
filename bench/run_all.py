"""Run every ``bench/bench_*.py`` and print one table: ours, the floor, ratio and target.

Each benchmark prints its own report and one ``BENCH-RESULT`` JSON line per figure (see
``common.report``); this collects them. Each benchmark runs ``--repeat`` times (3 by default)
and the table shows, per figure, the median of our rate, of the floor's and of the ratio (each
ratio from one run: ours and the floor side by side), with the range of the ratios and the
load average when the runs started. ``--smoke`` runs each once at a tiny size, to prove the
benchmarks work, not to measure: figures on a busy or tiny run mean little.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
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
    "bench_scale": [
        "--letters",
        "100",
        "--requests",
        "300",
        "--connections",
        "20",
        "--wrk-seconds",
        "2",
    ],
    "bench_signing": ["--smoke"],
    "bench_smtp": ["--messages", "50"],
    "bench_upload": ["--mib", "8", "--rounds", "1"],
    "bench_webhooks": ["--events", "50", "--rounds", "1"],
}


# Benchmarks that run on PostgreSQL too when asked (bench_dispatch always does).
POSTGRES_FLAG = {"bench_evidence", "bench_smtp", "bench_webhooks"}


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


def _rate(value: float, unit: str) -> str:
    return f"{value:,.1f} {unit}" if value < 100 else f"{value:,.0f} {unit}"


def table(rows: list[dict[str, object]]) -> str:
    """One line per figure: medians over its runs (rows of the same figure)."""
    lines = [
        "| figure | runs | ours | floor | ratio (range) | target | load at start |",
        "|---|---|---|---|---|---|---|",
    ]
    figures: dict[str, list[dict[str, object]]] = {}
    for row in rows:
        figures.setdefault(str(row["figure"]), []).append(row)
    for figure, runs in figures.items():
        unit = str(runs[0]["unit"])
        ours = statistics.median(float(r["ours"]) for r in runs)  # type: ignore[arg-type]
        floors = [float(r["floor"]) for r in runs if r["floor"]]  # type: ignore[arg-type]
        ratios = [float(r["ours"]) / float(r["floor"]) for r in runs if r["floor"]]  # type: ignore[arg-type]
        floor_text = _rate(statistics.median(floors), unit) if floors else "—"
        ratio = "—"
        if ratios:
            ratio = f"{statistics.median(ratios):.2f}×"
            if len(ratios) > 1:
                ratio += f" ({min(ratios):.2f}–{max(ratios):.2f})"
        loads = ", ".join(f"{float(r['load']):.1f}" for r in runs)  # type: ignore[arg-type]
        lines.append(
            f"| {figure} | {len(runs)} | {_rate(ours, unit)} | {floor_text} | {ratio} "
            f"| {runs[0]['target']} | {loads} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: check, don't measure")
    parser.add_argument("--only", nargs="*", default=[], help="benchmark names, e.g. bench_read")
    parser.add_argument(
        "--repeat", type=int, default=0, help="runs of each benchmark (default 3, smoke 1)"
    )
    parser.add_argument(
        "--postgres", action="store_true", help=f"pass --postgres to {', '.join(POSTGRES_FLAG)}"
    )
    args = parser.parse_args()
    repeat = args.repeat or (1 if args.smoke else 3)
    before = machine()
    rows: list[dict[str, object]] = []
    failed = []
    for script in sorted((ROOT / "bench").glob("bench_*.py")):
        if args.only and script.stem not in args.only:
            continue
        extra = SMOKE_ARGS.get(script.stem, []) if args.smoke else []
        if args.postgres and script.stem in POSTGRES_FLAG:
            extra = [*extra, "--postgres"]
        for _ in range(repeat):
            load = os.getloadavg()[0]
            found, code = run(script, extra)
            rows += [{**row, "load": load} for row in found]
            if code:
                failed.append(script.stem)
    print()
    print(
        f"machine: {before} at start; {machine()} at end; medians of {repeat} run(s)"
        + ("  (SMOKE RUN)" if args.smoke else "")
    )
    print("a load above the core count means the figures are noise")
    print(table(rows))
    if failed:
        sys.exit(f"failed: {', '.join(sorted(set(failed)))}")


if __name__ == "__main__":
    main()
