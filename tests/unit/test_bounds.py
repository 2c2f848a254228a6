"""Statement bounds, balanced chains and the SQL handed to DataFusion.

Statements deeper, wider or longer than runtime's bounds are refused with the bound's name
before anything native sees them; long AND/OR and UNION chains reach DataFusion balanced; and
the SQL DataFusion parses means what PostgreSQL would read, whatever its parser's precedences.
"""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datafusion import SessionConfig, SessionContext

from sidecar.engine import Engine
from sidecar.errors import ErrorCode, SidecarError
from tests.engines import loaded_engine, rows


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    root: Path = tmp_path_factory.mktemp("bounds")
    pq.write_table(
        pa.table({"x": list(range(100)), "s": [f"s{i}" for i in range(100)]}), root / "t.parquet"
    )
    pq.write_table(pa.table({f"c{i}": [i] for i in range(600)}), root / "wide.parquet")
    return loaded_engine(
        {
            "name": "bounds",
            "runtime": {"max_statement_size": "64KiB", "max_expression_width": 1000},
            "datasets": [
                {"from": "file:t.parquet", "name": "t"},
                {"from": "file:wide.parquet", "name": "wide"},
            ],
        },
        root,
    )


def refusal(engine: Engine, sql: str) -> SidecarError:
    with pytest.raises(SidecarError) as caught:
        rows(engine, sql)
    assert caught.value.code is ErrorCode.TOO_COMPLEX, caught.value.message
    return caught.value


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT " + "(" * 5000 + "1" + ")" * 5000,
        "SELECT " + "+".join(["x"] * 500) + " FROM t",
        "SELECT " + " || ".join(["s"] * 200) + " FROM t",
        "SELECT " + "abs(" * 200 + "x" + ")" * 200 + " FROM t",
        "SELECT " + "CASE WHEN x = 1 THEN " * 100 + "x" + " END" * 100 + " FROM t",
    ],
    ids=["parentheses", "plus chain", "concat chain", "nested calls", "nested case"],
)
def test_too_deep_is_refused_with_the_bound_named(engine: Engine, sql: str) -> None:
    error = refusal(engine, sql)
    assert "runtime.max_expression_depth" in error.message
    assert error.hint and "a + b + c" in error.hint


def test_the_deepest_admitted_statement_answers(engine: Engine) -> None:
    assert rows(engine, "SELECT " + "+".join(["x"] * 100) + " AS y FROM t WHERE x = 2") == [
        {"y": 200}
    ]
    nested = "SELECT " + "abs(" * 100 + "x - 5" + ")" * 100 + " AS y FROM t WHERE x = 2"
    assert rows(engine, nested) == [{"y": 3}]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT x FROM t WHERE x IN (" + ",".join(map(str, range(1500))) + ")",
        "SELECT " + ",".join(f"{i} AS c{i}" for i in range(1500)),
        "SELECT x FROM t WHERE " + " OR ".join(f"x = {i}" for i in range(1500)),
        " UNION ALL ".join(f"SELECT {i} AS x" for i in range(1500)),
    ],
    ids=["in list", "select list", "or chain", "union branches"],
)
def test_too_wide_is_refused_with_the_bound_named(engine: Engine, sql: str) -> None:
    error = refusal(engine, sql)
    assert "1500 items" in error.message and "runtime.max_expression_width (1000)" in error.message


@pytest.mark.parametrize(
    ("sql", "count", "position"),
    [
        ("SELECT * FROM wide a, wide b", 1200, 8),
        ("SELECT x, a.*, b.* FROM t, wide a, wide b", 1201, 13),
        ("SELECT c1 FROM (SELECT * FROM wide, (SELECT * FROM wide) w) s", 1200, 24),
        (
            "WITH w AS (SELECT a.*, b.c0 AS d FROM wide a, wide b) SELECT w.*, a.* FROM w, wide a",
            1201,
            64,
        ),
        ("SELECT 1 AS n UNION ALL SELECT count(*) FROM (SELECT *, * FROM wide) s", 1200, 54),
    ],
)
def test_stars_are_counted_as_the_columns_they_expand_to(
    engine: Engine, sql: str, count: int, position: int
) -> None:
    """`*` is one item, but both planners expand it, DataFusion in time growing with the
    square of the width, uninterruptibly: 70,000 columns planned for a quarter of an hour."""
    error = refusal(engine, sql)
    assert f"holds {count:,} columns once * is expanded" in error.message
    assert "runtime.max_expression_width (1,000)" in error.message
    assert error.position == position


def test_stars_within_the_width_answer(engine: Engine) -> None:
    """count(*) is no star of a select list: it was counted as every column it reads."""
    assert rows(engine, "SELECT count(*) AS n FROM wide a, wide b") == [{"n": 1}]
    assert rows(engine, "SELECT count(*) FROM wide a, wide b")[0] == {"count(*)": 1}
    assert rows(engine, "SELECT * FROM wide WHERE c0 = 0")[0]["c599"] == 599
    assert len(rows(engine, "SELECT a.*, b.c0 AS d FROM wide a, wide b")[0]) == 601
    recursive = "WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < 3) "
    assert rows(engine, recursive + "SELECT * FROM r, wide")[-1]["n"] == 3


def test_a_lone_surrogate_is_a_clear_refusal(engine: Engine) -> None:
    """JSON's "\\udcff" decodes to a lone surrogate (HTTP, MCP): an INTERNAL error before."""
    with pytest.raises(SidecarError) as caught:
        engine.query("SELECT 'a\udcff' AS x")
    assert caught.value.code is ErrorCode.INVALID_REQUEST and caught.value.position == 10
    assert "surrogate" in caught.value.message


def test_too_long_is_refused_before_parsing(engine: Engine) -> None:
    error = refusal(engine, "SELECT '" + "x" * (70 << 10) + "' AS s")
    assert "runtime.max_statement_size (65536 bytes)" in error.message
    with pytest.raises(SidecarError) as caught:
        engine.parameter_count("SELECT '" + "x" * (70 << 10) + "' AS s")
    assert caught.value.code is ErrorCode.TOO_COMPLEX


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT x FROM t WHERE " + "x IN (SELECT x FROM t WHERE " * 17 + "true" + ")" * 17,
        "SELECT * FROM " + "(SELECT * FROM " * 17 + "t" + ") s" * 17,
        "WITH "
        + ", ".join(f"c{i} AS (SELECT * FROM {f'c{i - 1}' if i else 't'})" for i in range(20))
        + " SELECT * FROM c19",
    ],
    ids=["in subqueries", "derived tables", "with chain"],
)
def test_nested_queries_are_bounded(engine: Engine, sql: str) -> None:
    assert "runtime.max_subquery_depth" in refusal(engine, sql).message


def test_many_independent_with_queries_are_not_nested(engine: Engine) -> None:
    ctes = ", ".join(f"c{i} AS (SELECT {i} AS v)" for i in range(40))
    union = " UNION ALL ".join(f"SELECT v FROM c{i}" for i in range(40))
    assert rows(engine, f"WITH {ctes} SELECT sum(v) AS n FROM ({union}) u") == [{"n": 780}]


def test_long_or_chains_reach_datafusion_balanced(engine: Engine) -> None:
    sql = "SELECT x FROM t WHERE " + " OR ".join(f"x = {i}" for i in range(0, 1000, 3))
    result = engine.query(sql)
    assert [r["x"] for r in pa.Table.from_batches(list(result)).to_pylist()] == list(
        range(0, 100, 3)
    )
    depth = deepest = 0
    for char in result.plan.sql:
        depth += {"(": 1, ")": -1}.get(char, 0)
        deepest = max(deepest, depth)
    assert 8 <= deepest <= 12  # log2 of 334 operands, not 334


def test_union_chains_keep_their_kinds_and_modifiers(engine: Engine) -> None:
    mixed = "SELECT 1 AS v UNION ALL SELECT 1 UNION SELECT 2 UNION ALL SELECT 2 UNION ALL SELECT 3"
    assert sorted(r["v"] for r in rows(engine, mixed)) == [1, 2, 2, 3]
    long = " UNION ALL ".join(f"SELECT {i} AS v" for i in range(300)) + " ORDER BY v DESC LIMIT 2"
    assert rows(engine, long) == [{"v": 299}, {"v": 298}]
    scans = " UNION ALL ".join(f"SELECT x FROM t WHERE x = {i}" for i in range(50))
    assert rows(engine, f"SELECT count(*) AS n, sum(x) AS s FROM ({scans}) u") == [
        {"n": 50, "s": 1225}
    ]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT 'a' || 1 + 2 AS v", "a3"),
        ("SELECT 2 + 3 << 1 AS v", 10),
        ("SELECT 1 | 2 + 4 AS v", 7),
        ("SELECT 5 # 3 AS v", 6),
        ("SELECT 2 * 3 ^ 2 AS v", 18.0),
        ("SELECT 'ab' LIKE 'a' || '%' AS v", True),
        ("SELECT NOT 1 = 2 AND 3 BETWEEN 1 + 1 AND 4 AS v", True),
        ("SELECT " + "abs(" * 30 + "-1" + ")" * 30 + " AS v", 1),
    ],
)
def test_postgresql_precedence_survives_the_handover(
    engine: Engine, sql: str, expected: object
) -> None:
    assert rows(engine, sql) == [{"v": expected}]


def test_random_expressions_mean_what_postgresql_reads(engine: Engine) -> None:
    """Random expressions over mixed operators give what DataFusion's PostgreSQL parser gives
    for the text as written."""
    generator = random.Random(16)
    reference = SessionContext(SessionConfig().set("datafusion.sql_parser.dialect", "PostgreSQL"))

    def integer(depth: int) -> str:
        if depth == 0:
            return generator.choice(["1", "2", "3", "7", "CAST(5 AS INT)", "length('ab')"])
        op = generator.choice(["+", "-", "*", "/", "%", "&", "|", "<<", ">>", "#"])
        return f"{integer(depth - 1)} {op} {integer(depth - 1)}"

    def text(depth: int) -> str:
        if depth == 0:
            return generator.choice(["'a'", "'bc'", "upper('d')"])
        return f"{text(depth - 1)} || {generator.choice([text, integer])(depth - 1)}"

    def boolean(depth: int) -> str:
        if depth == 0:
            return generator.choice(["true", "false", "1 = 1"])
        choice = generator.randrange(6)
        if choice == 0:
            op = generator.choice(["=", "<", "<>", ">=", "IS DISTINCT FROM"])
            return f"{integer(depth - 1)} {op} {integer(depth - 1)}"
        if choice == 1:
            op = generator.choice(["LIKE", "ILIKE", "=", "<"])
            return f"{text(depth - 1)} {op} {text(depth - 1)}"
        if choice == 2:
            low, high = integer(depth - 1), integer(depth - 1)
            return f"{integer(depth - 1)} BETWEEN {low} AND {high}"
        if choice == 3:
            op = generator.choice(["AND", "OR"])
            return f"{boolean(depth - 1)} {op} {boolean(depth - 1)}"
        if choice == 4:
            return f"NOT {boolean(depth - 1)}"
        return f"{integer(depth - 1)} IN ({integer(depth - 1)}, 3)"

    compared = 0
    for _ in range(120):
        expression = generator.choice([integer, text, boolean])(generator.randint(1, 3))
        sql = f"SELECT {expression} AS v"
        try:
            expected = reference.sql(sql).to_arrow_table().to_pylist()
        except Exception:
            continue  # a type error in both readings says nothing about grouping
        assert rows(engine, sql) == expected, sql
        compared += 1
    assert compared > 60
