"""The one small table every connector in the conformance suite holds, and predicates over it.

Expected rows come from DuckDB over the same Arrow table, so "exact pushdown" means exactly
what a SQL engine answers: byte-order text, SQL NULL logic, typed literals.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp

TYPES = pa.schema(
    [
        ("id", pa.int64()),
        ("i32", pa.int32()),
        ("big", pa.int64()),
        ("dec", pa.decimal128(12, 2)),
        ("f64", pa.float64()),
        ("txt", pa.string()),
        ("flag", pa.bool_()),
        ("day", pa.date32()),
        ("ts", pa.timestamp("us")),
    ]
)
D = Decimal
ROWS = [
    (1, 1, 2**53 + 1, D("1.50"), 0.5, "alpha", True, (2024, 1, 1), (8, 0, 0, 0)),
    (2, 2, -5, D("-20.25"), 1.25, "beta", False, (2024, 1, 2), (9, 30, 0, 123456)),
    (3, 3, 0, D("33.33"), 2.5, "Gamma", True, (2024, 1, 3), (10, 0, 0, 0)),
    (4, 4, 42, D("100.00"), -3.75, "delta", False, (2024, 1, 4), (11, 0, 0, 0)),
    (5, 5, 7, D("0.01"), 1e10, "épsilon", True, (2024, 2, 29), (12, 0, 0, 0)),
    (6, 6, 8, D("99999.99"), 0.0, "ALPHA", False, (2023, 12, 31), (23, 59, 59, 999999)),
    (7, 7, 9, D("5.00"), 2.0, "a_b", True, (2024, 1, 7), (0, 0, 0, 1)),
    (8, 8, 10, D("6.00"), 3.0, "zeta ", False, (2024, 1, 8), (1, 2, 3, 0)),
]
FILTERS = {
    "eq": "i32 = 3",
    "neq": "i32 <> 3",
    "lt": "dec < 10",
    "f64": "f64 >= 1.25",
    "text_eq": "txt = 'alpha'",
    "text_lt": "txt < 'b'",
    "in": "txt IN ('beta', 'delta', 'nope')",
    "not_in": "NOT i32 IN (1, 2)",
    "between": "dec BETWEEN 0 AND 50",
    "like": "txt LIKE 'al%'",
    "not_like": "NOT txt LIKE 'a%'",
    "like_underscore": "txt LIKE 'a_b'",
    "ilike": "txt ILIKE 'al%'",
    "is_null": "txt IS NULL",
    "is_not_null": "txt IS NOT NULL",
    "and_or": "(i32 > 6 OR txt = 'beta') AND dec > 0",
    "date": "day >= '2024-01-03'",
    "timestamp": "ts < '2024-01-03 00:00:00'",
    "bool": "flag = TRUE",
    "big": "big > 9007199254740992",
}


def types_table() -> pa.Table:
    rows = [
        dict(zip(TYPES.names[:7], r[:7], strict=True))
        | {"day": dt.date(*r[7]), "ts": dt.datetime(*r[7], *r[8])}
        for r in ROWS
    ]
    rows.append({"id": 9} | {name: None for name in TYPES.names[1:]})
    return pa.Table.from_pylist(rows, schema=TYPES)


def expected(sql: str) -> list[dict[str, Any]]:
    """What a SQL engine answers for `sql` over the table, named `types`."""
    types = types_table()  # noqa: F841  (read by DuckDB by name)
    return duckdb.connect().sql(sql).arrow().read_all().to_pylist()


def predicate(sql: str, names: dict[str, str] | None = None) -> exp.Expression:
    """As the planner hands it over: unqualified, quoted column names (renamed by `names`)."""
    where = sqlglot.parse_one(f"SELECT 1 FROM t WHERE {sql}", read="postgres").args["where"]
    condition = where.this
    for column in list(condition.find_all(exp.Column)):
        name = (names or {}).get(column.name, column.name)
        column.replace(exp.column(name, quoted=True))
    return condition


def columns_of(sql: str) -> set[str]:
    where = sqlglot.parse_one(f"SELECT 1 FROM t WHERE {sql}", read="postgres").args["where"]
    return {column.name for column in where.find_all(exp.Column)}
