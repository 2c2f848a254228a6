"""The DuckDB copy's fast path: which answers are known to be small, a few rows fetched without
DuckDB's Arrow stream but typed as it types them, and lookups on the copy's primary key served
by its ART index."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from accelerators.store import FETCHED_ROWS, DuckDbStore
from sidecar.config import parse_config
from sidecar.engine import Engine


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    root = tmp_path_factory.mktemp("fast")
    rows = 5000
    pq.write_table(
        pa.table(
            {
                "id": pa.array(range(rows), pa.int64()),
                "code": pa.array([f"c{i}" for i in range(rows)]),
                "region": pa.array(["eu" if i % 2 else "us" for i in range(rows)]),
            }
        ),
        root / "t.parquet",
    )
    acceleration = {"primary_key": "id", "indexes": {"code": "unique", "region": "enabled"}}
    config = parse_config(
        {"datasets": [{"from": "file:t.parquet", "name": "t", "acceleration": acceleration}]},
        root,
    )
    engine = Engine(config)
    engine.load()
    yield engine
    engine.close()


@pytest.mark.parametrize(
    ("sql", "small"),
    [
        ("SELECT * FROM t WHERE id = 7", True),
        ("SELECT * FROM t WHERE 7 = id AND region = 'eu'", True),
        ("SELECT code FROM t WHERE code = 'c9'", True),
        ("SELECT * FROM t WHERE region = 'eu'", False),
        ("SELECT * FROM t WHERE id > 7", False),
        ("SELECT * FROM t WHERE id = 7 OR id = 8", False),
        ("SELECT * FROM t LIMIT 10", True),
        ("SELECT * FROM t LIMIT 100000", False),
        ("SELECT count(*), max(id) FROM t WHERE region = 'eu'", True),
        ("SELECT region, count(*) FROM t GROUP BY region", False),
        ("SELECT * FROM t a JOIN t b ON a.id = b.id WHERE a.id = 7", False),
    ],
)
def test_small_answers_are_known_from_the_query(engine: Engine, sql: str, small: bool) -> None:
    result = engine.query(sql)
    assert result.plan.pushed is not None
    assert result.plan.pushed.small is small
    assert sum(batch.num_rows for batch in result) <= (FETCHED_ROWS if small else 10_000)


def test_a_key_lookup_is_answered_by_the_primary_keys_index(engine: Engine) -> None:
    copy = engine.catalog.datasets["t"].copy
    sql = engine.query("SELECT code FROM t WHERE id = 4242").plan.pushed.sql
    plan = copy.store.read(f"EXPLAIN ANALYZE {sql}").read_all().column(1)[0].as_py()
    assert "Index Scan" in plan
    assert pa.Table.from_batches(
        list(engine.query("SELECT code FROM t WHERE id = 4242"))
    ).to_pylist() == [{"code": "c4242"}]


def test_fetched_rows_are_typed_as_duckdbs_stream_types_them() -> None:
    store = DuckDbStore()
    try:
        cursor = store.cursor()
        cursor.execute(
            "CREATE TABLE x (b BOOLEAN, i TINYINT, s SMALLINT, n INTEGER, g BIGINT, u UBIGINT, "
            "f FLOAT, d DOUBLE, v VARCHAR, y BLOB, day DATE, ts TIMESTAMP, tz TIMESTAMPTZ, "
            "m DECIMAL(12,3))"
        )
        cursor.execute(
            "INSERT INTO x VALUES (true, -1, 300, 70000, 1099511627776, 18446744073709551615, 1.5, "
            "0.1, 'héllo', 'ab', '2026-03-14', '2026-03-14 10:00:00.123456', "
            "'2026-03-14 10:00+02', 12345.678), (NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
            "NULL, NULL, NULL, NULL, NULL, NULL, NULL)"
        )
        fetched = store.fetch("SELECT * FROM x").read_all()
        streamed = store.read("SELECT * FROM x").read_all()
        assert fetched.to_pylist() == streamed.to_pylist()
        assert fetched.schema.names == streamed.schema.names
        assert fetched.column("m").type == pa.decimal128(12, 3)
        assert fetched.column("m")[0].as_py() == Decimal("12345.678")
        assert fetched.column("tz")[0].as_py() == dt.datetime(2026, 3, 14, 8, 0, tzinfo=dt.UTC)
        assert store.fetch("SELECT * FROM x WHERE false").read_all().num_rows == 0
    finally:
        store.close()


def test_types_kept_apart_and_many_rows_are_streamed(tmp_path: Path) -> None:
    store = DuckDbStore()
    try:
        odd = store.fetch("SELECT INTERVAL 1 MONTH AS i, [1, 2] AS l").read_all()
        assert (
            odd.to_pylist()
            == store.read("SELECT INTERVAL 1 MONTH AS i, [1, 2] AS l").read_all().to_pylist()
        )
        many = store.fetch(f"SELECT * FROM range({FETCHED_ROWS * 3}) t(n)").read_all()
        assert many.num_rows == FETCHED_ROWS * 3
    finally:
        store.close()
