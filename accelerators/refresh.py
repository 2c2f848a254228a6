"""Keeping one dataset's local copy fresh: retries and the working set for every engine;
full and append refreshes and retention for the DuckDB copy.

Readers query a view named after the dataset. A full refresh loads a new versioned table and
repoints the view in one transaction, so a reader sees the old rows or the new ones, never a
mix, and a failed load leaves the old table untouched. An append refresh upserts the rows newer
than the copy's high-water mark (minus an overlap, so rows sharing the last timestamp are not
missed) inside a transaction.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import operator
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import sqlglot
from sqlglot import exp
from tenacity import RetryCallState

from accelerators.store import DuckDbStore
from connectors.base import Connector, ScanRequest, SourceError
from connectors.predicates import to_arrow
from connectors.web.retry import RetryPolicy
from sidecar.config import Acceleration as Settings
from sidecar.secrets import REDACTOR

T = TypeVar("T")
VERSION_SUFFIX = "__v"
COLUMNS_TABLE = "sidecar_columns"
# Each copy's last refresh (when it ended, how long it took), kept in its file: a restart shows
# how old the rows it serves are, which matters most when its source is down and it is stale.
REFRESHES_TABLE = "sidecar_refreshes"
REFRESHES_COLUMNS = "(name VARCHAR PRIMARY KEY, refreshed_at DOUBLE, seconds DOUBLE)"
_names = itertools.count(1)


class RefreshError(Exception):
    """A refresh could not complete; the accelerated copy keeps its previous data."""


# What another attempt may cure: the source failing, or the copy's own write.
RETRIED = (SourceError, RefreshError, OSError)
# A refresh's retries wait at most this long at once and in all: a source that asks for longer
# (a quota resetting in an hour) fails the refresh now, and the next scheduled one tries again.
MAX_RETRY_WAIT = 300.0
MAX_RETRY_TOTAL = 900.0


@dataclass
class Status:
    """What /v1/status shows about an acceleration."""

    mode: str
    engine: str = "duckdb"
    rows: int | None = None
    last_refresh_at: float | None = None
    last_refresh_seconds: float | None = None
    next_refresh_at: float | None = None
    last_error: str | None = None
    refreshing: bool = False
    key_index_bytes: int | None = None  # the keyed-lookup index over the copy, when built


class LocalCopy:
    """A local copy of one dataset and the policy that keeps it fresh, whatever holds it.

    The retries, the status page and the working set are the same for every engine; how rows
    are stored, counted and swapped in is each engine's (`_refresh_once`, `_count`).
    """

    def __init__(self, name: str, settings: Settings) -> None:
        self.name = name
        self.settings = settings
        self.status = Status(mode=settings.mode, engine=settings.engine)
        self.asked_wait: float | None = None  # the last failure's Retry-After, for later tries
        self._lock = threading.Lock()
        self._source_failure: SourceError | None = None
        # A refresh of this process worked (a file copy's kept time says when one last did).
        self.refreshed = False
        self._waiting_since: float | None = None

    @property
    def loaded(self) -> bool:
        raise NotImplementedError

    def schema(self) -> pa.Schema:
        """The copy's columns as it holds them."""
        raise NotImplementedError

    def refresh(self, connector: Connector, schema: pa.Schema, source_lock: threading.Lock) -> None:
        """One refresh with retries (the web sources' policy: backoff from refresh_retry_backoff,
        a rate-limited source's asked wait honoured); raises RefreshError after the last
        attempt fails."""
        policy = RetryPolicy(
            attempts=self.settings.refresh_retry_max_attempts + 1,
            backoff=self.settings.refresh_retry_backoff,
            max_wait=MAX_RETRY_WAIT,
            max_total=MAX_RETRY_TOTAL,
        )
        refused = self.refusal(schema)
        if refused is not None:
            self.status.last_error = refused
            raise RefreshError(refused)
        with self._lock, source_lock:
            self.status.refreshing = True
            started = time.perf_counter()
            connector.invalidate()
            try:
                try:
                    policy.call(
                        lambda: self._attempt(connector, schema),
                        errors=RETRIED,
                        before_sleep=self._failed,
                    )
                except RETRIED as error:
                    self.status.last_error = REDACTOR.redact(str(error))
                    self.asked_wait = getattr(error, "retry_after", None)
                    raise RefreshError(str(error)) from None
                self.status.last_error = None
                self.asked_wait = None
                self.status.last_refresh_at = time.time()
                self.status.last_refresh_seconds = time.perf_counter() - started
                self.status.rows = self._count()
                self.refreshed = True
                self._keep_refresh()
            finally:
                self.status.refreshing = False

    def refusal(self, schema: pa.Schema) -> str | None:
        """Why this engine cannot hold the source's columns exactly (no retry will help), or
        None."""
        return None

    def apply_retention(self) -> int:
        """Delete rows older than retention_period; returns how many went (none here: the
        engine keeps no rows to delete from)."""
        return 0

    def _keep_refresh(self) -> None:
        """Keep the last refresh's time with a copy that outlives the process (REFRESHES_TABLE;
        nothing here: this engine's copies do not)."""

    def _kept_refresh(self, row: tuple[Any, ...] | None) -> None:
        """Show the refresh a copy kept from an earlier process (`row`: its time, duration)."""
        if row is not None:
            self.status.last_refresh_at, self.status.last_refresh_seconds = row

    def close(self) -> None:
        """Release what the copy holds open (connections, files)."""

    def next_delay(self, interval: float) -> float:
        """The interval, jittered so many sidecars do not hit a source in lockstep."""
        spread = interval * self.settings.refresh_jitter
        return max(0.0, interval + random.uniform(-spread, spread))

    def _attempt(self, connector: Connector, schema: pa.Schema) -> None:
        """One load. When the source failed while the engine read its rows, the source's own
        error is what failed: the engine's wraps it in other words and loses what the retry
        needs (a rate limit's asked wait)."""
        self._source_failure = None
        try:
            self._refresh_once(connector, schema)
        except RETRIED:
            failure, self._source_failure = self._source_failure, None
            if failure is None:
                raise
            raise failure from None

    def _scan(
        self, connector: Connector, schema: pa.Schema, pushed: list[exp.Expression]
    ) -> pa.RecordBatchReader:
        """The source's rows for one load (the working set's columns, the filters it took),
        keeping a source error met while they are read, and when the load began to wait for
        the source's next answer (`silent_for`)."""
        request = ScanRequest(projection=self._projection(schema), filters=pushed)
        reader = self._waiting(connector.scan, request)

        def batches() -> Iterator[pa.RecordBatch]:
            read = iter(reader)
            try:
                while (batch := self._waiting(next, read, None)) is not None:
                    yield batch
            except SourceError as error:
                self._source_failure = error
                raise

        return pa.RecordBatchReader.from_batches(reader.schema, batches())

    def _waiting(self, call: Callable[..., T], *args: Any) -> T:
        """`call(*args)`, a wait for the source."""
        self._waiting_since = time.monotonic()
        try:
            return call(*args)
        finally:
            self._waiting_since = None

    def silent_for(self) -> float | None:
        """Seconds the refresh under way has waited for the source's next answer; None while
        it is not waiting for the source (copying, indexing, or no refresh at all)."""
        since = self._waiting_since
        return None if since is None else time.monotonic() - since

    def _refresh_once(self, connector: Connector, schema: pa.Schema) -> None:
        raise NotImplementedError

    def _count(self) -> int:
        raise NotImplementedError

    def _working_set(self, schema: pa.Schema) -> list[exp.Expression]:
        conditions = []
        if self.settings.refresh_sql:
            where = self._refresh_query().args.get("where")
            if where is not None:
                condition = where.this.copy()
                for column in list(condition.find_all(exp.Column)):
                    column.replace(exp.column(column.name, quoted=True))
                conditions.extend(_conjuncts(condition))
        window, column = self.settings.refresh_data_window, self.settings.time_column
        if window is not None and column is not None:
            since = _utcnow() - dt.timedelta(seconds=window)
            conditions.append(exp.column(column, quoted=True) >= _timestamp(since, schema, column))
        return conditions

    def _since_high_water_mark(self) -> exp.Expression:
        """Rows newer than the copy's newest time_column (minus the overlap when a primary key
        makes re-reading rows harmless)."""
        column = self.settings.time_column
        assert column is not None
        mark = self._high_water_mark()
        if mark is None:
            return exp.true()
        overlap = self.settings.refresh_append_overlap if self.settings.primary_key else 0.0
        comparison = exp.GTE if self.settings.primary_key else exp.GT
        if isinstance(mark, dt.datetime | dt.date):
            since = mark - dt.timedelta(seconds=overlap)
            literal = exp.cast(exp.Literal.string(since.isoformat(sep=" ")), _sql_type(mark))
        else:
            literal = exp.Literal.number(mark - overlap)
        return comparison(this=exp.column(column, quoted=True), expression=literal)

    def _high_water_mark(self) -> Any:
        """The newest time_column value the copy holds, as a Python value."""
        raise NotImplementedError

    def _projection(self, schema: pa.Schema) -> list[str] | None:
        if not self.settings.refresh_sql:
            return None
        select = self._refresh_query()
        if any(isinstance(e, exp.Star) for e in select.expressions):
            return None
        wanted = {e.name for e in select.expressions if isinstance(e, exp.Column)}
        return [name for name in schema.names if name in wanted]

    def _refresh_query(self) -> exp.Select:
        assert self.settings.refresh_sql is not None
        statement = sqlglot.parse_one(self.settings.refresh_sql, read="postgres")
        if not isinstance(statement, exp.Select):
            raise RefreshError("refresh_sql must be a SELECT over the dataset")
        return statement

    def _failed(self, state: RetryCallState) -> None:
        """The failure shows on /v1/status while the next attempt waits."""
        error = state.outcome.exception() if state.outcome is not None else None
        self.status.last_error = REDACTOR.redact(str(error))


class Accelerated(LocalCopy):
    """The DuckDB copy of one dataset."""

    def __init__(self, name: str, settings: Settings, store: DuckDbStore, catalog: str | None):
        super().__init__(name, settings)
        self.store = store
        self.view = store.table(catalog, name)
        self._catalog = catalog
        self._version = self._current_version()
        self._schema: pa.Schema | None = None
        self._schema_version: int | None = None
        if self.loaded:
            self.status.rows = self._count()
            refreshes = self._refreshes_table()
            if refreshes is not None:
                self._kept_refresh(
                    self.store.cursor()
                    .execute(
                        f"SELECT refreshed_at, seconds FROM {refreshes} WHERE name = ?",
                        [self.name],
                    )
                    .fetchone()
                )

    @property
    def loaded(self) -> bool:
        return self._version is not None

    def schema(self) -> pa.Schema:
        """The copy's columns with the Arrow types they were loaded with (DuckDB's own types
        lose some, such as a timestamp's time zone name); cached until the next refresh."""
        if self._schema_version != self._version or self._schema is None:
            row = (
                self.store.cursor()
                .execute(f"SELECT arrow FROM {self._columns_table()} WHERE name = ?", [self.name])
                .fetchone()
            )
            if row is not None:
                schema = pa.ipc.read_schema(pa.py_buffer(row[0]))
            else:
                schema = self.store.read(f"SELECT * FROM {self.view.sql('duckdb')} LIMIT 0").schema
            self._schema, self._schema_version = schema, self._version
        return self._schema

    def apply_retention(self) -> int:
        """Delete rows older than retention_period; returns how many went."""
        period, column = self.settings.retention_period, self.settings.time_column
        if period is None or column is None or self._version is None:
            return 0
        cutoff = _utcnow() - dt.timedelta(seconds=period)
        table = self._versioned(self._version).sql("duckdb")
        with self._lock:
            cursor = self.store.cursor()
            cursor.execute("BEGIN")
            deleted = cursor.execute(
                f"DELETE FROM {table} WHERE {_quote(column)} < ?", [cutoff]
            ).fetchone()
            cursor.execute("COMMIT")
            self.status.rows = self._count()
        return int(deleted[0]) if deleted else 0

    def _refresh_once(self, connector: Connector, schema: pa.Schema) -> None:
        append = self.settings.refresh_mode == "append" and self._version is not None
        conditions = self._working_set(schema)
        if append:
            conditions.append(self._since_high_water_mark())
        pushed = [c for c in conditions if connector.accepts_filter(c)]
        reader = self._scan(connector, schema, pushed)
        where = " AND ".join(c.sql("duckdb") for c in conditions) or "TRUE"
        if append:
            self._append(reader, where)
        else:
            self._replace(reader, where)

    def _high_water_mark(self) -> Any:
        column = self.settings.time_column
        assert column is not None and self._version is not None
        table = self._versioned(self._version).sql("duckdb")
        row = self.store.cursor().execute(f"SELECT max({_quote(column)}) FROM {table}").fetchone()
        return row[0] if row else None

    def _replace(self, reader: pa.RecordBatchReader, where: str) -> None:
        version = (self._version or 0) + 1
        staged = self._versioned(version).sql("duckdb")
        cursor = self.store.cursor()
        incoming = f"incoming_{next(_names)}"
        cursor.register(incoming, reader)
        try:
            self._create(cursor, staged, incoming)
            cursor.execute(f"INSERT INTO {staged} SELECT * FROM {incoming} WHERE {where}")
            self._index(cursor, staged)
        except Exception as error:
            cursor.execute(f"DROP TABLE IF EXISTS {staged}")
            raise RefreshError(f"loading {self.name} failed: {error}") from error
        finally:
            cursor.unregister(incoming)
        columns = self._columns_table()
        cursor.execute("BEGIN")
        cursor.execute(
            f"CREATE OR REPLACE VIEW {self.view.sql('duckdb')} AS SELECT * FROM {staged}"
        )
        cursor.execute(
            f"INSERT OR REPLACE INTO {columns} VALUES (?, ?)",
            [self.name, reader.schema.serialize().to_pybytes()],
        )
        if self._version is not None:
            cursor.execute(f"DROP TABLE IF EXISTS {self._versioned(self._version).sql('duckdb')}")
        cursor.execute("COMMIT")
        self._version = version

    def _append(self, reader: pa.RecordBatchReader, where: str) -> None:
        assert self._version is not None
        table = self._versioned(self._version).sql("duckdb")
        verb = "INSERT"
        if self.settings.primary_key:
            verb = (
                "INSERT OR REPLACE" if self.settings.on_conflict == "upsert" else "INSERT OR IGNORE"
            )
        cursor = self.store.cursor()
        incoming = f"incoming_{next(_names)}"
        cursor.register(incoming, reader)
        try:
            cursor.execute("BEGIN")
            cursor.execute(f"{verb} INTO {table} SELECT * FROM {incoming} WHERE {where}")
            cursor.execute("COMMIT")
        except Exception as error:
            cursor.execute("ROLLBACK")
            raise RefreshError(f"appending to {self.name} failed: {error}") from error
        finally:
            cursor.unregister(incoming)

    def _create(self, cursor: duckdb.DuckDBPyConnection, table: str, incoming: str) -> None:
        """The versioned table, with the primary key append-upserts rely on."""
        columns = cursor.execute(f"DESCRIBE SELECT * FROM {incoming}").fetchall()
        definitions = [f"{_quote(name)} {kind}" for name, kind, *_ in columns]
        if self.settings.primary_key:
            keys = ", ".join(_quote(k) for k in self.settings.primary_key)
            definitions.append(f"PRIMARY KEY ({keys})")
        cursor.execute(f"CREATE TABLE {table} ({', '.join(definitions)})")

    def _index(self, cursor: duckdb.DuckDBPyConnection, table: str) -> None:
        for position, (column, kind) in enumerate(self.settings.indexes.items()):
            unique = "UNIQUE " if kind == "unique" else ""
            name = _quote(f"{self.name}_{position}_{self._version or 0}")
            cursor.execute(f"CREATE {unique}INDEX {name} ON {table} ({_quote(column)})")

    def _columns_table(self) -> str:
        """The table keeping each copy's Arrow schema beside its data (made if missing)."""
        table = self.store.table(self._catalog, COLUMNS_TABLE).sql("duckdb")
        self.store.cursor().execute(
            f"CREATE TABLE IF NOT EXISTS {table} (name VARCHAR PRIMARY KEY, arrow BLOB)"
        )
        return table

    def _refreshes_table(self) -> str | None:
        """The table keeping a file copy's last refresh (made if missing); None in memory."""
        if self._catalog is None:
            return None
        table = self.store.table(self._catalog, REFRESHES_TABLE).sql("duckdb")
        self.store.cursor().execute(f"CREATE TABLE IF NOT EXISTS {table} {REFRESHES_COLUMNS}")
        return table

    def _keep_refresh(self) -> None:
        table = self._refreshes_table()
        if table is not None:
            self.store.cursor().execute(
                f"INSERT OR REPLACE INTO {table} VALUES (?, ?, ?)",
                [self.name, self.status.last_refresh_at, self.status.last_refresh_seconds],
            )

    def _versioned(self, version: int) -> exp.Table:
        return self.store.table(self._catalog, f"{self.name}{VERSION_SUFFIX}{version}")

    def _current_version(self) -> int | None:
        """The version a file-mode copy's view reads, so a restart serves it at once.

        Not the newest versioned table: a process killed while a refresh filled its staged
        table (committed empty before the rows go in) left that one behind, newer than the
        one read; appends and retention went to it, and no query saw them. Such leftovers are
        dropped here, before any refresh can run."""
        cursor = self.store.cursor()
        catalog = self._catalog or "memory"
        prefix = f"{self.name}{VERSION_SUFFIX}"
        found = cursor.execute(
            "SELECT sql FROM duckdb_views() WHERE database_name = ? AND view_name = ?",
            [catalog, self.view.name],
        ).fetchone()
        read = re.search(re.escape(prefix) + r"(\d+)(?!\d)", found[0]) if found else None
        current = int(read.group(1)) if read else None
        tables = cursor.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = ? "
            "AND starts_with(table_name, ?)",
            [catalog, prefix],
        ).fetchall()
        for (table,) in tables:
            version = table[len(prefix) :]
            if version.isdigit() and int(version) != current:
                cursor.execute(f"DROP TABLE {self._versioned(int(version)).sql('duckdb')}")
        return current

    def _count(self) -> int:
        row = (
            self.store.cursor()
            .execute(f"SELECT count(*) FROM {self.view.sql('duckdb')}")
            .fetchone()
        )
        return int(row[0]) if row else 0


def arrow_filter(
    conditions: Sequence[exp.Expression], schema: pa.Schema, engine: str
) -> pc.Expression | None:
    """The conjunction of `conditions` as an Arrow filter; a condition Arrow cannot evaluate
    exactly fails the refresh (the planner only pushes filters `accepts_filter` took)."""
    filters = []
    for condition in conditions:
        translated = to_arrow(condition, schema)
        if translated is None:
            raise RefreshError(
                f"the {engine} engine cannot evaluate {condition.sql('postgres')}; "
                "simplify the working set or use engine: duckdb"
            )
        filters.append(translated)
    return functools.reduce(operator.and_, filters) if filters else None


def _conjuncts(condition: exp.Expression) -> list[exp.Expression]:
    condition = condition.unnest()
    return list(condition.flatten()) if isinstance(condition, exp.And) else [condition]


def _quote(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql(dialect="duckdb")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _timestamp(value: dt.datetime, schema: pa.Schema, column: str) -> exp.Expression:
    field = schema.field(column) if column in schema.names else None
    zoned = field is not None and pa.types.is_timestamp(field.type) and field.type.tz is not None
    text = value.isoformat(sep=" ") + ("+00:00" if zoned else "")
    return exp.cast(exp.Literal.string(text), "timestamptz" if zoned else "timestamp")


def _sql_type(value: dt.date) -> str:
    if isinstance(value, dt.datetime):
        return "timestamptz" if value.tzinfo else "timestamp"
    return "date"
