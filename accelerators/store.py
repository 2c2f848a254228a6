"""The one DuckDB database that holds every accelerated dataset of a sidecar.

Memory-mode datasets live in the in-memory main database; file-mode datasets in their own files,
ATTACHed to the same connection. One database means a query over several accelerated datasets
runs entirely in DuckDB, and MVCC gives each reader a consistent snapshot while refreshes swap
tables underneath.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
from sqlglot import exp

from connectors.base import Cancellation, SourceError


class DuckDbStore:
    def __init__(self) -> None:
        self._connection = duckdb.connect(":memory:")
        self._lock = threading.Lock()
        self._attached: dict[str, str] = {}

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

    def view_exists(self, view: exp.Table) -> bool:
        catalog = view.catalog or "memory"
        row = (
            self.cursor()
            .execute(
                "SELECT count(*) FROM duckdb_views() WHERE database_name = ? AND view_name = ?",
                [catalog, view.name],
            )
            .fetchone()
        )
        return bool(row and row[0])

    def read(
        self, sql: str, batch_rows: int = 65_536, cancellation: Cancellation | None = None
    ) -> pa.RecordBatchReader:
        """`sql`'s rows as DuckDB produces them; a cancel interrupts DuckDB mid-statement."""
        cursor = self.cursor()
        forget = cancellation.on_cancel(cursor.interrupt) if cancellation else _nothing
        try:
            reader = cursor.sql(sql).to_arrow_reader(batch_rows)
        except BaseException:
            forget()
            cursor.close()
            raise
        return pa.RecordBatchReader.from_batches(reader.schema, _streamed(reader, cursor, forget))

    def close(self) -> None:
        self._connection.close()


def _streamed(
    reader: pa.RecordBatchReader, cursor: duckdb.DuckDBPyConnection, forget: Callable[[], None]
) -> Iterator[pa.RecordBatch]:
    """The reader's batches; its cursor is closed however the stream ends."""
    try:
        yield from reader
    except duckdb.InterruptException:
        raise SourceError("the query was cancelled") from None
    finally:
        forget()
        reader.close()
        cursor.close()


def _nothing() -> None:
    return None


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
