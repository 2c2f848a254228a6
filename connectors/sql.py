"""The shared base of SQL sources (MySQL, PostgreSQL, Snowflake, any ADBC driver).

A SQL source is asked for exactly what the engine needs, written in its own dialect by
sqlglot: a SELECT of the projected columns with the pushed predicates, order and limit. When
every table of a query lives in the same source, the engine sends it the whole query instead
(`query`), so joins and aggregates run where the data is.

Pushed predicates and sort keys go through `sql_render`, which re-types literals and wraps
text columns so the source keeps exactly the rows the engine would (MySQL's case-blind text,
PostgreSQL's locale order); what it cannot make exact stays in DataFusion.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator
from typing import ClassVar

import pyarrow as pa
from sqlglot import exp

from connectors.base import Connector, DatasetSource, ScanRequest, SourceError, project
from connectors.sql_render import Rules, render_filter, render_order, rules_for


class SqlConnector(Connector):
    dialect: ClassVar[str]
    supports_limit: ClassVar[bool] = True
    supports_order: ClassVar[bool] = True

    def __init__(self, source: DatasetSource) -> None:
        super().__init__(source)
        self._comparable: pa.Schema | None = None

    @abstractmethod
    def source_key(self) -> str:
        """Equal keys mean one server and one set of credentials: a query may join there."""

    @abstractmethod
    def table(self) -> exp.Table:
        """The dataset's table as the source names it (database/schema qualified)."""

    @abstractmethod
    def query(self, sql: str) -> pa.RecordBatchReader:
        """Run SQL written in `dialect` at the source and stream its result."""

    @property
    def rules(self) -> Rules:
        return rules_for(self.dialect)

    def resolve_schema(self, found: pa.Schema, where: str) -> pa.Schema:
        """The dataset's schema from what the source reports: declared columns win, and must
        exist there. Only columns whose declared type is the source's own take pushed filters:
        the source compares its stored values, not the engine's cast of them."""
        declared = self.source.declared_schema
        if declared is None:
            self._comparable = found
            return found
        missing = [name for name in declared.names if name not in found.names]
        if missing:
            raise SourceError(
                f"column {missing[0]!r} is declared but not in {where}",
                hint=f"columns there: {', '.join(found.names)}",
            )
        same = [f for f in declared if found.field(f.name).type.equals(f.type)]
        self._comparable = pa.schema(same)
        return declared

    def accepts_filter(self, predicate: exp.Expression) -> bool:
        return render_filter(predicate, self._filter_schema(), self.rules) is not None

    def _filter_schema(self) -> pa.Schema:
        schema = self.schema()
        return self._comparable if self._comparable is not None else schema

    def select(self, request: ScanRequest) -> str:
        """The exact statement a scan sends, in the source's dialect.

        A sort key the source cannot order exactly like the engine drops the ORDER BY and the
        LIMIT together: a top-N computed on a different order would return the wrong rows.
        """
        schema = self.schema()
        columns = request.projection if request.projection is not None else schema.names
        statement = exp.select(*[exp.column(name, quoted=True) for name in columns]).from_(
            self.table()
        )
        comparable = self._filter_schema()
        filters = [render_filter(f, comparable, self.rules) for f in request.filters]
        if any(f is None for f in filters):
            raise ValueError("a filter this connector did not accept was pushed to it")
        if filters:
            statement = statement.where(exp.and_(*filters))
        order = [render_order(o, comparable, self.rules) for o in request.order_by]
        limit = request.limit
        if any(o is None for o in order):
            order, limit = [], None
        if order:
            statement = statement.order_by(*order)
        if limit is not None:
            statement = statement.limit(limit)
        return statement.sql(dialect=self.dialect)

    def scan(self, request: ScanRequest) -> pa.RecordBatchReader:
        """The source's stream, cast to the dataset's (declared) schema where they differ."""
        reader = self.query(self.select(request))
        wanted = project(self.schema(), request.projection)
        if reader.schema.equals(wanted):
            return reader
        return pa.RecordBatchReader.from_batches(wanted, _cast(reader, wanted))

    def describe(self, request: ScanRequest) -> str:
        return f"{self.source.scheme}: {self.select(request)}"


def _cast(reader: pa.RecordBatchReader, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    try:
        for batch in reader:
            yield batch.cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        raise SourceError(
            f"a value does not fit the declared columns: {error}",
            hint="check the types declared in columns:",
        ) from None
    finally:
        reader.close()
