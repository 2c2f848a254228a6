"""The bench workload file: validation, parameters, and the SQL each arm is sent."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from sidecar.bench.workload import (
    Mix,
    WorkloadError,
    check_names,
    compile_statement,
    for_replica,
    load_workload,
    tables_read,
)

WORKLOAD = """
name: test
queries:
  - name: lookup
    weight: 3
    sql: SELECT id, status FROM orders WHERE id = :id AND status = :status
    params:
      id: {uniform: [5, 7]}
      status: {choice: ["it's", open]}
  - name: recent
    sql: SELECT count(*) FROM recent_orders WHERE created >= :since
    params:
      since: {choice: [2026-03-01]}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "workload.yaml"
    path.write_text(text)
    return path


def test_parameters_are_drawn_per_execution_and_written_as_literals(tmp_path: Path) -> None:
    workload, queries = load_workload(write(tmp_path, WORKLOAD))
    assert workload.name == "test"
    lookup = compile_statement(queries[0], "postgres", {})
    rng = random.Random(1)
    rendered = {lookup.render(rng) for _ in range(200)}
    ids = {sqlglot.parse_one(sql).find(exp.EQ).expression.this for sql in rendered}
    assert ids == {"5", "6", "7"}
    assert any("status = 'it''s'" in sql for sql in rendered)
    assert any("status = 'open'" in sql for sql in rendered)
    recent = compile_statement(queries[1], "mysql", {})
    assert recent.render(rng) == (
        "SELECT COUNT(*) FROM recent_orders WHERE created >= CAST('2026-03-01' AS DATE)"
    )


def test_the_direct_arm_reads_the_replicas_tables_and_inlines_views(tmp_path: Path) -> None:
    _, queries = load_workload(write(tmp_path, WORKLOAD))
    tables = {"orders": exp.to_table("shop.orders", dialect="mysql")}
    views = {
        "recent_orders": sqlglot.parse_one("SELECT * FROM orders WHERE created > '2026-01-01'")
    }
    lookup = for_replica(queries[0].tree, tables, views)
    assert lookup.sql("mysql").startswith("SELECT id, status FROM shop.orders AS orders WHERE")
    recent = for_replica(queries[1].tree, tables, views)
    assert "FROM (SELECT * FROM shop.orders AS orders WHERE" in recent.sql("mysql")
    assert tables_read(recent, unqualified=True) == set()
    assert tables_read(for_replica(queries[1].tree, {}, views), unqualified=True) == {"orders"}


def test_sampled_values_come_from_the_sample(tmp_path: Path) -> None:
    text = """
queries:
  - name: q
    sql: SELECT * FROM orders WHERE created = :day
    params: {day: {sample: orders.created}}
"""
    _, queries = load_workload(write(tmp_path, text))
    statement = compile_statement(queries[0], "postgres", {"orders.created": [dt.date(2026, 3, 1)]})
    assert statement.render(random.Random(1)).endswith("created = CAST('2026-03-01' AS DATE)")


def test_queries_are_picked_by_weight(tmp_path: Path) -> None:
    _, queries = load_workload(write(tmp_path, WORKLOAD))
    mix = Mix([compile_statement(query, "postgres", {}) for query in queries])
    rng = random.Random(7)
    counts = Counter(mix.pick(rng).name for _ in range(4000))
    assert 2.6 < counts["lookup"] / counts["recent"] < 3.4


def test_names_are_checked_against_the_config(tmp_path: Path) -> None:
    _, queries = load_workload(write(tmp_path, WORKLOAD))
    check_names(queries, ["orders"], ["recent_orders"])
    with pytest.raises(WorkloadError, match=r"queries\[1\] \(recent\) reads 'recent_orders'"):
        check_names(queries, ["orders"], [])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("sql: SELECT * FROM t WHERE a = :a", ":a is not under params"),
        ("sql: SELECT 1\n    params: {a: {uniform: [1, 2]}}", "params.a is never used"),
        ("sql: SELECT 1; SELECT 2", "one SELECT statement"),
        ("sql: DELETE FROM t", "one SELECT statement"),
        ("sql: SELECT * FROM t WHERE a = :a\n    params: {a: {normal: 1}}", "write one of"),
        ("sql: SELECT * FROM t WHERE a = :a\n    params: {a: {uniform: [3, 1]}}", "low > high"),
        ("sql: SELECT * FROM t WHERE a = :a\n    params: {a: {sample: t}}", "<dataset>.<column>"),
        ("sql: SELECT * FROM (", "does not parse"),
        ('sql: "SELECT \'unterminated"', "does not parse"),
        ("sql: SELECT " + "(" * 3000 + "1" + ")" * 3000, "nests too deeply"),
        ("sql: SELECT 1\n    weight: .inf", "finite number"),
    ],
)
def test_a_bad_workload_says_what_is_wrong_in_one_line(
    tmp_path: Path, body: str, message: str
) -> None:
    with pytest.raises(WorkloadError, match=message) as raised:
        load_workload(write(tmp_path, f"queries:\n  - name: q\n    {body}\n"))
    assert "\n" not in str(raised.value)
