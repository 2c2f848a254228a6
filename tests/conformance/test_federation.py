"""The engine over real sources: cross-source joins, pushdown seen arriving at the servers,
EXPLAIN, and a source that is down failing only the queries that need it."""

from __future__ import annotations

import re

import pytest

from sidecar.engine import Engine
from sidecar.errors import SidecarError
from tests.conformance.conftest import Federation
from tests.conformance.results import engine_rows, same_rows
from tests.peers import free_port


@pytest.fixture(scope="module")
def engine(federation: Federation) -> Engine:
    engine = federation.engine()
    assert engine.ready, {e.name: e.error for e in engine.catalog.datasets.values()}
    return engine


def test_mysql_x_iceberg_x_parquet_join(federation: Federation, engine: Engine) -> None:
    sql = (
        "SELECT s.s_name, count(DISTINCT o.o_orderkey) AS orders, sum(l.l_quantity) AS qty "
        "FROM orders o JOIN lineitem l ON o.o_orderkey = l.l_orderkey "
        "JOIN supplier s ON l.l_suppkey = s.s_suppkey "
        "WHERE o.o_orderpriority = '1-URGENT' AND l.l_shipmode = 'AIR' AND s.s_acctbal > 0 "
        "GROUP BY s.s_name"
    )
    want = federation.duckdb().sql(sql).fetchall()
    assert want and same_rows(engine_rows(engine, sql), want)
    planned = {scan.relation: scan.request for scan in engine.query(sql).plan.scans}
    assert [f.sql() for f in planned["orders"].filters] == ["\"o_orderpriority\" = '1-URGENT'"]
    assert [f.sql() for f in planned["lineitem"].filters] == ["\"l_shipmode\" = 'AIR'"]
    assert set(planned["orders"].projection or ()) == {"o_orderkey", "o_orderpriority"}


def test_where_and_limit_arrive_at_mariadb(federation: Federation, engine: Engine) -> None:
    """A single-table query goes whole to the source: its WHERE and LIMIT arrive there."""
    sql = (
        "SELECT o_orderkey, o_totalprice FROM orders "
        "WHERE o_orderdate >= '1996-02-01' AND o_orderpriority = '5-LOW' LIMIT 7"
    )
    assert len(engine_rows(engine, sql)) == 7
    last = _last(federation.mariadb.statements("'5-LOW'"))
    assert re.search(r"WHERE .*o_orderdate`? >= .*'1996-02-01'", last), last
    assert last.endswith("LIMIT 7") and "o_comment" not in last


def test_scan_filters_arrive_at_mariadb_exactly(federation: Federation, engine: Engine) -> None:
    """In a cross-source join MySQL gets a scan, its text compared byte by byte: its default
    collation would also match '4-not specified'."""
    sql = (
        "SELECT count(*) FROM orders o JOIN supplier s ON o.o_custkey = s.s_suppkey "
        "WHERE o.o_orderpriority = '4-NOT SPECIFIED' AND o.o_orderdate < '1992-03-01'"
    )
    want = federation.duckdb().sql(sql).fetchall()
    assert same_rows(engine_rows(engine, sql), want)
    last = _last(federation.mariadb.statements("'4-NOT SPECIFIED'"))
    assert last.startswith("SELECT `o_custkey`, `o_orderdate`, `o_orderpriority` FROM"), last
    assert "CAST(`o_orderpriority` AS BINARY) = '4-NOT SPECIFIED'" in last
    assert "`o_orderdate` < CAST('1992-03-01' AS DATE)" in last


def test_where_and_limit_arrive_at_postgres(federation: Federation, engine: Engine) -> None:
    sql = (
        "SELECT p_name FROM part WHERE p_size BETWEEN 10 AND 12 AND p_brand LIKE 'Brand#1%' LIMIT 4"
    )
    assert len(engine_rows(engine, sql)) == 4
    last = _last(federation.postgres.statements("'Brand#1%'"))
    between = r"p_size\"? BETWEEN 10 AND 12|p_size\"? <= 12 AND \"?p_size\"? >= 10"
    assert re.search(rf"WHERE .*({between})", last), last
    assert re.search(r"LIMIT 4\b", last) and "p_retailprice" not in last


def test_scan_filters_arrive_at_postgres_exactly(federation: Federation, engine: Engine) -> None:
    sql = (
        "SELECT count(*) FROM part p JOIN lineitem l ON p.p_partkey = l.l_partkey "
        "WHERE p.p_type < 'LARGE' AND p.p_brand IN ('Brand#21', 'Brand#22') AND l.l_tax = 0"
    )
    want = federation.duckdb().sql(sql).fetchall()
    assert same_rows(engine_rows(engine, sql), want)
    last = _last(federation.postgres.statements("'Brand#21'"))
    assert '"p_type" COLLATE "C" < \'LARGE\'' in last, last
    assert "\"p_brand\" IN ('Brand#21', 'Brand#22')" in last


def test_explain_shows_the_sql_sent(engine: Engine) -> None:
    joined = engine.explain(
        "SELECT c_name, n_name FROM customer JOIN nation ON c_nationkey = n_nationkey "
        "WHERE c_acctbal > 9000"
    )
    assert "mysql: SELECT `c_name`, `c_nationkey`, `c_acctbal` FROM `shop`.`customer`" in joined
    assert "WHERE `c_acctbal` > 9000" in joined
    assert 'postgres: SELECT "n_nationkey", "n_name" FROM public.nation' in joined
    whole = engine.explain("SELECT c_name FROM customer WHERE c_acctbal > 9000")
    assert "whole query pushed to mysql" in whole and "`shop`.`customer`" in whole


def _last(statements: list[str]) -> str:
    assert statements, "the server logged no such statement"
    return statements[-1]


def test_a_down_source_fails_only_its_queries(federation: Federation) -> None:
    down = federation.mariadb.params(port=free_port(), connect_timeout="2s")
    engine = federation.engine(
        [{"from": "mysql:shop.orders", "name": "orders_replica", "params": down}]
    )
    with pytest.raises(SidecarError) as caught:
        engine_rows(engine, "SELECT count(*) FROM orders_replica")
    assert "orders_replica" in caught.value.message
    assert "Can't connect" in caught.value.message
    assert engine_rows(engine, "SELECT count(*) FROM orders") == [(6000,)]
    joined = "SELECT count(*) FROM orders o JOIN orders_replica r ON o.o_orderkey = r.o_orderkey"
    with pytest.raises(SidecarError, match="orders_replica"):
        engine_rows(engine, joined)
