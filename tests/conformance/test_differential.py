"""Federated answers equal DuckDB's over the same data: a TPC-H-like mix of 60 queries.

The tables are spread over MySQL, PostgreSQL, Iceberg and Parquet (see tpch.PLACEMENT), so the
mix covers per-source scans with pushed filters, cross-source joins in DataFusion, and queries
whose tables all live in one SQL source and are sent there whole.
"""

from __future__ import annotations

import pytest

from sidecar.engine import Engine
from tests.conformance.conftest import Federation
from tests.conformance.results import engine_rows, same_rows

REVENUE = "sum(l_extendedprice * (1 - l_discount))"
QUERIES = [
    # TPC-H shapes
    "SELECT l_returnflag, l_linestatus, sum(l_quantity) AS sum_qty, "
    "sum(l_extendedprice) AS sum_base_price, "
    f"{REVENUE} AS sum_disc_price, avg(l_quantity) AS avg_qty, avg(l_discount) AS avg_disc, "
    "count(*) AS count_order FROM lineitem WHERE l_shipdate <= DATE '1998-09-02' "
    "GROUP BY l_returnflag, l_linestatus ORDER BY 1, 2",
    f"SELECT l.l_orderkey, {REVENUE} AS revenue, o.o_orderdate FROM customer c "
    "JOIN orders o ON c.c_custkey = o.o_custkey JOIN lineitem l ON l.l_orderkey = o.o_orderkey "
    "WHERE c.c_mktsegment = 'BUILDING' AND o.o_orderdate < DATE '1995-03-15' "
    "AND l.l_shipdate > DATE '1995-03-15' GROUP BY l.l_orderkey, o.o_orderdate "
    "ORDER BY revenue DESC, l.l_orderkey LIMIT 10",
    f"SELECT n_name, {REVENUE} AS revenue FROM customer, orders, lineitem, supplier, nation, "
    "region WHERE c_custkey = o_custkey AND l_orderkey = o_orderkey AND l_suppkey = s_suppkey "
    "AND c_nationkey = s_nationkey AND s_nationkey = n_nationkey AND n_regionkey = r_regionkey "
    "AND r_name = 'ASIA' AND o_orderdate >= DATE '1994-01-01' "
    "AND o_orderdate < DATE '1995-01-01' GROUP BY n_name",
    "SELECT sum(l_extendedprice * l_discount) AS revenue FROM lineitem "
    "WHERE l_shipdate >= DATE '1994-01-01' AND l_shipdate < DATE '1995-01-01' "
    "AND l_discount BETWEEN 0.05 AND 0.07 AND l_quantity < 24",
    f"SELECT c_custkey, c_name, {REVENUE} AS revenue, n_name FROM customer "
    "JOIN orders ON c_custkey = o_custkey JOIN lineitem ON l_orderkey = o_orderkey "
    "JOIN nation ON c_nationkey = n_nationkey WHERE o_orderdate >= DATE '1993-10-01' "
    "AND o_orderdate < DATE '1994-01-01' AND l_returnflag = 'R' "
    "GROUP BY c_custkey, c_name, n_name ORDER BY revenue DESC, c_custkey LIMIT 20",
    "SELECT l_shipmode, "
    "sum(CASE WHEN o_orderpriority = '1-URGENT' OR o_orderpriority = '2-HIGH' THEN 1 ELSE 0 END)"
    " AS high_line_count, sum(CASE WHEN o_orderpriority <> '1-URGENT' "
    "AND o_orderpriority <> '2-HIGH' THEN 1 ELSE 0 END) AS low_line_count "
    "FROM orders JOIN lineitem ON o_orderkey = l_orderkey "
    "WHERE l_shipmode IN ('MAIL', 'SHIP') AND l_commitdate < l_receiptdate "
    "AND l_shipdate < l_commitdate AND l_receiptdate >= DATE '1994-01-01' "
    "AND l_receiptdate < DATE '1995-01-01' GROUP BY l_shipmode ORDER BY l_shipmode",
    "SELECT 100.00 * sum(CASE WHEN p_type LIKE 'PROMO%' "
    "THEN l_extendedprice * (1 - l_discount) ELSE 0 END) "
    f"/ {REVENUE} AS promo_revenue FROM lineitem JOIN part ON l_partkey = p_partkey "
    "WHERE l_shipdate >= DATE '1995-09-01' AND l_shipdate < DATE '1995-10-01'",
    f"SELECT {REVENUE} AS revenue FROM lineitem JOIN part ON p_partkey = l_partkey "
    "WHERE (p_brand = 'Brand#12' AND l_quantity BETWEEN 1 AND 11 AND p_size BETWEEN 1 AND 5) "
    "OR (p_brand = 'Brand#23' AND l_quantity BETWEEN 10 AND 20 AND p_size BETWEEN 1 AND 10) "
    "OR (p_brand = 'Brand#34' AND l_quantity BETWEEN 20 AND 30 AND p_size BETWEEN 1 AND 15)",
    "SELECT s_name, p_partkey, ps_supplycost FROM part, supplier, partsupp "
    "WHERE p_partkey = ps_partkey AND s_suppkey = ps_suppkey AND p_size = 15 "
    "AND ps_supplycost = (SELECT min(ps_supplycost) FROM partsupp ps2 "
    "WHERE ps2.ps_partkey = p_partkey) ORDER BY p_partkey",
    "SELECT o_orderpriority, count(*) AS order_count FROM orders "
    "WHERE o_orderdate >= DATE '1993-07-01' AND o_orderdate < DATE '1993-10-01' "
    "AND EXISTS (SELECT 1 FROM lineitem WHERE l_orderkey = o_orderkey "
    "AND l_commitdate < l_receiptdate) GROUP BY o_orderpriority ORDER BY o_orderpriority",
    "SELECT c_count, count(*) AS custdist FROM (SELECT c_custkey, count(o_orderkey) AS c_count "
    "FROM customer LEFT JOIN orders ON c_custkey = o_custkey "
    "AND o_comment NOT LIKE '%9%' GROUP BY c_custkey) c_orders "
    "GROUP BY c_count ORDER BY custdist DESC, c_count DESC",
    "SELECT c_name, o_orderkey, o_totalprice, sum(l_quantity) AS qty FROM customer "
    "JOIN orders ON c_custkey = o_custkey JOIN lineitem ON o_orderkey = l_orderkey "
    "WHERE o_orderkey IN (SELECT l_orderkey FROM lineitem GROUP BY l_orderkey "
    "HAVING sum(l_quantity) > 200) GROUP BY c_name, o_orderkey, o_totalprice "
    "ORDER BY o_totalprice DESC, o_orderkey LIMIT 20",
    "SELECT ps_partkey, sum(ps_supplycost * ps_availqty) AS value FROM partsupp "
    "JOIN supplier ON ps_suppkey = s_suppkey JOIN nation ON s_nationkey = n_nationkey "
    "WHERE n_name = 'GERMANY' GROUP BY ps_partkey ORDER BY value DESC, ps_partkey LIMIT 10",
    "SELECT p_brand, p_type, p_size, count(DISTINCT ps_suppkey) AS supplier_cnt FROM partsupp "
    "JOIN part ON p_partkey = ps_partkey WHERE p_brand <> 'Brand#45' "
    "AND p_type NOT LIKE 'MEDIUM%' AND p_size IN (49, 14, 23, 45, 19, 3, 36, 9) "
    "GROUP BY p_brand, p_type, p_size",
    "SELECT sum(l_extendedprice) / 7.0 AS avg_yearly FROM lineitem "
    "JOIN part ON p_partkey = l_partkey WHERE p_brand = 'Brand#23' "
    "AND l_quantity < (SELECT 0.5 * avg(l_quantity) FROM lineitem l2 "
    "WHERE l2.l_partkey = p_partkey)",
    # one source at a time: filters of every shape, on every source
    "SELECT count(*) FROM lineitem",
    "SELECT count(*) FROM orders WHERE o_orderstatus = 'F'",
    "SELECT o_orderpriority, count(*) FROM orders GROUP BY 1",
    "SELECT c_custkey, c_name FROM customer WHERE c_acctbal > 9000 ORDER BY c_custkey",
    "SELECT c_mktsegment, count(*), min(c_acctbal), max(c_acctbal) FROM customer GROUP BY 1",
    "SELECT * FROM orders WHERE o_orderkey BETWEEN 100 AND 120 ORDER BY o_orderkey",
    "SELECT o_orderkey FROM orders WHERE o_comment IS NULL "
    "AND o_orderdate < DATE '1993-01-01' ORDER BY 1",
    "SELECT count(*) FROM orders WHERE o_comment IS NOT NULL",
    "SELECT o_orderkey, o_created_at FROM orders "
    "WHERE o_created_at >= TIMESTAMP '1997-06-01 12:00:00' "
    "AND o_created_at < TIMESTAMP '1997-06-10 00:00:00' ORDER BY 1",
    "SELECT n_name FROM nation WHERE n_name LIKE 'I%' ORDER BY 1",
    "SELECT n_name FROM nation WHERE n_name NOT LIKE '%A%' ORDER BY 1",
    "SELECT n_name, r_name FROM nation JOIN region ON n_regionkey = r_regionkey ORDER BY n_name",
    "SELECT r_name, count(*) FROM nation JOIN region ON n_regionkey = r_regionkey "
    "GROUP BY r_name ORDER BY r_name",
    "SELECT p_type, avg(p_retailprice), count(*) FROM part GROUP BY p_type ORDER BY p_type",
    "SELECT p_partkey, p_name FROM part WHERE p_name ILIKE '%BLUE%' ORDER BY p_partkey LIMIT 15",
    "SELECT p_partkey FROM part WHERE p_size IN (1, 2, 3) AND p_retailprice < 1000 ORDER BY 1",
    "SELECT s_name, s_acctbal FROM supplier WHERE s_acctbal < 0 ORDER BY s_acctbal",
    "SELECT l_shipmode, count(*) FROM lineitem WHERE l_quantity >= 45 GROUP BY 1 ORDER BY 1",
    "SELECT l_orderkey, l_linenumber FROM lineitem WHERE l_orderkey < 20 ORDER BY 1, 2",
    "SELECT max(l_shipdate), min(l_receiptdate) FROM lineitem",
    "SELECT ps_suppkey, sum(ps_availqty) FROM partsupp GROUP BY ps_suppkey ORDER BY 1",
    "SELECT count(*) FROM lineitem WHERE l_shipmode = 'AIR' OR l_quantity < 2",
    "SELECT count(*) FROM lineitem WHERE l_shipmode NOT IN ('AIR', 'RAIL', 'SHIP')",
    "SELECT count(*) FROM orders WHERE o_orderpriority ILIKE '%high%'",
    "SELECT count(*) FROM orders WHERE o_created_at < DATE '1993-01-01'",
    "SELECT count(DISTINCT l_suppkey) FROM lineitem",
    "SELECT DISTINCT o_orderstatus FROM orders",
    "SELECT c_name FROM customer WHERE c_name < 'Customer#000000010' ORDER BY c_name",
    "SELECT count(*) FROM customer WHERE c_mktsegment = 'building'",
    # order and limit
    "SELECT o_orderkey FROM orders ORDER BY o_orderkey LIMIT 5 OFFSET 10",
    "SELECT c_custkey, c_acctbal FROM customer ORDER BY c_acctbal DESC, c_custkey LIMIT 5",
    "SELECT l_orderkey, l_extendedprice FROM lineitem WHERE l_discount = 0.10 "
    "ORDER BY l_extendedprice DESC, l_orderkey, l_linenumber LIMIT 5",
    "SELECT o_orderkey, o_comment FROM orders ORDER BY o_comment DESC, o_orderkey LIMIT 5",
    # windows, CTEs, set operations, subqueries
    "SELECT o_custkey, o_orderkey, row_number() OVER (PARTITION BY o_custkey "
    "ORDER BY o_orderdate, o_orderkey) AS rn FROM orders WHERE o_custkey <= 20",
    "SELECT c_nationkey, c_custkey, rank() OVER (PARTITION BY c_nationkey "
    "ORDER BY c_acctbal DESC) AS r FROM customer WHERE c_nationkey < 3",
    "SELECT o_custkey, o_orderkey, sum(o_totalprice) OVER (PARTITION BY o_custkey "
    "ORDER BY o_orderkey) AS running FROM orders WHERE o_custkey BETWEEN 5 AND 15",
    "WITH big AS (SELECT o_custkey, sum(o_totalprice) AS total FROM orders GROUP BY o_custkey) "
    "SELECT c_name, total FROM big JOIN customer ON c_custkey = o_custkey "
    "ORDER BY total DESC, c_name LIMIT 10",
    "SELECT o_custkey, count(*) FROM orders GROUP BY o_custkey HAVING count(*) > 17",
    "SELECT n_name AS name FROM nation WHERE n_regionkey = 0 UNION ALL SELECT r_name FROM region",
    "SELECT c_custkey FROM customer LEFT JOIN orders ON c_custkey = o_custkey "
    "WHERE o_orderkey IS NULL ORDER BY 1",
    "SELECT s_name, count(DISTINCT o_orderkey) FROM orders "
    "JOIN lineitem ON o_orderkey = l_orderkey JOIN supplier ON l_suppkey = s_suppkey "
    "WHERE o_orderpriority = '1-URGENT' GROUP BY s_name",
    "SELECT count(*) FROM orders WHERE o_custkey IN (SELECT c_custkey FROM customer "
    "WHERE c_nationkey IN (SELECT n_nationkey FROM nation WHERE n_regionkey = 3))",
    "SELECT count(*) FROM supplier s WHERE EXISTS (SELECT 1 FROM partsupp "
    "WHERE ps_suppkey = s.s_suppkey AND ps_availqty > 9990)",
    # expressions
    "SELECT o_orderkey, o_totalprice * 2 AS doubled, upper(o_orderpriority) FROM orders "
    "WHERE o_orderkey <= 10",
    "SELECT extract(year FROM o_orderdate) AS y, count(*) FROM orders GROUP BY 1 ORDER BY 1",
    "SELECT coalesce(o_comment, 'none') AS c, count(*) FROM orders WHERE o_orderkey < 200 "
    "GROUP BY 1",
    "SELECT c_mktsegment, count(*) FILTER (WHERE c_acctbal < 0) AS in_debt FROM customer "
    "GROUP BY 1",
]


@pytest.fixture(scope="module")
def engine(federation: Federation) -> Engine:
    engine = federation.engine()
    assert engine.ready
    return engine


def test_the_mix_is_large_enough() -> None:
    assert len(QUERIES) >= 50


@pytest.mark.parametrize("sql", QUERIES, ids=[f"q{i:02d}" for i in range(len(QUERIES))])
def test_federated_answer_equals_duckdb(federation: Federation, engine: Engine, sql: str) -> None:
    want = federation.duckdb().sql(sql).fetchall()
    got = engine_rows(engine, sql)
    assert same_rows(got, want), f"\n{sql}\nfederated: {got[:5]}\nduckdb:    {want[:5]}"
