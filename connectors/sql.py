"""The shared base of SQL sources (MySQL, PostgreSQL, Snowflake, any ADBC driver).

A SQL source is asked for exactly what the engine needs, written in its own dialect by
sqlglot: a SELECT of the projected columns with the pushed predicates, order and limit. When
every table of a query lives in the same source, the engine sends it the whole query instead
(`query`), so joins and aggregates run where the data is.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import ClassVar

import pyarrow as pa
from sqlglot import exp

from connectors.base import Connector, ScanRequest
from connectors.predicates import is_pushable


class SqlConnector(Connector):
    dialect: ClassVar[str]
    supports_limit: ClassVar[bool] = True
    supports_order: ClassVar[bool] = True

    @abstractmethod
    def source_key(self) -> str:
        """Equal keys mean one server and one set of credentials: a query may join there."""

    @abstractmethod
    def table(self) -> exp.Table:
        """The dataset's table as the source names it (database/schema qualified)."""

    @abstractmethod
    def query(self, sql: str) -> pa.RecordBatchReader:
        """Run SQL written in `dialect` at the source and stream its result."""

    def accepts_filter(self, predicate: exp.Expression) -> bool:
        return is_pushable(predicate)

    def select(self, request: ScanRequest) -> str:
        """The exact statement a scan sends, in the source's dialect."""
        columns = request.projection if request.projection is not None else self.schema().names
        statement = exp.select(*[exp.column(name, quoted=True) for name in columns]).from_(
            self.table()
        )
        if request.filters:
            statement = statement.where(exp.and_(*[f.copy() for f in request.filters]))
        if request.order_by:
            statement = statement.order_by(*[o.copy() for o in request.order_by])
        if request.limit is not None:
            statement = statement.limit(request.limit)
        return statement.sql(dialect=self.dialect)

    def scan(self, request: ScanRequest) -> pa.RecordBatchReader:
        return self.query(self.select(request))

    def describe(self, request: ScanRequest) -> str:
        return f"{self.source.scheme}: {self.select(request)}"
