"""Instructions per notice, our pipeline's, counted by callgrind: a figure that does not move
with the machine's noise.

``bench_smtp``'s wall-clock ratio moves by ±10 % between runs of the same code on the 2-core
machines here, more than most changes to the notice path are worth. This script runs itself
under callgrind, dispatches a message to ``--notices`` recipients on a fresh SQLite database,
runs everything that dispatch queued except the notices (as ``bench_smtp`` does), then zeroes
the counters, lets a worker send the notices to ``bench_smtp``'s sink (its own process, not
counted) and dumps the counters once no notice is left: the instructions of this process,
all its threads, divided by the notices. Then the floor of ``bench_smtp`` (the same notices
flattened beforehand, sent with bare MAIL, RCPT and DATA over as many connections as ours,
``TABELLION_SMTP_CONNECTIONS``'s default) is counted the same way.

The pipeline's clocks are kept out of the way, since under callgrind the run is ~50 times
slower: the sealing job the notices' evidence asks for is queued ``seal_delay_seconds`` (300 s
here) ahead, so it does not run inside the count; the worker's leases last long enough that
no heartbeat does either. What still depends on time is how many notices meet in a batch (a
write waits up to 50 ms for more): run alone, the same code counts the same to ~0.2 %; two
runs sharing the machine count ~4 % more. Compare two versions of the code with it, one run
at a time, and take the figures of #26 from ``bench_smtp``.

    PYTHONPATH=src:. .venv/bin/python -m bench.notice_instructions [--notices 300]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from bench.read_instructions import UNDER_CALLGRIND, callgrind, counted, run_under_callgrind


async def measure(args: argparse.Namespace, out_dir: Path) -> None:
    from bench import bench_smtp
    from bench.common import Cpu, bench_settings, free_port, start_process, wait_for_port
    from tabellion.jobs.worker import Worker, freeze_startup_heap
    from tabellion.migrations import upgrade_database
    from tabellion.runtime import Runtime

    port = free_port()
    sink = start_process(["-m", "bench.bench_smtp", "--sink", str(port)])
    try:
        wait_for_port(port)
        with tempfile.TemporaryDirectory() as tmp:
            settings = bench_settings(
                Path(tmp),
                smtp_url=f"smtp://127.0.0.1:{port}",
                mail_from=bench_smtp.MAIL_FROM,
                seal_delay_seconds=300,
            )
            upgrade_database(settings.resolved_database_url)
            runtime = Runtime.build(settings)
            concurrency = settings.worker_concurrency
            connections = settings.smtp_connections
            await bench_smtp.dispatch(runtime, args.notices)
            await bench_smtp.drain_other_jobs(runtime, concurrency)
            freeze_startup_heap()
            worker = Worker(runtime, concurrency=concurrency, lease_seconds=3600)
            callgrind("-z")
            ran = await worker.run_until_idle(timeout=3600)
            callgrind("-d", "notices")
            assert ran == args.notices, ran
            ours = counted(out_dir) / ran
            # The floor's messages: the same notices composed again, flattened before counting.
            notices = bench_smtp.flattened(await bench_smtp.same_notices(runtime, ran))
            warm_up = notices[:50]
            await bench_smtp.send_flattened(port, warm_up, connections, Cpu(sink.pid))
            callgrind("-z")
            await bench_smtp.send_flattened(port, notices, connections, Cpu(sink.pid))
            callgrind("-d", "floor")
            floor = counted(out_dir) / ran
            print(f"notices, ours: {ours / 1000:,.0f}k instructions a notice ({ran} notices)")
            print(f"notices, floor: {floor / 1000:,.0f}k instructions a message")
            print(f"notices: floor / ours = {floor / ours:.3f}")
            sys.stdout.flush()
    finally:
        sink.terminate()
        sink.wait(timeout=10)
    os._exit(0)  # the runtime's connections and threads need no orderly end here


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--notices", type=int, default=300)
    args = parser.parse_args()
    if os.environ.get(UNDER_CALLGRIND):
        from tabellion.kit import loop

        loop.run(measure(args, Path(os.environ[UNDER_CALLGRIND])))  # the worker's event loop
        return
    run_under_callgrind("bench.notice_instructions")


if __name__ == "__main__":
    main()
