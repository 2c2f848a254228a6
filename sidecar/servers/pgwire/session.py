"""One client connection after login: the simple and extended query protocols.

The session answers transaction, SET/SHOW, cursor and prepared-statement commands itself, and
sends every query through the read-only guard (statements.py) onto the query path every
interface shares (sidecar.gateway: limits, audit, metrics), answered by the engine or, for
pg_catalog queries, by the shadow catalog. Work that may block (planning, pulling and encoding
batches) runs on the connection's own thread (worker.py), which a CancelRequest or the
statement timeout abandons. Rows go out a slice at a time: the next slice is encoded while the
previous one is written, and no more is taken until the client has drained it, so a slow
client slows the query down instead of filling memory.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
import time
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

import pyarrow as pa
from sqlglot import exp

from policies.identity import Identity
from sidecar import gateway
from sidecar.engine.params import bind
from sidecar.errors import ErrorCode, SidecarError, shutting_down
from sidecar.gateway import QueryRequest, TableResult
from sidecar.gateway.limits import timed_out
from sidecar.secrets import REDACTOR
from sidecar.servers.pgwire import commands, messages, parameters, types
from sidecar.servers.pgwire.codec import TEXT, RowEncoder, result_formats
from sidecar.servers.pgwire.commands import (
    CloseCommand,
    DeallocateCommand,
    DeclareCommand,
    DiscardCommand,
    FetchCommand,
    QueryCommand,
    ResetCommand,
    SetCommand,
    SettingsQuery,
    ShowCommand,
    Statement,
    Transaction,
    classify,
)
from sidecar.servers.pgwire.errors import (
    IN_FAILED_TRANSACTION,
    INVALID_CURSOR,
    INVALID_STATEMENT,
    PROTOCOL_VIOLATION,
    SYNTAX_ERROR,
    PgError,
)
from sidecar.servers.pgwire.messages import Body, ProtocolError
from sidecar.servers.pgwire.portal import (
    Portal,
    Prepared,
    Rows,
    TableRows,
    named,
    named_schema,
)
from sidecar.servers.pgwire.quick import Lane
from sidecar.servers.pgwire.session_functions import SessionValues, substitute_session
from sidecar.servers.pgwire.settings import Settings
from sidecar.servers.pgwire.statements import Analyzer
from sidecar.servers.pgwire.worker import Worker, abandon

if TYPE_CHECKING:
    from sidecar.servers.pgwire.backend import Backend

log = logging.getLogger("sidecar.pgwire")
INTERFACE = "pg"
SHADOW = "pg_catalog"
T = TypeVar("T")
IDLE, IN_TRANSACTION, FAILED = "I", "T", "E"
NO_TRANSACTION = "25P01"
DUPLICATE_STATEMENT = "42P05"
DUPLICATE_CURSOR = "42P03"
ENDS_FAILED_TRANSACTION = ("COMMIT", "ROLLBACK", "ROLLBACK TO")
HUNG_UP = "the client closed the connection before the answer was sent"
ANALYSED_STATEMENTS = 256
KEPT_ENCODERS = 32  # result encoders per connection, by schema, formats and time zone
SESSION_HOLDINGS = 1024  # named prepared statements, and portals, per connection
INLINE_STATEMENT = 2048  # characters parsed on the event loop (about a millisecond at most)
PROBE_VALUES: dict[int, Any] = {
    types.BOOL.oid: False,
    types.INT2.oid: 1,
    types.INT4.oid: 1,
    types.INT8.oid: 1,
    types.OID.oid: 1,
    types.FLOAT4.oid: 0.0,
    types.FLOAT8.oid: 0.0,
    types.NUMERIC.oid: Decimal(0),
    types.DATE.oid: dt.date(2000, 1, 1),
    types.TIMESTAMP.oid: dt.datetime(2000, 1, 1),
    types.TIMESTAMPTZ.oid: dt.datetime(2000, 1, 1, tzinfo=dt.UTC),
    types.BYTEA.oid: b"",
}


class Session:
    def __init__(
        self,
        server: Backend,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        pid: int,
        user: str,
        identity: Identity,
        startup: dict[str, str],
    ) -> None:
        self.server = server
        self.reader = reader
        self.writer = messages.Output(writer)
        self.pid = pid
        self.secret = secrets.token_bytes(4)  # BackendKeyData's key, for CancelRequest
        self.user = user
        self.identity = identity
        self.settings = Settings(user, startup)
        self.status = IDLE
        self.statements: dict[str, Prepared] = {}
        self.portals: dict[str, Portal] = {}
        self._skipping = False
        self._encoders: dict[tuple[int, tuple[int, ...], str], RowEncoder] = {}
        self.worker = Worker(f"pgwire-{pid}")
        peer = writer.get_extra_info("peername") or ("", 0)
        local = writer.get_extra_info("sockname") or ("", 0)
        self.values = SessionValues(
            user=user,
            database=server.engine.catalog.database,
            pid=pid,
            server_address=(str(local[0]), int(local[1])),
            client_address=(str(peer[0]), int(peer[1])),
            setting=self.settings.get,
            version=f"PostgreSQL {self.settings.get('server_version')} on x86_64-pc-linux-gnu",
        )
        self.client = f"{peer[0]}:{peer[1]}" if peer[0] else ""
        self.analyzer = Analyzer(server, self.values, identity, self._refused)
        self.lane = Lane(self)
        self.incoming = messages.Incoming(reader)

    # ---- connection loop --------------------------------------------------------------------

    async def serve(self) -> None:
        for name, value in self.settings.reported():
            self.writer.write(messages.parameter_status(name, value))
        key = int.from_bytes(self.secret, "big", signed=True)
        self.writer.write(messages.backend_key_data(self.pid, key))
        await self._ready()
        incoming = self.incoming
        protocol = self.writer.writer.transport.get_protocol()
        if isinstance(protocol, messages.Inline):
            protocol.consumer, protocol.on_lost = self._inline, self._hung_up
        try:
            while True:
                if not self._skipping and (end := self.lane.answer(*incoming.ahead())):
                    incoming.skip(end)
                    await self.writer.drain()
                    continue
                found = incoming.next()
                if found is None:
                    await incoming.fill()
                    continue
                kind, body = found
                if kind == "X":
                    return
                if self._skipping and kind != "S":
                    continue
                try:
                    await self._dispatch(kind, body)
                except PgError as error:
                    await self._extended_error(error)
                except SidecarError as error:
                    await self._extended_error(PgError.of(error))
                except (ProtocolError, ConnectionError):
                    raise
                except Exception as error:  # a bug must cost one statement, not the connection
                    log.exception("postgres wire statement failed")
                    await self._internal_error(error, simple=kind == "Q")
        finally:
            if isinstance(protocol, messages.Inline):
                protocol.consumer = protocol.on_lost = None
            self.writer.flush()  # what was answered before the end (a FATAL error follows it)
            for portal in self.portals.values():
                portal.close()
            self.portals.clear()
            self.worker.close()

    def _inline(self, data: bytes) -> bytes:
        """The groups at the start of `data` that the lane answers, answered as the bytes
        arrive while this session waits for input with nothing held (so none can be answered
        out of turn) and the client takes its replies, which leave at the end of the loop's
        turn (messages.Sends); returns the bytes left for the reader."""
        if not self.incoming.waiting or self._skipping or self.writer.backlogged():
            return data
        at = 0
        try:
            while at < len(data) and (end := self.lane.answer(data, at)):
                at = end
        except Exception:  # a bug must cost the fast way, not the connection
            log.exception("postgres wire inline answer failed")
        if at:
            self.server.sends.add(self.writer)
        return data[at:]

    def cancel(self) -> None:
        """A CancelRequest for this connection: stop the running statement, if any."""
        self.worker.cancel()

    def _hung_up(self) -> None:
        """The client closed the connection: what runs for it stops now (an aggregate would
        otherwise compute on to its timeout for nobody), and its audit line says why."""
        self.worker.cancel(HUNG_UP)

    async def _dispatch(self, kind: str, body: Body) -> None:
        if kind == "Q":
            await self._simple(messages.parse_query(body))
        elif kind == "P":
            await self._parse(messages.parse_parse(body), body.data)
            self.writer.write(messages.PARSE_COMPLETE)
        elif kind == "B":
            await self._bind(messages.parse_bind(body))
            self.writer.write(messages.BIND_COMPLETE)
        elif kind == "D":
            await self._describe(messages.parse_target(body))
        elif kind == "E":
            await self._execute(messages.parse_execute(body))
        elif kind == "C":
            self._close(messages.parse_target(body))
            self.writer.write(messages.CLOSE_COMPLETE)
        elif kind == "S":
            self._skipping = False
            await self._ready()
        elif kind == "H":
            await self.writer.drain()
        elif kind in ("d", "c", "f"):
            return  # copy messages outside COPY are ignored, as PostgreSQL does
        elif kind == "F":
            raise PgError("0A000", "the function call protocol is not supported")
        else:
            raise ProtocolError(f"invalid frontend message type {kind!r}")

    async def _ready(self) -> None:
        if self.status == IDLE:
            for name in [n for n, p in self.portals.items() if not p.hold]:
                self.portals.pop(name).close()
        self.writer.write(messages.ready_for_query(self.status))
        await self.writer.drain()

    async def _internal_error(self, error: Exception, simple: bool) -> None:
        failure = PgError(
            "XX000",
            REDACTOR.redact(f"internal error: {type(error).__name__}: {error}"),
            hint="this is a bug in the sidecar's Postgres wire server; the connection is usable",
        )
        if simple:
            await self._send_error(failure)
            await self._ready()
        else:
            await self._extended_error(failure)

    async def _extended_error(self, error: PgError) -> None:
        self._skipping = True
        await self._send_error(error)

    async def _send_error(self, error: PgError) -> None:
        if error.severity == "FATAL":
            raise error
        if self.status == IN_TRANSACTION:
            self.status = FAILED
        self.writer.write(messages.error_response(error.fields()))
        await self.writer.drain()

    # ---- simple query -----------------------------------------------------------------------

    async def _simple(self, sql: str) -> None:
        try:
            statements = await self._read(sql, commands.statements, sql)
        except SidecarError as error:
            await self._send_error(PgError.of(error))
            await self._ready()
            return
        if not statements:
            self.writer.write(messages.EMPTY_QUERY)
        for statement in statements:
            self.worker.start_statement()
            try:
                prepared = await self._read(statement.text, self._prepare, statement, [], "")
                formats: list[int] = []
                if isinstance(prepared.command, FetchCommand):
                    formats = self._cursor(prepared.command.name).formats
                portal = await self._open("", prepared, [], formats)
                try:
                    await self._describe_portal(portal, simple=True)
                    await self._run(portal, 0)
                finally:
                    portal.close()
            except PgError as error:
                await self._send_error(error)
                break
            except SidecarError as error:
                await self._send_error(PgError.of(error, statement.offset))
                break
        await self._ready()

    # ---- extended query ---------------------------------------------------------------------

    async def _parse(self, message: messages.Parse, source: bytes) -> None:
        if message.name and message.name in self.statements:
            raise PgError(
                DUPLICATE_STATEMENT, f'prepared statement "{message.name}" already exists'
            )
        if message.name:
            self._room_for("prepared statements", len(self.statements), "DEALLOCATE")
        found = await self._read(message.query, commands.statements, message.query)
        if len(found) > 1:
            raise PgError("42601", "cannot insert multiple commands into a prepared statement")
        statement = found[0] if found else Statement("", 0)
        prepared = await self._read(
            statement.text, self._prepare, statement, message.parameter_types, message.name
        )
        prepared.source = source
        self.statements[message.name] = prepared

    def patterned(self, source: bytes) -> Prepared | None:
        """The unnamed statement a Parse message's payload (`source`) makes, when its text is
        of a pattern whose analysis is shared (statements.Analyzer): an agent's literal SQL,
        a new text each time, then takes the lane like a repeated one. None for any other
        Parse, which the general way reads, and for one it would refuse."""
        try:
            message = messages.parse_parse(Body(source))
        except ProtocolError:
            return None
        text = message.query
        if message.name or message.parameter_types or len(text) > INLINE_STATEMENT:
            return None
        if not self.analyzer.shared(text):
            return None
        found = commands.statements(text)
        if len(found) != 1 or found[0].text != text:
            return None
        try:
            prepared = self._prepare(found[0], [], "")
        except PgError:
            return None
        prepared.source = source
        return prepared

    def _refuse_in_failed_transaction(self, command: Any) -> None:
        """In a failed transaction only its end runs, whichever message asks (Parse, or Bind
        and Execute of a statement or portal made before the failure), as in PostgreSQL."""
        if self.status == FAILED and not (
            isinstance(command, Transaction) and command.action in ENDS_FAILED_TRANSACTION
        ):
            raise PgError(
                IN_FAILED_TRANSACTION,
                "current transaction is aborted, commands ignored until end of transaction block",
                hint="send ROLLBACK",
            )

    def _syntax_first(self, statement: Statement) -> None:
        """A query's syntax error, which PostgreSQL reports before refusing a command in a
        failed transaction (it parses each statement first): `SELEC 1` there is 42601, not
        25P02. Any other refusal waits for the transaction's end, as there."""
        try:
            self.server.engine.statements.checked(statement.text)
        except SidecarError as error:
            if error.code is ErrorCode.SYNTAX:
                raise PgError.of(error, statement.offset) from None

    def _room_for(self, what: str, held: int, release: str) -> None:
        """A session holds a bounded number of named statements and of portals: each holds a
        parsed statement, and a client leaking them would grow the process without end."""
        if held >= SESSION_HOLDINGS:
            raise PgError(
                "54000",
                f"this connection holds {held} {what}, the most one may hold",
                hint=f"{release} the ones no longer needed",
            )

    async def _read(self, sql: str, function: Callable[..., T], *args: Any) -> T:
        """Parse or analyse `sql` with `function`: a short statement at once, a long one on
        the connection's thread, so that reading it never stalls the other connections; a
        statement over runtime.max_statement_size is refused before any of it is read."""
        self.server.engine.bounds.check_size(sql)
        if len(sql) <= INLINE_STATEMENT:
            return function(*args)
        return await self._work(function, *args)

    async def _bind(self, message: messages.Bind) -> None:
        prepared = self.statements.get(message.statement)
        if prepared is None:
            raise PgError(
                INVALID_STATEMENT, f'prepared statement "{message.statement}" does not exist'
            )
        self._refuse_in_failed_transaction(prepared.command)
        if message.portal and message.portal in self.portals:
            raise PgError(DUPLICATE_CURSOR, f'portal "{message.portal}" already exists')
        if message.portal:
            self._room_for("portals and cursors", len(self.portals), "Close or CLOSE")
        try:
            values = self.bound(prepared, message)
        except PgError as error:  # the statement ends here: its audit line says why
            refusal = SidecarError(ErrorCode.INVALID_REQUEST, error.message, hint=error.hint)
            self._refused(self.request(prepared, []).sql, refusal)
            raise
        except SidecarError as error:
            self._refused(self.request(prepared, []).sql, error)
            raise
        self.worker.start_statement()
        if "" in self.portals and not message.portal:
            self.portals.pop("").close()
        self.portals[message.portal] = await self._open(
            message.portal, prepared, values, message.result_formats
        )

    def bound(self, prepared: Prepared, message: messages.Bind) -> list[Any]:
        """A Bind's values for `prepared`, decoded by its parameters' types and within
        runtime.max_statement_size: whichever way answers the statement (quick.py too)."""
        values = parameters.decode_bind(
            message, prepared.parameter_types, prepared.name, self.settings.timezone
        )
        self.server.engine.bounds.check_parameters(values)
        return values

    async def _describe(self, target: messages.Target) -> None:
        if target.kind == "S":
            prepared = self.statements.get(target.name)
            if prepared is None:
                raise PgError(
                    INVALID_STATEMENT, f'prepared statement "{target.name}" does not exist'
                )
            self.writer.write(messages.parameter_description(prepared.parameter_types))
            schema = await self._statement_schema(prepared)
            if schema is None:
                self.writer.write(messages.NO_DATA)
            else:
                self.writer.write(messages.row_description(RowEncoder(schema, [TEXT]).fields()))
            return
        portal = self.portals.get(target.name)
        if portal is None:
            raise PgError(INVALID_CURSOR, f'portal "{target.name}" does not exist')
        await self._describe_portal(portal, simple=False)

    async def _describe_portal(self, portal: Portal, simple: bool) -> None:
        """RowDescription for what Execute will send, or NoData (never in simple mode)."""
        command = portal.prepared.command
        schema = portal.schema
        formats = portal.formats
        if isinstance(command, FetchCommand):
            schema = None if command.move else self._cursor(command.name).schema
        elif isinstance(command, DeclareCommand):
            schema = None
        if schema is not None:
            self.writer.write(self.encoder(schema, formats).description)
        elif not simple:
            self.writer.write(messages.NO_DATA)

    async def _execute(self, message: messages.Execute) -> None:
        portal = self.portals.get(message.portal)
        if portal is None:
            raise PgError(INVALID_CURSOR, f'portal "{message.portal}" does not exist')
        self._refuse_in_failed_transaction(portal.prepared.command)
        self.worker.start_statement()
        try:
            await self._run(portal, message.max_rows)
        except (PgError, SidecarError) as error:
            self.portals.pop(message.portal, None)
            portal.close(_agent_error(error))
            raise

    def _close(self, target: messages.Target) -> None:
        if target.kind == "S":
            self.statements.pop(target.name, None)
        else:
            portal = self.portals.pop(target.name, None)
            if portal is not None:
                portal.close()

    # ---- statements -------------------------------------------------------------------------

    def _prepare(self, statement: Statement, declared: list[int], name: str) -> Prepared:
        if not statement.text:
            return Prepared(name, "", None)
        try:
            command = classify(statement)
        except PgError as error:  # only a syntax error comes before the failed transaction's
            if error.sqlstate != SYNTAX_ERROR:
                self._refuse_in_failed_transaction(None)
            raise
        if self.status == FAILED and isinstance(command, QueryCommand):
            self._syntax_first(statement)
        self._refuse_in_failed_transaction(command)
        query_statement = None
        if isinstance(command, QueryCommand):
            query_statement = command.statement
        elif isinstance(command, DeclareCommand):
            query_statement = command.query
        prepared = Prepared(name, statement.text, command, list(declared))
        if query_statement is not None:
            analysis = self.analyzer.analyse(query_statement, declared)
            prepared.query, prepared.names = analysis.query, analysis.names
            prepared.shadow, prepared.engine_sql = analysis.shadow, analysis.engine_sql
            prepared.parameter_types = list(analysis.parameter_types)
            prepared.reusable = analysis.kept
        elif isinstance(command, SettingsQuery):
            prepared.parameter_types = parameters.infer(command.tree, {}, declared)
        return prepared

    async def _open(
        self, name: str, prepared: Prepared, values: list[Any], formats: list[int]
    ) -> Portal:
        command = prepared.command
        if prepared.is_query:
            statement = await self._statement(prepared, values)
            return Portal(name, prepared, values, formats, named(statement, prepared.names))
        rows: Rows | None = None
        if isinstance(command, ShowCommand):
            rows = TableRows(self.settings.show(command.name))
        elif isinstance(command, SettingsQuery):
            table, changed = self.settings.call(bind(command.tree.copy(), values))
            self._report(changed)
            rows = TableRows(table)
        return Portal(name, prepared, values, formats, rows)

    async def _statement(self, prepared: Prepared, values: list[Any]) -> gateway.Statement:
        """The query on the query path, planned on the connection's thread within its deadline;
        execution starts when Execute pulls the first batch."""
        statement = self.server.gateway.statement(self.request(prepared, values))
        if not prepared.shadow and statement.open_at_once():
            statement.stop_clock()
            self.lane.keep(prepared)
            return statement
        self.worker.running = statement
        try:
            future = self.worker.submit(statement.open, self._answer(prepared, values))
            await self.worker.wait(future, statement.deadline, statement.timeout_error)
        except SidecarError as error:
            statement.close(error)
            raise
        finally:
            self.worker.running = None
        statement.stop_clock()  # each Execute restarts it
        return statement

    def request(self, prepared: Prepared, values: list[Any]) -> QueryRequest:
        sql = prepared.text if prepared.shadow else prepared.engine_sql
        timeout = self.settings.statement_timeout or None
        return QueryRequest(sql, self.identity, INTERFACE, values, self.client, timeout)

    def _refused(self, sql: str, error: SidecarError) -> None:
        request = QueryRequest(sql, self.identity, INTERFACE, client=self.client)
        self.server.gateway.refuse(request, error)

    def _answer(self, prepared: Prepared, values: list[Any]) -> Callable[[], TableResult] | None:
        """How a pg_catalog query is answered (the shadow catalog); None for the engine's."""
        query = prepared.query
        if not prepared.shadow or query is None:
            return None

        def shadow() -> TableResult:
            bound = bind(query.copy(), values)
            substitute_session(bound, self.values)
            return TableResult(self.server.shadow(self.identity).query(bound), [SHADOW])

        return shadow

    async def _statement_schema(self, prepared: Prepared) -> pa.Schema | None:
        command = prepared.command
        if isinstance(command, ShowCommand):
            return self.settings.show(command.name).schema
        if isinstance(command, SettingsQuery):
            return pa.schema([(name, pa.string()) for name in command.names])
        if isinstance(command, FetchCommand):
            cursor = self.portals.get(command.name)
            return cursor.schema if cursor is not None and not command.move else None
        if not prepared.is_query:
            return None
        if prepared.schema is None:
            probe = [
                PROBE_VALUES.get(oid, [] if oid in types.ELEMENTS else "")
                for oid in prepared.parameter_types
            ]
            request = self.request(prepared, probe)
            schema = await self._work(
                self.server.gateway.describe, request, self._answer(prepared, probe)
            )
            prepared.schema = named_schema(schema, prepared.names)
        return prepared.schema

    # ---- execution --------------------------------------------------------------------------

    async def _run(self, portal: Portal, max_rows: int) -> None:
        command = portal.prepared.command
        if command is None:
            self.writer.write(messages.EMPTY_QUERY)
            return
        if isinstance(command, FetchCommand):
            await self._fetch(portal, command)
            return
        if portal.rows is None:
            tag = await self._command(command, portal)
            self.writer.write(messages.command_complete(tag))
            return
        try:
            sent, suspended = await self._stream(portal, portal.formats, max_rows)
        except (PgError, SidecarError) as error:
            portal.close(_agent_error(error))
            raise
        except asyncio.CancelledError:  # the sidecar stops: its audit line says so
            portal.close(shutting_down("the sidecar stopped mid-result"))
            raise
        except ConnectionError:  # the client left mid-result: it was not answered
            portal.close(SidecarError(ErrorCode.CANCELED, HUNG_UP))
            raise
        if suspended:
            self.writer.write(messages.PORTAL_SUSPENDED)
            return
        portal.close()
        self.writer.write(messages.command_complete(_tag(portal.prepared, sent)))

    async def _stream(self, source: Portal, formats: list[int], max_rows: int) -> tuple[int, bool]:
        """Send up to max_rows (0: all) of `source`'s rows; returns (sent, stopped at the limit)."""
        assert source.schema is not None
        encoder = self.encoder(source.schema, formats)
        sent = 0
        deadline, expired = self._bounds(source)
        self.worker.running = source.rows
        at_once = source.statement is not None and source.statement.at_once
        ahead: asyncio.Future[tuple[list[Any], int]] | None = None
        try:
            ahead = self._step(at_once, source.take, max_rows or None, encoder)
            while True:
                chunks, count = await self.worker.wait(ahead, deadline, expired)
                ahead = None
                if not count:
                    return sent, False
                sent += count
                more = max_rows - sent if max_rows else None
                if more != 0 and not source.exhausted:  # encoded while this slice is written
                    ahead = self._step(at_once, source.take, more, encoder)
                for chunk in chunks:
                    self.writer.write(memoryview(chunk))
                if not at_once:  # a few rows go out with the replies that follow, at Sync
                    await self.writer.drain()
                if more == 0:
                    return sent, True
                if ahead is None:
                    return sent, False
        finally:
            self.worker.running = None
            if ahead is not None:
                abandon(ahead)
            if source.statement is not None:
                source.statement.stop_clock()

    def _step(self, at_once: bool, function: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """`function(*args)` on the connection's thread, or here and now when it cannot block
        (the rows of a statement opened at once): a hand-off costs more than such a step."""
        if not at_once:
            return self.worker.submit(function, *args)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        try:
            future.set_result(function(*args))
        except Exception as error:
            future.set_exception(error)
        return future

    async def _work(self, function: Callable[..., T], *args: Any) -> T:
        deadline, expired = self._limit()
        return await self.worker.wait(self.worker.submit(function, *args), deadline, expired)

    def _limit(self) -> tuple[float, Callable[[], SidecarError]]:
        """The deadline of a step outside a running statement (describing one, a SHOW), and
        the error past it: the identity's query timeout or the session's statement_timeout."""
        limiter = self.server.gateway.limiter
        timeout = self.settings.statement_timeout or None
        seconds, setting = limiter.timeout(limiter.governing(self.identity), timeout)
        return time.monotonic() + seconds, lambda: timed_out(seconds, setting)

    def _bounds(self, portal: Portal) -> tuple[float, Callable[[], SidecarError]]:
        """The deadline of this Execute or FETCH: each is timed on its own, as in PostgreSQL."""
        statement = portal.statement
        if statement is None:
            return self._limit()
        statement.restart_clock()
        return statement.deadline, statement.timeout_error

    def encoder(self, schema: pa.Schema, formats: list[int]) -> RowEncoder:
        """The encoder of a result schema in these formats, kept while the schema object is the
        same: a kept plan hands every execution its one schema, and a lookup's Describe and
        Execute would otherwise derive the same column types and RowDescription each time."""
        key = (id(schema), tuple(formats), self.settings.timezone)
        kept = self._encoders.get(key)
        if kept is not None and kept.schema is schema:
            return kept
        encoder = RowEncoder(schema, self._formats(formats, len(schema)), self.settings.timezone)
        if len(self._encoders) >= KEPT_ENCODERS:
            self._encoders.clear()
        self._encoders[key] = encoder
        return encoder

    def _formats(self, formats: list[int], count: int) -> list[int]:
        try:
            return result_formats(formats, count)
        except ValueError as error:
            raise PgError(PROTOCOL_VIOLATION, str(error)) from None

    # ---- session commands -------------------------------------------------------------------

    async def _command(self, command: Any, portal: Portal) -> str:
        if isinstance(command, Transaction):
            return self._transaction(command)
        if isinstance(command, SetCommand):
            if command.name is not None:
                reported = self.settings.set(command.name, command.value)
                self._report([reported] if reported else [])
            return "SET"
        if isinstance(command, ResetCommand):
            self._report(self.settings.reset(command.name))
            return "RESET"
        if isinstance(command, DiscardCommand):
            if command.tag == "DISCARD ALL":
                self._discard_all()
            return command.tag
        if isinstance(command, DeallocateCommand):
            if command.name is None:
                self.statements = {k: v for k, v in self.statements.items() if not k}
                return "DEALLOCATE ALL"
            if self.statements.pop(command.name, None) is None:
                raise PgError(
                    INVALID_STATEMENT, f'prepared statement "{command.name}" does not exist'
                )
            return "DEALLOCATE"
        if isinstance(command, DeclareCommand):
            await self._declare(command, portal)
            return "DECLARE CURSOR"
        if isinstance(command, CloseCommand):
            names = list(self.portals) if command.name is None else [command.name]
            if command.name is not None and command.name not in self.portals:
                raise PgError(INVALID_CURSOR, f'cursor "{command.name}" does not exist')
            for name in names:
                if name:
                    self.portals.pop(name).close()
            return "CLOSE CURSOR" if command.name is not None else "CLOSE CURSOR ALL"
        raise PgError("0A000", "statement not supported")

    def _transaction(self, command: Transaction) -> str:
        action = command.action
        if action == "BEGIN":
            if self.status != IDLE:
                self._notice("25001", "there is already a transaction in progress")
            self.status = IN_TRANSACTION
            return "BEGIN"
        if action in ("COMMIT", "ROLLBACK"):
            tag = "ROLLBACK" if self.status == FAILED else action
            if self.status == IDLE:
                self._notice("25P01", "there is no transaction in progress")
            self.status = IDLE
            for name in [n for n, p in self.portals.items() if n and not p.hold]:
                self.portals.pop(name).close()
            return tag
        if self.status == IDLE:
            raise PgError(NO_TRANSACTION, f"{action} can only be used in transaction blocks")
        if action == "ROLLBACK TO":
            self.status = IN_TRANSACTION
        return command.tag

    def _notice(self, sqlstate: str, message: str) -> None:
        fields = {"S": "WARNING", "V": "WARNING", "C": sqlstate, "M": message}
        self.writer.write(messages.error_response(fields, notice=True))

    def _discard_all(self) -> None:
        if self.status != IDLE:
            raise PgError(NO_TRANSACTION, "DISCARD ALL cannot run inside a transaction block")
        for portal in self.portals.values():
            portal.close()
        self.portals.clear()
        self.statements = {k: v for k, v in self.statements.items() if not k}
        self._report(self.settings.reset(None))

    async def _declare(self, command: DeclareCommand, portal: Portal) -> None:
        if not command.hold and self.status == IDLE:
            raise PgError(NO_TRANSACTION, "DECLARE CURSOR can only be used in transaction blocks")
        if command.name in self.portals:
            raise PgError(DUPLICATE_CURSOR, f'cursor "{command.name}" already exists')
        self._room_for("portals and cursors", len(self.portals), "CLOSE")
        prepared = portal.prepared
        inner = Prepared(
            command.name,
            command.query.text,
            QueryCommand(command.query),
            prepared.parameter_types,
            prepared.query,
            prepared.engine_sql,
            prepared.shadow,
            prepared.names,
        )
        statement = await self._statement(inner, portal.values)
        cursor = Portal(
            command.name,
            inner,
            portal.values,
            [1 if command.binary else 0],
            named(statement, inner.names),
        )
        cursor.hold = command.hold
        self.portals[command.name] = cursor

    def _cursor(self, name: str) -> Portal:
        cursor = self.portals.get(name)
        if cursor is None or cursor.rows is None:
            raise PgError(INVALID_CURSOR, f'cursor "{name}" does not exist')
        return cursor

    async def _fetch(self, portal: Portal, command: FetchCommand) -> None:
        cursor = self._cursor(command.name)
        count = command.count
        if command.absolute and count is not None:
            skip = count - cursor.position - (0 if command.move else 1)
            if skip < 0:
                raise PgError("55000", "cursor can only scan forward")
            await self._skip(cursor, skip)
            count = 0 if command.move else 1
        if command.move:
            moved = await self._skip(cursor, count)
            self.writer.write(messages.command_complete(f"MOVE {moved}"))
            return
        sent = 0
        if count != 0:
            try:
                sent, _ = await self._stream(cursor, portal.formats, count or 0)
            except (PgError, SidecarError) as error:
                self.portals.pop(command.name, None)
                cursor.close(_agent_error(error))
                raise
        self.writer.write(messages.command_complete(f"FETCH {sent}"))

    async def _skip(self, cursor: Portal, count: int | None) -> int:
        skipped = 0
        while count is None or skipped < count:
            budget = None if count is None else count - skipped
            _, taken = await self._work(cursor.take, budget, None)
            if not taken:
                break
            skipped += taken
        return skipped

    def _report(self, names: list[str]) -> None:
        """ParameterStatus for each reported setting a command changed, as PostgreSQL sends."""
        for name in names:
            self.writer.write(messages.parameter_status(name, self.settings.get(name)))


def _tag(prepared: Prepared, rows: int) -> str:
    query = prepared.query
    if isinstance(query, exp.Command) and query.name.upper() == "EXPLAIN":
        return "EXPLAIN"
    if isinstance(query, exp.Command) and query.name.upper() == "SHOW":
        return "SHOW"
    return f"SELECT {rows}"


def _agent_error(error: PgError | SidecarError) -> SidecarError:
    """The error a statement ends with, for its audit line."""
    if isinstance(error, SidecarError):
        return error
    return SidecarError(ErrorCode.INVALID_REQUEST, f"{error.sqlstate}: {error.message}")
