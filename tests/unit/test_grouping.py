"""Grouped queries answered by their source (`Connector.aggregate`), independently of MongoDB:
how a statement is split into the core a source is asked for and the statement DataFusion runs
over the groups, and that answers, names and types never depend on whether a source grouped.

The source here is a double that answers every core with DuckDB (so a correct one, typed its
own way: DuckDB sums integers as 128-bit decimals, which the engine casts back)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import duckdb
import pyarrow as pa
import pytest
import sqlglot
from sqlglot import exp

import connectors
from connectors.base import AggregateScan, Connector, ScanRequest
from sidecar.config import parse_config
from sidecar.engine import Engine
from sidecar.engine.grouping import split

ROWS = pa.table(
    {
        "k": ["a", "b", None, "a", "b", "a", None, "c"],
        "j": ["x", "y", "x", "y", "x", "x", "y", None],
        "v": pa.array([1, 2, 3, None, 5, 6, None, 8], pa.int64()),
    }
)


class DuckGroups(Connector):
    """`ROWS` as a dataset whose source answers grouped cores with DuckDB, unless `answers`
    is off; `asked` records the cores it was sent, as PostgreSQL text."""

    schemes: ClassVar[tuple[str, ...]] = ("duckgroups",)
    answers: ClassVar[bool] = True
    asked: ClassVar[list[str]] = []

    def schema(self) -> pa.Schema:
        return ROWS.schema

    def scan(self, request: ScanRequest) -> pa.RecordBatchReader:
        table = ROWS.select(list(request.projection or ROWS.column_names))
        return pa.RecordBatchReader.from_batches(table.schema, table.to_batches())

    def aggregate(self, select: exp.Select) -> AggregateScan | None:
        DuckGroups.asked.append(select.sql("postgres"))
        if not DuckGroups.answers:
            return None
        connection = duckdb.connect()
        connection.register(self.source.name, ROWS)
        groups = connection.sql(select.sql("duckdb")).to_arrow_table()
        return AggregateScan(groups.schema, "duckdb", groups.to_reader)


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Engine]:
    monkeypatch.setitem(connectors.REGISTRY, "duckgroups", f"{__name__}:DuckGroups")
    monkeypatch.setattr(DuckGroups, "asked", [])
    config = parse_config(
        {
            "name": "grouping",
            "runtime": {"results_cache": {"enabled": False}},
            "datasets": [{"from": "duckgroups:t", "name": "t"}],
        },
        tmp_path,
    )
    engine = Engine(config)
    engine.load()
    assert engine.ready
    yield engine
    engine.close()


def answer(engine: Engine, sql: str) -> tuple[bool, pa.Table]:
    result = engine.query(sql)
    table = pa.Table.from_batches(list(result), schema=result.schema)
    return result.plan.grouped is not None, table


PUSHED = [
    "SELECT k, j, count(*), count(v), sum(v), avg(v), min(v), max(v) FROM t GROUP BY k, j "
    "ORDER BY k, j",
    "SELECT count(*), sum(v), max(k) FROM t WHERE v > 100",
    "SELECT k, count(*) AS n FROM t GROUP BY 1 HAVING count(*) > 1 "
    "ORDER BY n DESC, k NULLS FIRST LIMIT 2 OFFSET 1",
    "SELECT DISTINCT count(*) AS n FROM t GROUP BY k ORDER BY n",
    "SELECT T.K AS key, SUM(t.v) FROM t AS T WHERE j = 'x' GROUP BY key ORDER BY 2 DESC",
    "SELECT k, sum(v) AS total FROM t GROUP BY k HAVING sum(v) IS NULL OR k = 'c' ORDER BY k",
    "SELECT k, min(v), max(v) FROM t GROUP BY k ORDER BY max(v) - min(v) DESC NULLS LAST, k",
    "SELECT j, count(*) FILTER (WHERE v > 1) AS big FROM t GROUP BY j ORDER BY big, j",
]


@pytest.mark.parametrize("sql", PUSHED)
def test_a_source_grouping_changes_nothing_but_what_travels(engine: Engine, sql: str) -> None:
    grouped, pushed = answer(engine, sql)
    DuckGroups.answers = False
    try:
        ungrouped, plain = answer(engine, sql)
    finally:
        DuckGroups.answers = True
    assert grouped and not ungrouped
    assert pushed.schema == plain.schema  # names such as count(*) and DataFusion's types
    assert pushed.to_pylist() == plain.to_pylist()


def test_the_source_is_asked_for_the_core_only(engine: Engine) -> None:
    sql = (
        "SELECT o.k AS key, count(*) AS n FROM t o WHERE o.v > 1 GROUP BY 1 "
        "HAVING count(*) > 1 ORDER BY n DESC LIMIT 1"
    )
    grouped, table = answer(engine, sql)
    assert grouped and table.to_pylist() == [{"key": "b", "n": 2}]
    assert DuckGroups.asked == [
        'SELECT "k", COUNT(*) FROM "t" WHERE "v" > 1 GROUP BY "k"',
    ]
    text = engine.explain(sql)
    assert "t AS o, grouped by the source: duckdb" in text
    assert (
        'evaluated by DataFusion over the groups: SELECT "t_groups"."o0" AS "key", '
        '"t_groups"."o1" AS "n" FROM "t_groups" WHERE "t_groups"."o1" > 1 '
        'ORDER BY "t_groups"."o1" DESC LIMIT 1'
    ) in text


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT k, count(*) FROM t GROUP BY k HAVING sum(v) > 5",  # not a select item
        "SELECT k, count(*) FROM t GROUP BY k ORDER BY max(v)",
        "SELECT k, count(*) FROM t GROUP BY k, j ORDER BY j",
        "SELECT count(*) AS k FROM t GROUP BY k ORDER BY k",  # an output and a column named k
        "SELECT k AS j, count(*) FROM t GROUP BY k ORDER BY j",
        "SELECT k, count(*) FROM t GROUP BY ROLLUP (k)",
        "SELECT k, j, count(*) FROM t GROUP BY GROUPING SETS ((k), (j))",
        "SELECT DISTINCT ON (k) k, count(*) FROM t GROUP BY k, j",
        "SELECT k, count(*), rank() OVER (ORDER BY count(*)) FROM t GROUP BY k",
        "SELECT k, count(*) FROM t WHERE v > (SELECT avg(v) FROM t) GROUP BY k",
        "SELECT a.k, count(*) FROM t a JOIN t b ON a.k = b.k GROUP BY a.k",
        "WITH g AS (SELECT k FROM t) SELECT k, count(*) FROM g GROUP BY k",
        "SELECT k, v FROM t WHERE v > 2",
    ],
)
def test_what_cannot_move_onto_the_groups_keeps_the_ordinary_plan(engine: Engine, sql: str) -> None:
    grouped, _ = answer(engine, sql)
    assert not grouped and DuckGroups.asked == []


def cut(sql: str) -> tuple[str, str] | None:
    statement = sqlglot.parse_one(sql, read="postgres")
    parts = split(statement, "__scan_1", "g", "orders", ["status", "day", "amount"])
    if parts is None:
        return None
    return parts.core.sql("postgres"), parts.outer.sql("postgres")


@pytest.mark.parametrize(
    ("sql", "core", "outer"),
    [
        (
            'SELECT Status, count(*) AS "N" FROM "__scan_1" AS o GROUP BY 1 ORDER BY "N"',
            'SELECT "status", COUNT(*) FROM "orders" GROUP BY "status"',
            'SELECT "g"."o0", "g"."o1" FROM "g" ORDER BY "g"."o1"',
        ),
        (
            'SELECT day AS d, sum(amount) FROM "__scan_1" GROUP BY d '
            "HAVING sum(amount) > 2 * count(*)",  # count(*) is not a select item
            None,
            None,
        ),
        (
            'SELECT day AS d, sum(amount), count(*) FROM "__scan_1" GROUP BY d '
            "HAVING sum(amount) > 2 * count(*) OR day IS NULL LIMIT 5 OFFSET 2",
            'SELECT "day", SUM("amount"), COUNT(*) FROM "orders" GROUP BY "day"',
            'SELECT "g"."o0", "g"."o1", "g"."o2" FROM "g" '
            'WHERE "g"."o1" > 2 * "g"."o2" OR "g"."o0" IS NULL LIMIT 5 OFFSET 2',
        ),
        (
            'SELECT day AS d, sum(amount) FROM "__scan_1" GROUP BY d HAVING d IS NULL',
            None,
            None,
        ),
    ],
)
def test_split_into_core_and_outer(sql: str, core: str | None, outer: str | None) -> None:
    expected: Any = None if core is None else (core, outer)
    assert cut(sql) == expected
