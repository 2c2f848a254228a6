"""runtime.memory_limit: queries share one memory pool, spill where they can, and fail alone
where they cannot; generated values are bounded before they are built."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sidecar import resources
from sidecar.config import parse_config
from sidecar.engine import Engine
from sidecar.errors import ErrorCode, SidecarError
from tests.engines import numbers_and_copy, rows

LIMIT = 64 << 20


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    yield from numbers_and_copy(tmp_path_factory.mktemp("memory"), 1000, memory_limit="64MiB")


def test_a_query_over_the_limit_fails_alone_with_the_limit_named(engine: Engine) -> None:
    with pytest.raises(SidecarError) as caught:
        rows(engine, "SELECT cardinality(array_agg(x)) AS n FROM generate_series(1, 50000000) t(x)")
    assert caught.value.code is ErrorCode.OUT_OF_MEMORY
    assert caught.value.hint and "runtime.memory_limit" in caught.value.hint
    assert rows(engine, "SELECT count(*) AS n FROM t") == [{"n": 1000}]


def test_a_grouping_larger_than_the_limit_spills(engine: Engine) -> None:
    """4M groups take about twice the pool: the aggregate only finishes by spilling."""
    sql = (
        "SELECT x % 3 AS k, count(*) AS n FROM (SELECT x, count(*) AS c "
        "FROM generate_series(1, 4000000) g(x) GROUP BY x) s GROUP BY 1 ORDER BY 1"
    )
    assert rows(engine, sql) == [
        {"k": 0, "n": 1333333},
        {"k": 1, "n": 1333334},
        {"k": 2, "n": 1333333},
    ]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT length(repeat('x', 1000000000)) AS n",
        "SELECT length(lpad('x', 10^9::int)) AS n",
        "SELECT cardinality(range(1, 4e8)) AS n",
        "SELECT cardinality(array_repeat(1, 100000000)) AS n",
        "SELECT count(*) AS n FROM unnest(range(1, 100000000)) u(x)",
    ],
)
def test_generated_values_are_bounded_before_they_are_built(engine: Engine, sql: str) -> None:
    with pytest.raises(SidecarError) as caught:
        rows(engine, sql)
    assert caught.value.code is ErrorCode.TOO_COMPLEX
    assert "4 MiB one value may take (a sixteenth of runtime.memory_limit)" in caught.value.message


def test_generated_rows_and_small_values_still_work(engine: Engine) -> None:
    assert rows(engine, "SELECT length(repeat('ab', 1000)) AS n") == [{"n": 2000}]
    assert rows(engine, "SELECT count(*) AS n FROM generate_series(1, 10000000) g(x)") == [
        {"n": 10000000}
    ]


def test_duckdb_copies_run_within_the_limit(engine: Engine) -> None:
    accelerator = engine.catalog.accelerator
    assert accelerator is not None
    setting = accelerator.store.cursor().execute("SELECT current_setting('memory_limit')")
    assert setting.fetchone() == ("64.0 MiB",)


def test_the_default_is_half_of_the_containers_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    v2, v1 = tmp_path / "memory.max", tmp_path / "memory.limit_in_bytes"
    monkeypatch.setattr(resources, "CGROUP_LIMITS", (v2, v1))
    v2.write_text("max\n")
    v1.write_text(f"{1 << 30}\n")
    assert resources.default_memory_limit() == 1 << 29
    v2.write_text(f"{2 << 30}\n")
    assert resources.default_memory_limit() == 1 << 30
    assert parse_config({"name": "x"}, tmp_path).runtime.memory_bytes == 1 << 30
