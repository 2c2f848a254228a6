"""What is SQLite's own in `engine: sqlite`: filters run in SQLite on its indexes, types it
cannot hold are refused with the reason, cancelled statements are interrupted, readers use
connections of their own, and access policies hold on the copy."""

from __future__ import annotations

import datetime as dt
import gc
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from accelerators.sqlite import BATCH_ROWS, SqliteCopy
from connectors.base import Cancellation, SourceError
from policies.identity import Identity
from sidecar.config import ConfigError
from sidecar.engine import Engine
from sidecar.errors import ErrorCode, SidecarError
from tests.acceleration.data import FILTERS, types_table
from tests.engines import loaded_engine

# Left to the engine: ILIKE (SQLite folds only ASCII case), decimals wider than 18 digits
# (stored as text), and a bare boolean column (not a comparison the planner pushes).
KEPT_BY_THE_ENGINE = {"ilike", "wide_decimal", "not_bool"}


def engine_for(
    root: Path, acceleration: dict[str, Any], top: dict[str, Any] | None = None, **dataset: Any
) -> Engine:
    return loaded_engine(
        {
            "datasets": [
                {
                    "from": "file:types.parquet",
                    "name": "types",
                    "acceleration": {"engine": "sqlite", **acceleration},
                    **dataset,
                }
            ],
            **(top or {}),
        },
        root,
    )


@pytest.fixture(scope="module")
def types(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    root = tmp_path_factory.mktemp("sqlite-types")
    pq.write_table(types_table(), root / "types.parquet")
    return engine_for(root, {"mode": "file", "primary_key": "id", "indexes": {"day": "enabled"}})


def copy_of(engine: Engine, name: str = "types") -> SqliteCopy:
    copy = engine.catalog.datasets[name].copy
    assert isinstance(copy, SqliteCopy)
    return copy


def scan_sql(engine: Engine, sql: str) -> str:
    """The statement the query's scan sends to SQLite, as EXPLAIN shows it."""
    line = next(line for line in engine.explain(sql).splitlines() if "accelerated (sqlite" in line)
    return line.split(": ", 2)[2]


@pytest.mark.parametrize("name", sorted(set(FILTERS) - KEPT_BY_THE_ENGINE))
def test_filters_run_in_sqlite(types: Engine, name: str) -> None:
    assert " WHERE " in scan_sql(types, f"SELECT id FROM types WHERE {FILTERS[name]}")


def test_decimals_times_and_booleans_are_compared_as_stored(types: Engine) -> None:
    sql = scan_sql(
        types,
        "SELECT id FROM types WHERE dec >= 1.5 AND ts < '2024-01-03' AND day = '2024-02-29' "
        "AND flag = true",
    )
    for stored in ('"dec" >= 150', '"ts" < 1704240000000000', '"day" = 19782', '"flag" = 1'):
        assert stored in sql, sql


@pytest.mark.parametrize(
    ("sql", "plan"),
    [
        ("SELECT * FROM types WHERE id = 5", "SEARCH types USING PRIMARY KEY (id=?)"),
        ("SELECT * FROM types WHERE id BETWEEN 2 AND 4",
         "SEARCH types USING PRIMARY KEY (id>? AND id<?)"),
        ("SELECT id FROM types WHERE day >= '2024-02-01'",
         "SEARCH types USING COVERING INDEX types__index0 (day>?)"),
        ("SELECT id FROM types ORDER BY id DESC LIMIT 3", "SCAN types"),
    ],
)  # fmt: skip
def test_lookups_and_ranges_use_sqlites_indexes(types: Engine, sql: str, plan: str) -> None:
    copy = copy_of(types)
    connection = copy.database.checkout()
    try:
        steps = connection.execute(f"EXPLAIN QUERY PLAN {scan_sql(types, sql)}").fetchall()
    finally:
        copy.database.checkin(connection)
    assert plan in [step[3] for step in steps]
    assert not any("TEMP B-TREE" in step[3] for step in steps), "sorted without an index"


def test_the_file_is_strict_wal_and_clustered_by_the_primary_key(types: Engine) -> None:
    copy = copy_of(types)
    assert copy.path is not None and copy.path.name == "types.sqlite"
    with sqlite3.connect(copy.path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        (ddl,) = connection.execute("SELECT sql FROM sqlite_master WHERE name = 'types'").fetchone()
    assert ddl.endswith("STRICT, WITHOUT ROWID") and '"dec" INTEGER' in ddl
    assert '"wide" TEXT' in ddl and '"zoned" INTEGER' in ddl


@pytest.mark.parametrize(
    ("column", "reason"),
    [
        (pa.array([1, 2**64 - 1], pa.uint64()), "signed 64-bit"),
        (pa.array([[1], [2, 3]], pa.list_(pa.int64())), "nested values"),
        (pa.array([{"a": 1}, {"a": 2}]), "nested values"),
        (pa.array([None, None], pa.float16()), "half"),
    ],
    ids=["uint64", "list", "struct", "float16"],
)
def test_types_sqlite_cannot_hold_are_refused_at_once_with_the_reason(
    tmp_path: Path, column: pa.Array, reason: str
) -> None:
    pq.write_table(pa.table({"id": [1, 2], "odd": column}), tmp_path / "types.parquet")
    started = time.monotonic()
    engine = engine_for(tmp_path, {"refresh_retry_backoff": "30s"})
    assert time.monotonic() - started < 15, "a refusal must not be retried"
    entry = engine.catalog.datasets["types"]
    assert entry.state == "error"
    assert "column odd" in entry.last_error and reason in entry.last_error
    assert "engine: duckdb" in entry.last_error
    narrowed = engine_for(tmp_path, {"refresh_sql": "SELECT id FROM types"})
    assert narrowed.ready, "a column left out of the working set is no obstacle"


def test_declared_columns_sqlite_cannot_hold_are_refused_at_config_time(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"datasets\[0\]: column tags \(text\[\]\) .* nested"):
        engine_for(tmp_path, {}, columns=[{"name": "tags", "type": "text[]"}])


def test_a_nan_fails_the_refresh_and_keeps_the_old_copy(tmp_path: Path) -> None:
    pq.write_table(pa.table({"id": [1], "x": [0.5]}), tmp_path / "types.parquet")
    engine = engine_for(tmp_path, {"refresh_retry_max_attempts": 0})
    pq.write_table(pa.table({"id": [1, 2], "x": [0.5, float("nan")]}), tmp_path / "types.parquet")
    with pytest.raises(SidecarError, match="NaN, which SQLite stores as NULL"):
        engine.refresh("types")
    assert pa.Table.from_batches(list(engine.query("SELECT * FROM types"))).num_rows == 1


def test_a_cancelled_query_interrupts_its_sqlite_statement(tmp_path: Path) -> None:
    pq.write_table(pa.table({"id": list(range(2 * BATCH_ROWS))}), tmp_path / "types.parquet")
    engine = engine_for(tmp_path, {})
    copy = copy_of(engine)
    result = engine.query("SELECT id FROM types")
    batches = iter(result)
    next(batches)
    assert len(result.cancelled._stops) == 1, "the running statement can be interrupted"
    result.cancel()
    with pytest.raises(SidecarError) as cancelled:
        next(batches)
    assert cancelled.value.code is ErrorCode.CANCELED
    del batches, result
    gc.collect()
    assert len(copy.database._idle) == 1, "the connection went back to the pool"


def test_an_interrupt_stops_sqlite_mid_statement(tmp_path: Path) -> None:
    """A statement that would never end (it counts forever, finding no row) ends at once."""
    pq.write_table(pa.table({"id": [1]}), tmp_path / "types.parquet")
    copy = copy_of(engine_for(tmp_path, {}))
    forever = (
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) "
        "SELECT x AS id FROM n WHERE x < 0"
    )
    cancellation = Cancellation()
    failures: list[SourceError] = []

    def read() -> None:
        try:
            list(copy.read(forever, None, cancellation))
        except SourceError as error:
            failures.append(error)

    reading = threading.Thread(target=read, daemon=True)
    reading.start()
    time.sleep(0.3)
    cancellation.set()
    reading.join(10)
    assert not reading.is_alive() and "interrupted" in str(failures[0])
    assert len(copy.database._idle) == 1
    assert copy.read('SELECT "id" FROM "types"').read_all().num_rows == 1


def test_readers_have_connections_of_their_own_and_give_them_back(tmp_path: Path) -> None:
    pq.write_table(pa.table({"id": list(range(10))}), tmp_path / "types.parquet")
    copy = copy_of(engine_for(tmp_path, {}))
    readers = [copy.read('SELECT "id" FROM "types"') for _ in range(3)]
    assert len(copy.database._idle) == 0
    assert [r.read_all().num_rows for r in readers[:2]] == [10, 10]
    assert len(copy.database._idle) == 2
    del readers
    gc.collect()  # the third was never read: dropping it gives its connection back too
    assert len(copy.database._idle) == 3


def test_a_memory_copy_retires_its_old_generation(tmp_path: Path) -> None:
    pq.write_table(pa.table({"id": list(range(10))}), tmp_path / "types.parquet")
    engine = engine_for(tmp_path, {})
    copy = copy_of(engine)
    old = copy.database
    reading = copy.read('SELECT "id" FROM "types"')
    engine.refresh("types")
    assert copy.database is not old and old._closed
    assert reading.read_all().num_rows == 10, "a reader keeps the generation it started on"


def test_retention_on_a_date_column_deletes_whole_days_before_the_cutoff(tmp_path: Path) -> None:
    today = dt.datetime.now(dt.UTC).date()
    days = [today - dt.timedelta(days=n) for n in (9, 8, 7, 6, 0)]
    pq.write_table(pa.table({"id": [1, 2, 3, 4, 5], "day": days}), tmp_path / "types.parquet")
    engine = engine_for(tmp_path, {"time_column": "day", "retention_period": "7d"})
    assert copy_of(engine).apply_retention() == 3
    remaining = pa.Table.from_batches(list(engine.query("SELECT id FROM types ORDER BY id")))
    assert remaining.column("id").to_pylist() == [4, 5]


def test_policies_hold_on_the_copy(tmp_path: Path) -> None:
    people = pa.table(
        {
            "id": [1, 2, 3, 4],
            "name": ["Anna", "Bert", "Carl", "Dora"],
            "country": ["DE", "FR", "DE", "US"],
        }
    )
    pq.write_table(people, tmp_path / "types.parquet")
    policy = {
        "identities": ["sre"],
        "datasets": ["types"],
        "columns": {"types.name": "mask"},
        "rows": {"types": "country = {identity.country}"},
    }
    engine = engine_for(tmp_path, {}, top={"policies": [policy]})
    sre = Identity("sre", {"country": "DE"})
    result = engine.query("SELECT id, name FROM types WHERE id > 0 ORDER BY id", (), sre)
    assert pa.Table.from_batches(list(result)).to_pylist() == [
        {"id": 1, "name": "****"},
        {"id": 3, "name": "****"},
    ]
    [scan] = result.plan.scans
    assert [f.sql() for f in scan.restriction.pushed] == ["\"country\" = 'DE'"]
    assert scan.connector.accepts_filter(scan.restriction.pushed[0])
    counted = engine.query("SELECT count(*) AS n FROM types", (), sre)
    assert pa.Table.from_batches(list(counted)).to_pylist() == [{"n": 2}]
