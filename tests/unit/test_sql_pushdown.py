"""Whole-query and top-N pushdown to a SQL source, against a real SQL engine (DuckDB)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlglot import exp

import connectors
from connectors.sql import SqlConnector
from sidecar.config import parse_config
from sidecar.engine import Engine

DATABASE = duckdb.connect()
DATABASE.execute(
    "CREATE TABLE orders AS SELECT i AS id, i % 5 AS customer_id, i * 1.5 AS amount, "
    "CASE WHEN i % 3 = 0 THEN NULL ELSE 'x' || i END AS note FROM range(100) t(i)"
)
DATABASE.execute(
    "CREATE TABLE customers AS SELECT i AS customer_id, 'c' || i AS name FROM range(5) t(i)"
)
LOCK = threading.Lock()


class DuckDbSource(SqlConnector):
    """A SQL source served by an in-process DuckDB; `log` records every statement it ran."""

    schemes: ClassVar[tuple[str, ...]] = ("duckdbtest",)
    dialect: ClassVar[str] = "duckdb"
    log: ClassVar[list[str]] = []

    def source_key(self) -> str:
        return self.source.params.get("server", "one")

    def table(self) -> exp.Table:
        return exp.to_table(self.source.location)

    def schema(self) -> pa.Schema:
        with LOCK:
            return (
                DATABASE.execute(f"SELECT * FROM {self.source.location} LIMIT 0")
                .to_arrow_table()
                .schema
            )

    def query(self, sql: str, cancellation: object = None) -> pa.RecordBatchReader:
        self.log.append(sql)
        with LOCK:
            table = DATABASE.cursor().sql(sql).to_arrow_table()
        return pa.RecordBatchReader.from_batches(table.schema, table.to_batches())


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setitem(connectors.REGISTRY, "duckdbtest", f"{__name__}:DuckDbSource")
    pq.write_table(pa.table({"customer_id": [0, 1], "tier": ["gold", "silver"]}),
                   tmp_path / "tiers.parquet")  # fmt: skip
    config = parse_config(
        {
            "datasets": [
                {"from": "duckdbtest:orders", "name": "orders"},
                {"from": "duckdbtest:customers", "name": "customers"},
                {"from": "duckdbtest:customers", "name": "elsewhere", "params": {"server": "two"}},
                {"from": "file:tiers.parquet", "name": "tiers"},
            ]
        },
        tmp_path,
    )
    engine = Engine(config)
    engine.load()
    DuckDbSource.log.clear()
    yield engine


def rows(engine: Engine, sql: str) -> list[dict]:
    result = engine.query(sql)
    return pa.Table.from_batches(list(result), schema=result.schema).to_pylist()


def test_a_query_over_one_source_is_sent_whole(engine: Engine) -> None:
    sql = (
        "SELECT c.name, count(*) AS n, sum(o.amount) AS total FROM orders o "
        "JOIN customers c ON o.customer_id = c.customer_id WHERE o.id < 50 "
        "GROUP BY c.name ORDER BY c.name"
    )
    assert rows(engine, sql)[0] == {"name": "c0", "n": 10, "total": 337.5}
    assert len(DuckDbSource.log) == 1
    sent = DuckDbSource.log[0]
    assert "JOIN customers" in sent and "GROUP BY" in sent and "< 50" in sent
    assert "whole query pushed to duckdbtest" in engine.explain(sql)


def test_result_types_do_not_depend_on_pushdown(engine: Engine) -> None:
    pushed = engine.query("SELECT count(*) AS n FROM orders")
    assert pushed.plan.pushed is not None
    assert pushed.schema.field("n").type == pa.int64()
    assert rows(engine, "SELECT count(*) AS n FROM orders") == [{"n": 100}]


def test_tables_in_different_sources_are_federated(engine: Engine) -> None:
    sql = (
        "SELECT e.name, t.tier FROM elsewhere e JOIN tiers t ON e.customer_id = t.customer_id "
        "ORDER BY e.name"
    )
    assert engine.query(sql).plan.pushed is None
    assert rows(engine, sql) == [{"name": "c0", "tier": "gold"}, {"name": "c1", "tier": "silver"}]
    assert all("JOIN" not in sent for sent in DuckDbSource.log)


def test_postgres_null_ordering_survives_the_push(engine: Engine) -> None:
    assert engine.query("SELECT note FROM orders ORDER BY note DESC LIMIT 1").plan.pushed
    assert rows(engine, "SELECT note FROM orders ORDER BY note DESC LIMIT 1") == [{"note": None}]
    assert rows(engine, "SELECT id FROM orders ORDER BY note NULLS FIRST, id LIMIT 2") == [
        {"id": 0},
        {"id": 3},
    ]


def test_top_n_in_a_federated_query_is_sent_to_its_source(engine: Engine) -> None:
    sql = (
        "SELECT o.id, t.tier FROM (SELECT id, customer_id FROM orders ORDER BY amount LIMIT 3) o "
        "JOIN tiers t ON o.customer_id = t.customer_id ORDER BY o.id"
    )
    result = engine.query(sql)
    assert result.plan.pushed is None
    orders = next(scan for scan in result.plan.scans if scan.relation == "orders")
    assert orders.request.limit == 3
    [key] = orders.request.order_by
    assert key.this.name == "amount" and not key.args.get("desc")
    assert rows(engine, sql) == [{"id": 0, "tier": "gold"}, {"id": 1, "tier": "silver"}]
    assert any("ORDER BY" in sent and "LIMIT 3" in sent for sent in DuckDbSource.log)


def test_limit_is_kept_from_sources_that_cannot_apply_every_filter(engine: Engine) -> None:
    sql = (
        "SELECT o.id FROM orders o, tiers t WHERE o.customer_id = t.customer_id "
        "AND o.id IN (SELECT customer_id FROM tiers) ORDER BY o.amount DESC LIMIT 2"
    )
    result = engine.query(sql)
    assert result.plan.pushed is None
    assert all(scan.request.limit is None for scan in result.plan.scans)
    assert rows(engine, sql) == [{"id": 1}, {"id": 0}]


def test_top_n_on_an_output_name_is_pushed(engine: Engine) -> None:
    sql = (
        "SELECT o.id, o.amount FROM (SELECT id, amount FROM orders ORDER BY amount DESC LIMIT 2) o "
        "JOIN tiers t ON o.id = t.customer_id"
    )
    orders = next(s for s in engine.query(sql).plan.scans if s.relation == "orders")
    assert orders.request.limit == 2
    [key] = orders.request.order_by
    assert key.this.name == "amount" and key.args.get("desc")
