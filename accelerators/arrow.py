"""`engine: arrow`: the dataset held as one in-memory `pyarrow.Table`.

The DuckDB copy converts every answer from DuckDB's vectors to Arrow; this copy already is
Arrow, so `SELECT *` streams its record batches as they are, with no decoding and no copying.
A full refresh builds the new table aside and swaps the reference: a reader keeps the table it
started with, and a failed load leaves the old table in place.

The table is kept in batches of BATCH_ROWS whatever the source delivered: every batch costs
Python work on its way to the client, so small ones (a source's 1,000-row pages) would dominate,
while over Flight 1M-row batches measured slower than 128K-row ones (gRPC handles messages of
tens of MB less well); 128K rows is also what pyarrow reads a Parquet row group into.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

import pyarrow as pa
import pyarrow.dataset as ds
from sqlglot import exp

from accelerators.connector import CopyConnector, or_source
from accelerators.refresh import LocalCopy, RefreshError, arrow_filter
from connectors.base import Connector, ScanRequest
from connectors.predicates import to_arrow
from sidecar.config import Acceleration as Settings

BATCH_ROWS = 1 << 17


class ArrowCopy(LocalCopy):
    """The in-memory Arrow copy of one dataset; only full refreshes (see config)."""

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        self.table: pa.Table | None = None

    @property
    def loaded(self) -> bool:
        return self.table is not None

    def schema(self) -> pa.Schema:
        assert self.table is not None, "schema() of an arrow copy before its first load"
        return self.table.schema

    def _refresh_once(self, connector: Connector, schema: pa.Schema) -> None:
        conditions = self._working_set(schema)
        pushed = [c for c in conditions if connector.accepts_filter(c)]
        reader = self._scan(connector, schema, pushed)
        self.table = self._load(reader, conditions)

    def _load(self, reader: pa.RecordBatchReader, conditions: list[exp.Expression]) -> pa.Table:
        """All of the scan's rows that pass the working set, in batches of BATCH_ROWS."""
        keep = arrow_filter(conditions, reader.schema, "arrow")
        try:
            table = reader.read_all()
            if keep is not None:
                table = table.filter(keep)
            table = table.combine_chunks()
        except Exception as error:
            raise RefreshError(f"loading {self.name} failed: {error}") from error
        finally:
            reader.close()
        return pa.Table.from_batches(table.to_batches(max_chunksize=BATCH_ROWS), table.schema)

    def _count(self) -> int:
        return self.table.num_rows if self.table is not None else 0


class ArrowConnector(CopyConnector):
    """Scans of the copy's current table: projection, filters and limit applied in Arrow."""

    supports_limit: ClassVar[bool] = True
    copy: ArrowCopy

    def accepts_filter(self, predicate: exp.Expression) -> bool:
        return to_arrow(predicate, self._schema) is not None

    def scan(self, request: ScanRequest) -> pa.RecordBatchReader:
        """Zero-copy slices of the table without filters; a streaming Arrow scan with them."""
        table = self.copy.table
        assert table is not None, "scan of an arrow copy before its first load"
        columns = list(request.projection) if request.projection is not None else None
        keep = arrow_filter(request.filters, table.schema, "arrow")
        if keep is None:
            if columns is not None:
                table = table.select(columns)
            if request.limit is not None:
                table = table.slice(0, request.limit)
            reader = table.to_reader()
        else:
            scanner = ds.dataset(table).scanner(columns=columns, filter=keep, batch_size=BATCH_ROWS)
            reader = scanner.to_reader()
            if request.limit is not None:
                reader = pa.RecordBatchReader.from_batches(
                    reader.schema, _head(reader, request.limit)
                )
        return or_source(reader, self.fallback, request)

    def answers_whole_queries(self) -> bool:
        return False

    def label(self) -> str:
        return "the local arrow copy (memory)"

    def describe(self, request: ScanRequest) -> str:
        return "accelerated (arrow, memory): " + super().describe(request)


def _head(reader: pa.RecordBatchReader, limit: int) -> Iterator[pa.RecordBatch]:
    left = limit
    for batch in reader:
        if left <= 0:
            return
        batch = batch.slice(0, left)
        left -= batch.num_rows
        yield batch
