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

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import pyarrow as pa
import pyarrow.flight as flight

from policies.identity import Authenticator, Identity
from sidecar.config import Endpoint
from sidecar.errors import ErrorCode, SidecarError
from sidecar.gateway import Gateway, QueryRequest, Statement
from sidecar.secrets import REDACTOR
from sidecar.servers.flight import metadata
from sidecar.servers.flight.auth import MIDDLEWARE, AcceptHandshake, AuthMiddlewareFactory
from sidecar.servers.flight.call_limit import CALL_LIMIT, CallLimit
from sidecar.servers.flight.commands import Unsupported, decode, pack, pb, unpack
from sidecar.servers.flight.connections import cut
from sidecar.servers.flight.errors import for_get_schema, quiet_details, to_flight
from sidecar.servers.flight.hangups import Hangups
from sidecar.servers.flight.prepared import PreparedStatements
from sidecar.servers.flight.sqlinfo import sql_info
from sidecar.servers.flight.thread_state import THREAD_STATE, ThreadState
from sidecar.servers.flight.tickets import Handles, UnknownHandle
from sidecar.servers.lifecycle import StartupError, listen

if TYPE_CHECKING:
    from google.protobuf.message import Message

log = logging.getLogger("sidecar.flight")
INTERFACE = "flight"
TICKET_TTL = 300.0
PREPARED_TTL = 3600.0
# Tickets wait for their DoGet holding a planned query: a tenth of these per identity at most.
MAX_TICKETS = 1024
# by name: the message classes are imported by the first call (commands.pb)
WRITES = ("CommandStatementUpdate", "CommandPreparedStatementUpdate", "CommandStatementIngest")
ACTIONS = {
    "CreatePreparedStatement": "plan SQL once, execute it with bound parameters",
    "ClosePreparedStatement": "release a prepared statement",
    "CancelFlightInfo": "cancel the query behind a FlightInfo",
}
M = TypeVar("M", bound="Message")
MESSAGE_BYTES = 2 << 20  # the Arrow data of one DoGet message, well inside clients' limits


class FlightSqlServer(flight.FlightServerBase):
    """Serves from `start()` to `close()`, on pyarrow.flight's own gRPC threads.

    pyarrow's server listens from the moment its base is initialised, so that is done in
    `start()`, not when this object is built.
    """

    def __init__(
        self,
        gateway: Gateway,
        authenticator: Authenticator,
        endpoint: Endpoint,
        *,
        tls: tuple[bytes, bytes] | None = None,
        cut_after: float = 0.0,
    ) -> None:
        """`tls` is the certificate chain and key (PEM) to serve grpc+tls with; calls still
        open `cut_after` seconds into a stop are cut (`close`)."""
        self.cut_after = cut_after
        self.gateway = gateway
        self.engine = gateway.engine
        self.tickets: Handles[Statement | pa.Table] = Handles(
            "ticket",
            "call GetFlightInfo again, then DoGet with its new ticket",
            TICKET_TTL,
            capacity=MAX_TICKETS,
            on_expire=_close,
        )
        self.prepared = PreparedStatements(gateway, PREPARED_TTL)
        self.running: dict[bytes, Statement] = {}
        self.hangups = Hangups()
        self.endpoint = endpoint
        scheme = "grpc+tls" if tls else "grpc"
        self.location = f"{scheme}://{endpoint.host}:{endpoint.port}"
        self.options: dict[str, Any] = {
            "auth_handler": AcceptHandshake(),
            "tls_certificates": [flight.CertKeyPair(*tls)] if tls else [],
            # A middleware refusing a call (a bad key) does not complete the ones before it:
            # the limit comes after the key, whose places would never be given back, and the
            # thread state, which refuses nothing, last.
            "middleware": {
                MIDDLEWARE: AuthMiddlewareFactory(authenticator, gateway),
                CALL_LIMIT: CallLimit(endpoint.max_connections),
                THREAD_STATE: ThreadState(),
            },
        }

    async def start(self) -> None:
        """Listen; gRPC only says "Server did not start properly" on a taken port, so the
        port is tried first for a clear StartupError."""
        listen("flight", self.endpoint).close()
        quiet_details()
        try:
            super().__init__(self.location, **self.options)
        except pa.ArrowException as error:
            raise StartupError(f"cannot start the Flight SQL server: {error}") from None

    async def close(self) -> None:
        """Stop taking calls and wait for those running, at most until `cut_after` seconds
        into the stop: a call still open then is a DoGet whose client stopped reading (its
        statement ended at the grace), blocked in a gRPC write that only its connection ending
        frees, so the connections are cut (connections.py). pyarrow's shutdown blocks, in a
        daemon thread of its own: one that never returned would hold the interpreter's exit."""
        loop = asyncio.get_running_loop()
        closed = loop.create_future()

        def shut_down() -> None:
            self.shutdown()
            loop.call_soon_threadsafe(closed.set_result, None)

        threading.Thread(target=shut_down, name="flight-shutdown", daemon=True).start()
        stopped = self.gateway.stopped_at or time.monotonic()
        wait = max(0.0, stopped + self.cut_after - time.monotonic())
        try:
            await asyncio.wait_for(asyncio.shield(closed), wait)
        except TimeoutError:
            log.warning("cutting %d Flight connection(s) still open", cut(self.port))
            await closed

    # --- RPCs ---------------------------------------------------------------------------------

    def get_flight_info(
        self, context: flight.ServerCallContext, descriptor: flight.FlightDescriptor
    ) -> flight.FlightInfo:
        try:
            identity = _identity(context)
            work = self._work(context, unpack(descriptor.command))
            handle = self.tickets.issue(identity.name, work)
        except Exception as error:
            raise failure(error) from None
        ticket = flight.Ticket(pack(pb.TicketStatementQuery(statement_handle=handle)))
        if isinstance(work, pa.Table):
            return flight.FlightInfo(
                work.schema, descriptor, [flight.FlightEndpoint(ticket, [])], work.num_rows, -1
            )
        return flight.FlightInfo(
            work.schema, descriptor, [flight.FlightEndpoint(ticket, [])], -1, -1
        )

    def get_schema(
        self, context: flight.ServerCallContext, descriptor: flight.FlightDescriptor
    ) -> flight.SchemaResult:
        try:
            return flight.SchemaResult(self._schema(context, unpack(descriptor.command)))
        except Exception as error:
            raise for_get_schema(failure(error)) from None

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
            error = SidecarError(ErrorCode.CANCELED, "query cancelled before DoGet")
            work.close(error)
            raise to_flight(error)
        work.restart_clock()
        return flight.GeneratorStream(work.schema, self._stream(context, handle, work))

    def do_put(
        self,
        context: flight.ServerCallContext,
        descriptor: flight.FlightDescriptor,
        reader: flight.MetadataRecordBatchReader,
        writer: flight.FlightMetadataWriter,
    ) -> None:
        try:
            command = unpack(descriptor.command)
            if type(command).__name__ in WRITES:
                raise read_only(command)
            command = _expect(command, pb.CommandPreparedStatementQuery, "DoPut")
            self.prepared.bind(
                _identity(context).name, command.prepared_statement_handle, _batches(reader)
            )
        except Exception as error:
            raise failure(error) from None

    def do_action(
        self, context: flight.ServerCallContext, action: flight.Action
    ) -> list[flight.Result]:
        try:
            return self._action(context, action.type, action.body.to_pybytes())
        except Exception as error:
            raise failure(error) from None

    def list_actions(self, context: flight.ServerCallContext) -> list[tuple[str, str]]:
        try:
            _identity(context)
        except SidecarError as error:
            raise to_flight(error) from None
        return list(ACTIONS.items())

    def list_flights(
        self, context: flight.ServerCallContext, criteria: bytes
    ) -> Iterator[flight.FlightInfo]:
        """Refused in words: pyarrow's own answer is UNIMPLEMENTED with an empty message."""
        raise _not_served(context, "ListFlights", "GetTables (ADBC's get_objects) lists them")

    def do_exchange(
        self,
        context: flight.ServerCallContext,
        descriptor: flight.FlightDescriptor,
        reader: flight.MetadataRecordBatchReader,
        writer: flight.MetadataRecordBatchWriter,
    ) -> None:
        raise _not_served(context, "DoExchange", "query with GetFlightInfo and DoGet")

    # --- Work -----------------------------------------------------------------------------------

    def _work(self, context: flight.ServerCallContext, command: Message) -> Statement | pa.Table:
        """What a ticket for `command` will redeem: an opened statement, or a table whole:
        a metadata request's, or the rows of a statement the gateway answered at once (a
        keyed lookup, recorded and limited as any statement once they are in hand), which
        DoGet then sends without entering Python again."""
        request = self._request(context, command)
        if request is None:
            return self._metadata(command, _identity(context))
        answer = self.gateway.at_once(request)
        if answer is not None:
            rows = pa.Table.from_batches(list(_pieces(answer.result.arrow())))
            if answer.done():
                return rows
        statement = self.gateway.statement(request)
        if not statement.open_at_once():  # a key-index answer needs no helper thread
            statement.within_deadline(statement.open)  # planning is timed as on every interface
        statement.stop_clock()  # DoGet restarts it
        return statement

    def _schema(self, context: flight.ServerCallContext, command: Message) -> pa.Schema:
        """GetSchema: a query's result schema, planned but not run."""
        request = self._request(context, command)
        if request is None:
            return self._metadata(command, _identity(context)).schema
        return self.gateway.describe(request)

    def _request(self, context: flight.ServerCallContext, command: Message) -> QueryRequest | None:
        """The query path's request for a query command; None for a metadata request."""
        identity = _identity(context)
        if isinstance(command, pb.CommandStatementQuery):
            sql, parameters = command.query, []
        elif isinstance(command, pb.CommandPreparedStatementQuery):
            prepared = self.prepared.get(identity.name, command.prepared_statement_handle)
            sql, parameters = prepared.sql, prepared.parameters
        else:
            return None
        return QueryRequest(sql, identity, INTERFACE, parameters, client_address(context))

    def _metadata(self, command: Message, identity: Identity) -> pa.Table:
        catalog = self.engine.catalog
        match command:
            case pb.CommandGetCatalogs():
                return metadata.catalogs(catalog)
            case pb.CommandGetDbSchemas():
                return metadata.db_schemas(catalog, command)
            case pb.CommandGetTables():
                return metadata.tables(catalog, command, self.engine.access.grant(identity))
            case pb.CommandGetTableTypes():
                return metadata.table_types()
            case pb.CommandGetSqlInfo():
                return sql_info(command.info)
            case pb.CommandGetPrimaryKeys():
                return metadata.primary_keys(catalog, command, self.engine.access.grant(identity))
            case pb.CommandGetXdbcTypeInfo():
                return metadata.xdbc_type_info(command)
        if type(command).__name__ in WRITES:
            raise read_only(command)
        raise Unsupported(
            f"{type(command).__name__} is not a query or metadata request",
            "send CommandStatementQuery, CommandPreparedStatementQuery or a CommandGet* request",
        )

    def _stream(
        self, context: flight.ServerCallContext, handle: bytes, statement: Statement
    ) -> Iterator[pa.RecordBatch]:
        """The statement's batches as DataFusion produces them. The first is pulled within the
        deadline on a helper thread, as over HTTP, so that a source stuck in a read cannot hold
        the answer back, and a client giving up meanwhile cancels it (hangups.py). The rest
        are pulled here: a scan already decodes ahead on Arrow's threads while a batch is sent,
        and a read-ahead thread of our own on top measured slower (benchmarks/README.md). A
        statement answered at once holds its rows already: they are taken here. An error
        mid-stream ends the stream with its Flight status."""
        self.running[handle] = statement
        try:
            batches = iter(statement)
            if statement.at_once:
                first = next(batches, None)
            else:
                with self.hangups.watching(context, statement):
                    first = statement.within_deadline(next, batches, None)
            if first is not None:
                yield from _pieces(first)
                for batch in batches:
                    yield from _pieces(batch)
        except GeneratorExit:
            statement.close(SidecarError(ErrorCode.CANCELED, "the client stopped reading"))
            raise
        except Exception as error:
            raise failure(error) from None
        finally:
            self.running.pop(handle, None)

    # --- Actions --------------------------------------------------------------------------------

    def _action(
        self, context: flight.ServerCallContext, kind: str, body: bytes
    ) -> list[flight.Result]:
        identity = _identity(context)
        owner = identity.name
        if kind == "CreatePreparedStatement":
            action = _expect(unpack(body), pb.ActionCreatePreparedStatementRequest, kind)
            client = client_address(context)
            request = QueryRequest(action.query, identity, INTERFACE, client=client)
            return [flight.Result(pack(self.prepared.create(request)))]
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
        CancelQuery messages (a FlightInfo as field 1; a status enum as field 1). A FlightInfo
        with nothing left to cancel (its stream read to the end, its ticket used up or expired)
        is NOT_CANCELLABLE, as the spec says, not NOT_FOUND: the client should not retry."""
        try:
            info = flight.FlightInfo.deserialize(decode(pb.ActionCancelQueryRequest, body).info)
        except pa.ArrowInvalid:
            raise SidecarError(
                ErrorCode.INVALID_REQUEST,
                "CancelFlightInfo needs the FlightInfo to cancel",
                hint="send the FlightInfo that GetFlightInfo returned, serialized",
            ) from None
        status = pb.ActionCancelQueryResult.CANCEL_RESULT_NOT_CANCELLABLE
        for endpoint in info.endpoints:
            command = _expect(unpack(endpoint.ticket.ticket), pb.TicketStatementQuery, "ticket")
            handle = command.statement_handle
            running = self.running.get(handle)
            work = running if running is not None and _owner(running) == owner else None
            if work is None:
                try:
                    work = self.tickets.get(handle, owner)
                except UnknownHandle:  # its stream ended (or it was never the caller's)
                    continue
            if isinstance(work, Statement):
                work.cancel()
                status = pb.ActionCancelQueryResult.CANCEL_RESULT_CANCELLED
        return pb.ActionCancelQueryResult(result=status).SerializeToString()


def _pieces(batch: pa.RecordBatch) -> Iterator[pa.RecordBatch]:
    """`batch` in slices of at most MESSAGE_BYTES (a row larger than that alone): a gRPC
    client refuses a message past its receive limit (4 MiB in grpc-go's and tonic's defaults,
    16 MiB in ADBC's), and a wide scan or an Arrow copy hands over batches of tens of MiB."""
    size = batch.nbytes
    if size <= MESSAGE_BYTES or batch.num_rows <= 1:
        yield batch
        return
    step = max(1, batch.num_rows * MESSAGE_BYTES // size)
    for start in range(0, batch.num_rows, step):
        yield batch.slice(start, step)


def _identity(context: flight.ServerCallContext) -> Identity:
    """The caller; raises UNAUTHENTICATED (audited with the peer) for a refused one."""
    return context.get_middleware(MIDDLEWARE).caller(client_address(context))


def _batches(reader: flight.MetadataRecordBatchReader) -> Iterator[pa.RecordBatch]:
    """DoPut's batches one at a time, as the client sends them."""
    while True:
        try:
            chunk = reader.read_chunk()
        except StopIteration:
            return
        if chunk.data is not None:
            yield chunk.data


def _owner(statement: Statement) -> str:
    return statement.request.identity.name


def _close(work: Statement | pa.Table) -> None:
    """A ticket expired unredeemed: its statement ends, freeing its concurrency slot."""
    if isinstance(work, Statement):
        work.close(SidecarError(ErrorCode.CANCELED, "the ticket expired before DoGet"))


def client_address(context: flight.ServerCallContext) -> str:
    """gRPC's peer ("ipv4:127.0.0.1:5555", "ipv6:[::1]:5555") as host:port."""
    return context.peer().partition(":")[2]


def _expect(command: Message, kind: type[M], where: str) -> M:
    if not isinstance(command, kind):
        raise SidecarError(
            ErrorCode.INVALID_REQUEST,
            f"{where} expects {kind.__name__}, not {type(command).__name__}",
            hint="send the message the Flight SQL specification names for this call",
        )
    return command


def _not_served(context: flight.ServerCallContext, call: str, instead: str) -> Exception:
    """A Flight RPC outside Flight SQL: UNIMPLEMENTED, saying so, once the caller is known."""
    try:
        _identity(context)
    except SidecarError as error:
        return to_flight(error)
    return to_flight(
        Unsupported(
            f"{call} is not a Flight SQL call; this server speaks Flight SQL only",
            f"datasets are tables: {instead}",
        )
    )


def read_only(command: Message) -> SidecarError:
    return SidecarError(
        ErrorCode.FORBIDDEN,
        f"{type(command).__name__} is refused: this sidecar is read-only",
        hint="only queries run here (SELECT, WITH, VALUES, EXPLAIN, SHOW, DESCRIBE); "
        "write to the source itself, with its own credentials",
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
