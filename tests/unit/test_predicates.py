"""Predicate pushdown must agree with a real SQL engine, NULLs and NaNs included.

The differential test runs each WHERE clause, and its negation, through DuckDB and through the
Arrow filter `to_arrow` builds, over the same table. Negating catches the subtle bugs: a filter
that says FALSE where SQL says NULL keeps the same rows, until a NOT turns FALSE into TRUE.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pytest
import sqlglot
from sqlglot import exp

from connectors import predicates
from connectors.predicates import is_pushable, literal_value, to_arrow

NAN = float("nan")
UTC = dt.UTC


def _timestamps(*days_and_hours: tuple[int, int] | None) -> list[dt.datetime | None]:
    return [dt.datetime(2024, 1, *when) if when else None for when in days_and_hours]


TABLE = pa.table(
    {
        "id": pa.array(range(8), pa.int64()),
        "i": pa.array([1, 2, 3, None, 5, -1, 0, 2], pa.int64()),
        "small": pa.array([1, 2, 3, None, 5, -1, 0, 2], pa.int16()),
        "f": pa.array([1.5, 2.5, NAN, None, -0.0, 100.0, 2.0, -7.5], pa.float64()),
        "s": pa.array(["apple", "banana", "cherry", None, "Avocado", "a.b", "", "band"]),
        "b": pa.array([True, False, None, True, False, True, None, False]),
        "d": pa.array(
            [dt.date(2024, 1, n) if n else None for n in (1, 2, 3, 0, 5, 2, 1, 4)], pa.date32()
        ),
        "ts": pa.array(
            _timestamps((1, 0), (2, 12), (3, 0), None, (2, 0), (1, 23), (5, 0), (2, 6)),
            pa.timestamp("us"),
        ),
        "tz": pa.array(
            _timestamps((1, 0), (2, 12), None, (3, 0), (2, 0), (2, 1), (5, 0), (2, 6)),
            pa.timestamp("us", tz="UTC"),
        ),
        "dec": pa.array(
            [
                Decimal(v) if v else None
                for v in ("1.00", "1.50", "2.50", "", "1.01", "-3", "2", "")
            ],
            pa.decimal128(10, 2),
        ),
    }
)

PREDICATES = [
    "i = 2",
    "i <> 2",
    "i != 2",
    "2 < i",
    "i >= -1",
    "i <= 2.5",
    "i > 1.5e0",
    "i = '3'",
    "small > 1",
    "small IN (1, 3, 5)",
    "i IN (1, 3, 5)",
    "i IN (1, NULL)",
    "i IN (NULL)",
    "i IN (2, 2.5)",
    "i NOT IN (1, 3)",
    "i NOT IN (1, NULL)",
    "i BETWEEN 1 AND 3",
    "i NOT BETWEEN 1 AND 3",
    "i BETWEEN 3 AND 1",
    "i IS NULL",
    "i IS NOT NULL",
    "i = NULL",
    "f > 1.5",
    "f >= 2",
    "f < 2.5",
    "f <> 1.5",
    "f = CAST(1.5 AS DOUBLE)",
    "f BETWEEN 0 AND 100",
    "f NOT BETWEEN 0 AND 2",
    "f IN (1.5, 2.5)",
    "-1 > f",
    "f = 0",
    "f >= 0.0",
    "f IN (0, 2)",
    "s = 'apple'",
    "s > 'b'",
    "s LIKE 'a%'",
    "s LIKE '_an%'",
    "s LIKE '%.%'",
    "s LIKE ''",
    "s NOT LIKE '%e'",
    "s ILIKE 'A%'",
    "s NOT ILIKE '%AN%'",
    "s IN ('apple', 'cherry')",
    "s NOT IN ('apple', NULL)",
    "b = TRUE",
    "b <> FALSE",
    "b IS NULL",
    "b IN (TRUE)",
    "d = DATE '2024-01-02'",
    "d >= '2024-01-02'",
    "d < TIMESTAMP '2024-01-02 12:00:00'",
    "d BETWEEN DATE '2024-01-01' AND DATE '2024-01-03'",
    "d IN ('2024-01-01', DATE '2024-01-05')",
    "d IN (TIMESTAMP '2024-01-02 00:00:00', DATE '2024-01-05')",
    "ts >= '2024-01-02'",
    "ts < TIMESTAMP '2024-01-02 06:00:00'",
    "ts > DATE '2024-01-02'",
    "ts BETWEEN '2024-01-01 12:00' AND '2024-01-03'",
    "ts IN (TIMESTAMP '2024-01-01 00:00:00', '2024-01-03 00:00:00')",
    "tz >= '2024-01-02'",
    "tz < TIMESTAMPTZ '2024-01-02 06:00:00+00'",
    "tz > TIMESTAMP WITH TIME ZONE '2024-01-02 03:00:00+02:00'",
    "tz IN ('2024-01-02 00:00:00', '2024-01-05')",
    "dec > 1.005",
    "dec = 1",
    "dec = 1.5",
    "dec < 2.50",
    "dec > 1.5e0",
    "dec IN (1.5, 2, 3.25)",
    "dec IN (1.505, 2)",
    "dec BETWEEN 1 AND 2",
    "dec >= CAST('1.5' AS DECIMAL(10, 2))",
    "dec = '2.5'",
    "i > 1 AND s LIKE 'b%'",
    "i > 3 OR s IS NULL",
    "NOT (i > 1 AND f < 3)",
    "(i = 1 OR i = 2) AND NOT (s = 'apple')",
    "NOT (s NOT LIKE 'a%' OR dec IS NULL)",
    "i IN (1, NULL) OR b = FALSE",
    "NOT (NOT (i NOT IN (2, NULL)))",
]


@pytest.fixture(scope="module")
def duck() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.register("t", TABLE)
    return connection


def _duckdb_ids(duck: duckdb.DuckDBPyConnection, where: str) -> list[int]:
    return [
        row[0] for row in duck.execute(f"SELECT id FROM t WHERE {where} ORDER BY id").fetchall()
    ]


def _arrow_ids(where: str) -> list[int]:
    predicate = sqlglot.parse_one(where)
    assert is_pushable(predicate), where
    expression = to_arrow(predicate, TABLE.schema)
    assert expression is not None, where
    return sorted(ds.dataset(TABLE).to_table(filter=expression)["id"].to_pylist())


@pytest.mark.parametrize("where", PREDICATES)
def test_arrow_filter_agrees_with_duckdb(duck: duckdb.DuckDBPyConnection, where: str) -> None:
    assert _arrow_ids(where) == _duckdb_ids(duck, where)


@pytest.mark.parametrize("where", PREDICATES)
def test_negated_filter_agrees_with_duckdb(duck: duckdb.DuckDBPyConnection, where: str) -> None:
    negated = f"NOT ({where})"
    assert _arrow_ids(negated) == _duckdb_ids(duck, negated)


def test_the_table_exercises_nulls_and_nan() -> None:
    assert all(TABLE[name].null_count for name in TABLE.column_names if name != "id")
    assert pc.any(pc.is_nan(TABLE["f"])).as_py()


@pytest.mark.parametrize(
    "where",
    [
        "i + 1 = 2",
        "i = f",
        "lower(s) = 'a'",
        "i IN (SELECT 1)",
        "b",
        "NOT b",
        "i IS DISTINCT FROM 1",
        "b IS TRUE",
        "s LIKE 'a%' ESCAPE '!'",
        "s LIKE ANY ('a%')",
        "s LIKE s",
        "t.i = 1",
        "1 = 1",
        "i = 1 AND lower(s) = 'a'",
        "i = 1 OR i = f",
        "i = CAST(1.5 AS INT)",
        "dec = CAST(1.25 AS DECIMAL)",
        "f = CAST(0.1 AS FLOAT)",
        "f = CAST('nan' AS DOUBLE)",
        "ts = TIMESTAMPTZ '2024-01-01'",
        "d = CAST(TIMESTAMP '2024-01-01 10:00:00' AS DATE)",
        "i = -'1'",
        "EXISTS (SELECT 1)",
    ],
)
def test_other_shapes_are_not_pushable(where: str) -> None:
    predicate = sqlglot.parse_one(where)
    assert not is_pushable(predicate)
    assert to_arrow(predicate, TABLE.schema) is None


@pytest.mark.parametrize(
    "where",
    [
        "s = 5",
        "i = 'abc'",
        "i LIKE 'a%'",
        "s LIKE 'a\\%'",
        "missing = 1",
        "missing = NULL",
        "i > 99999999999999999999",
        "f > 'inf'",
        "d = TIMESTAMPTZ '2024-01-01 00:00:00+00'",
        "ts = TIMESTAMPTZ '2024-01-01 00:00:00+00'",
        "b = 1",
        "i = 1 AND s = 5",
    ],
)
def test_pushable_but_untranslatable_gives_none(where: str) -> None:
    predicate = sqlglot.parse_one(where)
    assert is_pushable(predicate)
    assert to_arrow(predicate, TABLE.schema) is None


def test_naive_literals_only_meet_utc_columns() -> None:
    paris = pa.schema([("at", pa.timestamp("us", tz="Europe/Paris"))])
    utc = pa.schema([("at", pa.timestamp("ms", tz="UTC"))])
    assert to_arrow(sqlglot.parse_one("at > '2024-01-01'"), paris) is None
    assert to_arrow(sqlglot.parse_one("at > '2024-01-01T00:00:00+01:00'"), paris) is not None
    assert to_arrow(sqlglot.parse_one("at > '2024-01-01'"), utc) is not None


def test_decimal_comparisons_that_would_overflow_arrow_are_refused() -> None:
    wide = pa.schema([("amount", pa.decimal128(38, 2))])
    assert to_arrow(sqlglot.parse_one("amount > 1.5"), wide) is not None
    assert to_arrow(sqlglot.parse_one("amount > 1.005"), wide) is None


def test_dictionary_columns_compare_by_value() -> None:
    table = pa.table({"s": pa.array(["x", "y", "x", None]).dictionary_encode()})
    expression = to_arrow(sqlglot.parse_one("s IN ('x')"), table.schema)
    assert expression is not None
    assert table.filter(expression).num_rows == 2


def test_a_large_in_list_is_one_set_lookup() -> None:
    values = ", ".join(str(n) for n in range(1000))
    expression = to_arrow(sqlglot.parse_one(f"i IN ({values})"), TABLE.schema)
    assert expression is not None
    assert "is_in" in str(expression)
    assert " or " not in str(expression).replace("or null[bool]", "")


def test_wide_or_chains_stay_with_the_engine() -> None:
    """Arrow folds a chain left-deep and recurses through it: thousands of ORs overflowed the
    scanning thread's stack, so past a few hundred the engine keeps the filter."""
    narrow = " OR ".join(f"i = {n}" for n in range(200))
    assert to_arrow(sqlglot.parse_one(narrow), TABLE.schema) is not None
    wide = " OR ".join(f"i = {n}" for n in range(300))
    assert is_pushable(sqlglot.parse_one(wide))
    assert to_arrow(sqlglot.parse_one(wide), TABLE.schema) is None


@pytest.mark.parametrize(
    ("sql", "value"),
    [
        ("1", 1),
        ("-7", -7),
        ("1.50", Decimal("1.50")),
        ("-(2.5)", Decimal("-2.5")),
        ("1.5e3", 1500.0),
        ("'x'", "x"),
        ("TRUE", True),
        ("FALSE", False),
        ("NULL", None),
        ("DATE '2024-02-29'", dt.date(2024, 2, 29)),
        ("TIMESTAMP '2024-01-01 10:30:00'", dt.datetime(2024, 1, 1, 10, 30)),
        ("TIMESTAMPTZ '2024-01-01 10:30:00+02:00'", dt.datetime(2024, 1, 1, 8, 30, tzinfo=UTC)),
        ("CAST('12' AS BIGINT)", 12),
        ("CAST(1.005 AS DECIMAL(5, 2))", Decimal("1.01")),
        ("CAST(12 AS DECIMAL)", Decimal(12)),
        ("CAST(1 AS DOUBLE)", 1.0),
        ("CAST(5 AS VARCHAR)", "5"),
        ("CAST(NULL AS INT)", None),
        ("'a'::text", "a"),
        ("(42)", 42),
    ],
)
def test_literal_value(sql: str, value: object) -> None:
    result = literal_value(sqlglot.parse_one(sql))
    assert result == value
    assert type(result) is type(value)


@pytest.mark.parametrize(
    "sql", ["a", "1 + 1", "lower('A')", "-'x'", "CAST(1.5 AS INT)", "CAST(123.4 AS DECIMAL(3, 1))"]
)
def test_literal_value_rejects_non_literals(sql: str) -> None:
    with pytest.raises(ValueError):
        literal_value(sqlglot.parse_one(sql))


def test_predicates_built_by_hand_are_understood() -> None:
    predicate = exp.and_(
        exp.GT(this=exp.column("i"), expression=exp.Literal.number(1)),
        exp.Like(this=exp.column("s"), expression=exp.Literal.string("b%"), negate=True),
    )
    assert is_pushable(predicate)
    expression = to_arrow(predicate, TABLE.schema)
    assert expression is not None
    assert ds.dataset(TABLE).to_table(filter=expression)["id"].to_pylist() == [2, 4]


def test_only_filters_arrow_may_not_bind_are_tried_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """Trying a filter on an empty table costs most of a translation, asked again on each
    execution of a kept plan: it is done only where binding could fail (decimals, dates,
    narrower integers, an integer compared with an exact decimal literal), never for plain
    comparisons on 64-bit numbers, text or booleans."""
    tried: list[pc.Expression] = []
    real = predicates.filter_table
    monkeypatch.setattr(
        predicates, "filter_table", lambda table, where: tried.append(where) or real(table, where)
    )
    for where in ("id = 5", "s IN ('a', 'b')", "f > 25 AND NOT s = 'x'", "s LIKE 'a%'", "i < 2e0"):
        assert to_arrow(sqlglot.parse_one(where), TABLE.schema) is not None, where
    assert tried == []
    for where in ("dec > 1.5", "small = 3", "d = '2024-01-02'", "i = 2.5"):
        assert to_arrow(sqlglot.parse_one(where), TABLE.schema) is not None, where
    assert len(tried) == 4
