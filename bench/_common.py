"""Shared helpers for the benchmarks: timing, percentiles, one JSON line per figure."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def time_calls(fn: Callable[[], object], repeats: int, warmup: int = 1) -> list[float]:
    """Wall-clock milliseconds of `repeats` calls of `fn`, after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return times


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def emit(bench: str, **figures: object) -> None:
    """Print one JSON line: {"bench": name, ...figures, "machine": ...}."""
    record = {"bench": bench, **figures, "machine": f"{platform.machine()} x{os.cpu_count()}"}
    print(json.dumps(record), flush=True)


def comparison(bench: str, baseline_ms: list[float], ms: list[float], **extra: object) -> None:
    """Emit a baseline-vs-ours line with p50/p95 and the ratio of the p50s."""
    base_p50, p50 = percentile(baseline_ms, 50), percentile(ms, 50)
    emit(
        bench,
        baseline_p50_ms=round(base_p50, 3),
        baseline_p95_ms=round(percentile(baseline_ms, 95), 3),
        p50_ms=round(p50, 3),
        p95_ms=round(percentile(ms, 95), 3),
        ratio=round(base_p50 / p50, 1),
        baseline_n=len(baseline_ms),
        n=len(ms),
        **extra,
    )
