"""The acceleration conformance suite: every engine (tests/acceleration) over real file sources:
refresh modes, failures, retention, restarts, readers during refreshes, queries on the copy."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from accelerators.refresh import RefreshError
from connectors.base import SourceError
from sidecar.config import ConfigError, parse_config
from sidecar.engine import Engine
from sidecar.errors import ErrorCode, SidecarError
from tests.acceleration import (
    APPEND,
    ENGINES,
    FILE,
    INDEXES,
    RETENTION,
    WHOLE_QUERIES,
    AccelerationEngine,
)
from tests.process import settle

START = dt.datetime(2026, 3, 14, 12, 0)


def events(ids: range, minute: int = 0, note: str = "v1") -> pa.Table:
    return pa.table(
        {
            "id": pa.array(list(ids), pa.int64()),
            "ts": pa.array(
                [START + dt.timedelta(minutes=minute + i) for i in ids], pa.timestamp("us")
            ),
            "status": pa.array(["open" if i % 2 else "closed" for i in ids]),
            "note": pa.array([note] * len(ids)),
        }
    )


def make_engine(root: Path, acceleration: dict[str, Any], source: str = "events.parquet") -> Engine:
    config = parse_config(
        {
            "datasets": [
                {"from": f"file:{source}", "name": "events", "acceleration": acceleration},
                {"from": "file:plain.parquet", "name": "plain"},
            ]
        },
        root,
    )
    engine = Engine(config)
    engine.load()
    return engine


def rows(engine: Engine, sql: str) -> list[dict[str, Any]]:
    result = engine.query(sql)
    return pa.Table.from_batches(list(result), schema=result.schema).to_pylist()


def count(engine: Engine) -> int:
    return rows(engine, "SELECT count(*) AS n FROM events")[0]["n"]


@pytest.fixture(params=ENGINES, ids=str)
def accel(request: pytest.FixtureRequest) -> AccelerationEngine:
    """The engine under test."""
    return request.param


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    pq.write_table(events(range(10)), tmp_path / "events.parquet")
    pq.write_table(pa.table({"id": [1, 2, 3], "tier": ["a", "b", "c"]}), tmp_path / "plain.parquet")
    yield tmp_path


def test_queries_run_on_the_copy_and_see_new_rows_after_a_refresh(
    root: Path, accel: AccelerationEngine
) -> None:
    engine = make_engine(root, accel.settings(refresh_mode="full"))
    assert engine.ready and count(engine) == 10
    plan = engine.explain("SELECT status, count(*) FROM events GROUP BY status")
    if accel.can(WHOLE_QUERIES):
        assert "whole query pushed to" in plan and accel.name in plan.lower()
    else:
        assert accel.label() in plan
    pq.write_table(events(range(25)), root / "events.parquet")
    assert count(engine) == 10
    engine.refresh("events")
    assert count(engine) == 25
    status = engine.catalog.datasets["events"].copy.status
    assert status.rows == 25 and status.last_error is None and status.last_refresh_at


def test_mixed_queries_join_the_copy_with_federated_data(
    root: Path, accel: AccelerationEngine
) -> None:
    engine = make_engine(root, accel.settings())
    sql = "SELECT e.id, p.tier FROM events e JOIN plain p ON e.id = p.id WHERE e.id > 1 ORDER BY 1"
    assert rows(engine, sql) == [{"id": 2, "tier": "b"}, {"id": 3, "tier": "c"}]
    plan = engine.explain(sql)
    assert accel.label() in plan and "plain.parquet" in plan


def test_the_copy_applies_projection_filters_order_and_limit(
    root: Path, accel: AccelerationEngine
) -> None:
    engine = make_engine(root, accel.settings())
    assert rows(engine, "SELECT id FROM events WHERE status = 'open' AND id > 4 LIMIT 2") == [
        {"id": 5},
        {"id": 7},
    ]
    assert rows(engine, "SELECT note, id FROM events LIMIT 1 OFFSET 3") == [{"note": "v1", "id": 3}]
    assert rows(engine, "SELECT id FROM events ORDER BY ts DESC LIMIT 2") == [{"id": 9}, {"id": 8}]
    assert rows(engine, "SELECT status, count(*) AS n FROM events GROUP BY 1 ORDER BY 1") == [
        {"status": "closed", "n": 5},
        {"status": "open", "n": 5},
    ]


def test_source_outage_never_fails_queries_on_the_copy(
    root: Path, accel: AccelerationEngine
) -> None:
    engine = make_engine(root, accel.settings(refresh_retry_max_attempts=0))
    (root / "events.parquet").unlink()
    with pytest.raises(SidecarError) as failed:
        engine.refresh("events")
    assert failed.value.code is ErrorCode.SOURCE
    assert count(engine) == 10
    assert "events.parquet" in engine.catalog.datasets["events"].copy.status.last_error


def test_a_refresh_failing_half_way_keeps_the_old_data(
    root: Path, accel: AccelerationEngine
) -> None:
    folder = root / "parts"
    folder.mkdir()
    pq.write_table(events(range(5)), folder / "a.parquet")
    engine = make_engine(root, accel.settings(refresh_retry_max_attempts=0), source="parts")
    assert count(engine) == 5
    pq.write_table(events(range(5, 100)), folder / "b.parquet")
    (folder / "c.parquet").write_bytes(b"PAR1 this is not parquet PAR1")
    with pytest.raises(SidecarError):
        engine.refresh("events")
    assert count(engine) == 5
    assert engine.catalog.datasets["events"].copy.status.last_error


@pytest.mark.parametrize("mode", ["memory", "file"])
def test_a_reader_keeps_its_copy_while_a_full_refresh_swaps_it(
    root: Path, accel: AccelerationEngine, mode: str
) -> None:
    """Readers never see a half-refreshed copy: one that started before a refresh reads the
    old rows to the end, the next one reads all the new rows."""
    accel.require(*([FILE] if mode == "file" else []))
    many = accel.batch_rows + 1000  # a result of two batches
    pq.write_table(events(range(many)), root / "events.parquet")
    engine = make_engine(root, accel.settings(mode=mode))
    batches = iter(engine.query("SELECT id, note FROM events"))
    first = next(batches)
    assert first.num_rows < many, "the test needs a result of several batches"
    pq.write_table(events(range(1000), note="v2"), root / "events.parquet")
    engine.refresh("events")
    old = pa.Table.from_batches([first, *batches])
    assert old.num_rows == many and set(old.column("note").to_pylist()) == {"v1"}
    new = rows(engine, "SELECT count(*) AS n, min(note) AS low FROM events")
    assert new == [{"n": 1000, "low": "v2"}]
    engine.close()


def test_concurrent_readers_see_one_whole_copy_or_the_next(
    root: Path, accel: AccelerationEngine
) -> None:
    engine = make_engine(root, accel.settings())
    seen: set[tuple[int, str]] = set()
    stop = threading.Event()
    errors: list[BaseException] = []

    def read() -> None:
        try:
            while not stop.is_set():
                found = rows(engine, "SELECT count(*) AS n, min(note) AS low FROM events")[0]
                seen.add((found["n"], found["low"]))
        except BaseException as error:  # reported by the test, not lost in the thread
            errors.append(error)

    readers = [threading.Thread(target=read) for _ in range(3)]
    for reader in readers:
        reader.start()
    for generation in range(1, 6):
        table = events(range(10 * generation), note=f"v{generation}")
        pq.write_table(table, root / "events.parquet")
        engine.refresh("events")
    stop.set()
    for reader in readers:
        reader.join()
    assert not errors and seen
    assert seen <= {(10 * g, f"v{g}") for g in range(1, 6)}
    assert rows(engine, "SELECT count(*) AS n, min(note) AS low FROM events") == [
        {"n": 50, "low": "v5"}
    ]
    engine.close()


@pytest.mark.parametrize("mode", ["memory", "file"])
def test_append_with_overlap_upserts_without_duplicates(
    root: Path, accel: AccelerationEngine, mode: str
) -> None:
    accel.require(APPEND, *([FILE] if mode == "file" else []))
    engine = make_engine(
        root,
        accel.settings(
            mode=mode,
            refresh_mode="append",
            time_column="ts",
            primary_key="id",
            refresh_append_overlap="5m",
        ),
    )
    assert count(engine) == 10
    late = pa.concat_tables([events(range(10)), events(range(10, 15))])
    changed = late.set_column(3, "note", pa.array(["v2"] * 15))
    pq.write_table(changed, root / "events.parquet")
    engine.refresh("events")
    assert count(engine) == 15
    notes = rows(engine, "SELECT id, note FROM events WHERE id IN (3, 7, 12) ORDER BY id")
    assert notes == [{"id": 3, "note": "v1"}, {"id": 7, "note": "v2"}, {"id": 12, "note": "v2"}]


def test_append_with_on_conflict_drop_keeps_the_rows_it_has(
    root: Path, accel: AccelerationEngine
) -> None:
    accel.require(APPEND)
    settings = accel.settings(
        refresh_mode="append",
        time_column="ts",
        primary_key="id",
        on_conflict="drop",
        refresh_append_overlap="5m",
    )
    engine = make_engine(root, settings)
    pq.write_table(events(range(12), note="v2"), root / "events.parquet")
    engine.refresh("events")
    assert rows(engine, "SELECT id, note FROM events WHERE id IN (8, 11) ORDER BY id") == [
        {"id": 8, "note": "v1"},
        {"id": 11, "note": "v2"},
    ]


def test_a_unique_index_the_rows_break_fails_the_refresh_and_keeps_the_copy(
    root: Path, accel: AccelerationEngine
) -> None:
    accel.require(INDEXES)
    settings = accel.settings(indexes={"id": "unique"}, refresh_retry_max_attempts=0)
    engine = make_engine(root, settings)
    twice = pa.concat_tables([events(range(20)), events(range(3))])
    pq.write_table(twice, root / "events.parquet")
    with pytest.raises(SidecarError) as failed:
        engine.refresh("events")
    assert failed.value.code is ErrorCode.SOURCE
    assert count(engine) == 10
    assert engine.catalog.datasets["events"].copy.status.last_error


@pytest.mark.parametrize("mode", ["memory", "file"])
def test_retention_deletes_rows_older_than_the_period(
    root: Path, accel: AccelerationEngine, mode: str
) -> None:
    accel.require(RETENTION, *([FILE] if mode == "file" else []))
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    fresh = pa.table(
        {
            "id": pa.array([1, 2, 3], pa.int64()),
            "ts": pa.array([now - dt.timedelta(days=d) for d in (10, 3, 0)], pa.timestamp("us")),
        }
    )
    pq.write_table(fresh, root / "events.parquet")
    engine = make_engine(root, accel.settings(mode=mode, time_column="ts", retention_period="7d"))
    assert count(engine) == 3
    copy = engine.catalog.datasets["events"].copy
    assert copy.apply_retention() == 1
    assert copy.apply_retention() == 0
    assert rows(engine, "SELECT id FROM events ORDER BY id") == [{"id": 2}, {"id": 3}]
    assert copy.status.rows == 2


def test_refresh_sql_and_window_limit_the_working_set_at_the_source(
    root: Path, accel: AccelerationEngine
) -> None:
    engine = make_engine(
        root, accel.settings(refresh_sql="SELECT id, status FROM events WHERE status = 'open'")
    )
    assert rows(engine, "SELECT DISTINCT status FROM events") == [{"status": "open"}]
    assert count(engine) == 5
    assert [f.name for f in engine.query("SELECT * FROM events").schema] == ["id", "status"]
    recent = make_engine(root, accel.settings(time_column="ts", refresh_data_window="1d"))
    assert count(recent) == 0


def test_file_mode_survives_a_restart_and_serves_at_once(
    root: Path, accel: AccelerationEngine
) -> None:
    accel.require(FILE)
    settings = accel.settings(mode="file", file=f"accel/events{accel.file_suffix}")
    first = make_engine(root, settings)
    assert count(first) == 10
    refreshed = first.catalog.datasets["events"].copy.status
    first.close()
    assert (root / "accel" / f"events{accel.file_suffix}").exists()
    (root / "events.parquet").unlink()
    second = make_engine(root, settings)
    assert second.ready
    assert count(second) == 10
    assert rows(second, "SELECT max(id) AS top FROM events") == [{"top": 9}]
    # stale with its source gone, it says how old its rows are: the last refresh it kept
    entry = second.catalog.datasets["events"]
    settle(lambda: entry.copy.status.last_error is not None, "the refresh after the restart")
    assert entry.state == "stale"
    kept = entry.copy.status
    assert (kept.last_refresh_at, kept.last_refresh_seconds) == (
        refreshed.last_refresh_at,
        refreshed.last_refresh_seconds,
    )
    second.close()


def test_on_load_waits_for_the_copy_and_on_registration_federates(
    root: Path, accel: AccelerationEngine
) -> None:
    (root / "events.parquet").rename(root / "later.parquet")
    waiting = make_engine(root, accel.settings(refresh_retry_max_attempts=0))
    assert not waiting.ready
    with pytest.raises(SidecarError) as not_ready:
        count(waiting)
    assert not_ready.value.code is ErrorCode.NOT_READY
    (root / "later.parquet").rename(root / "events.parquet")
    federated = make_engine(
        root, accel.settings(ready_state="on_registration", refresh_retry_max_attempts=0)
    )
    assert count(federated) == 10


def test_a_scheduled_refresh_picks_up_changes(root: Path, accel: AccelerationEngine) -> None:
    engine = make_engine(root, accel.settings(refresh_check_interval="200ms", refresh_jitter=0))
    pq.write_table(events(range(30)), root / "events.parquet")
    deadline = dt.datetime.now() + dt.timedelta(seconds=10)
    while count(engine) != 30:
        assert dt.datetime.now() < deadline, "the scheduled refresh never ran"
    assert engine.catalog.datasets["events"].copy.status.next_refresh_at is not None
    engine.close()


def test_use_source_answers_from_the_source_when_the_copy_has_no_rows(
    root: Path, accel: AccelerationEngine
) -> None:
    engine = make_engine(
        root,
        accel.settings(
            on_zero_results="use_source", refresh_sql="SELECT * FROM events WHERE id < 5"
        ),
    )
    sql = "SELECT e.id FROM events e JOIN plain p ON e.id = p.id WHERE e.id >= {} ORDER BY 1"
    assert rows(engine, sql.format(2)) == [{"id": 2}, {"id": 3}]
    assert rows(engine, sql.format(7)) == []
    assert rows(engine, "SELECT id FROM events WHERE id > 7 ORDER BY id") == [
        {"id": 8},
        {"id": 9},
    ]


class CountingConnector:
    """Wraps a real connector to see how many refresh scans overlap and how often it fails."""

    def __init__(self, inner: Any, failures: int = 0) -> None:
        self.inner = inner
        self.source = inner.source
        self.failures = failures
        self.scans = 0
        self.active = 0
        self.most_at_once = 0
        self.lock = threading.Lock()

    def accepts_filter(self, predicate: Any) -> bool:
        return self.inner.accepts_filter(predicate)

    def invalidate(self) -> None:
        self.inner.invalidate()

    def scan(self, request: Any) -> pa.RecordBatchReader:
        with self.lock:
            self.scans += 1
            self.active += 1
            self.most_at_once = max(self.most_at_once, self.active)
        try:
            time.sleep(0.05)
            if self.failures:
                self.failures -= 1
                raise SourceError("the source is having a bad minute")
            return pa.RecordBatchReader.from_batches(*_table_parts(self.inner.scan(request)))
        finally:
            with self.lock:
                self.active -= 1


def _table_parts(reader: pa.RecordBatchReader) -> tuple[pa.Schema, list[pa.RecordBatch]]:
    table = reader.read_all()
    return table.schema, table.to_batches()


def test_failed_refreshes_are_retried_with_backoff(root: Path, accel: AccelerationEngine) -> None:
    engine = make_engine(
        root, accel.settings(refresh_retry_max_attempts=2, refresh_retry_backoff="10ms")
    )
    entry = engine.catalog.datasets["events"]
    copy = entry.copy
    flaky = CountingConnector(entry.connector, failures=2)
    copy.refresh(flaky, entry.schema, threading.Lock())
    assert flaky.scans == 3 and copy.status.last_error is None
    failing = CountingConnector(entry.connector, failures=5)
    with pytest.raises(RefreshError):
        copy.refresh(failing, entry.schema, threading.Lock())
    assert failing.scans == 3 and "bad minute" in copy.status.last_error
    assert count(engine) == 10


def test_refreshes_of_one_source_take_turns(root: Path, accel: AccelerationEngine) -> None:
    config = parse_config(
        {
            "datasets": [
                {
                    "from": "file:events.parquet",
                    "name": f"copy{i}",
                    "acceleration": accel.settings(),
                }
                for i in range(4)
            ]
        },
        root,
    )
    engine = Engine(config)
    engine.load()
    shared = CountingConnector(engine.catalog.datasets["copy0"].connector)
    lock = engine.catalog.accelerator.source_lock(shared.inner)
    threads = [
        threading.Thread(
            target=engine.catalog.datasets[f"copy{i}"].copy.refresh,
            args=(shared, engine.catalog.datasets[f"copy{i}"].schema, lock),
        )
        for i in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert shared.scans == 4 and shared.most_at_once == 1
    assert lock is engine.catalog.accelerator.source_lock(
        engine.catalog.datasets["copy3"].connector
    )


def test_arrow_engine_keeps_the_working_set_in_big_batches(root: Path) -> None:
    pq.write_table(events(range(3000)), root / "events.parquet", row_group_size=100)
    engine = make_engine(
        root, {"engine": "arrow", "refresh_sql": "SELECT id, status FROM events WHERE id < 2000"}
    )
    table = engine.catalog.datasets["events"].copy.table
    assert table.num_rows == 2000 and table.column_names == ["id", "status"]
    assert table.column(0).num_chunks == 1
    batches = list(engine.query("SELECT * FROM events"))
    assert (
        len(batches) == 1
        and batches[0].column(0).buffers()[1] == table.column(0).chunks[0].buffers()[1]
    )


SETTINGS_NEEDING = {
    APPEND: [{"refresh_mode": "append", "time_column": "ts"}],
    FILE: [{"mode": "file"}],
    RETENTION: [{"time_column": "ts", "retention_period": "7d"}],
    INDEXES: [{"indexes": {"id": "unique"}}, {"primary_key": "id"}],
}


@pytest.mark.parametrize(
    ("accel", "setting"),
    [
        pytest.param(engine, setting, id=f"{engine}-{next(iter(setting))}")
        for engine in ENGINES
        for capability, settings in SETTINGS_NEEDING.items()
        if not engine.can(capability)
        for setting in settings
    ],
)
def test_settings_an_engine_cannot_honour_are_refused_at_config_time(
    root: Path, accel: AccelerationEngine, setting: dict[str, Any]
) -> None:
    with pytest.raises(ConfigError, match=r"datasets\[0\]\.acceleration: .* needs engine: "):
        make_engine(root, accel.settings(**setting))


def test_a_file_copy_cut_short_mid_refresh_appends_to_the_version_it_serves(root: Path) -> None:
    """A process killed while a refresh filled its staged table (the OOM killer during a big
    load) leaves that table in the file, newer than the one the view reads. The restarted copy
    took the newest table for its own: append refreshes and retention went to the leftover,
    which no query reads, and the table read was never dropped."""
    import duckdb

    path = root / "accel" / "events.duckdb"
    settings = {
        "engine": "duckdb",
        "mode": "file",
        "file": "accel/events.duckdb",
        "refresh_mode": "append",
        "time_column": "ts",
        "primary_key": "id",
    }
    make_engine(root, settings).close()
    with duckdb.connect(str(path)) as crashed:  # what the cut-short refresh left behind
        crashed.execute(
            "CREATE TABLE events__v2 (id BIGINT PRIMARY KEY, ts TIMESTAMP, status VARCHAR, "
            "note VARCHAR)"
        )
    pq.write_table(events(range(15)), root / "events.parquet")
    engine = make_engine(root, settings)
    try:
        engine.refresh("events")
        assert count(engine) == 15
    finally:
        engine.close()
    with duckdb.connect(str(path)) as kept:
        tables = kept.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()
    assert tables == [("events__v1",), ("sidecar_columns",), ("sidecar_refreshes",)]
