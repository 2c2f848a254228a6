"""`engine: sqlite`: the dataset's copy in SQLite, through Python's standard `sqlite3` module.

Agent loops are often row-oriented: look a row up by its key, read the last few by time. SQLite
answers those from a B-tree index (the primary key clusters the rows), in a file that survives
restarts and needs a few MB of memory; DuckDB's columnar engine is built for scans and
aggregates instead (benchmarks/README.md has the figures).

`mode: file` is one database file per dataset in WAL mode: a writer never blocks readers, and
each reader sees the snapshot its statement started on. `mode: memory` is an in-memory database
(SQLite's memdb VFS, shared by name between the copy's connections). memdb has no WAL, so
writing where readers read would make them wait; instead every change builds a new generation
(a full refresh an empty one, an append or a retention pass a copy of the current one made with
the backup API) and the copy then points at it. A reader keeps the generation its statement
started on, which lives until its last connection closes.

Either way a refresh is one transaction: a full refresh loads a new table, drops the old one and
renames the new one into its place; an append upserts by the primary key. Readers see the old
rows or the new ones, never a mix, and a failed refresh leaves the copy as it was.

Each reader runs on a connection of its own, taken from a small pool: a sqlite3 connection can
move between threads (`check_same_thread=False`) but runs one statement at a time. A cancelled
query interrupts its connection (`Connection.interrupt()`), stopping SQLite mid-statement.

Queries: a scan sends SQLite its columns, filters, order and limit (sqlglot writes the SQLite
dialect; `sqlite_values` keeps each comparison exact on the stored values), so point lookups and
ranges use the indexes; everything else is the engine's, over the scan's Arrow batches. A whole
query is never sent: SQLite's functions, casts and arithmetic are not PostgreSQL's.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import sqlite3
import threading
import uuid
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.dataset as ds
from sqlglot import exp

from accelerators.connector import CopyConnector, or_source
from accelerators.refresh import (
    COLUMNS_TABLE,
    REFRESHES_COLUMNS,
    REFRESHES_TABLE,
    LocalCopy,
    RefreshError,
    arrow_filter,
)
from accelerators.sqlite_values import Column, Unstorable, refusal
from connectors.base import (
    Cancellation,
    Connector,
    DatasetSource,
    ScanRequest,
    SourceError,
    project,
)
from connectors.predicates import Untranslatable
from connectors.sql import SqlConnector
from connectors.sql_render import RULES, Rules
from sidecar.config import Acceleration as Settings

BATCH_ROWS = 65_536
IDLE_READERS = 8
BUSY_SECONDS = 30.0
STAGING_SUFFIX = "__load"


class Database:
    """One SQLite database of a copy and the connections that use it.

    `writer` is the refresh's (it runs under the copy's lock); each reader checks a connection
    of its own out for one statement and gives it back after.
    """

    def __init__(self, uri: str, *, wal: bool) -> None:
        self.uri = uri
        self.writer = self.connect()
        if wal:
            self.writer.execute("PRAGMA journal_mode = WAL")
            self.writer.execute("PRAGMA synchronous = NORMAL")
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    def connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self.uri,
            uri=True,
            timeout=BUSY_SECONDS,
            isolation_level=None,
            check_same_thread=False,
        )
        # LIKE as the engine evaluates it: case matters (SQLite's default ignores ASCII case).
        connection.execute("PRAGMA case_sensitive_like = ON")
        return connection

    def checkout(self) -> sqlite3.Connection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return self.connect()

    def checkin(self, connection: sqlite3.Connection) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < IDLE_READERS:
                self._idle.append(connection)
                return
        connection.close()

    def close(self) -> None:
        """Close the writer and idle readers; busy readers close when they are given back
        (an in-memory generation lives until then)."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()
        self.writer.close()


class SqliteCopy(LocalCopy):
    """The SQLite copy of one dataset: a table named after it, its Arrow schema kept beside it
    (so types come back exactly, also after a restart)."""

    def __init__(self, name: str, settings: Settings, path: Path | None) -> None:
        super().__init__(name, settings)
        self.path = path
        self.database: Database | None = None
        self._schema: pa.Schema | None = None
        self._known: tuple[int, pa.Schema] | None = None  # a file's schema_version and columns
        self._swap = threading.Lock()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.database = Database(path.resolve().as_uri(), wal=True)
            self._schema = _stored_schema(self.database.writer, name)
            if self._schema is not None:
                self.status.rows = self._count()
                self._kept_refresh(self._refreshes().fetchone())

    @property
    def loaded(self) -> bool:
        return self._schema is not None

    @property
    def table(self) -> str:
        return _quote(self.name)

    def schema(self) -> pa.Schema:
        assert self._schema is not None, "schema() of a sqlite copy before its first load"
        return self._schema

    def refusal(self, schema: pa.Schema) -> str | None:
        projection = self._projection(schema)
        for field in schema:
            reason = refusal(field.type)
            if reason is not None and (projection is None or field.name in projection):
                return (
                    f"column {field.name} ({field.type}) cannot be copied to SQLite exactly: "
                    f"{reason}; use engine: duckdb or leave the column out of refresh_sql"
                )
        return None

    def read(
        self, sql: str, schema: pa.Schema | None = None, cancellation: Cancellation | None = None
    ) -> pa.RecordBatchReader:
        """Stream `sql`'s rows from a connection of its own, typed as the copy holds them (or
        as `schema`, the connector's types, where those differ)."""
        with self._swap:
            database, held = self.database, self._schema
            assert database is not None and held is not None, "read of an unloaded sqlite copy"
            connection = database.checkout()
        forget = cancellation.on_cancel(connection.interrupt) if cancellation else _nothing
        release = _Release(database, connection, forget)
        try:
            if self.path is not None:
                connection.execute("BEGIN")
                held = self._snapshot_schema(connection)
            cursor = connection.execute(sql)
        except sqlite3.Error as error:
            release()
            raise SourceError(f"the local sqlite copy cannot run this query: {error}") from None
        release.cursor = cursor
        names = [entry[0] for entry in cursor.description]
        unknown = [name for name in names if name not in held.names]
        if unknown:
            release()
            raise SourceError(f"the local sqlite copy has no column {unknown[0]!r}")
        columns = [Column(held.field(name)) for name in names]
        wanted = schema if schema is not None else pa.schema([c.field for c in columns])
        batches = _batches(cursor, columns, wanted, release)
        weakref.finalize(batches, release)  # dropped unread, it still gives its connection back
        return pa.RecordBatchReader.from_batches(wanted, batches)

    def _snapshot_schema(self, connection: sqlite3.Connection) -> pa.Schema:
        """The columns of the copy as the read transaction open on `connection` sees them: a
        full refresh that changed them may have committed since the reader set out."""
        version = connection.execute("PRAGMA schema_version").fetchone()[0]
        known = self._known
        if known is None or known[0] != version:
            schema = _stored_schema(connection, self.name)
            if schema is None:
                raise sqlite3.OperationalError(f"no copy of {self.name} in {self.path}")
            known = self._known = (version, schema)
        return known[1]

    def _refreshes(self) -> sqlite3.Cursor:
        """The file's REFRESHES_TABLE row of this copy (the table made if missing)."""
        assert self.database is not None
        writer = self.database.writer
        writer.execute(f"CREATE TABLE IF NOT EXISTS {REFRESHES_TABLE} {REFRESHES_COLUMNS}")
        return writer.execute(
            f"SELECT refreshed_at, seconds FROM {REFRESHES_TABLE} WHERE name = ?",
            (self.name.lower(),),
        )

    def _keep_refresh(self) -> None:
        if self.path is not None:
            self._refreshes()
            assert self.database is not None
            self.database.writer.execute(
                f"INSERT OR REPLACE INTO {REFRESHES_TABLE} VALUES (?, ?, ?)",
                (self.name.lower(), self.status.last_refresh_at, self.status.last_refresh_seconds),
            )

    def close(self) -> None:
        with self._swap:
            database, self.database = self.database, None
        if database is not None:
            database.close()

    def apply_retention(self) -> int:
        """Delete rows whose time_column is older than retention_period; how many went."""
        period, column = self.settings.retention_period, self.settings.time_column
        if period is None or column is None or self._schema is None:
            return 0
        cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=period)
        condition = f"{_quote(column)} < ?"
        bound = [_encoded_cutoff(Column(self._schema.field(column)), cutoff)]
        with self._lock:
            if not self._scalar(f"SELECT count(*) FROM {self.table} WHERE {condition}", bound):
                return 0

            def delete(writer: sqlite3.Connection) -> int:
                return writer.execute(f"DELETE FROM {self.table} WHERE {condition}", bound).rowcount

            deleted = self._change(delete, copy_current=True)
            self.status.rows = self._count()
        return int(deleted)

    def _refresh_once(self, connector: Connector, schema: pa.Schema) -> None:
        append = self.settings.refresh_mode == "append" and self.loaded
        conditions = self._working_set(schema)
        if append:
            conditions.append(self._since_high_water_mark())
        conditions = [c for c in conditions if not (isinstance(c, exp.Boolean) and c.this)]
        pushed = [c for c in conditions if connector.accepts_filter(c)]
        reader = self._scan(connector, schema, pushed)
        try:
            refused = self.refusal(reader.schema)
            if refused is not None:
                raise RefreshError(refused)
            keep = arrow_filter(conditions, reader.schema, "sqlite")
            rows = reader if keep is None else ds.Scanner.from_batches(reader, filter=keep)
            if append:
                self._change(functools.partial(self._upsert, rows=rows), copy_current=True)
            else:
                replace = functools.partial(self._replace, rows=rows)
                self._change(replace, copy_current=False, schema=reader.schema)
        finally:
            reader.close()

    def _change(
        self,
        write: Callable[[sqlite3.Connection], Any],
        *,
        copy_current: bool,
        schema: pa.Schema | None = None,
    ) -> Any:
        """Run `write` in one transaction: in the file, or in a new in-memory generation (empty,
        or a copy of the current one) that then replaces the current one; `schema` is the
        copy's columns after it."""
        if self.path is not None:
            assert self.database is not None
            result = self._transaction(self.database.writer, write)
            if schema is not None:
                with self._swap:
                    self._schema = schema
            return result
        generation = Database(f"file:/sidecar-{uuid.uuid4().hex}?vfs=memdb", wal=False)
        try:
            if copy_current and self.database is not None:
                self.database.writer.backup(generation.writer)
            result = self._transaction(generation.writer, write)
        except BaseException:
            generation.close()
            raise
        with self._swap:
            retired, self.database = self.database, generation
            if schema is not None:
                self._schema = schema
        if retired is not None:
            retired.close()
        return result

    def _transaction(
        self, writer: sqlite3.Connection, write: Callable[[sqlite3.Connection], Any]
    ) -> Any:
        try:
            writer.execute("BEGIN IMMEDIATE")
            result = write(writer)
            writer.execute("COMMIT")
            return result
        except (sqlite3.Error, Unstorable, pa.ArrowException) as error:
            if writer.in_transaction:
                writer.execute("ROLLBACK")
            raise RefreshError(f"loading {self.name} into sqlite failed: {error}") from None
        except BaseException:
            if writer.in_transaction:
                writer.execute("ROLLBACK")
            raise

    def _replace(self, writer: sqlite3.Connection, rows: pa.RecordBatchReader | ds.Scanner) -> None:
        """The new rows in a table of their own that then takes the dataset's name."""
        schema = rows.projected_schema if isinstance(rows, ds.Scanner) else rows.schema
        staging = _quote(self.name + STAGING_SUFFIX)
        writer.execute(f"DROP TABLE IF EXISTS {staging}")
        writer.execute(self._create(staging, schema))
        columns = [Column(field) for field in schema]
        insert = f"INSERT INTO {staging} VALUES ({', '.join('?' * len(columns))})"
        for batch in _record_batches(rows):
            writer.executemany(insert, _rows(batch, columns))
        writer.execute(f"DROP TABLE IF EXISTS {self.table}")
        writer.execute(f"ALTER TABLE {staging} RENAME TO {self.table}")
        for position, (column, kind) in enumerate(self.settings.indexes.items()):
            unique = "UNIQUE " if kind == "unique" else ""
            name = _quote(f"{self.name}__index{position}")
            writer.execute(f"CREATE {unique}INDEX {name} ON {self.table} ({_quote(column)})")
        writer.execute(
            f"CREATE TABLE IF NOT EXISTS {COLUMNS_TABLE} (name TEXT PRIMARY KEY, arrow BLOB) STRICT"
        )
        writer.execute(
            f"INSERT OR REPLACE INTO {COLUMNS_TABLE} VALUES (?, ?)",
            (self.name.lower(), schema.serialize().to_pybytes()),
        )

    def _upsert(self, writer: sqlite3.Connection, rows: pa.RecordBatchReader | ds.Scanner) -> None:
        """Append the rows; with a primary key, a row whose key is there replaces it
        (on_conflict: upsert) or is dropped (on_conflict: drop)."""
        schema = rows.projected_schema if isinstance(rows, ds.Scanner) else rows.schema
        if not schema.equals(self.schema()):
            raise RefreshError(
                f"the source's columns of {self.name} changed; an append cannot change the "
                "copy's columns: refresh it with refresh_mode: full once"
            )
        columns = [Column(field) for field in schema]
        names = ", ".join(_quote(c.field.name) for c in columns)
        insert = f"INSERT INTO {self.table} ({names}) VALUES ({', '.join('?' * len(columns))})"
        keys = self.settings.primary_key or []
        if keys:
            others = [c.field.name for c in columns if c.field.name not in keys]
            action = "DO NOTHING"
            if self.settings.on_conflict == "upsert" and others:
                action = "DO UPDATE SET " + ", ".join(
                    f"{_quote(name)} = excluded.{_quote(name)}" for name in others
                )
            insert += f" ON CONFLICT ({', '.join(_quote(k) for k in keys)}) {action}"
        for batch in _record_batches(rows):
            writer.executemany(insert, _rows(batch, columns))

    def _create(self, table: str, schema: pa.Schema) -> str:
        """A STRICT table (SQLite refuses a value of the wrong class instead of keeping it);
        a primary key clusters the rows by it (WITHOUT ROWID), so a lookup is one B-tree
        search, and makes its columns NOT NULL as in every other engine."""
        definitions = [f"{_quote(c.field.name)} {c.storage}" for c in map(Column, schema)]
        options = "STRICT"
        if self.settings.primary_key:
            keys = ", ".join(_quote(k) for k in self.settings.primary_key)
            definitions.append(f"PRIMARY KEY ({keys})")
            options += ", WITHOUT ROWID"
        return f"CREATE TABLE {table} ({', '.join(definitions)}) {options}"

    def _high_water_mark(self) -> Any:
        column = Column(self.schema().field(self.settings.time_column or ""))
        if not column.comparable:
            raise RefreshError(f"time_column {column.field.name} is not ordered in sqlite")
        stored = self._scalar(f"SELECT max({_quote(column.field.name)}) FROM {self.table}")
        return column.decode(pa.array([stored], column.read_type))[0].as_py()

    def _count(self) -> int:
        return int(self._scalar(f"SELECT count(*) FROM {self.table}"))

    def _scalar(self, sql: str, parameters: list[Any] | None = None) -> Any:
        with self._swap:
            assert self.database is not None
            database = self.database
            connection = database.checkout()
        try:
            row = connection.execute(sql, parameters or []).fetchone()
        finally:
            database.checkin(connection)
        return row[0] if row else None


class SqliteConnector(CopyConnector, SqlConnector):
    """Scans of the SQLite copy: projection, exact filters, order and limit run in SQLite."""

    schemes: ClassVar[tuple[str, ...]] = ()
    dialect: ClassVar[str] = "sqlite"
    copy: SqliteCopy

    def __init__(
        self,
        source: DatasetSource,
        copy: SqliteCopy,
        schema: pa.Schema,
        fallback: Connector | None = None,
    ) -> None:
        super().__init__(source, copy, schema, fallback)
        held = copy.schema()
        self._comparable = pa.schema(
            [f for f in schema if f.name in held.names and Column(held.field(f.name)).comparable]
        )

    @property
    def rules(self) -> Rules:
        return COPY_RULES

    def source_key(self) -> str:
        return f"sidecar-sqlite:{self.copy.name.lower()}"

    def table(self) -> exp.Table:
        return exp.table_(exp.to_identifier(self.copy.name, quoted=True))

    def query(self, sql: str, cancellation: Cancellation | None = None) -> pa.RecordBatchReader:
        return self.copy.read(sql, None, cancellation)

    def scan(self, request: ScanRequest) -> pa.RecordBatchReader:
        """The copy's rows, typed as the dataset; with on_zero_results: use_source, the
        source's when the copy has none."""
        wanted = project(self.schema(), request.projection)
        reader = self.copy.read(self.select(request), wanted, request.cancellation)
        return or_source(reader, self.fallback, request)

    def answers_whole_queries(self) -> bool:
        return False

    def label(self) -> str:
        return f"the local sqlite copy ({self.copy.settings.mode})"

    def describe(self, request: ScanRequest) -> str:
        return f"accelerated (sqlite, {self.copy.settings.mode}): {self.select(request)}"


def _stored_literal(field: pa.Field, value: pa.Scalar) -> Any:
    try:
        return Column(field).literal(value)
    except Unstorable as error:
        raise Untranslatable(str(error)) from None


# SQLite's BINARY collation orders text by bytes, as the engine does; LIKE matches characters as
# the engine does once case_sensitive_like is on (ILIKE folds only ASCII: it stays in the
# engine); dates, times and decimals are compared as the integers the copy stores for them.
COPY_RULES = dataclasses.replace(RULES["sqlite"], like=True, temporals=True, stored=_stored_literal)


class _Release:
    """Gives a reader's connection back once: when its rows are read, it fails, or it is
    dropped unread."""

    def __init__(
        self, database: Database, connection: sqlite3.Connection, forget: Callable[[], None]
    ) -> None:
        self.database = database
        self.connection: sqlite3.Connection | None = connection
        self.forget = forget
        self.cursor: sqlite3.Cursor | None = None
        self._lock = threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            connection, self.connection = self.connection, None
        if connection is None:
            return
        self.forget()
        try:
            if self.cursor is not None:
                self.cursor.close()
            if connection.in_transaction:
                connection.execute("COMMIT")  # a read: ends the snapshot, keeps nothing
        except sqlite3.Error:
            connection.close()  # never hand on a connection in an unknown state
            return
        self.database.checkin(connection)


def _batches(
    cursor: sqlite3.Cursor, columns: list[Column], schema: pa.Schema, release: _Release
) -> Iterator[pa.RecordBatch]:
    # pyarrow turns the row tuples into one struct array in C++, much faster than splitting
    # them into columns in Python first.
    rows_type = pa.struct([pa.field(f"c{i}", c.read_type) for i, c in enumerate(columns)])
    try:
        while rows := cursor.fetchmany(BATCH_ROWS):
            stored = pa.array(rows, rows_type).flatten()
            arrays = [
                column.decode(values).cast(field.type)
                for column, values, field in zip(columns, stored, schema, strict=True)
            ]
            yield pa.RecordBatch.from_arrays(arrays, schema=schema)
    except sqlite3.Error as error:
        raise SourceError(f"the local sqlite copy failed: {error}") from None
    finally:
        release()


def _record_batches(rows: pa.RecordBatchReader | ds.Scanner) -> Iterator[pa.RecordBatch]:
    return iter(rows.to_batches() if isinstance(rows, ds.Scanner) else rows)


def _rows(batch: pa.RecordBatch, columns: list[Column]) -> Iterator[tuple[Any, ...]]:
    encoded = [column.encode(batch.column(i)) for i, column in enumerate(columns)]
    return zip(*encoded, strict=True)


def _stored_schema(connection: sqlite3.Connection, name: str) -> pa.Schema | None:
    """The Arrow schema of the copy a file already holds, so a restart serves it at once."""
    exists = connection.execute(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN (?, ?)",
        (COLUMNS_TABLE, name),
    ).fetchone()
    if not exists or exists[0] != 2:
        return None
    row = connection.execute(
        f"SELECT arrow FROM {COLUMNS_TABLE} WHERE name = ?", (name.lower(),)
    ).fetchone()
    return pa.ipc.read_schema(pa.py_buffer(row[0])) if row else None


def _encoded_cutoff(column: Column, cutoff: dt.datetime) -> Any:
    """The retention cutoff (an aware UTC time) as the column stores it; for a date column the
    first day kept is the first whose midnight is not before the cutoff, as comparing a date
    with a timestamp decides."""
    arrow_type = column.field.type
    if pa.types.is_timestamp(arrow_type):
        moment = cutoff if arrow_type.tz else cutoff.replace(tzinfo=None)
        return column.literal(pa.scalar(moment, pa.timestamp("us", arrow_type.tz)).cast(arrow_type))
    if pa.types.is_date(arrow_type):
        day = cutoff.date() + dt.timedelta(days=1 if cutoff.time() != dt.time() else 0)
        return column.literal(pa.scalar(day, arrow_type))
    raise RefreshError(f"retention needs a date or timestamp time_column, not {arrow_type}")


def _nothing() -> None:
    return None


def _quote(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql(dialect="sqlite")
