"""The Arrow Flight SQL server: SQL and catalog metadata in, Arrow record batches out.

GetFlightInfo plans a query (checking it, resolving its tables, typing its columns) and keeps
the planned result behind a ticket, so DoGet starts executing at once instead of planning a
second time; DoGet then streams the engine's batches as DataFusion produces them. Metadata
requests are small tables built when asked. Prepared statements, the path ADBC takes for
every query, live in `prepared.py`; everything that would write is refused.

pyarrow.flight serves on its own gRPC threads and calls these methods on them, blocking; each
public method turns SidecarError into the matching Flight status in its own frame, which keeps
the traceback pyarrow appends to INVALID_ARGUMENT and NOT_FOUND errors short.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.flight as flight
from google.protobuf.message import Message

from policies.identity import Authenticator, Identity
from sidecar.engine import Engine
from sidecar.engine.cache import CachedResult
from sidecar.engine.executor import QueryResult
from sidecar.errors import ErrorCode, SidecarError
from sidecar.metrics import Metrics
from sidecar.secrets import REDACTOR
from sidecar.servers.flight import FlightSql_pb2 as pb
from sidecar.servers.flight import metadata
from sidecar.servers.flight.auth import MIDDLEWARE, AcceptHandshake, AuthMiddlewareFactory
from sidecar.servers.flight.commands import Unsupported, decode, pack, unpack
from sidecar.servers.flight.errors import quiet_details, to_flight
from sidecar.servers.flight.prepared import PreparedStatements
from sidecar.servers.flight.sqlinfo import sql_info
from sidecar.servers.flight.tickets import Handles

log = logging.getLogger("sidecar.flight")
INTERFACE = "flight"
TICKET_TTL = 300.0
PREPARED_TTL = 3600.0
WRITES = (pb.CommandStatementUpdate, pb.CommandPreparedStatementUpdate, pb.CommandStatementIngest)
ACTIONS = {
    "CreatePreparedStatement": "plan SQL once, execute it with bound parameters",
    "ClosePreparedStatement": "release a prepared statement",
    "CancelFlightInfo": "cancel the query behind a FlightInfo",
}
CancelResult = pb.ActionCancelQueryResult
M = TypeVar("M", bound=Message)


@dataclass
class Query:
    """A planned query waiting for its DoGet, and when the client asked for it."""

    owner: str
    result: QueryResult | CachedResult
    started: float
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True
        self.result.cancel()


class FlightSqlServer(flight.FlightServerBase):
    """Listens as soon as it is built; `shutdown()` stops it."""

    def __init__(
        self,
        engine: Engine,
        metrics: Metrics,
        authenticator: Authenticator,
        location: str,
        *,
        tls: tuple[bytes, bytes] | None = None,
    ) -> None:
        self.engine = engine
        self.metrics = metrics
        self.timeout = engine.config.runtime.query_timeout
        self.tickets: Handles[Query | pa.Table] = Handles(
            "ticket", "call GetFlightInfo again, then DoGet with its new ticket", TICKET_TTL
        )
        self.prepared = PreparedStatements(engine, PREPARED_TTL)
        self.running: dict[bytes, Query] = {}
        quiet_details()
        super().__init__(
            location,
            auth_handler=AcceptHandshake(),
            tls_certificates=[flight.CertKeyPair(*tls)] if tls else [],
            middleware={MIDDLEWARE: AuthMiddlewareFactory(authenticator)},
        )

    # --- RPCs ---------------------------------------------------------------------------------

    def get_flight_info(
        self, context: flight.ServerCallContext, descriptor: flight.FlightDescriptor
    ) -> flight.FlightInfo:
        try:
            identity = _identity(context)
            work = self._work(identity, unpack(descriptor.command))
            handle = self.tickets.issue(identity.name, work)
        except Exception as error:
            raise failure(error) from None
        ticket = flight.Ticket(pack(pb.TicketStatementQuery(statement_handle=handle)))
        if isinstance(work, pa.Table):
            return flight.FlightInfo(
                work.schema, descriptor, [flight.FlightEndpoint(ticket, [])], work.num_rows, -1
            )
        return flight.FlightInfo(
            work.result.schema, descriptor, [flight.FlightEndpoint(ticket, [])], -1, -1
        )

    def get_schema(
        self, context: flight.ServerCallContext, descriptor: flight.FlightDescriptor
    ) -> flight.SchemaResult:
        try:
            work = self._work(_identity(context), unpack(descriptor.command))
        except Exception as error:
            raise failure(error) from None
        return flight.SchemaResult(
            work.schema if isinstance(work, pa.Table) else work.result.schema
        )

    def do_get(
        self, context: flight.ServerCallContext, ticket: flight.Ticket
    ) -> flight.FlightDataStream:
        try:
            command = _expect(unpack(ticket.ticket), pb.TicketStatementQuery, "DoGet")
            handle = command.statement_handle
            work = self.tickets.take(handle, _identity(context).name)
        except Exception as error:
            raise failure(error) from None
        if isinstance(work, pa.Table):
            return flight.RecordBatchStream(work)
        if work.cancelled:
            # Before any data: pyarrow clients read CANCELLED mid-stream as their own Ctrl-C.
            raise to_flight(SidecarError(ErrorCode.CANCELED, "query cancelled before DoGet"))
        return flight.GeneratorStream(work.result.schema, self._stream(handle, work))

    def do_put(
        self,
        context: flight.ServerCallContext,
        descriptor: flight.FlightDescriptor,
        reader: flight.MetadataRecordBatchReader,
        writer: flight.FlightMetadataWriter,
    ) -> None:
        try:
            command = unpack(descriptor.command)
            if isinstance(command, WRITES):
                raise read_only(command)
            command = _expect(command, pb.CommandPreparedStatementQuery, "DoPut")
            self.prepared.bind(
                _identity(context).name, command.prepared_statement_handle, reader.read_all()
            )
        except Exception as error:
            raise failure(error) from None

    def do_action(
        self, context: flight.ServerCallContext, action: flight.Action
    ) -> list[flight.Result]:
        try:
            return self._action(_identity(context), action.type, action.body.to_pybytes())
        except Exception as error:
            raise failure(error) from None

    def list_actions(self, context: flight.ServerCallContext) -> list[tuple[str, str]]:
        return list(ACTIONS.items())

    # --- Work -----------------------------------------------------------------------------------

    def _work(self, identity: Identity, command: Message) -> Query | pa.Table:
        """What a ticket for `command` will redeem: a planned query or a metadata table."""
        if isinstance(command, pb.CommandStatementQuery):
            return self._plan(identity, command.query, [])
        if isinstance(command, pb.CommandPreparedStatementQuery):
            prepared = self.prepared.get(identity.name, command.prepared_statement_handle)
            return self._plan(identity, prepared.sql, prepared.parameters)
        return self._metadata(command)

    def _plan(self, identity: Identity, sql: str, parameters: list[Any]) -> Query:
        started = time.perf_counter()
        try:
            result = self.engine.query(sql, parameters, identity)
            return Query(identity.name, result, started)
        except SidecarError as error:
            self.metrics.queries.labels(INTERFACE, error.code.value).inc()
            raise

    def _metadata(self, command: Message) -> pa.Table:
        catalog = self.engine.catalog
        match command:
            case pb.CommandGetCatalogs():
                return metadata.catalogs(catalog)
            case pb.CommandGetDbSchemas():
                return metadata.db_schemas(catalog, command)
            case pb.CommandGetTables():
                return metadata.tables(catalog, command)
            case pb.CommandGetTableTypes():
                return metadata.table_types()
            case pb.CommandGetSqlInfo():
                return sql_info(command.info)
            case pb.CommandGetPrimaryKeys():
                return metadata.primary_keys()
            case pb.CommandGetXdbcTypeInfo():
                return metadata.xdbc_type_info(command)
        if isinstance(command, WRITES):
            raise read_only(command)
        raise Unsupported(
            f"{type(command).__name__} is not a query or metadata request",
            "send CommandStatementQuery, CommandPreparedStatementQuery or a CommandGet* request",
        )

    def _stream(self, handle: bytes, query: Query) -> Iterator[pa.RecordBatch]:
        """The query's batches, as DataFusion produces them, with metrics."""
        rows, outcome = 0, "ok"
        self.running[handle] = query
        self.metrics.inflight.labels(INTERFACE).inc()
        try:
            batches = iter(query.result)
            for batch in itertools.chain(self._first(batches, query.result), batches):
                rows += batch.num_rows
                yield batch
        except GeneratorExit:
            outcome = ErrorCode.CANCELED.value
            raise
        except Exception as error:
            outcome = error.code.value if isinstance(error, SidecarError) else "error"
            raise failure(error) from None
        finally:
            self.running.pop(handle, None)
            if outcome != "ok":
                query.result.cancel()
            self.metrics.inflight.labels(INTERFACE).dec()
            self.metrics.queries.labels(INTERFACE, outcome).inc()
            self.metrics.rows.labels(INTERFACE).inc(rows)
            self.metrics.latency.labels(INTERFACE).observe(time.perf_counter() - query.started)

    def _first(
        self, batches: Iterator[pa.RecordBatch], result: QueryResult | CachedResult
    ) -> list[pa.RecordBatch]:
        """The first batch within runtime.query_timeout, as over HTTP. It is pulled on a
        worker thread so that a source stuck in a read cannot hold the answer back: on timeout
        the query is cancelled and the worker abandoned."""
        box: list[list[pa.RecordBatch] | BaseException] = []

        def pull() -> None:
            try:
                box.append([next(batches)])
            except StopIteration:
                box.append([])
            except BaseException as error:
                box.append(error)

        worker = threading.Thread(target=pull, name="flight-first-batch", daemon=True)
        worker.start()
        worker.join(self.timeout)
        if not box:
            result.cancel()
            raise timeout_error(self.timeout)
        if isinstance(box[0], BaseException):
            raise box[0]
        return box[0]

    # --- Actions --------------------------------------------------------------------------------

    def _action(self, identity: Identity, kind: str, body: bytes) -> list[flight.Result]:
        owner = identity.name
        if kind == "CreatePreparedStatement":
            request = _expect(unpack(body), pb.ActionCreatePreparedStatementRequest, kind)
            return [flight.Result(pack(self.prepared.create(identity, request)))]
        if kind == "ClosePreparedStatement":
            request = _expect(unpack(body), pb.ActionClosePreparedStatementRequest, kind)
            self.prepared.close(owner, request.prepared_statement_handle)
            return []
        if kind == "CancelFlightInfo":
            return [flight.Result(self._cancel(owner, body))]
        raise Unsupported(
            f"action {kind} is not supported"
            + (
                "; there are no transactions on a read-only sidecar"
                if "Transaction" in kind
                else ""
            ),
            "supported actions: " + ", ".join(ACTIONS),
        )

    def _cancel(self, owner: str, body: bytes) -> bytes:
        """CancelFlightInfo: its request and result share the wire format of the Flight SQL
        CancelQuery messages (a FlightInfo as field 1; a status enum as field 1)."""
        try:
            info = flight.FlightInfo.deserialize(decode(pb.ActionCancelQueryRequest, body).info)
        except pa.ArrowInvalid:
            raise SidecarError(
                ErrorCode.INVALID_REQUEST,
                "CancelFlightInfo needs the FlightInfo to cancel",
                hint="send the FlightInfo that GetFlightInfo returned, serialized",
            ) from None
        status = CancelResult.CANCEL_RESULT_NOT_CANCELLABLE
        for endpoint in info.endpoints:
            command = _expect(unpack(endpoint.ticket.ticket), pb.TicketStatementQuery, "ticket")
            handle = command.statement_handle
            query = self.running.get(handle)
            work = query if query is not None and query.owner == owner else None
            if work is None:
                work = self.tickets.get(handle, owner)
            if isinstance(work, Query):
                work.cancel()
                status = CancelResult.CANCEL_RESULT_CANCELLED
        return CancelResult(result=status).SerializeToString()


def _identity(context: flight.ServerCallContext) -> Identity:
    return context.get_middleware(MIDDLEWARE).identity


def _expect(command: Message, kind: type[M], where: str) -> M:
    if not isinstance(command, kind):
        raise SidecarError(
            ErrorCode.INVALID_REQUEST,
            f"{where} expects {kind.__name__}, not {type(command).__name__}",
            hint="send the message the Flight SQL specification names for this call",
        )
    return command


def read_only(command: Message) -> SidecarError:
    return SidecarError(
        ErrorCode.FORBIDDEN,
        f"{type(command).__name__} is refused: this sidecar is read-only",
        hint="only queries run here (SELECT, WITH, VALUES, EXPLAIN, SHOW, DESCRIBE); "
        "write to the source itself, with its own credentials",
    )


def timeout_error(seconds: float) -> SidecarError:
    return SidecarError(
        ErrorCode.TIMEOUT,
        f"query did not answer within {seconds:g}s",
        hint="narrow the query (filters, LIMIT) or raise runtime.query_timeout",
    )


def failure(error: Exception) -> Exception:
    """The exception to raise to the client for `error`: its Flight status, or INTERNAL."""
    if isinstance(error, SidecarError):
        return to_flight(error)
    if isinstance(error, flight.FlightError | pa.ArrowException):
        return error
    log.exception("Flight SQL request failed", exc_info=error)
    return to_flight(
        SidecarError(
            ErrorCode.INTERNAL,
            REDACTOR.redact(f"{type(error).__name__}: {error}"),
            hint="this is a bug in the sidecar; the log has the details",
        )
    )
