"""The one interface every source implements.

A connector knows its source and nothing else: it turns a scan request (columns, predicates,
limit) into a stream of Arrow record batches. The engine decides what to ask for; the connector
says what it can honour, so the engine can explain, per source, what was pushed down.

Predicates are sqlglot expressions over *unqualified* columns named exactly as in the dataset's
schema, compared with literals. sqlglot is the lingua franca because it transpiles to every SQL
dialect a source may speak, and it is a plain tree that document and search sources can walk.
"""

from __future__ import annotations

import itertools
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
from sqlglot import exp

from connectors.params import Params, ParamsError, canonical, checked
from connectors.params import parse_duration as parse_duration


class SourceError(Exception):
    """The source failed or refused; the message is the source's own, safe to show the agent.
    `retry_after` is the wait in seconds the source asked for (a rate limit), if it did."""

    def __init__(
        self, message: str, *, hint: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.hint = hint
        self.retry_after = retry_after


@dataclass(frozen=True)
class DatasetSource:
    """Everything a connector is told about its dataset.

    `location` is the part of `from:` after the scheme (`file:data/x.parquet` -> `data/x.parquet`;
    for http(s) it is the whole URL). `params` already have their `${env:..}`/`${file:..}` secrets
    resolved, so a connector must never echo them in errors or logs.
    """

    name: str
    scheme: str
    location: str
    params: Mapping[str, Any] = field(default_factory=dict)
    declared_schema: pa.Schema | None = None
    base_dir: Path = field(default_factory=Path.cwd)
    timeout: float = 30.0


class Cancellation:
    """A query's cancellation as its scans see it.

    Checked between batches (`is_set`), and for a source that works in native code between
    batches (a SQLite or DuckDB statement scanning for its first match) a way to stop that work
    at once: `on_cancel(connection.interrupt)` for as long as the statement runs.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._stops: dict[int, Callable[[], None]] = {}
        self._keys = itertools.count()

    def is_set(self) -> bool:
        return self._event.is_set()

    def set(self) -> None:
        """Cancel: every registered stop runs now, each once."""
        with self._lock:
            self._event.set()
            stops, self._stops = list(self._stops.values()), {}
            for stop in stops:
                stop()

    def on_cancel(self, stop: Callable[[], None]) -> Callable[[], None]:
        """Run `stop` when the query is cancelled (at once if it already is); the function
        returned unregisters it, after which it never runs."""
        with self._lock:
            if self._event.is_set():
                stop()
                return lambda: None
            key = next(self._keys)
            self._stops[key] = stop
        return lambda: self._forget(key)

    def _forget(self, key: int) -> None:
        with self._lock:
            self._stops.pop(key, None)


@dataclass(frozen=True)
class ScanRequest:
    """What the engine asks of a source for one table reference in one query.

    `filters` are conjuncts the connector said it accepts; `limit` is only set when every
    predicate of the query on this table was accepted, so the source may stop early. `order_by`
    (unqualified `exp.Ordered` keys) comes only with a limit, to connectors that support
    ordering: a top-N the source answers from its indexes instead of shipping every row.
    `cancellation` is the query's, for sources that can stop a running statement.
    """

    projection: Sequence[str] | None = None
    filters: Sequence[exp.Expression] = ()
    limit: int | None = None
    order_by: Sequence[exp.Ordered] = ()
    cancellation: Cancellation | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class AggregateScan:
    """A grouped query's core, answered by the source: one row per group instead of every row.

    `open` starts it (only when the query runs); its columns follow the core's select list,
    and the engine names and types them as the query would have without the source's help.
    `description` is what EXPLAIN shows, e.g. the pipeline sent.
    """

    schema: pa.Schema
    description: str
    open: Callable[[], pa.RecordBatchReader]


class Connector(ABC):
    """A source of one dataset.

    Subclasses set `schemes` and implement `schema` and `scan`. They override `accepts_filter`
    and set `supports_limit` to take work off the engine; the defaults (no pushdown) are always
    correct because the engine re-applies every predicate and limit above the scan. A source
    that can group and aggregate overrides `aggregate`.
    """

    schemes: ClassVar[tuple[str, ...]] = ()
    supports_limit: ClassVar[bool] = False
    supports_order: ClassVar[bool] = False

    def __init__(self, source: DatasetSource) -> None:
        """Keeps the source with its params checked (secrets resolved by now) and under the
        sidecar's names, so a connector never sees a Spice alias or a mistyped value."""
        try:
            params = checked(source.scheme, source.params)
        except ParamsError as error:
            raise SourceError(str(error), hint=error.hint) from None
        self.params: Params | None = params
        self.source = source if params is None else replace(source, params=canonical(params))

    @abstractmethod
    def schema(self) -> pa.Schema:
        """The dataset's Arrow schema: declared, or inferred from the source."""

    @abstractmethod
    def scan(self, request: ScanRequest) -> pa.RecordBatchReader:
        """Stream the rows: columns in `request.projection` order (all columns if None)."""

    def accepts_filter(self, predicate: exp.Expression) -> bool:
        """Whether `scan` applies this predicate itself (exactly, at the source)."""
        return False

    def aggregate(self, select: exp.Select) -> AggregateScan | None:
        """The answer to a grouped query's core if the source computes it exactly as SQL does,
        else None (the engine then groups the scanned rows itself).

        `select` reads this dataset alone: a select list, FROM the dataset, maybe WHERE and
        GROUP BY with plain keys, its columns unqualified and named as in `schema`; ORDER BY,
        LIMIT, OFFSET, HAVING and DISTINCT are the engine's. Called while planning, before the
        engine has checked the query (it reports errors from its own plan), so decide without
        asking the source and answer None to anything unexpected. SQL's rules are the bar: NULL
        keys form one group, COUNT(x) skips NULLs, SUM of no values is NULL, no GROUP BY means
        one row even over no rows.
        """
        return None

    def describe(self, request: ScanRequest) -> str:
        """What this scan sends to the source, as shown by EXPLAIN."""
        parts = [f"columns={list(request.projection) if request.projection is not None else '*'}"]
        if request.filters:
            parts.append("filters=[" + ", ".join(f.sql("postgres") for f in request.filters) + "]")
        if request.limit is not None:
            parts.append(f"limit={request.limit}")
        return " ".join(parts)

    def row_count(self) -> int | None:
        """The number of rows if the source knows it cheaply, for status pages."""
        return None

    def answers_whole_queries(self) -> bool:
        """Whether a SQL source may be sent a whole query over its tables; a source that must
        see each scan (to fall back elsewhere, say) says no."""
        return True

    def unique_keys(self) -> Sequence[Sequence[str]]:
        """Column sets whose values name at most one row (a primary key, a unique index): an
        equality on every column of one bounds a lookup's answer to a row."""
        return ()

    def kept_rows(
        self,
        key: str,
        values: Sequence[Any],
        columns: Sequence[str],
        schema: pa.Schema,
        most: int | None = None,
    ) -> pa.RecordBatch | None:
        """The rows whose `key` equals one of `values` (their `columns`, in scan order, as
        `schema` names and types them) when the connector holds them in memory now: answered
        without reading the source, so an event loop may ask (the keyed-lookup lane,
        sidecar/engine/lookups.py). None when it would have to read, a column does not cast
        to the schema's type, or the rows are more than `most`: the query is then planned and
        scanned as any other."""
        return None

    def label(self) -> str:
        """What EXPLAIN calls this source when a whole query is sent to it."""
        return self.source.scheme

    def invalidate(self) -> None:
        """Forget what was cached about the source (an object store's listing), so the next
        scan sees it as it is now; called before each refresh of a local copy."""

    def close(self) -> None:
        """Release connections and file handles."""


def project(schema: pa.Schema, projection: Sequence[str] | None) -> pa.Schema:
    """The schema of a scan's output: the dataset schema narrowed to the projection."""
    if projection is None:
        return schema
    return pa.schema([schema.field(name) for name in projection])
