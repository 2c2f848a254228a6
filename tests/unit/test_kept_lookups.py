"""Keyed lookups on local Parquet files answered from their row groups kept decoded (the lane
of sidecar/engine/lookups.py, `FileConnector.kept_rows`): exactly the general path's answers,
only once every group the key can be in is kept, never for a restricted identity, and never
from a file's older version or an older listing of its folder."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connectors import file as file_module
from connectors.row_groups import DecodedGroups
from policies.access import unrestricted
from policies.identity import ANONYMOUS_IDENTITY, Identity
from sidecar.engine import Engine
from sidecar.engine.lookups import LookupResult
from sidecar.errors import SidecarError
from tests.engines import loaded_engine

GROUP = 500
ROWS = 4000
SRE = Identity("sre", {"country": "DE"})


def table(shift: int = 0, rows: int = ROWS) -> pa.Table:
    return pa.table(
        {
            "id": pa.array([i * 2 + shift for i in range(rows)], pa.int64()),
            "small": pa.array([i % 7 for i in range(rows)], pa.int32()),
            "name": pa.array([None if i % 11 == 0 else f"n{i}" for i in range(rows)]),
            "amount": pa.array([i / 4 for i in range(rows)]),
            "country": pa.array(["DE" if i % 2 else "FR" for i in range(rows)]),
        }
    )


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> DecodedGroups:
    fresh = DecodedGroups()
    monkeypatch.setattr(file_module, "DECODED", fresh)
    return fresh


def make_engine(root: Path, location: str = "file:t.parquet", **extra: object) -> Engine:
    config = {
        "runtime": {"results_cache": {"enabled": False}},
        "datasets": [{"from": location, "name": "t"}],
        **extra,
    }
    return loaded_engine(config, root)


@pytest.fixture
def engine(tmp_path: Path, decoded: DecodedGroups) -> Engine:
    pq.write_table(table(), tmp_path / "t.parquet", row_group_size=GROUP)
    engine = make_engine(tmp_path)
    yield engine
    engine.close()


def answer(result: object) -> list[dict]:
    return pa.Table.from_batches(list(result), schema=result.schema).to_pylist()  # type: ignore[attr-defined]


def lane(engine: Engine, sql: str, values: list[object]) -> list[dict]:
    """The lane's answer (which must be one) and the general path's, which must agree."""
    fast = engine.query(sql, values)  # the lane first, by the text's shape or its literals'
    assert isinstance(fast, LookupResult), (sql, values)
    general = engine.run(sql, values, unrestricted(), cached=False)
    assert not isinstance(general, LookupResult)
    assert fast.schema == general.schema
    rows = answer(fast)
    assert rows == answer(general), (sql, values)
    return rows


def test_a_lookup_is_answered_from_kept_groups_once_they_are_kept(
    engine: Engine, decoded: DecodedGroups
) -> None:
    sql = "SELECT name, id AS k, amount FROM t WHERE id = $1"
    assert engine.lookup(sql, [10], ANONYMOUS_IDENTITY) is None  # not planned yet
    assert answer(engine.query(sql, [10])) == [{"name": "n5", "k": 10, "amount": 1.25}]
    assert decoded.counters.decoded_groups == 1
    assert lane(engine, sql, [10]) == [{"name": "n5", "k": 10, "amount": 1.25}]
    assert engine.lookup(sql, [2 * GROUP + 2], ANONYMOUS_IDENTITY) is None  # its group is not
    list(engine.query(sql, [2 * GROUP + 2]))  # the thread's path decodes and keeps it
    for key in (0, 1, 2, 22, 998, 2 * GROUP + 2, 2 * GROUP, 10**12, 2**63 - 1):
        lane(engine, sql, [key])
    assert decoded.counters.decoded_groups == 2


def test_select_star_in_lists_and_written_literals(engine: Engine) -> None:
    for sql, values in (
        ("SELECT * FROM t WHERE id = $1", [4]),
        ("SELECT amount, id FROM t WHERE id IN ($1, $2, $3)", [8, 2, 8]),
        ("SELECT id FROM t WHERE $1 = id", [12]),
        ("SELECT id, small FROM t WHERE id = 6", []),
    ):
        list(engine.query(sql, values))  # planned and kept
        lane(engine, sql, values)
    assert [r["id"] for r in lane(engine, "SELECT id, small FROM t WHERE id = 14", [])] == [14]
    for keys in ([6, 2, 4], [0, 3, 999], [1, 3, 5], [7998, 2, 7998]):
        sql = "SELECT amount, id FROM t WHERE id IN ($1, $2, $3)"
        list(engine.query(sql, keys))
        rows = lane(engine, sql, keys)
        assert [r["id"] for r in rows] == sorted({k for k in keys if k % 2 == 0 and k < 2 * ROWS})


def test_other_kinds_of_values_and_unsorted_keys_take_the_general_path(
    tmp_path: Path, engine: Engine
) -> None:
    sql = "SELECT id FROM t WHERE id = $1"
    list(engine.query(sql, [4]))
    assert engine.lookup(sql, [4], ANONYMOUS_IDENTITY) is not None
    for value in ("4", 4.0, -4):
        list(engine.query(sql, [value]))
        assert engine.lookup(sql, [value], ANONYMOUS_IDENTITY) is None
    assert answer(engine.query(sql, ["4"])) == [{"id": 4}]
    by_small = "SELECT id FROM t WHERE small = $1"  # kept, but not sorted by small
    assert len(answer(engine.query(by_small, [3]))) == len(answer(engine.query(by_small, [3])))
    assert engine.lookup(by_small, [3], ANONYMOUS_IDENTITY) is None


def test_restricted_identities_never_get_a_kept_answer(
    tmp_path: Path, decoded: DecodedGroups
) -> None:
    pq.write_table(table(), tmp_path / "t.parquet", row_group_size=GROUP)
    policies = [
        {
            "identities": ["sre"],
            "datasets": ["t"],
            "columns": {"t.name": "mask"},
            "rows": {"t": "country = {identity.country}"},
        },
        {"identities": ["*"], "datasets": ["t"]},
    ]
    engine = make_engine(tmp_path, policies=policies)
    try:
        sql = "SELECT id, name, country FROM t WHERE id = $1"
        for _ in range(3):
            list(engine.query(sql, [2]))
            assert isinstance(engine.query(sql, [2]), LookupResult)  # unrestricted
            for key, expected in ((2, [{"id": 2, "name": "****", "country": "DE"}]), (4, [])):
                assert engine.lookup(sql, [key], SRE) is None
                result = engine.query(sql, [key], SRE)
                assert not isinstance(result, LookupResult)
                assert answer(result) == expected
    finally:
        engine.close()


def test_a_rewritten_file_is_never_answered_from_its_older_version(
    tmp_path: Path, engine: Engine
) -> None:
    sql = "SELECT id, amount FROM t WHERE id = $1"
    list(engine.query(sql, [4]))
    assert answer(engine.lookup(sql, [4], ANONYMOUS_IDENTITY)) == [{"id": 4, "amount": 0.5}]
    path = tmp_path / "t.parquet"
    stat = path.stat()
    pq.write_table(table(shift=1), path, row_group_size=GROUP)  # same size, odd ids
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert engine.lookup(sql, [4], ANONYMOUS_IDENTITY) is None
    assert answer(engine.query(sql, [4])) == []
    assert answer(engine.query(sql, [5])) == [{"id": 5, "amount": 0.5}]
    assert answer(lane_result := engine.lookup(sql, [5], ANONYMOUS_IDENTITY)) == [
        {"id": 5, "amount": 0.5}
    ]
    assert isinstance(lane_result, LookupResult)


def test_a_file_added_to_the_folder_is_seen(tmp_path: Path, decoded: DecodedGroups) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    pq.write_table(table(rows=GROUP), folder / "a.parquet")
    engine = make_engine(tmp_path, "file:parts/")
    try:
        sql = "SELECT id, amount FROM t WHERE id = $1"
        list(engine.query(sql, [4]))
        assert answer(engine.lookup(sql, [4], ANONYMOUS_IDENTITY)) == [{"id": 4, "amount": 0.5}]
        pq.write_table(table(shift=1, rows=GROUP), folder / "b.parquet")
        assert engine.lookup(sql, [5], ANONYMOUS_IDENTITY) is None  # b's footer is not read yet
        assert answer(engine.query(sql, [5])) == [{"id": 5, "amount": 0.5}]
        assert answer(engine.lookup(sql, [5], ANONYMOUS_IDENTITY)) == [{"id": 5, "amount": 0.5}]
        (folder / "b.parquet").unlink()
        assert answer(engine.lookup(sql, [5], ANONYMOUS_IDENTITY)) == []
    finally:
        engine.close()


def test_a_file_gone_is_reported_by_the_general_path(tmp_path: Path, engine: Engine) -> None:
    sql = "SELECT id FROM t WHERE id = $1"
    list(engine.query(sql, [4]))
    assert answer(engine.lookup(sql, [4], ANONYMOUS_IDENTITY)) == [{"id": 4}]
    (tmp_path / "t.parquet").unlink()
    assert engine.lookup(sql, [4], ANONYMOUS_IDENTITY) is None
    with pytest.raises(SidecarError) as gone:
        list(engine.query(sql, [4]))
    assert "does not exist" in gone.value.message
