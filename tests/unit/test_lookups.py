"""Keyed lookups from a key index: exactly the general path's answers, and the same firewall.

Each lookup is asked twice: through the key index (once it is built) and planned afresh down
the general path (`cached=False`), which sends the statement to DuckDB; the two must agree on
every type, NULL, missing key, duplicate and kind of value. Restricted identities, refreshed
copies and copies over the memory budget never get an answer from an index.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from policies.access import unrestricted
from policies.identity import ANONYMOUS_IDENTITY, Identity
from sidecar.config import parse_config
from sidecar.engine import Engine
from sidecar.engine import engine as engine_module
from sidecar.engine.lookups import LookupResult
from sidecar.errors import ErrorCode, SidecarError
from sidecar.gateway import Gateway, QueryRequest
from sidecar.gateway.audit import AuditLog
from sidecar.metrics import Metrics

ROWS = 400
SRE = Identity("sre", {"country": "DE"})


def table(rows: int = ROWS, shift: int = 0) -> pa.Table:
    return pa.table(
        {
            "id": pa.array([i * 2 + shift for i in range(rows)], pa.int64()),
            "code": pa.array([None if i % 17 == 0 else f"c{i % 9}" for i in range(rows)]),
            "small": pa.array([i % 100 for i in range(rows)], pa.int16()),
            "amount": pa.array([None if i % 5 == 0 else i / 8 for i in range(rows)]),
            "flag": pa.array([i % 3 == 0 for i in range(rows)]),
            "price": pa.array([Decimal(i) / 4 for i in range(rows)], pa.decimal128(10, 2)),
            "day": pa.array([dt.date(2026, 1, 1) + dt.timedelta(days=i) for i in range(rows)]),
            "at": pa.array(
                [dt.datetime(2026, 3, 14) + dt.timedelta(seconds=i) for i in range(rows)],
                pa.timestamp("us"),
            ),
            "country": pa.array(["DE" if i % 2 else "FR" for i in range(rows)]),
        }
    )


def make_engine(root: Path, **extra: object) -> Engine:
    acceleration = {"primary_key": "id", "indexes": {"code": "enabled"}}
    data = {
        "name": "shop",
        "runtime": {"auth": {"hash_key": "unit-test-hash-key"}},
        "datasets": [{"from": "file:t.parquet", "name": "ta", "acceleration": acceleration}],
        **extra,
    }
    engine = Engine(parse_config(data, root))
    engine.load()
    return engine


@pytest.fixture
def root(tmp_path: Path) -> Path:
    pq.write_table(table(), tmp_path / "t.parquet")
    return tmp_path


@pytest.fixture
def engine(root: Path) -> Engine:
    engine = make_engine(root)
    yield engine
    engine.close()


def indexed(engine: Engine, sql: str, parameters: list[object]) -> None:
    """Plan `sql` and wait for the key index its lookups need."""
    list(engine.query(sql, parameters))
    list(engine.query(sql, parameters))  # a kept plan's first execution asks for the index
    deadline = time.monotonic() + 10
    while engine.lookups.size("ta") is None:
        assert time.monotonic() < deadline, "the key index was not built"
        time.sleep(0.01)


def both(engine: Engine, sql: str, parameters: list[object]) -> tuple[pa.Table, pa.Table]:
    """The answer through the index (which must give it) and the general path's."""
    fast = engine.query(sql, parameters)
    assert isinstance(fast, LookupResult), sql
    general = engine.run(sql, parameters, unrestricted(), cached=False)
    assert not isinstance(general, LookupResult)
    return (
        pa.Table.from_batches(list(fast), schema=fast.schema),
        pa.Table.from_batches(list(general), schema=general.schema),
    )


def same(fast: pa.Table, general: pa.Table) -> None:
    assert fast.schema == general.schema
    key = [(name, "ascending") for name in fast.schema.names if name != "amount"]
    assert fast.sort_by(key).to_pylist() == general.sort_by(key).to_pylist()


def test_lookups_by_primary_key_answer_as_the_general_path(engine: Engine) -> None:
    sql = "SELECT id, code, small, amount, flag, price, day, at, country FROM ta WHERE id = $1"
    indexed(engine, sql, [2])
    for key in (0, 2, 3, 10, 798, 799, 800, -2 + 2, 10**6, 2**62):
        fast, general = both(engine, sql, [key])
        same(fast, general)
        assert fast.num_rows == (1 if key % 2 == 0 and key < 2 * ROWS else 0)


def test_select_star_is_a_lookup_of_every_column(engine: Engine) -> None:
    sql = "SELECT * FROM ta WHERE id = $1"
    indexed(engine, sql, [2])
    for key in (0, 2, 3, 798, 10**6):
        fast, general = both(engine, sql, [key])
        same(fast, general)
        assert fast.schema.names == engine.query("SELECT * FROM ta LIMIT 0", []).schema.names


def test_aliases_reordered_columns_and_written_literals(engine: Engine) -> None:
    sql = "SELECT price AS p, id, at AS moment FROM ta WHERE 44 = id"
    indexed(engine, sql, [])
    for written in (44, 46, 45, 0, 4000):
        same(*both(engine, sql.replace("44", str(written)), []))


def test_a_non_unique_indexed_column_gives_every_row_and_never_null_keys(engine: Engine) -> None:
    sql = "SELECT id, code, amount FROM ta WHERE code = $1"
    indexed(engine, sql, ["c1"])
    for code in ("c1", "c0", "c8", "c9", "", "C1"):
        fast, general = both(engine, sql, [code])
        same(fast, general)
    assert both(engine, sql, ["c4"])[0].num_rows == len(
        [i for i in range(ROWS) if i % 9 == 4 and i % 17]
    )


def test_each_key_column_has_its_own_index(engine: Engine) -> None:
    """The primary key's index built first must not answer lookups on an indexed column (nor
    the other way round): each key column's lookups search that column's own index."""
    by_id = "SELECT id, code FROM ta WHERE id = $1"
    by_code = "SELECT id, code FROM ta WHERE code = $1"
    indexed(engine, by_id, [2])
    deadline = time.monotonic() + 10
    while not isinstance(engine.query(by_code, ["c4"]), LookupResult):
        assert time.monotonic() < deadline, "the index of code was not built"
        time.sleep(0.01)
    fast, general = both(engine, by_code, ["c4"])
    same(fast, general)
    assert fast.num_rows == len([i for i in range(ROWS) if i % 9 == 4 and i % 17])
    same(*both(engine, by_id, [8]))
    with pytest.raises(SidecarError):  # an integer for the text key: DuckDB's cast fails
        list(engine.query(by_code, [8]))


def test_closing_the_engine_waits_for_the_index_being_built(tmp_path: Path) -> None:
    """An index is built from the copy on its own thread: the engine closes its copies only
    after that read is done, never under it."""
    pq.write_table(table(rows=200_000), tmp_path / "t.parquet")
    engine = make_engine(tmp_path)
    sql = "SELECT id FROM ta WHERE id = $1"
    list(engine.query(sql, [2]))
    list(engine.query(sql, [2]))  # the kept plan asks for the index
    assert any(t.name == "key-index-ta" for t in threading.enumerate())
    engine.close()
    assert not any(t.name == "key-index-ta" for t in threading.enumerate())


def test_a_lookup_gathering_many_rows_is_not_answered_on_the_loop(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """engine.lookup runs on the pg event loop: an IN list over a column with few distinct
    values gathers a copy of many rows, which the thread's path (engine.query) answers."""
    sql = "SELECT id, code FROM ta WHERE code IN ($1, $2)"
    indexed(engine, sql, ["c1", "c2"])
    monkeypatch.setattr(engine_module, "LOOP_ROWS", 50)
    assert engine.lookup(sql, ["c1", "c2"], ANONYMOUS_IDENTITY) is None  # about 84 rows
    assert engine.lookup(sql, ["c1", "nothing"], ANONYMOUS_IDENTITY) is not None  # about 42
    same(*both(engine, sql, ["c1", "c2"]))


def test_in_lists_give_each_row_once(engine: Engine) -> None:
    sql = "SELECT id, flag FROM ta WHERE id IN ($1, $2, $3)"
    indexed(engine, sql, [1, 2, 3])
    for keys in ([4, 2, 4], [1, 3, 5], [0, 798, 10**9], [6, 6, 6]):
        fast, general = both(engine, sql, keys)
        same(fast, general)
    assert both(engine, sql, [4, 2, 4])[0].column("id").to_pylist() == [2, 4]


def test_values_of_another_kind_take_the_general_path(engine: Engine) -> None:
    sql = "SELECT id FROM ta WHERE id = $1"
    indexed(engine, sql, [2])
    assert not isinstance(engine.query(sql, ["4"]), LookupResult)  # DuckDB's cast decides
    assert not isinstance(engine.query("SELECT id FROM ta WHERE id = 4.0", []), LookupResult)
    for value in ("4", None):
        result = engine.query(sql, [value])
        assert [r["id"] for r in pa.Table.from_batches(list(result)).to_pylist()] == (
            [4] if value else []
        )


def test_a_refresh_answers_from_the_new_rows_at_once(root: Path, engine: Engine) -> None:
    sql = "SELECT id, small FROM ta WHERE id = $1"
    indexed(engine, sql, [2])
    assert isinstance(engine.query(sql, [2]), LookupResult)
    pq.write_table(table(shift=1), root / "t.parquet")
    engine.refresh("ta")
    result = engine.query(sql, [3])  # the index is older than the copy: not used
    assert not isinstance(result, LookupResult)
    assert pa.Table.from_batches(list(result)).to_pylist() == [{"id": 3, "small": 1}]
    deadline = time.monotonic() + 10
    while not isinstance(result := engine.query(sql, [3]), LookupResult):
        assert time.monotonic() < deadline, "the key index was not rebuilt"
        time.sleep(0.01)
    assert pa.Table.from_batches(list(result)).to_pylist() == [{"id": 3, "small": 1}]
    assert pa.Table.from_batches(list(engine.query(sql, [2]))).num_rows == 0
    assert engine.catalog.datasets["ta"].copy.status.key_index_bytes == engine.lookups.size("ta")


def test_restricted_identities_never_get_an_index_answer(root: Path) -> None:
    """A mask and a row filter on the dataset: the lookup is planned and kept for the
    identity, but its scan carries the policy, so the general path answers every time."""
    policies = [
        {
            "identities": ["sre"],
            "datasets": ["ta"],
            "columns": {"ta.code": "mask"},
            "rows": {"ta": "country = {identity.country}"},
        },
        {"identities": ["*"], "datasets": ["ta"]},
    ]
    engine = make_engine(root, policies=policies)
    try:
        sql = "SELECT id, code, country FROM ta WHERE id = $1"
        indexed(engine, sql, [2])
        assert isinstance(engine.query(sql, [2]), LookupResult)  # the unrestricted identity
        for _ in range(3):
            for key, expected in ((2, [{"id": 2, "code": "****", "country": "DE"}]), (4, [])):
                result = engine.query(sql, [key], SRE)
                assert not isinstance(result, LookupResult)
                assert pa.Table.from_batches(list(result), schema=result.schema).to_pylist() == (
                    expected
                )
    finally:
        engine.close()


def test_a_copy_over_the_budget_gets_no_index(engine: Engine) -> None:
    engine.lookups.budget = 1000
    sql = "SELECT id FROM ta WHERE id = $1"
    for _ in range(3):
        assert not isinstance(engine.query(sql, [2]), LookupResult)
    time.sleep(0.2)
    assert engine.lookups.size("ta") is None
    assert not isinstance(engine.query(sql, [2]), LookupResult)
    assert engine.catalog.datasets["ta"].copy.status.key_index_bytes is None


def test_the_gateway_limits_audits_and_counts_index_answers(root: Path) -> None:
    policies = [
        {"identities": ["capped"], "datasets": ["ta"], "limits": {"max_rows": 2}},
        {"identities": ["paced"], "datasets": ["ta"], "limits": {"rate": "2/m", "burst": 2}},
        {"identities": ["*"], "datasets": ["ta"]},
    ]
    engine = make_engine(root, policies=policies, audit={"path": "audit.jsonl"})
    gateway = Gateway(engine, Metrics(engine), AuditLog(engine.config.audit, root))
    try:
        sql = "SELECT id, code FROM ta WHERE code = $1"
        capped, paced = Identity("capped", {}), Identity("paced", {})
        indexed(engine, sql, ["c1"])

        answered_at_once = []

        def run(identity: Identity) -> int:
            statement = gateway.statement(QueryRequest(sql, identity, "pg", ["c1"], "me"))
            answered_at_once.append(statement.open_at_once())
            if not answered_at_once[-1]:
                statement.open()  # the identity's first: planned and kept for its grant
            return sum(batch.num_rows for batch in statement)

        for _ in range(2):
            with pytest.raises(SidecarError) as refused:
                run(capped)
            assert refused.value.code is ErrorCode.LIMIT_EXCEEDED
            assert "max_rows" in refused.value.message
        assert run(paced) == run(paced) > 2
        with pytest.raises(SidecarError) as paced_out:
            run(paced)
        assert "rate limit" in paced_out.value.message
        assert answered_at_once == [False, True, False, True]  # the refusal: in open_at_once
        gateway.close()
        lines = [json.loads(line) for line in (root / "audit.jsonl").read_text().splitlines()]
        assert [(line["identity"], line["decision"]) for line in lines] == [
            ("capped", "refused"),
            ("capped", "refused"),
            ("paced", "ok"),
            ("paced", "ok"),
            ("paced", "refused"),
        ]
        first, again = lines[2], lines[3]  # planned (a results-cache miss), then the index's
        assert (first["cache"], again["cache"]) == ("MISS", "BYPASS")
        assert (first["lane"], again["lane"]) == (None, "key_index")
        alike = ("identity", "interface", "client", "sql", "decision", "datasets", "rows")
        assert {k: first[k] for k in alike} == {k: again[k] for k in alike}
        assert lines[3]["datasets"] == ["ta"] and lines[3]["rows"] > 2
        assert lines[3]["sql"] == sql and lines[3]["source_queries"] == 1
        rendered = gateway.metrics.render().decode()
        assert 'sidecar_queries_total{identity="paced",interface="pg",outcome="ok"} 2.0' in (
            rendered
        )
        assert 'sidecar_lane_answers_total{interface="pg",lane="key_index"} 1.0' in rendered
    finally:
        engine.close()
