"""Soak: real gunicorn under steady load for 10 minutes; the web worker's memory must not grow.

Users replay the load bench's callbacks (bench/load.py) with a think time, and a small OIP job
starts every 30 s. The worker's resident memory (RSS) is sampled every 10 s; the baseline is
taken after a 60 s warm-up (TensorFlow, figure and job caches settle). Goal: growth < 10%.
One JSON line at the end (and one per minute with --progress).

    .venv/bin/python bench/soak.py                 # 1 min warm-up + 10 min measured
    .venv/bin/python bench/soak.py --minutes 2     # a quick look
"""

from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path

from _common import emit, percentile
from load import Workload, user

from tests.dash_http import dependencies, find, oip_controls, update
from tests.gunicorn_server import start_gunicorn


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def worker_pid(master: int) -> int:
    """The pid of gunicorn's only worker (the master's child)."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


def start_jobs(url: str, stop_at: float, every_s: float, counts: dict) -> None:
    deps = dependencies(url)
    start = find(deps, "oip-job.data")
    seed = 0
    while time.monotonic() < stop_at:
        seed += 1  # a new seed: a real job, not a cached result
        values = oip_controls(class_a=seed % 10, steps=50, seed=seed)
        status, _ = update(url, start, values, "oip-start.n_clicks")
        counts["jobs"] += 1
        counts["job_errors"] += status != 200
        time.sleep(max(0.0, min(every_s, stop_at - time.monotonic())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="measured minutes")
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds before the baseline")
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--think", type=float, default=0.5)
    parser.add_argument("--progress", action="store_true", help="a JSON line every minute")
    args = parser.parse_args()
    server = start_gunicorn({"CNN_LENS_LOG_LEVEL": "warning"}, name="bench-soak")
    try:
        pid = worker_pid(server.proc.pid)
        work = Workload(server.url)
        total = args.warmup + args.minutes * 60
        stop_at = time.monotonic() + total
        results: list = []
        lock = threading.Lock()
        counts = {"jobs": 0, "job_errors": 0}
        threads = [
            threading.Thread(
                target=user,
                args=(server.url, work, 7000 + i, stop_at, args.think, results, lock),
            )
            for i in range(args.users)
        ]
        threads.append(
            threading.Thread(target=start_jobs, args=(server.url, stop_at, 30.0, counts))
        )
        for thread in threads:
            thread.start()
        time.sleep(args.warmup)
        baseline = rss_mb(pid)
        samples = [baseline]
        next_report = time.monotonic() + 60
        while time.monotonic() < stop_at - 1:
            time.sleep(min(10.0, max(0.0, stop_at - time.monotonic() - 1)))
            samples.append(rss_mb(pid))
            if args.progress and time.monotonic() >= next_report:
                next_report += 60
                emit("soak_progress", rss_mb=round(samples[-1], 1), baseline_mb=round(baseline, 1))
        for thread in threads:
            thread.join()
        final = rss_mb(pid)
        times = [ms for ms, _, _ in results]
        emit(
            "soak",
            minutes=args.minutes,
            users=args.users,
            think_s=args.think,
            requests=len(results),
            errors=sum(1 for _, ok, _ in results if not ok),
            jobs=counts["jobs"],
            job_errors=counts["job_errors"],
            p50_ms=round(percentile(times, 50), 1),
            p95_ms=round(percentile(times, 95), 1),
            rss_baseline_mb=round(baseline, 1),
            rss_final_mb=round(final, 1),
            rss_max_mb=round(max(samples), 1),
            rss_growth_pct=round(100 * (final - baseline) / baseline, 2),
            worker_alive=server.proc.poll() is None,
        )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
