"""Plans kept across executions: each shape planned once, every execution answered as planning
it afresh would, and nothing kept past a refresh, a policy or a value that steers the plan."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlglot
from sqlglot import exp

from policies.identity import Identity
from sidecar.config import parse_config
from sidecar.engine import Engine
from sidecar.engine.plans import MARKER, kind, lift, marked, substituted

ROWS = 1000
SRE = Identity("sre", {"country": "DE"})
FR = Identity("ops", {"country": "FR"})


def table(rows: int = ROWS) -> pa.Table:
    return pa.table(
        {
            "id": pa.array(range(rows), pa.int64()),
            "country": pa.array(["DE" if i % 2 else "FR" for i in range(rows)]),
            "email": pa.array([f"user{i}@example.com" for i in range(rows)]),
            "amount": pa.array([i / 4 for i in range(rows)]),
            "created_at": pa.array(
                [dt.datetime(2026, 3, 14) + dt.timedelta(minutes=i) for i in range(rows)],
                pa.timestamp("us"),
            ),
        }
    )


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("plans")
    pq.write_table(table(), root / "t.parquet", row_group_size=100)
    return root


def make_engine(root: Path, **extra: object) -> Engine:
    data = {
        "name": "shop",
        "runtime": {"auth": {"hash_key": "unit-test-hash-key"}},
        "datasets": [
            {"from": "file:t.parquet", "name": "t"},
            {"from": "file:t.parquet", "name": "ta", "acceleration": {"primary_key": "id"}},
            {"from": "file:t.parquet", "name": "tm", "acceleration": {"engine": "arrow"}},
        ],
        **extra,
    }
    engine = Engine(parse_config(data, root))
    engine.load()
    assert engine.ready
    return engine


@pytest.fixture(scope="module")
def engine(root: Path) -> Engine:
    engine = make_engine(root)
    yield engine
    engine.close()


def rows(engine: Engine, sql: str, parameters: list[object], identity: Identity | None = None):
    result = engine.query(sql, parameters, identity) if identity else engine.query(sql, parameters)
    return pa.Table.from_batches(list(result), schema=result.schema).to_pylist()


@pytest.mark.parametrize("name", ["t", "ta", "tm"])
def test_a_statement_is_planned_once_and_answers_every_value(engine: Engine, name: str) -> None:
    sql = f"SELECT id, amount FROM {name} WHERE id = $1"
    misses = engine.plans.misses
    for key in (5, 999, 0, 5, 431):
        assert rows(engine, sql, [key]) == [{"id": key, "amount": key / 4}]
    assert engine.plans.misses == misses + 1  # the first execution plans; four reuse it
    assert rows(engine, sql, [ROWS + 7]) == []


def test_a_kept_plan_pushes_the_new_values(engine: Engine) -> None:
    sql = "SELECT id FROM ta WHERE id BETWEEN $1 AND $2 AND country = $3"
    assert [r["id"] for r in rows(engine, sql, [10, 15, "DE"])] == [11, 13, 15]
    result = engine.query(sql, [20, 24, "FR"])
    assert result.plan.pushed is not None
    assert "BETWEEN 20 AND 24 AND country = 'FR'" in result.plan.pushed.sql
    assert [batch.to_pylist() for batch in result] == [[{"id": 20}, {"id": 22}, {"id": 24}]]
    on_file = "SELECT id FROM t WHERE id BETWEEN $1 AND $2 AND country = $3"
    assert [r["id"] for r in rows(engine, on_file, [30, 33, "FR"])] == [30, 32]
    parquet = engine.query(on_file, [40, 43, "DE"])
    filters = sorted(f.sql("postgres") for f in parquet.plan.scans[0].request.filters)
    assert filters == ["\"country\" = 'DE'", '"id" <= 43', '"id" >= 40']
    assert pa.Table.from_batches(list(parquet)).column("id").to_pylist() == [41, 43]


def test_kinds_of_values_plan_apart(engine: Engine) -> None:
    sql = "SELECT $1 AS v, id FROM ta WHERE id = 3"
    assert rows(engine, sql, [7]) == [{"v": 7, "id": 3}]
    assert rows(engine, sql, ["seven"]) == [{"v": "seven", "id": 3}]
    assert rows(engine, sql, [None]) == [{"v": None, "id": 3}]
    assert kind(1) != kind(1 << 70) != kind("x") != kind(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    assert kind([1, 2]) == kind([3]) != kind(["a"])


def test_minutes_of_a_parameter_are_completed_each_time(engine: Engine) -> None:
    sql = "SELECT count(*) AS n FROM t WHERE created_at < $1"
    assert rows(engine, sql, ["2026-03-14 00:10"]) == [{"n": 10}]
    assert rows(engine, sql, ["2026-03-14 01:00"]) == [{"n": 60}]


def test_a_parameter_that_steers_the_plan_is_planned_each_time(engine: Engine) -> None:
    sql = "SELECT id FROM ta ORDER BY id LIMIT $1"
    for limit in (2, 5, 1):
        assert [r["id"] for r in rows(engine, sql, [limit])] == list(range(limit))
    assert engine.query(sql, [3]).plan.pushed.sql.endswith("LIMIT 3")


def test_a_refresh_drops_the_kept_plan(root: Path, tmp_path: Path) -> None:
    pq.write_table(table(10), tmp_path / "t.parquet")
    engine = make_engine(tmp_path)
    try:
        sql = "SELECT count(*) AS n FROM ta WHERE id >= $1"
        assert rows(engine, sql, [0]) == [{"n": 10}]
        pq.write_table(table(20), tmp_path / "t.parquet")
        engine.refresh("ta")
        misses = engine.plans.misses
        assert rows(engine, sql, [0]) == [{"n": 20}]
        assert engine.plans.misses == misses + 1
    finally:
        engine.close()


def test_policies_hold_on_the_fast_path(root: Path) -> None:
    """Masks and row filters on an accelerated dataset, executed again and again: each
    identity's plan is its own, and no execution sees a hidden row or an original value."""
    policies = [
        {
            "identities": ["sre", "ops"],
            "datasets": ["ta", "t"],
            "columns": {"ta.email": "mask", "t.email": "mask"},
            "rows": {"ta": "country = {identity.country}", "t": "country = {identity.country}"},
        }
    ]
    engine = make_engine(root, policies=policies)
    try:
        for name in ("ta", "t"):
            sql = f"SELECT id, country, email FROM {name} WHERE id < $1"
            for limit in (6, 10, 4):
                seen = rows(engine, sql, [limit], SRE)
                assert [r["id"] for r in seen] == [i for i in range(limit) if i % 2]
                assert {(r["country"], r["email"]) for r in seen} == {("DE", "****")}
                other = rows(engine, sql, [limit], FR)
                assert [r["id"] for r in other] == [i for i in range(limit) if not i % 2]
                assert {r["email"] for r in other} == {"****"}
            by_key = f"SELECT email FROM {name} WHERE id = $1"
            assert rows(engine, by_key, [3], SRE) == [{"email": "****"}]
            assert rows(engine, by_key, [3], FR) == []
        assert len(engine.plans) >= 4  # one per identity and statement
    finally:
        engine.close()


def test_statements_are_checked_once_per_text(engine: Engine) -> None:
    first = engine.statements.checked("SELECT 1 AS x")
    first.set("expressions", [])  # the caller's copy: what is kept stays whole
    assert engine.statements.checked("SELECT 1 AS x").sql() == "SELECT 1 AS x"


@pytest.mark.parametrize("name", ["t", "ta"])
def test_negative_values_are_written_as_negations(engine: Engine, name: str) -> None:
    sql = f"SELECT id - $1 AS d, amount * $2 AS a FROM {name} WHERE id = 4 - $1"
    assert rows(engine, sql, [1, 2.0]) == [{"d": 2, "a": 1.5}]
    assert rows(engine, sql, [-1, -2.0]) == [{"d": 6, "a": -2.5}]
    assert rows(engine, sql, [2, -0.5]) == [{"d": 0, "a": -0.25}]
    assert rows(engine, sql, [-2, 4.0]) == [{"d": 8, "a": 6.0}]
    assert kind(-1) != kind(1) and kind(-0.0) != kind(0.0) != kind(float("inf"))


@pytest.mark.parametrize("name", ["t", "ta"])
def test_literals_written_in_the_text_share_one_plan(engine: Engine, name: str) -> None:
    """Simple-protocol clients and agents write values into the SQL: texts that differ only
    in the literals they compare are planned once."""
    hits = engine.plans.hits
    for key in (17, 400, 3, 999):
        country = "DE" if key % 2 else "FR"
        sql = f"SELECT id, country FROM {name} WHERE id = {key} AND country = '{country}'"
        assert rows(engine, sql, []) == [{"id": key, "country": country}]
    assert engine.plans.hits == hits + 3  # planned for the first text only
    ranges = f"SELECT count(*) AS n FROM {name} WHERE id BETWEEN 10 AND 19 AND id IN (11, 12, 40)"
    assert rows(engine, ranges, []) == [{"n": 2}]
    ranges = f"SELECT count(*) AS n FROM {name} WHERE id BETWEEN 30 AND 45 AND id IN (31, 12, 40)"
    assert rows(engine, ranges, []) == [{"n": 2}]
    minutes = f"SELECT count(*) AS n FROM {name} WHERE created_at < '2026-03-14 00:0{{}}'"
    assert [rows(engine, minutes.format(m), []) for m in (5, 9)] == [[{"n": 5}], [{"n": 9}]]
    assert rows(engine, f"SELECT id FROM {name} WHERE id = 5.5", []) == []
    assert rows(engine, f"SELECT id FROM {name} ORDER BY id LIMIT 2", []) == [{"id": 0}, {"id": 1}]
    assert rows(engine, f"SELECT id FROM {name} ORDER BY id LIMIT 1", []) == [{"id": 0}]


def test_keeping_a_plan_is_linear_in_an_in_lists_length(monkeypatch: pytest.MonkeyPatch) -> None:
    """sqlglot's `replace` renumbers every sibling of the node it replaces: slot by slot, two
    2,000-term IN lists spent 6 s keeping their plan. Marking and substituting a list's
    literals renumbers each term a few times (it renumbered the list once per term)."""
    renumbered = []
    set_parent = exp.Expression._set_parent

    def counted(self: exp.Expression, key: str, value: object, index: int | None = None) -> None:
        renumbered.append(len(value) if isinstance(value, list) else 1)
        set_parent(self, key, value, index)

    terms = 2000
    tree = sqlglot.parse_one(f"SELECT x FROM t WHERE x IN ({', '.join(map(str, range(terms)))})")
    lift(tree, 0)
    nodes = {slot: exp.Literal.number(slot * 2) for slot in range(1, terms + 1)}
    monkeypatch.setattr(exp.Expression, "_set_parent", counted)
    texts = marked(tree).sql(), substituted(tree, nodes).sql()
    monkeypatch.undo()
    assert sum(renumbered) < 10 * terms  # copies included; it was terms * terms
    assert texts[0].count(MARKER) == terms and f"{MARKER}{terms}__)" in texts[0]
    assert texts[1].endswith(f"IN ({', '.join(str(2 * i) for i in range(1, terms + 1))})")


@pytest.mark.parametrize("name", ["t", "ta"])
def test_long_in_lists_share_one_plan(engine: Engine, name: str) -> None:
    hits = engine.plans.hits
    for offset in (0, 1):
        first = ", ".join(str(i * 3 + offset) for i in range(400))
        second = ", ".join(str(i * 2 + offset + 2000) for i in range(400))
        sql = f"SELECT count(*) AS n FROM {name} WHERE id IN ({first}) OR id IN ({second})"
        assert rows(engine, sql, []) == [{"n": 334 if offset == 0 else 333}]
    assert engine.plans.hits == hits + 1
