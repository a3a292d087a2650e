"""Shared helpers of the benchmarks: a stderr console, timers and percentile figures."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable

import numpy as np
from rich.console import Console
from rich.table import Table

console = Console(stderr=True)


def rate(count: int, seconds: float) -> float:
    """Items per second, rounded for reading."""
    return round(count / seconds, 1) if seconds > 0 else float("inf")


def time_each(step: Callable[[], object], repeats: int) -> np.ndarray:
    """Wall time of each of `repeats` calls of `step`, in milliseconds."""
    samples = np.empty(repeats)
    for i in range(repeats):
        started = time.perf_counter()
        step()
        samples[i] = (time.perf_counter() - started) * 1e3
    return samples


def percentiles_ms(samples: np.ndarray) -> dict[str, float]:
    """p50/p99/max of samples in milliseconds."""
    return {"p50_ms": round(float(np.percentile(samples, 50)), 4),
            "p99_ms": round(float(np.percentile(samples, 99)), 4),
            "max_ms": round(float(samples.max()), 4), "samples": int(samples.size)}


def show(title: str, columns: list[str], rows: list[list[str]]) -> None:
    """Print a table on stderr."""
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="right" if column != columns[0] else "left")
    for row in rows:
        table.add_row(*row)
    console.print(table)


def peak_rss_mb() -> float:
    """Peak RSS of this process in MB: VmHWM where /proc has it. Not ru_maxrss alone: Linux
    keeps it across fork + exec, so a spawned child would report at least the parent's RSS
    at the spawn (measured: a 500 MB parent gave a 16 MB child ru_maxrss 515 MB)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)  # kB
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux
