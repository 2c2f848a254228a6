"""Filtered scans of Parquet files with a page index or bloom filters go to DataFusion's reader
and keep exactly the rows pyarrow's would; files without them, and scans without filters, stay
with pyarrow."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlglot

from connectors import file as file_module
from connectors.base import DatasetSource, ScanRequest
from connectors.file import FileConnector

ROWS = 20_000


def table(rows: int = ROWS, offset: int = 0) -> pa.Table:
    return pa.table(
        {
            "id": pa.array(range(offset, offset + rows), pa.int64()),
            "code": pa.array([f"c{i % 977}" if i % 13 else None for i in range(rows)]),
            "amount": pa.array([i / 8 for i in range(rows)]),
            "at": pa.array(
                [dt.datetime(2026, 3, 14) + dt.timedelta(seconds=i) for i in range(rows)],
                pa.timestamp("us", tz="UTC"),
            ),
        }
    )


def connector(path: Path) -> FileConnector:
    return FileConnector(DatasetSource(name="t", scheme="file", location=str(path)))


def rows(source: FileConnector, where: str, columns: list[str] | None = None) -> list[dict]:
    """The scan's rows for the conjuncts of `where` (separated by " & ")."""
    filters = [sqlglot.parse_one(part, read="postgres") for part in where.split(" & ")]
    request = ScanRequest(projection=columns or ["id", "code", "amount", "at"], filters=filters)
    return source.scan(request).read_all().to_pylist()


WHERES = [
    '"id" = 1234',
    '"id" >= 19990',
    '"id" IN (5, 77, 19999, 40000)',
    '"code" = \'c42\' AND "amount" < 100',
    '"code" IS NULL AND "id" < 60',
    '"code" LIKE \'c97%\' AND "id" BETWEEN 100 AND 3000',
    "\"at\" > CAST('2026-03-14 05:30:00+00:00' AS TIMESTAMPTZ)",
]


@pytest.fixture(scope="module", autouse=True)
def paged_at_once() -> Iterator[None]:
    """These files' groups are small: decoded on their first lookup unless every group is
    "large", which these tests make them to read them by their page index."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(file_module, "EAGER_BYTES", 0)
        yield


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, FileConnector]:
    root = tmp_path_factory.mktemp("lookups")
    layouts = {
        "plain": {"row_group_size": 8192},
        "paged": {"row_group_size": 8192, "write_page_index": True, "data_page_size": 2048},
        "bloom": {"row_group_size": 8192, "bloom_filter_options": {"id": True, "code": True}},
    }
    for name, options in layouts.items():
        pq.write_table(table(), root / f"{name}.parquet", **options)
    return {name: connector(root / f"{name}.parquet") for name in layouts}


@pytest.mark.parametrize("where", WHERES)
def test_indexed_files_are_read_by_datafusion_with_the_same_rows(
    files: dict[str, FileConnector], where: str
) -> None:
    expected = rows(files["plain"], where)
    assert expected or "IS NULL" not in where
    for name in ("paged", "bloom"):
        assert rows(files[name], where) == expected, name
        assert files[name]._lookups is not None and files[name]._lookups._tables, name
    assert not files["plain"]._lookups._tables  # no index: pyarrow read it


def test_a_rewritten_file_is_read_anew(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(table(), path, write_page_index=True, data_page_size=2048)
    source = connector(path)
    assert rows(source, '"id" = 7', ["id"]) == [{"id": 7}]
    pq.write_table(table(offset=100), path, write_page_index=True, data_page_size=2048)
    later = time.time_ns() + 10**9
    os.utime(path, ns=(later, later))
    assert rows(source, '"id" = 7', ["id"]) == []
    assert rows(source, '"id" = 107', ["id"]) == [{"id": 107}]
    assert len(source._lookups._tables) == 1


def test_a_changed_file_keeps_the_other_files_tables(tmp_path: Path) -> None:
    """One file of a folder rewritten: only its table is registered again; the others keep
    theirs, and DataFusion's caches of them, in the same session."""
    for part in ("a", "b"):
        pq.write_table(table(offset=0 if part == "a" else 2 * ROWS), tmp_path / f"{part}.parquet",
                       write_page_index=True, data_page_size=2048)  # fmt: skip
    source = connector(tmp_path)
    assert sorted(r["id"] for r in rows(source, '"id" IN (7, 40007)', ["id"])) == [7, 40007]
    assert source._lookups is not None
    session, tables = source._lookups._ctx, dict(source._lookups._tables)
    pq.write_table(table(offset=100), tmp_path / "a.parquet", write_page_index=True,
                   data_page_size=2048)  # fmt: skip
    assert sorted(r["id"] for r in rows(source, '"id" IN (7, 107, 40007)', ["id"])) == [
        107,
        40007,
    ]
    assert source._lookups._ctx is session
    kept = {version.path: name for version, name in source._lookups._tables.items()}
    assert kept[str(tmp_path / "b.parquet")] in tables.values()
    assert kept[str(tmp_path / "a.parquet")] not in tables.values()
