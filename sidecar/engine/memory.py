"""A connector over an Arrow table the engine holds: system tables like information_schema."""

from __future__ import annotations

from typing import ClassVar

import pyarrow as pa

from connectors.base import Connector, DatasetSource, ScanRequest


class TableConnector(Connector):
    schemes: ClassVar[tuple[str, ...]] = ("memory",)
    supports_limit: ClassVar[bool] = True

    def __init__(self, name: str, table: pa.Table) -> None:
        super().__init__(DatasetSource(name=name, scheme="memory", location=name))
        self.table = table

    def schema(self) -> pa.Schema:
        return self.table.schema

    def scan(self, request: ScanRequest) -> pa.RecordBatchReader:
        table = self.table
        if request.projection is not None:
            table = table.select(list(request.projection))
        if request.limit is not None:
            table = table.slice(0, request.limit)
        return pa.RecordBatchReader.from_batches(table.schema, table.to_batches())

    def row_count(self) -> int | None:
        return self.table.num_rows

    def describe(self, request: ScanRequest) -> str:
        return f"system table {self.source.name} " + super().describe(request)
