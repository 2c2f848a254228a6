"""Filtered reads of local Parquet files decode only the row groups their statistics leave, keep
them decoded for the next lookup, and see a file rewritten in place: proven by the counts of
row groups and rows decoded, not by time."""

from __future__ import annotations

import math
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest
import sqlglot

from connectors import file as file_module
from connectors.base import DatasetSource, ScanRequest
from connectors.file import FileConnector
from connectors.row_groups import DecodedGroups, Version
from policies.identity import Identity
from tests.engines import loaded_engine
from tests.engines import rows as engine_rows

GROUP = 1000
GROUPS = 10


def table(offset: int = 0, *, shuffled: bool = False) -> pa.Table:
    ids = list(range(offset, offset + GROUP * GROUPS))
    if shuffled:
        ids = ids[1::2] + ids[::2]
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "code": pa.array([f"c{i // GROUP:02d}" for i in range(GROUP * GROUPS)]),
            "amount": pa.array([i / 4 for i in ids]),
        }
    )


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> DecodedGroups:
    fresh = DecodedGroups()
    monkeypatch.setattr(file_module, "DECODED", fresh)
    return fresh


def connector(path: Path) -> FileConnector:
    return FileConnector(DatasetSource(name="t", scheme="file", location=str(path)))


def rows(source: FileConnector, where: str, columns: tuple[str, ...] = ("id",)) -> list[dict]:
    filters = [sqlglot.parse_one(part, read="postgres") for part in where.split(" & ")]
    return (
        source.scan(ScanRequest(projection=list(columns), filters=filters)).read_all().to_pylist()
    )


def ids(source: FileConnector, where: str) -> list[int]:
    return [row["id"] for row in rows(source, where)]


@pytest.fixture
def sorted_file(tmp_path: Path) -> FileConnector:
    pq.write_table(table(), tmp_path / "t.parquet", row_group_size=GROUP)
    return connector(tmp_path / "t.parquet")


@pytest.mark.parametrize(
    ("where", "expected", "groups"),
    [
        ("id = 4321", [4321], 1),
        ("id IN (5, 9500, 20000)", [5, 9500], 2),
        ("id BETWEEN 2998 AND 3001", [2998, 2999, 3000, 3001], 2),
        ("id > 9997", [9998, 9999], 1),
        ("id >= 3 & id < 5.5", [3, 4, 5], 1),
        ("7 >= id & id > 5", [6, 7], 1),
        ("code = 'c07' & id < 7002", [7000, 7001], 1),
        ("id = NULL", [], 0),
        ("id < 0", [], 0),
    ],
)
def test_statistics_leave_only_the_groups_that_can_match(
    sorted_file: FileConnector, decoded: DecodedGroups, where: str, expected: list[int], groups: int
) -> None:
    assert ids(sorted_file, where) == expected
    assert decoded.counters.decoded_groups == groups
    assert decoded.counters.decoded_rows == groups * GROUP


def test_a_second_lookup_finds_its_group_decoded(
    sorted_file: FileConnector, decoded: DecodedGroups
) -> None:
    assert rows(sorted_file, "id = 4321", ("id", "amount")) == [{"id": 4321, "amount": 1080.25}]
    assert rows(sorted_file, "id = 4999", ("amount",)) == [{"amount": 1249.75}]
    assert (decoded.counters.decoded_groups, decoded.counters.kept_groups) == (1, 1)
    # a column not read before is decoded on its own; the kept ones are not decoded again
    assert rows(sorted_file, "id = 4000", ("code",)) == [{"code": "c04"}]
    assert decoded.counters.decoded_groups == 2
    assert decoded.counters.decoded_rows == 2 * GROUP


def test_filters_statistics_cannot_use_still_hold(
    sorted_file: FileConnector, decoded: DecodedGroups
) -> None:
    assert ids(sorted_file, "amount = 250.25") == [1001]  # a float: every group is read
    assert decoded.counters.decoded_groups == GROUPS
    assert ids(sorted_file, "id = 1001 & amount > 300") == []
    before = decoded.counters.decoded_groups
    where = "code IN ('c01', 'c03') & id BETWEEN 1997 AND 3001"
    assert ids(sorted_file, where) == [1997, 1998, 1999, 3000, 3001]
    assert decoded.counters.decoded_groups == before + 2  # only code, of groups 1 and 3


def test_an_unsorted_key_is_filtered_not_searched(tmp_path: Path, decoded: DecodedGroups) -> None:
    pq.write_table(table(shuffled=True), tmp_path / "t.parquet", row_group_size=GROUP)
    source = connector(tmp_path / "t.parquet")
    assert ids(source, "id = 4321") == [4321]
    assert sorted(ids(source, "id BETWEEN 10 AND 13")) == [10, 11, 12, 13]


def test_a_file_rewritten_in_place_is_read_anew(tmp_path: Path, decoded: DecodedGroups) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(table(), path, row_group_size=GROUP)
    source = connector(path)
    assert ids(source, "id = 7") == [7]
    pq.write_table(table(offset=100), path, row_group_size=GROUP)
    later = time.time_ns() + 10**9
    os.utime(path, ns=(later, later))
    assert ids(source, "id = 7") == []
    assert ids(source, "id = 107") == [107]
    assert decoded.counters.decoded_groups == 2
    assert {key[0].mtime_ns for key in decoded._chunks} == {later}  # the old version let go


LAYOUTS = {
    "plain": ("t.parquet", {}),
    # a partitioned folder is read by the dataset scanner, whose fragments keep the footer
    "partitioned": ("t/part=1/data.parquet", {}),
    # a page index sends the first lookups to DataFusion's reader, with its own table registry
    "page index": ("t.parquet", {"write_page_index": True}),
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("how", ["renamed over it", "rewritten in place"])
def test_a_file_replaced_keeping_its_size_and_mtime_is_read_anew(
    tmp_path: Path, decoded: DecodedGroups, how: str, layout: str
) -> None:
    """`rsync -t`, `cp -p` then a rename, an unpacked archive: the new file has the old one's
    size and modification time, and its rows must still be the ones read."""
    name, written = LAYOUTS[layout]
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    plain = {"row_group_size": GROUP, "compression": "none", "use_dictionary": False, **written}
    pq.write_table(table(), path, **plain)
    before = os.stat(path)
    source = connector(tmp_path / name.split("/")[0])
    assert ids(source, "id = 7") == [7]
    target = path.with_name("new.parquet.tmp") if how == "renamed over it" else path
    pq.write_table(table(offset=100), target, **plain)
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    if target != path:
        os.replace(target, path)
    after = os.stat(path)
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert ids(source, "id = 7") == []
    assert ids(source, "id = 107") == [107]
    assert rows(source, "id > 10097", ("id", "amount"))[-1] == {"id": 10099, "amount": 2524.75}


def test_kept_columns_stay_within_their_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pq.write_table(table(), tmp_path / "t.parquet", row_group_size=GROUP)
    budget = 3 * GROUP * 8 + GROUP  # three groups' int64 ids and their validity bitmaps
    decoded = DecodedGroups(capacity=budget)
    monkeypatch.setattr(file_module, "DECODED", decoded)
    source = connector(tmp_path / "t.parquet")
    for key in range(0, GROUP * GROUPS, GROUP):
        assert ids(source, f"id = {key}") == [key]
    assert decoded._held <= budget and len(decoded._chunks) == 3
    assert ids(source, f"id = {GROUP * GROUPS - 1}") == [GROUP * GROUPS - 1]
    assert ids(source, "id = 1") == [1]
    assert (decoded.counters.kept_groups, decoded.counters.decoded_groups) == (1, GROUPS + 1)


def test_a_wide_selection_streams_instead_of_being_kept(
    sorted_file: FileConnector, decoded: DecodedGroups, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(file_module, "MAX_READ_BYTES", 1)
    assert ids(sorted_file, "id BETWEEN 5 AND 7") == [5, 6, 7]
    assert decoded.counters.decoded_groups == 0 and not decoded._chunks


def test_a_paged_file_with_small_groups_decodes_them_at_once(
    tmp_path: Path, decoded: DecodedGroups
) -> None:
    """Its groups decode in about the time DataFusion takes to read a page of one: decoded and
    kept on their first lookup, DataFusion never started."""
    path = tmp_path / "t.parquet"
    pq.write_table(table(), path, row_group_size=GROUP, write_page_index=True, data_page_size=512)
    source = connector(path)
    assert ids(source, "id = 4321") == [4321]
    assert ids(source, "id = 4322") == [4322]
    assert (decoded.counters.decoded_groups, decoded.counters.kept_groups) == (1, 1)
    assert source._lookups is not None and source._lookups._ctx is None


def test_a_paged_file_is_kept_from_its_second_lookup_while_there_is_room(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Groups larger than EAGER_BYTES (all of them, here) are read by their pages first."""
    path = tmp_path / "t.parquet"
    pq.write_table(table(), path, row_group_size=GROUP, write_page_index=True, data_page_size=512)
    decoded = DecodedGroups()
    monkeypatch.setattr(file_module, "DECODED", decoded)
    monkeypatch.setattr(file_module, "EAGER_BYTES", 0)
    source = connector(path)
    assert ids(source, "id = 4321") == [4321]  # by its pages, in DataFusion
    assert decoded.counters.decoded_groups == 0
    assert ids(source, "id = 4322") == [4322]  # asked again: decoded and kept
    assert ids(source, "id = 4323") == [4323]
    assert (decoded.counters.decoded_groups, decoded.counters.kept_groups) == (1, 1)
    decoded.capacity = decoded._held  # full: other groups stay with the page index
    for key in (5000, 5001, 5002):
        assert ids(source, f"id = {key}") == [key]
    assert decoded.counters.decoded_groups == 1


DIFFERENTIAL = [
    *("id = 5", "id = 4999", "id = 5000", "id = 5.0", "id = 5.5", "id = '5'", "id = -0.0"),
    *("id = 99999999999999999999", "id = 1e3", "id > 4997.5", "id < 2.5", "id <= -1"),
    *("id BETWEEN 10 AND 12", "id BETWEEN 12 AND 10", "id >= 3 AND id < 6", "id = 3 AND id = 4"),
    *("id IN (1, 2, 4999, 7000)", "id IN (1, NULL)", "id = NULL", "id <> 3 AND id < 5"),
    *("u = 7919", "u BETWEEN 1 AND 3", "nk = 14", "nk < 3", "nk IS NULL AND id < 30"),
    *("name = 'n00005'", "name = 'N00005'", "name = 'n00005 '", "name > 'n04998'"),
    *("f = 2.5", "f > 2498", "i32 = -2500", "i32 = 3000000000", "i32 < -2499", "id = u"),
    *("id > 4990 AND id < u", "id = 5 OR id = 4000", "id = 9223372036854775807"),
]


def test_lookups_answer_as_the_scanner_does(tmp_path: Path, decoded: DecodedGroups) -> None:
    """The same rows as Parquet in row groups (pruned, kept, searched) and as an Arrow IPC file
    (the dataset scanner), for identities with a mask on the key and a row filter."""
    count = 5000
    data = pa.table(
        {
            "id": pa.array(range(count), pa.int64()),
            "u": pa.array([i * 7919 % count for i in range(count)], pa.int64()),
            "nk": pa.array([None if i % 13 == 0 else i for i in range(count)], pa.int64()),
            "name": [f"n{i:05d}" for i in range(count)],
            "f": [math.nan if i % 11 == 0 else i / 2 for i in range(count)],
            "i32": pa.array([i - 2500 for i in range(count)], pa.int32()),
            "country": ["DE" if i % 2 else "FR" for i in range(count)],
        }
    )
    pq.write_table(data, tmp_path / "t.parquet", row_group_size=500)
    feather.write_feather(data, tmp_path / "t.arrow")
    both = ("pq", "ar")
    config = {
        "runtime": {"results_cache": {"enabled": False}},
        "datasets": [
            {"from": "file:t.parquet", "name": "pq"},
            {"from": "file:t.arrow", "name": "ar"},
        ],
        "policies": [
            {"identities": ["free"], "datasets": ["*"]},
            {
                "identities": ["masked"],
                "datasets": ["*"],
                "columns": {f"{n}.id": "mask" for n in both},
            },
            {
                "identities": ["rowf"],
                "datasets": ["*"],
                "rows": {n: "country = {identity.country}" for n in both},
            },
        ],
    }
    engine = loaded_engine(config, tmp_path)
    try:
        for who in (
            Identity("free", {}),
            Identity("masked", {}),
            Identity("rowf", {"country": "DE"}),
        ):
            for where in DIFFERENTIAL:
                answers = [
                    sorted(
                        map(repr, engine_rows(engine, f"SELECT * FROM {name} WHERE {where}", who))
                    )
                    for name in ("pq", "ar", "pq")  # the second time from what is kept
                ]
                assert answers[0] == answers[1] == answers[2], (who.name, where)
    finally:
        engine.close()
    assert decoded.counters.kept_groups > 0


def test_a_sorted_uint64_key_is_searched_exactly(tmp_path: Path, decoded: DecodedGroups) -> None:
    """Keys past 2**63: numpy compares a Python int with uint64 values as floats, which do not
    tell 2**63 from 2**63 + 1000."""
    keys = [2**63 + i * 1000 for i in range(GROUP)]
    pq.write_table(pa.table({"id": pa.array(keys, pa.uint64())}), tmp_path / "t.parquet")
    source = connector(tmp_path / "t.parquet")
    assert ids(source, f"id > {2**63 - 1}") == keys
    assert ids(source, f"id = {2**63 + 1000}") == [2**63 + 1000]
    assert ids(source, f"id <= {2**63 + 1000}") == keys[:2]
    assert ids(source, "id < 0") == []


def test_a_filtered_scan_takes_each_files_version_once(
    sorted_file: FileConnector, decoded: DecodedGroups, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The versions the row-group reader keys on are the ones the scanner's fragments are
    kept by: one stat a file per scan, whichever reads it."""
    monkeypatch.setattr(file_module, "MAX_READ_BYTES", 1)  # too wide to keep: the scanner
    taken: list[str] = []
    of_local = Version.of_local
    monkeypatch.setattr(
        Version, "of_local", staticmethod(lambda path: taken.append(path) or of_local(path))
    )
    assert ids(sorted_file, "id BETWEEN 5 AND 7") == [5, 6, 7]  # the schema's file read too
    taken.clear()
    assert ids(sorted_file, "id BETWEEN 5 AND 7") == [5, 6, 7]
    assert ids(sorted_file, "id = 9") == [9]
    assert len(taken) == 2 and decoded.counters.decoded_groups == 0


def test_clients_asking_for_a_group_at_once_wait_for_one_decode(
    tmp_path: Path, decoded: DecodedGroups
) -> None:
    """Sixty-four clients starting cold on one row group: one decodes it, the others take
    its columns (each decoding it again held such a start for tens of seconds)."""
    rows = 200_000
    data = pa.table({"id": pa.array(range(rows), pa.int64()), "x": [f"v{i}" for i in range(rows)]})
    pq.write_table(data, tmp_path / "t.parquet", row_group_size=rows)
    source = connector(tmp_path / "t.parquet")
    source.schema()
    start = threading.Barrier(16)

    def lookup(key: int) -> list[int]:
        start.wait()
        return ids(source, f"id = {key}")

    with ThreadPoolExecutor(16) as pool:
        found = list(pool.map(lookup, range(0, 160_000, 10_000)))
    assert found == [[key] for key in range(0, 160_000, 10_000)]
    assert decoded.counters.decoded_groups == 1
