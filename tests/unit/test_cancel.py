"""A cancelled query stops its work at once: DataFusion's stream and DuckDB's statement.

The query is pulled on a thread of its own, as a server does; after `cancel()` that thread must
come back with CANCELED at once, not when the engine finishes what it was computing (these
queries would run for hours).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from sidecar.engine import Engine
from sidecar.engine.executor import QueryResult
from sidecar.errors import ErrorCode, SidecarError
from tests.engines import numbers_and_copy

ENDLESS = 10**12


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    yield from numbers_and_copy(tmp_path_factory.mktemp("cancel"), 3000)


def pull_then_cancel(
    result: QueryResult, kept: list[SidecarError] | None = None
) -> tuple[list[object], threading.Thread]:
    outcome: list[object] = []
    kept = [] if kept is None else kept

    def pull() -> None:
        try:
            outcome.append(sum(batch.num_rows for batch in result))
        except SidecarError as error:
            outcome.append(error.code)
            kept.append(error)  # as a server's helper keeps a step's error for its waiter

    puller = threading.Thread(target=pull, daemon=True)
    puller.start()
    time.sleep(0.5)
    assert not outcome, "the query ended before it could be cancelled"
    result.cancel()
    puller.join(10)
    return outcome, puller


@pytest.mark.parametrize(
    "sql",
    [
        f"SELECT count(*) FROM generate_series(1, {ENDLESS}) g(x) WHERE x % 7 = 3",
        f"SELECT x FROM generate_series(1, {ENDLESS}) g(x) WHERE x = 5 OR x = {ENDLESS}",
        f"SELECT count(*) FROM t, generate_series(1, {ENDLESS}) g(y) WHERE t.x + y = 7",
    ],
    ids=["aggregate", "endless filter", "join"],
)
def test_a_cancel_stops_datafusion_mid_batch(engine: Engine, sql: str) -> None:
    outcome, puller = pull_then_cancel(engine.query(sql))
    assert not puller.is_alive(), "the engine kept computing after the cancel"
    assert outcome == [ErrorCode.CANCELED]


def test_a_kept_error_does_not_keep_datafusion_computing(engine: Engine) -> None:
    """The error a cancelled pull raised, kept by whoever waits for it (Flight's helper thread
    keeps it for its waiter), must not keep DataFusion's stream: its tasks went on computing
    on every core until the garbage collector happened to visit the cycle."""
    kept: list[SidecarError] = []
    sql = f"SELECT count(*) FROM generate_series(1, {ENDLESS}) g(x) WHERE x % 7 = 3"
    outcome, _ = pull_then_cancel(engine.query(sql), kept)
    assert outcome == [ErrorCode.CANCELED] and kept
    time.sleep(0.3)
    before = time.process_time()
    time.sleep(1.0)
    assert time.process_time() - before < 0.3, "DataFusion kept computing for a kept error"


def test_a_cancel_interrupts_duckdb(engine: Engine) -> None:
    sql = "SELECT count(*) FROM copy a, copy b, copy c WHERE (a.x * 7 + b.x * 13 + c.x) % 1009 = 3"
    result = engine.query(sql)
    assert result.plan.pushed is not None  # the whole query runs in DuckDB
    outcome, puller = pull_then_cancel(result)
    assert not puller.is_alive(), "DuckDB kept computing after the cancel"
    assert outcome == [ErrorCode.CANCELED]
