"""Filtered reads of local Parquet files that carry a page index or bloom filters, by
DataFusion's Parquet reader.

pyarrow's dataset scanner, which reads every other file, skips row groups by their min/max
statistics and decodes the whole of each row group left; it reads neither the page index nor
bloom filters. DataFusion's reader uses both where a file has them (only the pages whose
statistics can match are decoded; a row group whose bloom filter rules the value out is
skipped) and keeps each file's footer and page index in its metadata cache. So the file
connector hands a filtered scan of local Parquet files that have either for a filtered column
here, until the row groups it needs are asked for a second time and are then kept decoded
(`row_groups.py`); `scan` answers None for anything else (no filters, no columns, no index, a
filter it cannot plan) and the connector reads with pyarrow, which is the faster of the two on
files without them (benchmarks/README.md: small row groups are the better layout for lookups).

The filters are those the connector accepted (`predicates.to_arrow`), written as SQL; DataFusion
is the engine's own SQL, so the rows it keeps are the ones the engine would.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq
from sqlglot import exp

from connectors.base import SourceError
from connectors.row_groups import Version

if TYPE_CHECKING:
    from datafusion import DataFrame, SessionContext

BATCH_ROWS = 65_536
KEPT_TABLES = 1024
_names = itertools.count(1)


class ParquetLookups:
    """One DataFusion session for a dataset's files, each registered once per version."""

    def __init__(self) -> None:
        self._ctx: SessionContext | None = None
        self._tables: dict[Version, str] = {}
        self._indexes: dict[Version, frozenset[str]] = {}
        self._lock = threading.Lock()

    def scan(
        self,
        files: Sequence[Version],
        schema: pa.Schema,
        columns: Sequence[str],
        filters: Sequence[exp.Expression],
        limit: int | None,
    ) -> Iterator[pa.RecordBatch] | None:
        """The rows of `files` (each at its version) that pass `filters`, holding
        `columns` of the dataset's `schema`; None when DataFusion should not read them (it would
        read a column as another type than pyarrow does, say)."""
        if not files or not columns or not filters:
            return None
        filtered = {
            column.name for predicate in filters for column in predicate.find_all(exp.Column)
        }
        if not all(self._indexed(file, filtered) for file in files):
            return None
        try:
            tables = [self._table(file) for file in files]
            projection = ", ".join(_quote(name) for name in columns)
            where = " AND ".join(f"({predicate.sql(dialect='postgres')})" for predicate in filters)
            sql = " UNION ALL ".join(f"SELECT {projection} FROM {t} WHERE {where}" for t in tables)
            if limit is not None:
                sql = f"SELECT * FROM ({sql}) AS lookup LIMIT {limit}"
            frame = self._context().sql(sql)
            read = frame.schema()
        except Exception:  # a filter DataFusion does not plan: pyarrow reads the files
            return None
        if [_plain(field.type) for field in read] != [schema.field(c).type for c in columns]:
            return None
        return _batches(frame)

    def _indexed(self, file: Version, columns: set[str]) -> bool:
        """Whether the file has a page index or a bloom filter on one of `columns` (per file
        version, read from its footer once)."""
        found = self._indexes.get(file)
        if found is None:
            metadata = pq.read_metadata(file.path)
            found = frozenset(
                metadata.schema.column(i).path
                for group in range(metadata.num_row_groups)
                for i in range(metadata.num_columns)
                if (chunk := metadata.row_group(group).column(i)).has_column_index
                or chunk.bloom_filter_offset is not None
            )
            with self._lock:
                if len(self._indexes) >= KEPT_TABLES:
                    self._indexes.clear()
                self._indexes[file] = found
        return bool(found & columns)

    def _context(self) -> SessionContext:
        if self._ctx is None:
            from datafusion import SessionConfig, SessionContext

            config = (
                SessionConfig()
                .with_information_schema(False)
                .set("datafusion.execution.time_zone", "UTC")
                .with_target_partitions(1)  # rows in file order, as pyarrow's scan gives them
                .with_batch_size(BATCH_ROWS)
                # the filter is evaluated while decoding: the other columns' values are
                # decoded for the matching rows only (a lookup in a 1M-row group: 2.5x faster)
                .set("datafusion.execution.parquet.pushdown_filters", "true")
            )
            self._ctx = SessionContext(config)
        return self._ctx

    def _table(self, version: Version) -> str:
        """The file's table, registered when first read or changed since (a file replaced by
        one of the same size and modification time is another version: its inode or
        status-change time differs)."""
        with self._lock:
            name = self._tables.get(version)
            if name is None:
                older = [kept for kept in self._tables if kept.path == version.path]
                if any((k.size, k.mtime_ns) == (version.size, version.mtime_ns) for k in older):
                    # DataFusion's own footer and statistics caches know a file by its path,
                    # size and modification time: a file replaced keeping all three needs a
                    # context without them (a file changed otherwise only drops its table).
                    self._ctx = None
                    self._tables.clear()
                else:
                    for kept in older:
                        self._context().deregister_table(self._tables.pop(kept))
                if len(self._tables) >= KEPT_TABLES:
                    for kept in list(self._tables):
                        self._context().deregister_table(self._tables.pop(kept))
                name = f"file_{next(_names)}"
                self._context().register_parquet(name, version.path)
                self._tables[version] = name
        return name


def _batches(frame: DataFrame) -> Iterator[pa.RecordBatch]:
    try:
        for batch in frame.execute_stream():
            yield batch.to_pyarrow()
    except Exception as error:
        raise SourceError(f"reading the Parquet file failed: {error}") from None


def _plain(kind: pa.DataType) -> pa.DataType:
    """DataFusion reads text and bytes as views; the values are the same."""
    if pa.types.is_string_view(kind):
        return pa.string()
    if pa.types.is_binary_view(kind):
        return pa.binary()
    return kind


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
