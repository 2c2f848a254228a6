"""The engine over real file sources: results, pushdown decisions, errors, system tables."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sidecar.config import parse_config
from sidecar.engine import Engine
from sidecar.errors import ErrorCode, SidecarError
from tests import placeholders


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    root: Path = tmp_path_factory.mktemp("engine")
    orders = pa.table(
        {
            "id": pa.array(range(200), pa.int64()),
            "amount": pa.array([float(i) for i in range(200)]),
            "status": pa.array(["failed" if i % 4 == 0 else "paid" for i in range(200)]),
            "customer_id": pa.array([i % 20 for i in range(200)], pa.int64()),
            "created_at": pa.array(
                [dt.datetime(2026, 3, 14) + dt.timedelta(minutes=i) for i in range(200)],
                pa.timestamp("us"),
            ),
        }
    )
    pq.write_table(orders, root / "orders.parquet", row_group_size=50)
    customers = pa.table(
        {
            "customer_id": pa.array(range(20), pa.int64()),
            "Name": [f"c{i}" for i in range(20)],
            "region": ["eu" if i % 2 else "us" for i in range(20)],
        }
    )
    pq.write_table(customers, root / "customers.parquet")
    config = parse_config(
        {
            "name": "shop",
            "datasets": [
                {"from": "file:orders.parquet", "name": "orders"},
                {
                    "from": "file:customers.parquet",
                    "name": "Customers",
                    "columns": [
                        {"name": "customer_id", "type": "bigint", "description": "key"},
                        {"name": "Name", "type": "text"},
                        {"name": "region", "type": "text"},
                    ],
                },
            ],
            "views": [
                {"name": "big_orders", "sql": "SELECT * FROM orders WHERE amount > 150"},
                {"name": "big_failed", "sql": "SELECT id FROM big_orders WHERE status = 'failed'"},
            ],
        },
        root,
    )
    engine = Engine(config)
    engine.load()
    assert engine.ready
    return engine


def rows(engine: Engine, sql: str, parameters: list[object] | None = None) -> list[dict]:
    result = engine.query(sql, parameters or [])
    return pa.Table.from_batches(list(result), schema=result.schema).to_pylist()


def scans(engine: Engine, sql: str) -> dict[str, object]:
    result = engine.query(sql)
    return {
        scan.alias: (
            scan.request.projection,
            [f.sql("postgres") for f in scan.request.filters],
            scan.request.limit,
        )
        for scan in result.plan.scans
    }


def test_filter_projection_and_limit_reach_the_source(engine: Engine) -> None:
    planned = scans(engine, "SELECT id FROM orders WHERE amount > 10 AND status = 'paid' LIMIT 3")
    assert planned == {
        "orders": (["id", "amount", "status"], ['"amount" > 10', "\"status\" = 'paid'"], 3)
    }
    assert rows(engine, "SELECT id FROM orders WHERE amount > 10 AND status = 'paid' LIMIT 3") == [
        {"id": 11},
        {"id": 13},
        {"id": 14},
    ]


def test_offset_widens_the_pushed_limit(engine: Engine) -> None:
    assert scans(engine, "SELECT id FROM orders LIMIT 5 OFFSET 10")["orders"][2] == 15


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT id FROM orders ORDER BY amount DESC LIMIT 3",
        "SELECT status, count(*) FROM orders GROUP BY status LIMIT 1",
        "SELECT DISTINCT status FROM orders LIMIT 1",
        "SELECT id FROM orders WHERE lower(status) = 'paid' LIMIT 3",
    ],
)
def test_limit_is_not_pushed_when_it_would_change_results(engine: Engine, sql: str) -> None:
    assert scans(engine, sql)["orders"][2] is None


def test_join_pushes_each_side_its_own_filters(engine: Engine) -> None:
    sql = (
        'SELECT c."Name", count(*) AS n FROM orders o JOIN customers c '
        "ON o.customer_id = c.customer_id WHERE o.status = 'failed' AND c.region = 'eu' "
        'GROUP BY c."Name" ORDER BY c."Name"'
    )
    planned = scans(engine, sql)
    assert planned["o"] == (["status", "customer_id"], ["\"status\" = 'failed'"], None)
    assert planned["c"] == (["customer_id", "Name", "region"], ["\"region\" = 'eu'"], None)
    assert rows(engine, sql) == []  # failed orders have customer_id % 4 == 0: always even (us)


def test_outer_join_keeps_null_side_filters_above_the_scan(engine: Engine) -> None:
    sql = (
        "SELECT o.id FROM orders o LEFT JOIN customers c ON o.customer_id = c.customer_id "
        "AND c.region = 'eu' WHERE c.customer_id IS NULL AND o.id < 4 ORDER BY o.id"
    )
    planned = scans(engine, sql)
    assert planned["c"][1] == ["\"region\" = 'eu'"]
    assert planned["o"][1] == ['"id" < 4']
    assert rows(engine, sql) == [{"id": 0}, {"id": 2}]


def test_untranslatable_predicates_stay_in_datafusion(engine: Engine) -> None:
    sql = "SELECT count(*) AS n FROM orders WHERE amount % 7 = 0"
    assert scans(engine, sql)["orders"][1] == []
    assert rows(engine, sql) == [{"n": 29}]


def test_views_nest_and_receive_outer_filters(engine: Engine) -> None:
    planned = scans(engine, "SELECT * FROM big_failed WHERE id < 170")
    assert sorted(planned["orders"][1]) == ['"amount" > 150', '"id" < 170', "\"status\" = 'failed'"]
    assert rows(engine, "SELECT * FROM big_failed WHERE id < 170") == [
        {"id": 152},
        {"id": 156},
        {"id": 160},
        {"id": 164},
        {"id": 168},
    ]


def test_cte_used_twice_scans_with_the_cte_filter(engine: Engine) -> None:
    sql = (
        "WITH f AS (SELECT * FROM orders WHERE id < 3) "
        "SELECT count(*) AS n FROM f a JOIN f b ON a.id = b.id"
    )
    assert rows(engine, sql) == [{"n": 3}]
    assert {alias: planned[1] for alias, planned in scans(engine, sql).items()} == {
        "orders": ['"id" < 3']
    }


def test_names_resolve_case_insensitively_with_schema_and_catalog(engine: Engine) -> None:
    for name in ("orders", "ORDERS", "public.orders", "shop.public.orders", '"orders"'):
        assert rows(engine, f"SELECT count(*) AS n FROM {name}") == [{"n": 200}]


def test_parameters_bind_as_typed_literals_and_push_down(engine: Engine) -> None:
    sql = "SELECT id FROM orders WHERE status = $1 AND created_at < $2 AND id > $3 ORDER BY id"
    values = ["failed", dt.datetime(2026, 3, 14, 0, 20), 5]
    assert rows(engine, sql, values) == [{"id": 8}, {"id": 12}, {"id": 16}]
    assert rows(engine, "SELECT $1 AS s", ["it's; DROP TABLE orders"]) == [
        {"s": "it's; DROP TABLE orders"}
    ]
    with pytest.raises(SidecarError) as missing:
        rows(engine, sql, ["failed"])
    assert missing.value.code is ErrorCode.INVALID_PARAMETER


def test_question_marks_bind_in_the_order_they_are_written(engine: Engine) -> None:
    assert rows(engine, placeholders.QUERY, placeholders.VALUES) == placeholders.EXPECTED
    assert rows(engine, placeholders.numbered("$"), placeholders.VALUES) == placeholders.EXPECTED


def test_a_with_query_sees_only_the_ones_before_it_unless_recursive(engine: Engine) -> None:
    shadowing = (
        "WITH orders AS (SELECT * FROM orders WHERE id < 5) SELECT count(*) AS n FROM orders"
    )
    assert rows(engine, shadowing) == [{"n": 5}]
    recursive = (
        "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 3) "
        "SELECT count(*) AS n FROM t"
    )
    assert rows(engine, recursive) == [{"n": 3}]
    for sql in (
        "WITH duckdb_tables AS (SELECT * FROM duckdb_tables) SELECT count(*) FROM duckdb_tables",
        "WITH a AS (SELECT * FROM b), b AS (SELECT 1 AS x) SELECT * FROM a",
    ):
        with pytest.raises(SidecarError) as raised:
            rows(engine, sql)
        assert raised.value.code is ErrorCode.UNDEFINED_TABLE, sql


def test_minute_precision_timestamps_are_accepted(engine: Engine) -> None:
    assert rows(
        engine, "SELECT count(*) AS n FROM orders WHERE created_at < '2026-03-14 00:10'"
    ) == [{"n": 10}]


def test_information_schema_describes_datasets_and_views(engine: Engine) -> None:
    tables = rows(engine, "SELECT table_name, table_type FROM information_schema.tables")
    assert {"table_name": "big_orders", "table_type": "VIEW"} in tables
    assert {"table_name": "Customers", "table_type": "BASE TABLE"} in tables
    columns = rows(
        engine,
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = 'big_failed'",
    )
    assert columns == [{"column_name": "id", "data_type": "bigint"}]


def test_views_are_described_when_first_asked_and_again_after_a_schema_change(
    tmp_path: Path,
) -> None:
    pq.write_table(pa.table({"id": [1, 2]}), tmp_path / "t.parquet")
    views = [{"name": "v", "sql": "SELECT *, id * 2 AS twice FROM t"}]
    datasets = [{"from": "file:t.parquet", "name": "t"}]
    engine = Engine(parse_config({"datasets": datasets, "views": views}, tmp_path))
    planned = []
    plan = engine.planner.plan
    engine.planner.plan = lambda *args: planned.append(args[1]) or plan(*args)  # type: ignore
    engine.load()
    assert planned == []  # start-up plans nothing: DataFusion stays untouched until a query
    sql = "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'v'"
    assert rows(engine, sql) == [
        {"column_name": "id", "data_type": "bigint"},
        {"column_name": "twice", "data_type": "bigint"},
    ]
    described = len(planned)
    assert rows(engine, sql) and len(planned) == described + 1  # the view's columns are kept
    pq.write_table(pa.table({"id": [1], "note": ["a"]}), tmp_path / "t.parquet")
    engine.catalog.datasets["t"].load()  # the source reopened with another schema
    assert [r["column_name"] for r in rows(engine, sql)] == ["id", "note", "twice"]


def test_a_view_broken_in_the_config_is_named_as_the_cause(tmp_path: Path) -> None:
    """The agent did not write the missing column: the error says the view is broken (was: the
    column "does not exist" with an empty list of the columns in scope)."""
    pq.write_table(pa.table({"id": [1, 2]}), tmp_path / "t.parquet")
    views = [
        {"name": "good", "sql": "SELECT id FROM t"},
        {"name": "bad", "sql": "SELECT nope FROM t"},
    ]
    datasets = [{"from": "file:t.parquet", "name": "t"}]
    engine = Engine(parse_config({"datasets": datasets, "views": views}, tmp_path))
    engine.load()
    with pytest.raises(SidecarError) as broken:
        rows(engine, "SELECT * FROM bad")
    assert broken.value.code is ErrorCode.UNDEFINED_COLUMN
    assert str(broken.value) == (
        'view "bad" cannot be read: its definition refers to column "nope", which its tables '
        "do not have"
    )
    assert "config check --connect" in (broken.value.hint or "")
    with pytest.raises(SidecarError) as typo:
        rows(engine, "SELECT idd FROM good")
    assert typo.value.hint == "columns in scope: good.id"


def test_describe_and_show(engine: Engine) -> None:
    described = rows(engine, "DESCRIBE customers")
    assert described[0] == {
        "column_name": "customer_id",
        "data_type": "bigint",
        "is_nullable": "YES",
        "description": "key",
    }
    assert {r["table_name"] for r in rows(engine, "SHOW TABLES")} >= {"orders", "big_orders"}


def test_explain_names_each_source_and_what_it_was_sent(engine: Engine) -> None:
    plan = engine.explain("SELECT id FROM orders WHERE status = 'paid' LIMIT 2")
    assert "orders AS orders: parquet" in plan
    assert "limit=2" in plan and "status" in plan
    assert "__scan" not in plan


@pytest.mark.parametrize(
    ("sql", "code", "hint"),
    [
        ("SELECT * FROM ordrs", ErrorCode.UNDEFINED_TABLE, "did you mean orders"),
        ("SELECT * FROM other.orders", ErrorCode.UNDEFINED_TABLE, "known tables"),
        ("SELECT amout FROM orders", ErrorCode.UNDEFINED_COLUMN, "orders.amount"),
        ("SELECT name FROM customers", ErrorCode.UNDEFINED_COLUMN, "customers.Name"),
        ("SELECT nosuchfn(1)", ErrorCode.QUERY, "EXPLAIN"),
        ("DELETE FROM orders", ErrorCode.FORBIDDEN, "read-only"),
    ],
)
def test_errors_say_what_is_wrong_and_how_to_fix_it(
    engine: Engine, sql: str, code: ErrorCode, hint: str
) -> None:
    with pytest.raises(SidecarError) as raised:
        rows(engine, sql)
    assert raised.value.code is code
    assert hint.lower() in f"{raised.value.message} {raised.value.hint}".lower()


def test_an_ambiguous_column_names_its_qualified_candidates(engine: Engine) -> None:
    sql = (
        "SELECT customer_id, count(*) FROM orders o "
        "JOIN customers c ON o.customer_id = c.customer_id GROUP BY 1"
    )
    with pytest.raises(SidecarError) as raised:
        rows(engine, sql)
    error = raised.value
    assert error.code is ErrorCode.AMBIGUOUS_COLUMN
    assert error.message == (
        'column reference "customer_id" is ambiguous: it could be c.customer_id or o.customer_id'
    )
    assert error.position == len("SELECT ") + 1
    assert rows(engine, sql.replace("SELECT customer_id", "SELECT o.customer_id"))


def test_join_using_an_unknown_column_says_which_side_lacks_it_and_where(engine: Engine) -> None:
    sql = "SELECT status FROM orders o JOIN customers c USING (customer_id, status)"
    with pytest.raises(SidecarError) as raised:
        rows(engine, sql)
    error = raised.value
    assert error.code is ErrorCode.UNDEFINED_COLUMN
    assert error.message == (
        'column "status" specified in USING clause does not exist in right table'
    )
    assert error.position == sql.rindex("status") + 1
    assert "columns of the right table: c.Name, c.customer_id, c.region" in (error.hint or "")
    with pytest.raises(SidecarError) as raised:
        rows(engine, "SELECT 1 FROM customers c JOIN orders o USING (amount)")
    assert "does not exist in left table" in raised.value.message
    assert "c.customer_id" in (raised.value.hint or "")


def test_error_positions_point_at_the_problem(engine: Engine) -> None:
    with pytest.raises(SidecarError) as raised:
        rows(engine, "SELECT id FROM nothere")
    assert raised.value.position == len("SELECT id FROM ") + 1


def test_results_stream_in_batches(engine: Engine) -> None:
    result = engine.query("SELECT * FROM orders")
    batches = list(result)
    assert sum(b.num_rows for b in batches) == 200
    assert len(batches) > 1


def test_failed_source_fails_only_its_queries(tmp_path: Path) -> None:
    pq.write_table(pa.table({"a": [1, 2]}), tmp_path / "ok.parquet")
    config = parse_config(
        {
            "datasets": [
                {"from": "file:ok.parquet", "name": "ok"},
                {"from": "file:missing.parquet", "name": "gone"},
            ]
        },
        tmp_path,
    )
    engine = Engine(config)
    engine.load()
    assert not engine.ready
    assert rows(engine, "SELECT sum(a) AS s FROM ok") == [{"s": 3}]
    with pytest.raises(SidecarError) as raised:
        rows(engine, "SELECT * FROM gone")
    assert raised.value.code is ErrorCode.SOURCE
    assert "gone" in raised.value.message and "missing.parquet" in raised.value.message


def test_full_text_matches_need_a_search_source(engine: Engine) -> None:
    with pytest.raises(SidecarError) as raised:
        rows(engine, "SELECT id FROM orders WHERE status @@ 'failed'")
    assert raised.value.code is ErrorCode.QUERY
    assert "search source" in raised.value.message and "elasticsearch" in raised.value.hint


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT id FROM orders WHERE id < 3", [{"id": 0}, {"id": 1}, {"id": 2}]),
        (
            "SELECT status AS s, id FROM orders WHERE id > 195",
            [{"s": "failed" if i % 4 == 0 else "paid", "id": i} for i in (196, 197, 198, 199)],
        ),
        ("SELECT id FROM orders LIMIT 2 OFFSET 99", [{"id": 99}, {"id": 100}]),
        ("SELECT id, id AS again FROM orders WHERE id = 7", [{"id": 7, "again": 7}]),
        ("SELECT id FROM orders WHERE FALSE", []),
    ],
)
def test_plain_reads_stream_straight_from_the_source(
    engine: Engine, sql: str, expected: list[dict[str, int]]
) -> None:
    assert rows(engine, sql) == expected


def test_only_fully_pushed_plain_reads_skip_the_engine(engine: Engine) -> None:
    direct = engine.query("SELECT amount, id FROM orders WHERE status = 'failed' LIMIT 3")
    assert direct.plan.direct is not None
    assert direct.schema.names == ["amount", "id"]
    assert [r["id"] for r in pa.Table.from_batches(list(direct)).to_pylist()] == [0, 4, 8]
    for sql in (
        "SELECT id FROM orders WHERE amount % 7 = 0",
        "SELECT id FROM orders ORDER BY id LIMIT 3",
        "SELECT id + 1 AS next FROM orders",
        "SELECT id FROM orders WHERE FALSE",
    ):
        assert engine.query(sql).plan.direct is None, sql
