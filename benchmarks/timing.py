"""How the in-process benchmarks time their sides: a point query's p50, interleaved so every
side sees the same machine, and a scan's best of N in CPU time (all threads: wall time on a
shared 2-core machine swings by 20% between runs)."""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Mapping

Run = Callable[[str], int]  # runs a statement, returns its row count


def wall_times(run: Callable[[], object], repeats: int) -> list[float]:
    """Seconds: the wall time of each of `repeats` calls of `run`, in order."""
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        samples.append(time.perf_counter() - started)
    return samples


def point_p50(
    sides: Mapping[str, Run], sql: str, queries: int, warmup: int = 20
) -> dict[str, float]:
    """Milliseconds: the median of `queries` runs of `sql` on each side, taken in turns."""
    for run in sides.values():
        for _ in range(warmup):
            run(sql)
    times: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(queries):
        for name, run in sides.items():
            started = time.perf_counter()
            run(sql)
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) * 1000 for name, values in times.items()}


def best_scan(sides: Mapping[str, Run], sql: str, rows: int, scans: int) -> dict[str, float]:
    """CPU seconds: the fastest of `scans` runs of `sql` on each side, each returning `rows`."""
    best = dict.fromkeys(sides, float("inf"))
    for _ in range(scans):
        for name, run in sides.items():
            started = time.process_time()
            assert run(sql) == rows
            best[name] = min(best[name], time.process_time() - started)
    return best


def arguments(description: str, scans: int = 15) -> argparse.Namespace:
    """--rows (of the file), --queries (point queries per side), --scans (per side)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--scans", type=int, default=scans)
    return parser.parse_args()
