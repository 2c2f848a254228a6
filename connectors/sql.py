"""The shared base of SQL sources (MySQL, PostgreSQL, Snowflake, any ADBC driver).

A SQL source is asked for exactly what the engine needs, written in its own dialect by
sqlglot: a SELECT of the projected columns with the pushed predicates, order and limit. When
every table of a query lives in the same source, the engine sends it the whole query instead
(`query`), so joins and aggregates run where the data is.

Pushed predicates and sort keys go through `sql_render`, which re-types literals and wraps
text columns so the source keeps exactly the rows the engine would (MySQL's case-blind text,
PostgreSQL's locale order); what it cannot make exact stays in DataFusion.

Sources whose SQL folds unquoted names to upper case (Snowflake, Oracle: the dialect says so)
store `CREATE TABLE t (s_suppkey ...)` as `S_SUPPKEY`. Agents write lower case, as they would
in PostgreSQL, so such columns are exposed in lower case wherever that is unambiguous and
mapped back, quoted exactly, in everything sent to the source. Names stored in mixed or lower
case, and upper-case names another column already claims in lower case, stay as they are.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator, Mapping
from typing import ClassVar, TypeVar

import pyarrow as pa
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect, NormalizationStrategy
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

from connectors.base import (
    Cancellation,
    Connector,
    DatasetSource,
    ScanRequest,
    SourceError,
    project,
)
from connectors.dialects import loaded
from connectors.sql_render import Rules, render_filter, render_order, rules_for

Node = TypeVar("Node", bound=exp.Expression)


class SqlConnector(Connector):
    dialect: ClassVar[str]
    supports_limit: ClassVar[bool] = True
    supports_order: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "dialect" in cls.__dict__:
            loaded(cls.dialect)

    def __init__(self, source: DatasetSource) -> None:
        super().__init__(source)
        self._comparable: pa.Schema | None = None
        self._source_names: dict[str, str] = {}

    @abstractmethod
    def source_key(self) -> str:
        """Equal keys mean one server and one set of credentials: a query may join there."""

    @abstractmethod
    def table(self) -> exp.Table:
        """The dataset's table as the source names it (database/schema qualified)."""

    @abstractmethod
    def query(self, sql: str, cancellation: Cancellation | None = None) -> pa.RecordBatchReader:
        """Run SQL written in `dialect` at the source and stream its result; a cancel stops
        the statement at the source, even mid-read."""

    def query_small(
        self, sql: str, cancellation: Cancellation | None = None
    ) -> pa.RecordBatchReader:
        """`query` for a statement whose answer the planner knows to be a few rows (a key
        lookup, a small LIMIT, an aggregate without groups): a source that has a cheaper way
        to fetch a few rows than to stream them uses it."""
        return self.query(sql, cancellation)

    @property
    def rules(self) -> Rules:
        return rules_for(self.dialect)

    @property
    def folds_upper(self) -> bool:
        """Whether the source stores unquoted names in upper case."""
        strategy = Dialect.get_or_raise(self.dialect).normalization_strategy
        return strategy is NormalizationStrategy.UPPERCASE

    @property
    def source_names(self) -> Mapping[str, str]:
        """Exposed column name -> the name stored at the source, where they differ."""
        return self._source_names

    def resolve_schema(self, found: pa.Schema, where: str) -> pa.Schema:
        """The dataset's schema from what the source reports: declared columns win, and must
        exist there. Only columns whose declared type is the source's own take pushed filters:
        the source compares its stored values, not the engine's cast of them."""
        declared = self.source.declared_schema
        found = self._exposed(found, declared.names if declared is not None else ())
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

    def _exposed(self, found: pa.Schema, declared: list[str] | tuple[()]) -> pa.Schema:
        """`found` with upper-case names in lower case, where the source folds unquoted names
        to upper case and no other column claims the lower-case name (a name declared exactly
        as stored is kept)."""
        if not self.folds_upper:
            return found
        lowered = [name.lower() for name in found.names]
        exposed = []
        for name, lower in zip(found.names, lowered, strict=True):
            plain = name == name.upper() and name not in declared
            if plain and lowered.count(lower) == 1 and lower not in found.names:
                self._source_names[lower] = name
                name = lower
            exposed.append(name)
        return pa.schema([f.with_name(name) for f, name in zip(found, exposed, strict=True)])

    def to_source(self, node: Node) -> Node:
        """`node` with every column named as the source stores it (exactly, quoted)."""
        if not self._source_names:
            return node
        node = node.copy()
        for column in node.find_all(exp.Column):
            stored = self._source_names.get(column.name)
            if stored is not None:
                column.set("this", exp.to_identifier(stored, quoted=True))
        return node

    def accepts_filter(self, predicate: exp.Expression) -> bool:
        return render_filter(predicate, self._filter_schema(), self.rules) is not None

    def _filter_schema(self) -> pa.Schema:
        schema = self.schema()
        return self._comparable if self._comparable is not None else schema

    def _stored(self, schema: pa.Schema) -> pa.Schema:
        """`schema` with the names the source stores."""
        names = self._source_names
        return pa.schema([f.with_name(names.get(f.name, f.name)) for f in schema])

    def select(self, request: ScanRequest) -> str:
        """The exact statement a scan sends, in the source's dialect.

        A sort key the source cannot order exactly like the engine drops the ORDER BY and the
        LIMIT together: a top-N computed on a different order would return the wrong rows.
        """
        schema = self.schema()
        columns = request.projection if request.projection is not None else schema.names
        names = self._source_names
        statement = exp.select(
            *[exp.column(names.get(name, name), quoted=True) for name in columns]
        ).from_(self.table())
        comparable = self._stored(self._filter_schema())
        filters = [
            render_filter(self.to_source(f), comparable, self.rules) for f in request.filters
        ]
        if any(f is None for f in filters):
            raise ValueError("a filter this connector did not accept was pushed to it")
        if filters:
            statement = statement.where(exp.and_(*filters))
        order = [render_order(self.to_source(o), comparable, self.rules) for o in request.order_by]
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
        reader = self.query(self.select(request), request.cancellation)
        wanted = project(self.schema(), request.projection)
        if reader.schema.equals(wanted):
            return reader
        return pa.RecordBatchReader.from_batches(wanted, _cast(reader, wanted))

    def whole_query(self, statement: Node, source_names: Mapping[str, str]) -> Node:
        """A whole query over this source's tables, as the source must read it.

        Where the source folds names to upper case, every name is quoted as PostgreSQL
        resolves it (unquoted ones in lower case) and exposed column names become the stored
        ones (`source_names`, over all the query's tables), so the source sees exactly the
        names the engine planned with.
        """
        if not self.folds_upper:
            return statement
        statement = normalize_identifiers(statement.copy(), dialect="postgres")
        for identifier in statement.find_all(exp.Identifier):
            name = identifier.name
            identifier.set("this", source_names.get(name, name))
            identifier.set("quoted", True)
        return statement

    def describe(self, request: ScanRequest) -> str:
        return f"{self.source.scheme}: {self.select(request)}"


def _cast(reader: pa.RecordBatchReader, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """The batches renamed (a source stores some names in upper case) and cast to `schema`."""
    try:
        for batch in reader:
            if batch.schema.names != schema.names:
                batch = batch.rename_columns(schema.names)
            yield batch.cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        raise SourceError(
            f"a value does not fit the declared columns: {error}",
            hint="check the types declared in columns:",
        ) from None
    finally:
        reader.close()
