"""The accelerated copy seen as a SQL source, so the engine needs no special case for it.

Queries whose every table is accelerated share this source key and are pushed whole to DuckDB;
mixed queries scan the copy with filters, order and limit like any SQL source.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import ClassVar

import duckdb
import pyarrow as pa
from sqlglot import exp

from accelerators.refresh import Accelerated, LocalCopy
from connectors.base import Cancellation, Connector, DatasetSource, ScanRequest, SourceError
from connectors.sql import SqlConnector

SOURCE_KEY = "sidecar-accelerator"


class CopyConnector(Connector):
    """What every copy's connector shares: the copy, the source's column types (so answers do
    not change type when a dataset is accelerated) and the source to fall back on."""

    def __init__(
        self,
        source: DatasetSource,
        copy: LocalCopy,
        schema: pa.Schema,
        fallback: Connector | None = None,
    ) -> None:
        super().__init__(source)
        self.copy = copy
        self._schema = schema
        self.fallback = fallback if copy.settings.on_zero_results == "use_source" else None

    def schema(self) -> pa.Schema:
        return self._schema

    def row_count(self) -> int | None:
        return self.copy.status.rows

    def unique_keys(self) -> Sequence[Sequence[str]]:
        """The copy's primary key (the table is created with it) and its unique indexes."""
        settings = self.copy.settings
        unique = [(column,) for column, kind in settings.indexes.items() if kind == "unique"]
        return [tuple(settings.primary_key), *unique] if settings.primary_key else unique


class AcceleratedConnector(CopyConnector, SqlConnector):
    schemes: ClassVar[tuple[str, ...]] = ()
    dialect: ClassVar[str] = "duckdb"
    copy: Accelerated

    def source_key(self) -> str:
        return SOURCE_KEY

    def table(self) -> exp.Table:
        return self.copy.view

    def query(self, sql: str, cancellation: Cancellation | None = None) -> pa.RecordBatchReader:
        """DuckDB's answer; its refusals (a function or type DuckDB lacks) are the source's,
        so the engine runs such a query itself over scans of the copy."""
        try:
            return self.copy.store.read(sql, cancellation=cancellation)
        except duckdb.Error as error:
            raise SourceError(f"the local duckdb copy cannot run this query: {error}") from None

    def query_small(
        self, sql: str, cancellation: Cancellation | None = None
    ) -> pa.RecordBatchReader:
        """A few rows, fetched at once (a point lookup's answer costs less this way)."""
        try:
            return self.copy.store.fetch(sql, cancellation)
        except duckdb.Error as error:
            raise SourceError(f"the local duckdb copy cannot run this query: {error}") from None

    def scan(self, request: ScanRequest) -> pa.RecordBatchReader:
        """The copy's rows; with on_zero_results: use_source, the source's when it has none."""
        return or_source(super().scan(request), self.fallback, request)

    def answers_whole_queries(self) -> bool:
        return self.fallback is None

    def label(self) -> str:
        return f"the local duckdb copy ({self.copy.settings.mode})"

    def describe(self, request: ScanRequest) -> str:
        return f"accelerated (duckdb, {self.copy.settings.mode}): {self.select(request)}"


def or_source(
    reader: pa.RecordBatchReader, fallback: Connector | None, request: ScanRequest
) -> pa.RecordBatchReader:
    """`reader`, or the source's scan when the copy has no rows and there is a `fallback`."""
    if fallback is None:
        return reader
    batches = iter(reader)
    first = next((batch for batch in batches if batch.num_rows), None)
    if first is None:
        return fallback.scan(request)
    return pa.RecordBatchReader.from_batches(reader.schema, itertools.chain([first], batches))
