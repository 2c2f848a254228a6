"""Prepared statements and portals: what Parse and Bind create and Execute drains.

A portal wraps a running result and hands out its rows a batch at a time, so an Execute with a
row limit (or a FETCH from a cursor) can stop mid-batch and resume where it left off, and a
10M-row result never sits in memory: only the batch being sent does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import pyarrow as pa
from sqlglot import exp

from sidecar.errors import SidecarError
from sidecar.gateway import Statement
from sidecar.servers.pgwire.codec import RowEncoder
from sidecar.servers.pgwire.commands import Command, QueryCommand
from sidecar.servers.pgwire.names import resolved
from sidecar.servers.slices import slice_rows

# The most rows encoded per step, however narrow (wide rows are cut at about SLICE_BYTES, see
# slices.py): large enough to keep encoding vectorised.
SLICE_ROWS = 16384


class Rows(Protocol):
    """A result as the query path's Statement presents it: a schema, batches, cancel() to stop
    it from another thread and close() once it is done with (its audit line)."""

    schema: pa.Schema

    def __iter__(self) -> Iterator[pa.RecordBatch]: ...

    def cancel(self) -> None: ...

    def close(self, error: SidecarError | None = None) -> None: ...


class TableRows:
    """A small result held whole: catalog answers and SHOW."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table
        self.schema = table.schema

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        return iter(self.table.to_batches())

    def cancel(self) -> None:
        return None

    def close(self, error: SidecarError | None = None) -> None:
        return None


class NamedRows:
    """A result under the column names PostgreSQL would give it (see names.py)."""

    def __init__(self, rows: Rows, names: list[str]) -> None:
        self.rows = rows
        self.schema = named_schema(rows.schema, names)

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        return iter(self.rows)

    def cancel(self) -> None:
        self.rows.cancel()

    def close(self, error: SidecarError | None = None) -> None:
        self.rows.close(error)


def named(rows: Rows, names: list[str] | None) -> Rows:
    names = resolved(names, rows.schema.names)
    if names is None or names == rows.schema.names:
        return rows
    return NamedRows(rows, names)


def named_schema(schema: pa.Schema, names: list[str] | None) -> pa.Schema:
    names = resolved(names, schema.names)
    if names is None or names == schema.names:
        return schema
    return pa.schema([field.with_name(name) for field, name in zip(schema, names, strict=True)])


@dataclass
class Prepared:
    """A parsed statement: its command, its guarded query tree and its parameter types."""

    name: str
    text: str
    command: Command | None
    parameter_types: list[int] = field(default_factory=list)
    query: exp.Expression | None = None
    engine_sql: str = ""
    shadow: bool = False
    names: list[str] | None = None
    schema: pa.Schema | None = None
    # Its Parse message, and whether another Parse of the same text is analysed the same way
    # (statements.Analysis.kept): what lets quick.py answer that Parse with this statement.
    source: bytes = b""
    reusable: bool = False
    at_once: bool = False  # answered at once last time it ran: quick.py may answer it

    @property
    def is_query(self) -> bool:
        return isinstance(self.command, QueryCommand) and self.query is not None


class Portal:
    """A bound statement; for queries and cursors, the rows still to be sent."""

    def __init__(
        self,
        name: str,
        prepared: Prepared,
        values: list[Any],
        formats: list[int],
        rows: Rows | None = None,
    ) -> None:
        self.name = name
        self.prepared = prepared
        self.values = values
        self.formats = formats
        self.rows = rows
        self.hold = False
        self.position = 0
        self.exhausted = False
        self._batches: Iterator[pa.RecordBatch] | None = None
        self._pending: pa.RecordBatch | None = None
        self._failure: Exception | None = None

    @property
    def schema(self) -> pa.Schema | None:
        return self.rows.schema if self.rows is not None else None

    @property
    def statement(self) -> Statement | None:
        """The query path's statement behind the rows, for its deadline."""
        rows = self.rows.rows if isinstance(self.rows, NamedRows) else self.rows
        return rows if isinstance(rows, Statement) else None

    def take(self, budget: int | None, encoder: RowEncoder | None) -> tuple[list[pa.Buffer], int]:
        """The next rows (at most `budget`, at most a slice of one batch: SLICE_ROWS rows or
        about SLICE_BYTES), encoded unless skipping.

        Runs in a worker thread: pulling a batch may wait on a source. When the batch of a
        small result (its first SLICE_ROWS rows) runs out within the budget, the next one is
        pulled now, so that the end of the result is known with its rows (`exhausted`) and
        costs the session no step of its own; a failure while pulling it is kept for the next
        take, after these rows are sent. Further on it is not: a long stream's next batch is
        pulled while this slice is written.
        """
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure
        if self.rows is None or self.exhausted:
            return [], 0
        if self._pending is None:
            self._pending = self._next()
            if self._pending is None:
                return [], 0
        batch = self._pending
        limit = min(slice_rows(batch), SLICE_ROWS)
        if budget is not None:
            limit = min(limit, budget)
        if batch.num_rows > limit:
            batch, self._pending = batch.slice(0, limit), batch.slice(limit)
        else:
            self._pending = None
        self.position += batch.num_rows
        chunks = list(encoder.encode(batch)) if encoder is not None else []
        if (
            self._pending is None
            and self.position <= SLICE_ROWS
            and (budget is None or batch.num_rows < budget)
        ):
            try:
                self._pending = self._next()
            except Exception as error:
                self._failure = error
        return chunks, batch.num_rows

    def _next(self) -> pa.RecordBatch | None:
        """The next batch with rows; None (and `exhausted`) at the end."""
        if self._batches is None:
            assert self.rows is not None
            self._batches = iter(self.rows)
        batch = next(self._batches, None)
        while batch is not None and batch.num_rows == 0:
            batch = next(self._batches, None)
        if batch is None:
            self.exhausted = True
        return batch

    def close(self, error: SidecarError | None = None) -> None:
        """The end of the portal, whether its rows ran out, failed or were left unread."""
        if self.rows is not None:
            self.rows.close(error)
