"""One small table of every common type, and predicates over it, for every engine's copy."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import duckdb
import pyarrow as pa

TYPES = pa.schema(
    [
        ("id", pa.int64()),
        ("i8", pa.int8()),
        ("big", pa.int64()),
        ("dec", pa.decimal128(12, 2)),
        ("wide", pa.decimal128(38, 10)),
        ("f64", pa.float64()),
        ("txt", pa.string()),
        ("flag", pa.bool_()),
        ("day", pa.date32()),
        ("ts", pa.timestamp("us")),
        ("tsz", pa.timestamp("us", tz="UTC")),
        ("zoned", pa.timestamp("us", tz="Europe/Paris")),
        ("bin", pa.binary()),
    ]
)
D = Decimal
UTC = dt.UTC
ROWS = [
    (1, 1, 2**53 + 1, D("1.50"), D("12345678901234567890.0123456789"), 0.5, "alpha", True,
     dt.date(2024, 1, 1), dt.datetime(2024, 1, 1, 8), b"\x00\x01"),
    (2, -2, -5, D("-20.25"), D("-1.0000000001"), 1.25, "beta", False,
     dt.date(2024, 1, 2), dt.datetime(2024, 1, 2, 9, 30, 0, 123456), b""),
    (3, 3, 0, D("33.33"), D("0"), 2.5, "Gamma", True,
     dt.date(1969, 12, 31), dt.datetime(1969, 12, 31, 23, 59, 59, 999999), b"\xff"),
    (4, 127, 42, D("100.00"), D("99.5"), -3.75, "delta", False,
     dt.date(2024, 1, 4), dt.datetime(2024, 1, 4, 11), b"delta"),
    (5, -128, -(2**63), D("0.01"), D("0.0000000001"), 1e10, "épsilon", True,
     dt.date(2024, 2, 29), dt.datetime(2024, 2, 29, 12), b"e"),
    (6, 6, 2**63 - 1, D("9999999999.99"), D("-99999999999999999999.9999999999"), float("inf"),
     "ALPHA", False, dt.date(1900, 3, 1), dt.datetime(1900, 3, 1), b"A"),
    (7, 7, 9, D("-0.01"), D("5"), -0.25, "a_b", True,
     dt.date(2024, 1, 7), dt.datetime(2024, 1, 7, 0, 0, 0, 1), b"ab"),
    (8, 8, 10, D("6.00"), D("6"), 3.0, "zeta ", False,
     dt.date(9999, 12, 31), dt.datetime(2262, 4, 11, 23, 47, 16, 854775), b"z"),
]  # fmt: skip


def types_table() -> pa.Table:
    rows = []
    for r in ROWS:
        moment = r[9]
        rows.append(
            dict(zip(TYPES.names[:10], r[:10], strict=True))
            | {"tsz": moment.replace(tzinfo=UTC), "zoned": moment.replace(tzinfo=UTC), "bin": r[10]}
        )
    rows.append({"id": 9} | {name: None for name in TYPES.names[1:]})
    return pa.Table.from_pylist(rows, schema=TYPES)


FILTERS = {
    "eq": "i8 = 3",
    "neq": "i8 <> 3",
    "decimal": "dec < 10",
    "decimal_eq": "dec = 1.5",
    "decimal_between": "dec BETWEEN -20.25 AND 33.33",
    "wide_decimal": "wide > 1",
    "f64": "f64 >= 1.25",
    "text_eq": "txt = 'alpha'",
    "text_lt": "txt < 'b'",
    "in": "txt IN ('beta', 'delta', 'nope')",
    "not_in": "NOT i8 IN (1, 3)",
    "like": "txt LIKE 'al%'",
    "like_case": "txt LIKE 'AL%'",
    "like_underscore": "txt LIKE 'a_b'",
    "ilike": "txt ILIKE 'al%'",
    "is_null": "txt IS NULL",
    "is_not_null": "dec IS NOT NULL",
    "and_or": "(i8 > 6 OR txt = 'beta') AND dec > 0",
    "date": "day >= '2024-01-03'",
    "date_before_epoch": "day < '1970-01-01'",
    "timestamp": "ts < '2024-01-03 00:00:00'",
    "timestamptz": "tsz >= '2024-01-02 09:30:00+00'",
    "zoned": "zoned > '2024-01-04 11:00:00+01'",
    "bool": "flag = TRUE",
    "not_bool": "NOT flag",
    "big": "big > 9007199254740992",
    "big_min": "big = -9223372036854775808",
}


def expected_ids(predicate: str) -> list[int]:
    """What a SQL engine answers: DuckDB over the same Arrow table."""
    types = types_table()  # noqa: F841  (read by DuckDB by name)
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    rows = connection.sql(f"SELECT id FROM types WHERE {predicate} ORDER BY id").fetchall()
    return [row[0] for row in rows]
