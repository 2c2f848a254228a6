"""Runs a plan in DataFusion over the connectors' streams and hands back a batch stream.

A fresh SessionContext per query keeps queries isolated (their scan registrations, their
cancellation) and costs well under a millisecond. DataFusion's own error texts are kept, with
internal scan names turned back into the agent's table names and an error code attached.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import numpy as np
import pyarrow as pa
from datafusion import DataFrame, RuntimeEnvBuilder, SessionConfig, SessionContext
from sqlglot import exp

from connectors.base import Cancellation, SourceError
from sidecar.engine import checked, pg_text
from sidecar.engine.bridge import (
    Cancelled,
    ConnectorDataset,
    ReaderDataset,
    StreamDataset,
    source_failed,
)
from sidecar.engine.cache import BYPASS
from sidecar.engine.dialect import PARSER_DIALECT, datafusion_sql
from sidecar.engine.grouping import GroupedQuery
from sidecar.engine.memory import TableConnector
from sidecar.engine.planner import SCAN_PREFIX, DirectScan, Plan
from sidecar.engine.stoppable import StoppableStream
from sidecar.errors import ErrorCode, SidecarError
from sidecar.secrets import REDACTOR

BATCH_ROWS = 65536
MONTH_DAY_NANO = np.dtype([("months", "<i4"), ("days", "<i4"), ("nanoseconds", "<i8")])
SCAN_NAME = re.compile(re.escape(SCAN_PREFIX) + r"\d+")
DATAFUSION_CODES = (
    (re.compile(r"Ambiguous reference", re.I), ErrorCode.AMBIGUOUS_COLUMN),
    (re.compile(r"No field named|Schema error: .*field", re.I), ErrorCode.UNDEFINED_COLUMN),
    (re.compile(r"table '.*' not found|table .* doesn't exist", re.I), ErrorCode.UNDEFINED_TABLE),
    (re.compile(r"ParserError|SQL error", re.I), ErrorCode.SYNTAX),
    (re.compile(r"Resources exhausted|Out of Memory", re.I), ErrorCode.OUT_OF_MEMORY),
)
NOISE = re.compile(
    r"^(DataFusion error: |Error during planning: |Execution error: |External error: )+"
)
# DataFusion's words for errors PostgreSQL words otherwise, in PostgreSQL's (which drivers,
# agents and the Postgres wire's SQLSTATEs match on), with the fix where it is not obvious.
POSTGRES_WORDS = (
    (
        # Arrow's integer and decimal division; a floating-point one's checked divisor's
        re.compile(r"^(Arrow error: )?Divide by zero error$|.*\bZeroDivisionError\("),
        "division by zero",
        "guard the divisor: x / NULLIF(y, 0) is NULL where y is 0",
    ),
    (re.compile(r"^LIMIT must be >= ?0, '.*' was provided$"), "LIMIT must not be negative", None),
    (re.compile(r"^OFFSET must be >= ?0, '.*' was provided$"), "OFFSET must not be negative", None),
)
# DataFusion's nested-loop join, when the rows of one side outgrow its memory share, reads the
# other side again, which panics where that side was spread over the cores by a round-robin
# repartition (its stream is handed out once). Planning without round-robin repartitioning
# would avoid it, but then the join runs on the pulling thread itself, where a cancel or
# timeout no longer reaches it; so the panic is answered as the memory shortage it is.
REREAD_PANIC = "partition not used yet"
# DataFusion's and Arrow's words for an integer out of its type's range (an overflow the
# checked arithmetic of `checked` caught, a cast or abs() past the type), as PostgreSQL words
# them: `bigint out of range`.
OUT_OF_RANGE = (
    re.compile(r"OverflowError\('(\w+) out of range'\)"),
    re.compile(r"value of -?\d+ is out of range Int(\d+)"),
    re.compile(r"Can't cast value (?:-?[\d.e+-]+|NaN|-?inf) to type Int(\d+)"),
    re.compile(r"Int(\d+)Array overflow on abs"),
)
# A string a cast cannot read, in PostgreSQL's words: `invalid input syntax for type integer:
# "abc"` (Arrow says `Cannot cast string 'abc' to value of Int32 type`).
UNREADABLE = re.compile(r"Cannot cast (?:string|value) '(.*)' to value of (\w+)(?:\([^)]*\))? type")
# A date, time or timestamp text a cast cannot read: PostgreSQL tells a text of the right form
# with a field out of range (`'2024-02-30'`, 22008) from one that is no date at all (22007).
UNREADABLE_TIMESTAMP = re.compile(r"Error parsing timestamp from '(.*)': ")
DATETIME_NAMES = {"Date32": "date", "Date64": "date", "Time32": "time", "Time64": "time"}
DATETIME_EXAMPLES = {"date": "2024-02-29", "time": "13:45:00", "timestamp": "2024-02-29 13:45:00"}
DATETIME_FORM = re.compile(r"\s*\d[\d\s:/.T+-]*(?:Z|[+-]\d\d(?::?\d\d)?)?\s*")
PG_TYPE_NAMES = {
    "Int16": "smallint",
    "Int32": "integer",
    "Int64": "bigint",
    "Float32": "real",
    "Float64": "double precision",
    "Boolean": "boolean",
    "Decimal128": "numeric",
    "Decimal256": "numeric",
}
INTEGER_TEXT = re.compile(r"\s*[+-]?\d+\s*")
# DataFusion calls a call with arguments of the wrong types an internal error and asks for a
# bug report; what the caller can act on is the sentence naming the candidates.
NO_MATCH = "No function matches the given name and argument types"


class Sessions:
    """Makes each query's SessionContext, parsing as deep as the bounds admit, all drawing
    on one memory pool (runtime.memory_limit): contexts built from one RuntimeEnvBuilder
    share its pool. Operators that can spill (sorts, joins, grouped aggregates) spill to
    temporary files when their share runs out; the others fail their query alone."""

    def __init__(self, max_depth: int, memory_limit: int) -> None:
        # Parentheses that make grouping explicit (dialect.py) can double the nesting.
        self.recursion_limit = 2 * max_depth + 16
        self.runtime = RuntimeEnvBuilder().with_disk_manager_os().with_fair_spill_pool(memory_limit)

    def new(self) -> SessionContext:
        config = (
            SessionConfig()
            .with_information_schema(False)
            .set("datafusion.sql_parser.dialect", PARSER_DIALECT)
            .set("datafusion.sql_parser.recursion_limit", str(self.recursion_limit))
            .set("datafusion.execution.time_zone", "UTC")
            .with_batch_size(BATCH_ROWS)
        )
        ctx = SessionContext(config, self.runtime)
        checked.register(ctx)
        pg_text.register(ctx)
        return ctx


class QueryResult:
    """A running query: its schema now, its batches as the client pulls them.

    DataFusion plans the query now, which types its result and reports its errors, unless the
    `schema` is known (a kept plan) and nothing runs in DataFusion: a query pushed whole to its
    source, or one scan's rows sent as they arrive, then never touches it (unless the source
    refuses the pushed query and DataFusion runs it after all).
    """

    def __init__(self, plan: Plan, sessions: Sessions, schema: pa.Schema | None = None) -> None:
        self.plan = plan
        self.sessions = sessions
        self.cancelled = Cancellation()
        self.scans: dict[str, StreamDataset] = {
            scan.name: ConnectorDataset(
                scan.relation,
                scan.connector,
                scan.schema,
                scan.request,
                self.cancelled,
                scan.restriction,
                scan.view if scan.hidden else None,
                plan.unseen,
            )
            for scan in plan.scans
        }
        self._dataframe: DataFrame | None = None
        self.schema: pa.Schema
        if schema is not None and plan.grouped is None and (plan.pushed or plan.direct):
            self.schema = schema
        else:
            self._frame()
        self.rows = 0
        self._pushed_queries = 0
        self.cache_status = BYPASS
        self.cache_fill: Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]] | None = (
            None
        )

    def _frame(self) -> DataFrame:
        """DataFusion's plan of the query over its scans, made on first use."""
        if self._dataframe is not None:
            return self._dataframe
        ctx = self.sessions.new()
        for name, dataset in self.scans.items():
            ctx.register_dataset(name, dataset)
        with self._errors():
            frame = ctx.sql(self.plan.sql)
            self.schema = frame.schema()
            if self.plan.names_sql is not None:
                self.schema = named(self.schema, ctx.sql(self.plan.names_sql).schema().names)
            untyped = any(pa.types.is_null(field.type) for field in self.schema)
            if untyped or self.plan.statement.find(exp.SetOperation):
                # `SELECT NULL AS a ... UNION ALL SELECT 1`: the unoptimised plan types `a`
                # null, its answer is BIGINT; `SELECT 1 UNION SELECT 1.5` types it BIGINT, its
                # answer is DOUBLE; the optimised plan's types are the answer's
                optimized = frame.optimized_logical_plan()
                answer = ctx.create_dataframe_from_logical_plan(optimized).schema()
                self.schema = named(answer, self.schema.names)
            if self.plan.grouped is not None:
                frame = self._over_groups(ctx, self.plan.grouped)
        self._dataframe = frame
        return frame

    def _over_groups(self, ctx: SessionContext, grouped: GroupedQuery) -> DataFrame:
        """The query run over its source's groups instead of its rows.

        The groups are typed as DataFusion types the query's outputs, so its HAVING, ORDER BY
        and results are those of the ordinary plan, whose schema this result keeps: an answer
        must not depend on whether the source grouped it.
        """
        relation = self.plan.scans[0].relation
        schema = pa.schema(
            [pa.field(name, f.type) for name, f in zip(grouped.columns, self.schema, strict=True)]
        )

        def start() -> pa.RecordBatchReader:
            batches = (conform(batch, schema, relation) for batch in grouped.answer.open())
            return pa.RecordBatchReader.from_batches(schema, batches)

        self.scans[grouped.name] = ReaderDataset(relation, schema, start, self.cancelled)
        ctx.register_dataset(grouped.name, self.scans[grouped.name])
        return ctx.sql(datafusion_sql(grouped.named(self.schema.names)))

    def cancel(self) -> None:
        self.cancelled.set()

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        if self.plan.pushed:
            batches = self._pushed()
        elif self.plan.direct:
            batches = self._direct(self.plan.direct)
        else:
            batches = self._federated()
        if self.cache_fill is not None:
            batches = self.cache_fill(batches)
        for batch in batches:
            if self.cancelled.is_set():
                raise SidecarError(ErrorCode.CANCELED, "query cancelled")
            self.rows += batch.num_rows
            yield batch

    def _direct(self, direct: DirectScan) -> Iterator[pa.RecordBatch]:
        """The scan's batches straight to the client: the source applied every filter, so
        only picking, renaming and the LIMIT/OFFSET window are left to do here."""
        dataset = self.scans[direct.scan]
        skip, left = direct.offset, direct.limit
        reader = dataset.open(None)
        try:
            for batch in reader:
                if skip:
                    dropped = min(skip, batch.num_rows)
                    batch, skip = batch.slice(dropped), skip - dropped
                if left is not None:
                    batch = batch.slice(0, left)
                    left -= batch.num_rows
                if batch.num_rows:
                    picked = pa.RecordBatch.from_arrays(
                        [batch.column(name) for name in direct.columns], names=self.schema.names
                    )
                    yield conform(picked, self.schema, dataset.name)
                if left == 0:
                    return
        except Cancelled:
            raise SidecarError(ErrorCode.CANCELED, "query cancelled") from None
        finally:
            reader.close()

    def _federated(self) -> Iterator[pa.RecordBatch]:
        """DataFusion's batches, held to the schema it announced (its batches can differ in
        nullability from the plan, and every wire format promises one schema)."""
        with self._errors():
            stream = StoppableStream(self._frame(), self.cancelled)
            try:
                for record_batch in stream:
                    if not record_batch.schema.equals(self.schema):
                        record_batch = conform(record_batch, self.schema, "the query")
                    yield record_batch
            except Cancelled:
                raise SidecarError(ErrorCode.CANCELED, "query cancelled") from None
            finally:
                stream.close()

    def _pushed(self) -> Iterator[pa.RecordBatch]:
        """The source's answer, typed as DataFusion planned it: a query's result types must not
        depend on whether it happened to be pushed down."""
        assert self.plan.pushed is not None
        relations = ", ".join(self.plan.shown_relations)
        beneath = next((scan.view for scan in self.plan.scans if scan.hidden), None)
        self._pushed_queries += 1
        pushed = self.plan.pushed
        query = pushed.connector.query_small if pushed.small else pushed.connector.query
        try:
            reader = query(pushed.sql, self.cancelled)
        except SourceError:
            if self.cancelled.is_set():
                raise SidecarError(ErrorCode.CANCELED, "query cancelled") from None
            # The source could not take the query as written (a construct its dialect lacks):
            # DataFusion runs it over ordinary scans instead, and reports any real outage.
            self.plan.pushed = None
            yield from self._federated()
            return
        try:
            for batch in reader:
                yield conform(batch, self.schema, relations)
        except SourceError as error:
            if self.cancelled.is_set():
                raise SidecarError(ErrorCode.CANCELED, "query cancelled") from None
            raise source_failed(relations, error, beneath, self.plan.unseen) from None
        finally:
            reader.close()

    def reader(self) -> pa.RecordBatchReader:
        return pa.RecordBatchReader.from_batches(self.schema, iter(self))

    @property
    def relations(self) -> list[str]:
        return self.plan.relations

    @property
    def source_queries(self) -> int:
        """Requests sent to sources (or their local copies) so far, for the audit log."""
        return self._pushed_queries + sum(
            1 for scan in self.scans.values() if scan.stats.opened and not _in_memory(scan)
        )

    def logical_plan(self) -> str:
        with self._errors():
            return self.rename(self._frame().optimized_logical_plan().display_indent())

    def physical_plan(self) -> str:
        with self._errors():
            return self.rename(self._frame().execution_plan().display_indent())

    def rename(self, text: str, shown: bool = False) -> str:
        """DataFusion's text with each scan called by its relation; `shown`: as the caller
        may name it (a dataset it cannot see, by the view it reads it through)."""
        names = {
            scan.name: scan.view if shown and scan.hidden and scan.view else scan.relation
            for scan in self.plan.scans
        }
        return SCAN_NAME.sub(lambda m: names.get(m.group(0), m.group(0)), text)

    def _errors(self) -> _ErrorTranslation:
        return _ErrorTranslation(self)


class _ErrorTranslation:
    """Turns DataFusion's exceptions into SidecarErrors while a query plans or runs."""

    def __init__(self, result: QueryResult) -> None:
        self.result = result

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: object
    ) -> bool:
        if error is None or isinstance(error, SidecarError | GeneratorExit):
            return False
        for dataset in self.result.scans.values():
            if dataset.error is not None:
                raise dataset.error from None
        if self.result.cancelled.is_set():
            raise SidecarError(ErrorCode.CANCELED, "query cancelled") from None
        if isinstance(error, Exception):
            raise translate(self.result.rename(str(error), shown=True)) from None
        if type(error).__name__ == "PanicException" and "offset overflow" in str(error):
            raise SidecarError(  # a limit of Arrow's, not a bug: it panics instead of failing
                ErrorCode.OUT_OF_MEMORY,
                "a string, binary or list column of the answer grew past 2 GiB, the most one "
                "Arrow column of a batch may hold",
                hint="put fewer or smaller values into one (string_agg, array_agg, repeat), or "
                "ask for fewer rows at a time (LIMIT)",
            ) from None
        if type(error).__name__ == "PanicException" and str(error) == REREAD_PANIC:
            raise SidecarError(
                ErrorCode.OUT_OF_MEMORY,
                "a join without an equality to join on (a cross join, or ON/WHERE comparing "
                "with <, > or an expression) needed more rows in memory than its share of "
                "runtime.memory_limit",
                hint="join on an equality (a.k = b.k), filter or aggregate each side before "
                "joining, or raise runtime.memory_limit",
            ) from None
        if type(error).__name__ == "PanicException":  # a Rust panic must not end the process
            raise SidecarError(
                ErrorCode.INTERNAL,
                REDACTOR.redact(f"the query engine failed: {error}"),
                hint="this is a bug in the engine; rephrasing the query may avoid it",
            ) from None
        return False


def _in_memory(scan: StreamDataset) -> bool:
    """A system table (information_schema, EXPLAIN's rows): no source is asked for it."""
    return isinstance(scan, ConnectorDataset) and isinstance(scan.connector, TableConnector)


def named(schema: pa.Schema, names: list[str]) -> pa.Schema:
    """`schema` under `names` (the result's names before arithmetic was checked)."""
    if len(names) != len(schema):
        return schema
    return pa.schema([field.with_name(name) for field, name in zip(schema, names, strict=True)])


def conform(batch: pa.RecordBatch, schema: pa.Schema, relations: str) -> pa.RecordBatch:
    if batch.num_columns != len(schema):
        raise SidecarError(
            ErrorCode.QUERY,
            f"{relations}: the source returned {batch.num_columns} columns, "
            f"the query plans {len(schema)}",
            hint="name the columns explicitly instead of SELECT *",
        )
    columns = []
    for column, field in zip(batch.columns, schema, strict=True):
        if pa.types.is_interval(column.type) and pa.types.is_duration(field.type):
            column = _duration(column, field.type, relations)
        try:
            columns.append(column.cast(field.type) if column.type != field.type else column)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
            if pa.types.is_signed_integer(field.type) and "out of bounds" in str(error):
                # a source that widens (DuckDB sums BIGINTs as HUGEINT) past the planned type
                raise _out_of_range(field.type.bit_width) from None
            raise SidecarError(
                ErrorCode.QUERY,
                f"{relations}: the source's result does not fit the planned types: {error}",
                hint="add explicit CASTs to the query",
            ) from None
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _duration(column: pa.Array, to: pa.DataType, relations: str) -> pa.Array:
    """A source's interval (DuckDB answers `timestamp - timestamp` with one) as the duration
    DataFusion plans: its days and nanoseconds; a month has no length, so one with months
    is refused."""
    parts = np.frombuffer(column.buffers()[1], MONTH_DAY_NANO)[
        column.offset : column.offset + len(column)
    ]
    if parts["months"].any():
        raise SidecarError(
            ErrorCode.QUERY,
            f"{relations}: the source answered an interval of months where a duration is planned",
            hint="subtract timestamps without calendar months, or cast the result to INTERVAL",
        )
    nanoseconds = parts["days"].astype(np.int64) * 86_400_000_000_000 + parts["nanoseconds"]
    nulls = column.is_null().to_numpy(zero_copy_only=False)
    return pa.array(nanoseconds, pa.duration("ns"), mask=nulls).cast(to)


def _out_of_range(bits: int) -> SidecarError:
    return SidecarError(
        ErrorCode.QUERY,
        checked.out_of_range(bits),
        hint="compute in a wider type: CAST an operand to NUMERIC (or BIGINT)",
    )


def translate(message: str) -> SidecarError:
    message = message.strip().rsplit("caused by\n", 1)[-1]
    if NO_MATCH in message:
        message = message[message.index(NO_MATCH) :]
    message = REDACTOR.redact(NOISE.sub("", message.strip()))
    unreadable = UNREADABLE.search(message)
    if unreadable is not None and unreadable.group(2) in DATETIME_NAMES:
        return _unreadable_datetime(unreadable.group(1), DATETIME_NAMES[unreadable.group(2)])
    timestamp = UNREADABLE_TIMESTAMP.search(message)
    if timestamp is not None:
        return _unreadable_datetime(timestamp.group(1), "timestamp")
    if unreadable is not None and unreadable.group(2) in PG_TYPE_NAMES:
        text, kind = unreadable.group(1), PG_TYPE_NAMES[unreadable.group(2)]
        if unreadable.group(2).startswith("Int") and INTEGER_TEXT.fullmatch(text):
            return SidecarError(  # digits past the type's range, as PostgreSQL words it
                ErrorCode.QUERY,
                f'value "{text}" is out of range for type {kind}',
                hint="cast to a wider type: BIGINT, or NUMERIC",
            )
        return SidecarError(
            ErrorCode.QUERY,
            f'invalid input syntax for type {kind}: "{text}"',
            hint=f"give a {kind} the text can be read as, or cast only the values that are",
        )
    for pattern in OUT_OF_RANGE:
        found = pattern.search(message)
        if found is not None:
            kind = found.group(1)
            return _out_of_range(int(kind) if kind.isdigit() else checked.BITS[kind])
    for pattern, words, hint in POSTGRES_WORDS:
        if pattern.match(message):
            return SidecarError(ErrorCode.QUERY, words, hint=hint or _hint(None))
    code = next((code for pattern, code in DATAFUSION_CODES if pattern.search(message)), None)
    return SidecarError(code or ErrorCode.QUERY, message, hint=_hint(code))


def _unreadable_datetime(text: str, kind: str) -> SidecarError:
    """A cast's unreadable `text` of type `kind` as PostgreSQL words it: a field out of range
    when the text has a date's or time's form, else not a `kind` at all."""
    if DATETIME_FORM.fullmatch(text):
        return SidecarError(
            ErrorCode.QUERY,
            f'date/time field value out of range: "{text}"',
            hint="check the month, day and time fields: each must exist in the calendar",
        )
    return SidecarError(
        ErrorCode.QUERY,
        f'invalid input syntax for type {kind}: "{text}"',
        hint=f"write the {kind} as ISO 8601 text, e.g. '{DATETIME_EXAMPLES[kind]}'",
    )


def _hint(code: ErrorCode | None) -> str:
    if code is ErrorCode.UNDEFINED_COLUMN:
        return "check the column names with DESCRIBE <table> or information_schema.columns"
    if code is ErrorCode.AMBIGUOUS_COLUMN:
        return "qualify the column with its table or alias (t.column)"
    if code is ErrorCode.SYNTAX:
        return "the statement is not valid SQL here; the PostgreSQL dialect is expected"
    if code is ErrorCode.OUT_OF_MEMORY:
        return (
            "the query needs more memory than runtime.memory_limit leaves it: filter or "
            "aggregate before collecting (array_agg, string_agg, DISTINCT over many rows), add "
            "a LIMIT, or raise runtime.memory_limit"
        )
    return "fix the query and retry; EXPLAIN <query> shows how it is planned"
