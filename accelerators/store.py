"""The one DuckDB database that holds every accelerated dataset of a sidecar.

Memory-mode datasets live in the in-memory main database; file-mode datasets in their own files,
ATTACHed to the same connection. One database means a query over several accelerated datasets
runs entirely in DuckDB, and MVCC gives each reader a consistent snapshot while refreshes swap
tables underneath.

Readers take a cursor (a connection of DuckDB's own) from a pool and give it back when their
rows are read: opening one costs about as much as a point lookup, and nothing is shared between
two readers, so concurrent queries wait on no lock of the sidecar's. A few rows (`fetch`) are
fetched as Python values and made Arrow here: DuckDB's Arrow stream costs a relation, a bind
and a stream per statement, about 0.3 ms that a point lookup's one row does not need.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
from sqlglot import exp

from connectors.base import Cancellation, SourceError

IDLE_READERS = 16
FETCHED_ROWS = 1024
# DuckDB's result types whose Python values Arrow takes exactly; other types are streamed.
ARROW_TYPES = {
    "BOOLEAN": pa.bool_(),
    "TINYINT": pa.int8(),
    "SMALLINT": pa.int16(),
    "INTEGER": pa.int32(),
    "BIGINT": pa.int64(),
    "UTINYINT": pa.uint8(),
    "USMALLINT": pa.uint16(),
    "UINTEGER": pa.uint32(),
    "UBIGINT": pa.uint64(),
    "FLOAT": pa.float32(),
    "DOUBLE": pa.float64(),
    "VARCHAR": pa.string(),
    "BLOB": pa.binary(),
    "DATE": pa.date32(),
    "TIMESTAMP": pa.timestamp("us"),
    "TIMESTAMP WITH TIME ZONE": pa.timestamp("us", tz="UTC"),
}
DECIMAL = re.compile(r"DECIMAL\((\d+),(\d+)\)")


class DuckDbStore:
    def __init__(self, memory_limit: int | None = None) -> None:
        """`memory_limit` (bytes, runtime.memory_limit) bounds the copies and their queries
        together: a query past it fails alone with DuckDB's out-of-memory error."""
        config = {"memory_limit": f"{memory_limit}B"} if memory_limit else {}
        self._connection = duckdb.connect(":memory:", config=config)
        self._lock = threading.Lock()
        self._attached: dict[str, str] = {}
        self._idle: list[duckdb.DuckDBPyConnection] = []

    def attach(self, name: str, path: Path) -> str:
        """Attach a dataset's file (created if new) and return the catalog its table lives in."""
        catalog = f"accel_{name.lower()}"
        with self._lock:
            if catalog not in self._attached:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._connection.execute(f"ATTACH {_literal(str(path))} AS {_quote(catalog)}")
                self._attached[catalog] = str(path)
        return catalog

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A connection of its own for one reader or writer; DuckDB isolates them by MVCC."""
        return self._connection.cursor()

    def table(self, catalog: str | None, name: str) -> exp.Table:
        return exp.table_(
            exp.to_identifier(name, quoted=True),
            db=exp.to_identifier("main", quoted=True) if catalog else None,
            catalog=exp.to_identifier(catalog, quoted=True) if catalog else None,
        )

    def read(
        self, sql: str, batch_rows: int = 65_536, cancellation: Cancellation | None = None
    ) -> pa.RecordBatchReader:
        """`sql`'s rows as DuckDB produces them, from a pooled cursor that goes back once they
        are read; a cancel interrupts DuckDB mid-statement."""
        cursor = self._checkout()
        forget = cancellation.on_cancel(cursor.interrupt) if cancellation else _nothing
        try:
            reader = cursor.sql(sql).to_arrow_reader(batch_rows)
        except BaseException:
            forget()
            cursor.close()
            raise
        batches = self._streamed(reader, cursor, forget)
        return pa.RecordBatchReader.from_batches(reader.schema, batches)

    def fetch(self, sql: str, cancellation: Cancellation | None = None) -> pa.RecordBatchReader:
        """`sql`'s rows when there are few (up to FETCHED_ROWS, else `read` streams them), as
        one batch typed as DuckDB types them."""
        cursor = self._checkout()
        forget = cancellation.on_cancel(cursor.interrupt) if cancellation else _nothing
        try:
            cursor.execute(sql)
            columns = cursor.description or []
            types = [_arrow_type(str(column[1])) for column in columns]
            rows = cursor.fetchmany(FETCHED_ROWS + 1) if None not in types else None
        except duckdb.InterruptException:
            cursor.close()
            raise SourceError("the query was cancelled") from None
        except BaseException:
            cursor.close()
            raise
        finally:
            forget()
        if rows is None or len(rows) > FETCHED_ROWS:
            cursor.close()  # its result is not read to the end: no other statement may use it
            return self.read(sql, cancellation=cancellation)
        self._checkin(cursor)
        names = [column[0] for column in columns]
        values = zip(*rows, strict=True) if rows else [() for _ in names]
        batch = pa.RecordBatch.from_arrays(
            [pa.array(column, kind) for column, kind in zip(values, types, strict=True)],
            names=names,
        )
        return pa.RecordBatchReader.from_batches(batch.schema, [batch])

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for cursor in idle:
            cursor.close()
        self._connection.close()

    def _checkout(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return self._connection.cursor()

    def _checkin(self, cursor: duckdb.DuckDBPyConnection) -> None:
        with self._lock:
            if len(self._idle) < IDLE_READERS:
                self._idle.append(cursor)
                return
        cursor.close()

    def _streamed(
        self,
        reader: pa.RecordBatchReader,
        cursor: duckdb.DuckDBPyConnection,
        forget: Callable[[], None],
    ) -> Iterator[pa.RecordBatch]:
        """The reader's batches; its cursor goes back to the pool when they ran out, and is
        closed when the stream stopped early, failed or was interrupted."""
        read_out = False
        try:
            yield from reader
            read_out = True
        except duckdb.InterruptException:
            raise SourceError("the query was cancelled") from None
        finally:
            forget()
            reader.close()
            if read_out:
                self._checkin(cursor)
            else:
                cursor.close()


def _nothing() -> None:
    return None


def _arrow_type(duckdb_type: str) -> pa.DataType | None:
    decimal = DECIMAL.fullmatch(duckdb_type)
    if decimal:
        return pa.decimal128(int(decimal.group(1)), int(decimal.group(2)))
    return ARROW_TYPES.get(duckdb_type)


def _quote(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql(dialect="duckdb")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
