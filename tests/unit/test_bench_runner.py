"""The bench runner's warm-up: a statement's slow first query is paid before the run, never
inside the measured window."""

from __future__ import annotations

import time

from sidecar.bench.runner import Progress, RunSpec, run
from sidecar.bench.workload import Mix, Statement

COLD = 1.5  # longer than the whole run below


class ColdFirstQuery:
    """A connection on which a statement's first query is slow, as a server's first query of a
    statement (plans, caches, code loaded on first need) can be on a loaded machine."""

    def __init__(self, seen: set[str]) -> None:
        self.seen = seen

    def execute(self, sql: str) -> int:
        if sql not in self.seen:
            self.seen.add(sql)
            time.sleep(COLD)
        return 1

    def healthy(self) -> bool:
        return True

    def close(self) -> None:
        return None


def measured(warmup: float) -> dict:
    seen: set[str] = set()
    spec = RunSpec("accelerated", "pg", 1, 1.0, warmup, 0.0, 0.0, seed=1)
    mix = Mix([Statement("lookup", 1.0, ("SELECT 1",), ())])

    def ignore(progress: Progress) -> None:
        return None

    return run(spec, lambda: ColdFirstQuery(seen), mix, None, None, ignore)


def test_each_statement_is_sent_once_before_the_run() -> None:
    found = measured(warmup=0.2)
    assert found["queries"] > 0 and found["error_count"] == 0
    assert found["latency_ms"]["max"] < COLD * 1000
    assert found["primed_s"] >= COLD


def test_no_warmup_measures_the_cold_first_query() -> None:
    found = measured(warmup=0.0)
    assert found["primed_s"] == 0
    assert found["latency_ms"]["max"] >= COLD * 1000
