"""Prepared statements: SQL kept on the server, with its parameters bound by DoPut.

ADBC runs every `cursor.execute` as a prepared statement, with or without parameters, so this
is the main query path for Arrow-native clients. Preparing checks and plans the statement at
once (parameters bound to NULL), so a bad query fails at prepare time with its position, and
the client learns the result schema before executing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow as pa

from sidecar.errors import ErrorCode, SidecarError
from sidecar.gateway import Gateway, QueryRequest
from sidecar.servers.flight.commands import pb
from sidecar.servers.flight.tickets import Handles

RENEW = "prepare the statement again (ActionCreatePreparedStatementRequest)"


@dataclass
class Prepared:
    sql: str
    parameter_count: int
    parameters: list[Any] = field(default_factory=list)


class PreparedStatements:
    def __init__(self, gateway: Gateway, ttl: float) -> None:
        self.gateway = gateway
        # Each holds its SQL (at most runtime.max_statement_size): a bounded number of them.
        self.handles: Handles[Prepared] = Handles("prepared statement", RENEW, ttl, capacity=1024)

    def create(self, request: QueryRequest) -> pb.ActionCreatePreparedStatementResult:
        """Plan `request.sql` as its identity for its schema; the execution is the statement
        the query path limits and audits."""
        count = self.gateway.parameter_count(request)
        try:
            probe = replace(request, parameters=[None] * count)
            dataset = self.gateway.describe(probe, tentative=count > 0)
        except SidecarError as error:
            if not count or error.code is ErrorCode.SHUTTING_DOWN:
                raise
            dataset = None  # NULLs may not plan (LIMIT $1): execution will tell
        parameters = pa.schema([pa.field(f"${i}", pa.null()) for i in range(1, count + 1)])
        handle = self.handles.issue(request.identity.name, Prepared(request.sql, count))
        return pb.ActionCreatePreparedStatementResult(
            prepared_statement_handle=handle,
            dataset_schema=b"" if dataset is None else dataset.serialize().to_pybytes(),
            parameter_schema=parameters.serialize().to_pybytes(),
        )

    def bind(self, owner: str, handle: bytes, batches: Iterator[pa.RecordBatch]) -> None:
        """Keep one row of parameter values for the next execution. The batches are read only
        until a second row, or more bytes than runtime.max_statement_size, shows they are not
        one row of values to bind: a client may send gigabytes."""
        prepared = self.handles.get(handle, owner)
        bounds = self.gateway.engine.bounds
        kept: list[pa.RecordBatch] = []
        for batch in batches:
            kept.append(batch)
            if sum(b.num_rows for b in kept) > 1:
                raise SidecarError(
                    ErrorCode.INVALID_PARAMETER,
                    "more than one row of parameters was bound; a query takes one",
                    hint="execute the statement once per set of parameters",
                )
            # the bytes received, not `nbytes`: pyarrow's nbytes crashed the process (SIGSEGV)
            # on an empty sparse union column a client sent
            bounds.check_parameters((), sum(b.get_total_buffer_size() for b in kept))
        row = pa.Table.from_batches(kept) if kept else pa.table({})
        parameters = [_value(row, i) for i in range(row.num_columns)] if row.num_rows else []
        if len(parameters) != prepared.parameter_count:
            raise SidecarError(
                ErrorCode.INVALID_PARAMETER,
                f"{len(parameters)} parameter(s) bound; the statement takes "
                f"{prepared.parameter_count}",
                hint="bind one value per placeholder ($1, $2, ... or ?), in order",
            )
        bounds.check_parameters(parameters)
        prepared.parameters = parameters

    def get(self, owner: str, handle: bytes) -> Prepared:
        return self.handles.get(handle, owner)

    def close(self, owner: str, handle: bytes) -> None:
        self.handles.take(handle, owner)


def _value(row: pa.Table, index: int) -> Any:
    """The one value of column `index`; a value pyarrow cannot make into Python (a timestamp
    in a time zone it does not know, or outside Python's years 1 to 9999) is the client's
    error, named with its type."""
    try:
        return row.column(index)[0].as_py()
    except (pa.ArrowException, ValueError, KeyError, OverflowError) as error:
        field = row.schema.field(index)
        raise SidecarError(
            ErrorCode.INVALID_PARAMETER,
            f"parameter {field.name} of type {field.type} cannot be read ({error})",
            hint="bind plain values: null, booleans, numbers, strings, bytes, dates, "
            "timestamps (in a time zone of the IANA database, or none) or lists",
        ) from None
