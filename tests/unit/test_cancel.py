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


def pull_then_cancel(result: QueryResult) -> tuple[list[object], threading.Thread]:
    outcome: list[object] = []

    def pull() -> None:
        try:
            outcome.append(sum(batch.num_rows for batch in result))
        except SidecarError as error:
            outcome.append(error.code)

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


def test_a_cancel_interrupts_duckdb(engine: Engine) -> None:
    sql = "SELECT count(*) FROM copy a, copy b, copy c WHERE (a.x * 7 + b.x * 13 + c.x) % 1009 = 3"
    result = engine.query(sql)
    assert result.plan.pushed is not None  # the whole query runs in DuckDB
    outcome, puller = pull_then_cancel(result)
    assert not puller.is_alive(), "DuckDB kept computing after the cancel"
    assert outcome == [ErrorCode.CANCELED]
