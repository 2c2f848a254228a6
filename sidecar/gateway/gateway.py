"""The one query path: every interface hands a statement here, and nowhere else.

A server builds a `QueryRequest` (SQL, parameters, identity, interface, client address), asks
the gateway for a `Statement`, opens it and iterates its batches:

    statement = gateway.statement(request)
    statement.open()                 # guard -> policy -> plan (engine), then limits
    for batch in statement: ...      # execute, rows and bytes counted against the limits
    statement.close(error)           # audit line and metrics, exactly once

So a new interface cannot forget a policy, a limit or an audit line: there is nothing else
to call. The statement's deadline (the identity's query_timeout, else the runtime's) runs from
the moment the request arrived; a watchdog cancels the engine's work when it passes. Servers
that must answer even while a worker thread is stuck in a source read use `off_loop` (async)
or `within_deadline` (threads), which abandon the work at the deadline.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple, Protocol, TypeVar

import anyio
import pyarrow as pa

from sidecar.engine import Engine
from sidecar.engine.cache import BYPASS
from sidecar.engine.interrupt import stoppable
from sidecar.engine.lookups import LookupResult
from sidecar.errors import ErrorCode, SidecarError, shutting_down
from sidecar.gateway.audit import AuditLog
from sidecar.gateway.helpers import HELPERS
from sidecar.gateway.limits import Governing, Limiter, LimitExceeded, timed_out, too_large
from sidecar.gateway.request import QueryRequest
from sidecar.gateway.watchdog import Alarm, Watchdog
from sidecar.metrics import Metrics, Series
from sidecar.secrets import REDACTOR

log = logging.getLogger("sidecar.gateway")
T = TypeVar("T")
MAX_AUDITED_SQL = 64 << 10
AT_ONCE_ROWS = 256  # a lookup answered on the caller's thread: encoding it must not stall it
BATCH_SHARE = 4  # one batch may hold at most this fraction of runtime.memory_limit
REFUSALS = (ErrorCode.FORBIDDEN, ErrorCode.LIMIT_EXCEEDED, ErrorCode.TIMEOUT)
NO_NEW_STATEMENTS = "the sidecar is stopping and takes no new statements"


class Result(Protocol):
    """A running answer as the engine hands it over (QueryResult, CachedResult, TableResult)."""

    schema: pa.Schema
    cache_status: str

    def __iter__(self) -> Iterator[pa.RecordBatch]: ...

    def cancel(self) -> None: ...

    @property
    def relations(self) -> list[str]: ...

    @property
    def source_queries(self) -> int: ...


class Tally(Protocol):
    """What a statement's audit line counts: its result, and the rows and bytes it gave."""

    @property
    def result(self) -> Result | None: ...

    @property
    def rows(self) -> int: ...

    @property
    def bytes(self) -> int: ...


class TableResult:
    """A small answer computed whole outside the engine (pg_catalog's shadow catalog), so that
    it too is limited and audited like any statement."""

    cache_status = BYPASS
    source_queries = 0

    def __init__(self, table: pa.Table, relations: Sequence[str] = ()) -> None:
        self.table = table
        self.schema = table.schema
        self.relations = list(relations)

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        return iter(self.table.to_batches())

    def cancel(self) -> None:
        return None


class Gateway:
    def __init__(self, engine: Engine, metrics: Metrics, audit: AuditLog) -> None:
        self.engine = engine
        self.metrics = metrics
        self.audit = audit
        self.limiter = Limiter(engine.config)
        self.watchdog = Watchdog()
        self._queries = Series(metrics.queries)
        self._rows = Series(metrics.rows)
        self._bytes = Series(metrics.bytes)
        self._latency = Series(metrics.latency)
        self._lanes = Series(metrics.lanes)
        self.inflight = Series(metrics.inflight)
        # The statements in progress, so a stopping sidecar can end them (stop, cancel_running)
        self._running: set[Statement] = set()
        self._running_lock = threading.Lock()
        self.stopping = False
        self.stopped_at: float | None = None  # time.monotonic() of the stop, once stopping
        # DataFusion's pool bounds its operators, not what a projection computes: a thousand
        # rows of repeat('x', 1000000) came out as one gigabyte batch, which every server's
        # encoder then worked through for minutes, long after the statement had timed out.
        self.max_batch = engine.config.runtime.memory_bytes // BATCH_SHARE

    def statement(self, request: QueryRequest) -> Statement:
        """The statement for `request`, its clock running; nothing is planned yet."""
        return Statement(self, request)

    def at_once(self, request: QueryRequest) -> AtOnce | None:
        """The whole statement when the engine answers it at once (a keyed lookup,
        engine.lookup) within every limit of its identity, for a server that answers it in one
        step on its event loop: no Statement, thread, alarm or slot (counted in
        sidecar_at_once_answers). None for any statement
        that could wait, fail or be refused, which takes the `statement` path (that one says
        why); nothing is spent or recorded until `AtOnce.done`."""
        if self.stopping:
            return None
        governing = self.limiter.governing(request.identity)
        if governing.limits.max_concurrent is not None:
            return None
        try:
            result = self.engine.lookup(request.sql, request.parameters, request.identity)
        except SidecarError:
            return None
        if result is None:
            return None
        rows = result.num_rows
        size = result.nbytes if result.nbytes is not None else result.arrow().nbytes
        if rows > AT_ONCE_ROWS or self.breach(request, governing, size, rows, size) is not None:
            return None
        return AtOnce(self, request, governing, result, rows, size)

    def breach(
        self, request: QueryRequest, governing: Governing, batch: int, rows: int, size: int
    ) -> SidecarError | None:
        """Why a result cannot go on: a batch of `batch` bytes past the bound one batch may
        take, or `rows` and `size` (the result's so far) past the identity's max_rows or
        max_bytes. One check for a Statement's batches and an at-once answer alike."""
        if batch > self.max_batch:
            return oversized(batch, self.max_batch)
        limits = governing.limits
        if limits.max_rows is not None and rows > limits.max_rows:
            return too_large("max_rows", request.identity, governing)
        if limits.max_bytes is not None and size > limits.max_bytes:
            return too_large("max_bytes", request.identity, governing)
        return None

    def describe(
        self,
        request: QueryRequest,
        run: Callable[[], Result] | None = None,
        *,
        tentative: bool = False,
    ) -> pa.Schema:
        """The result schema of `request`, planned as its identity but not run, and audited
        only when it fails: protocols that describe a statement before executing it (pg
        Describe, Flight prepared statements) execute it afterwards, and that execution is the
        record. A `tentative` description (with stand-in parameters) is not audited at all.
        While the sidecar stops, a description is refused, as the execution would be, and
        audited even when tentative: what a client prepares then is never executed."""
        if self.stopping:
            refused = shutting_down(NO_NEW_STATEMENTS)
            self.record(request, refused)
            raise refused
        limiter = self.limiter
        timeout, setting = limiter.timeout(limiter.governing(request.identity), request.timeout)
        stop = threading.Event()  # planning past the statement's timeout stops (interrupt.py)
        alarm = self.watchdog.arm(request.received + timeout, stop.set)
        try:
            with stoppable(stop):
                result = run() if run is not None else self._plan(request)
        except Exception as error:
            failure = agent_error(error)
            if stop.is_set() and failure.code is ErrorCode.CANCELED:
                failure = timed_out(timeout, setting)
            if not tentative:
                self.record(request, failure)
            raise failure from None
        finally:
            alarm.disarm()
        result.cancel()
        return result.schema

    def parameter_count(self, request: QueryRequest) -> int:
        """How many parameters the statement takes, for protocols that describe them before
        binding; the guard checks it first, and a refusal is audited."""
        try:
            return self.engine.parameter_count(request.sql)
        except SidecarError as error:
            self.record(request, error)
            raise

    def refuse(self, request: QueryRequest, error: SidecarError) -> None:
        """Record a statement turned away before it reached the path (a malformed request)."""
        self.record(request, error)

    def auth_failed(self, interface: str, client: str, user: str, reason: str) -> None:
        """A failed login: its audit line (the name tried, never the key) and its counter."""
        self.metrics.auth_failures.labels(interface).inc()
        self.audit.write(
            {
                "identity": REDACTOR.redact(user),
                "interface": interface,
                "client": client,
                "decision": "auth_failed",
                "code": ErrorCode.UNAUTHENTICATED.value,
                "reason": REDACTOR.redact(reason),
            }
        )

    def _plan(self, request: QueryRequest) -> Result:
        return self.engine.query(request.sql, request.parameters, request.identity)

    def record(
        self,
        request: QueryRequest,
        error: SidecarError | None,
        statement: Tally | None = None,
    ) -> None:
        """The statement's audit line and metrics."""
        identity, interface = request.identity.name, request.interface
        outcome = "ok" if error is None else error.code.value
        self._queries(interface, outcome, identity).inc()
        if error is not None and error.code in REFUSALS:
            self.metrics.refusals.labels(identity, _reason(error)).inc()
        result = statement.result if statement is not None else None
        rows = statement.rows if statement is not None else 0
        size = statement.bytes if statement is not None else 0
        elapsed = time.monotonic() - request.received
        lane = getattr(result, "lane", None)
        if statement is not None:
            self._rows(interface, identity).inc(rows)
            self._bytes(interface, identity).inc(size)
            self._latency(interface).observe(elapsed)
        if lane is not None and error is None:
            self._lanes(interface, lane).inc()
        self._audit(request, error, result, rows, size, elapsed)

    def answered(self, answer: AtOnce) -> None:
        """An at-once answer's audit line and metrics: the same as `record` writes, the
        metrics tallied until the next scrape (metrics.Answered)."""
        request, result = answer.request, answer.result
        elapsed = time.monotonic() - request.received
        self.metrics.answered.add(
            request.interface, request.identity.name, result.lane, answer.rows, answer.bytes,
            elapsed,
        )  # fmt: skip
        self._audit(request, None, result, answer.rows, answer.bytes, elapsed)

    def _audit(
        self,
        request: QueryRequest,
        error: SidecarError | None,
        result: Result | LookupResult | None,
        rows: int,
        size: int,
        elapsed: float,
    ) -> None:
        if not self.audit.enabled:
            return
        decision = "ok"
        if error is not None:
            decision = "refused" if error.code in REFUSALS else "error"
        sql = REDACTOR.redact(request.sql).rstrip()
        if len(sql) > MAX_AUDITED_SQL:
            sql = sql[:MAX_AUDITED_SQL] + f"... ({len(sql) - MAX_AUDITED_SQL} more characters)"
        self.audit.write(
            {
                "identity": request.identity.name,
                "interface": request.interface,
                "client": request.client,
                "sql": sql,
                "decision": decision,
                "code": None if error is None else error.code.value,
                "reason": None if error is None else REDACTOR.redact(error.message),
                "datasets": result.relations if result is not None else [],
                "rows": rows,
                "bytes": size,
                "duration_ms": round(elapsed * 1000, 3),
                "cache": result.cache_status if result is not None else None,
                "lane": getattr(result, "lane", None),
                "source_queries": result.source_queries if result is not None else 0,
            }
        )

    def stop(self) -> None:
        """The sidecar is stopping: statements not yet opened are refused from now on, while
        those in progress finish (runtime.shutdown_grace) or are cancelled (cancel_running)."""
        self.stopped_at = time.monotonic()
        self.stopping = True

    def cancel_running(self, reason: str) -> int:
        """End every statement in progress now, SHUTTING_DOWN with `reason`: its audit line is
        written here, so none is lost however long its thread takes to notice. Returns how
        many were ended."""
        with self._running_lock:
            running = list(self._running)
        error = shutting_down(reason)
        for statement in running:
            statement.end(error)
        return len(running)

    def close(self) -> None:
        self.audit.close()


class AtOnce(NamedTuple):
    """A statement the engine answered at once, its rows within the identity's limits."""

    gateway: Gateway
    request: QueryRequest
    governing: Governing
    result: LookupResult
    rows: int
    bytes: int

    def done(self) -> bool:
        """Take the identity's rate token and write the statement's audit line and metrics;
        False, with nothing taken or written, when the rate limit refuses it: the `statement`
        path then refuses it with its reason and retry time."""
        try:
            self.gateway.limiter.admit(self.request.identity, self.governing)
        except LimitExceeded:
            return False
        self.gateway.answered(self)
        return True


class Statement:
    """One statement on the path, from its request to its audit line.

    Thread-safe where it must be: a server may close it from the event loop while a worker
    thread is still inside `open` or a batch; whatever that thread produces afterwards is
    released, and the statement is recorded once.
    """

    def __init__(self, gateway: Gateway, request: QueryRequest) -> None:
        self.gateway = gateway
        self.request = request
        limiter = gateway.limiter
        self.governing = limiter.governing(request.identity)
        self.timeout, self.setting = limiter.timeout(self.governing, request.timeout)
        self.result: Result | None = None
        self.rows = 0
        self.bytes = 0
        self._release: Callable[[], None] | None = None
        self._lock = threading.Lock()
        self._finished = False
        self._expired = False
        self.cancelled = False
        self._stop: threading.Event | None = None  # planning's (interrupt.py), made by open
        self.at_once = False
        # The deadline runs from now; its watchdog alarm is set by what can outlive it (open,
        # restart_clock): a statement answered at once on the caller's thread needs none.
        self.deadline = request.received + self.timeout
        self._alarm: Alarm | None = None
        self._ended: SidecarError | None = None  # why the sidecar ended it (cancel_running)
        gateway.inflight(request.interface).inc()
        with gateway._running_lock:
            gateway._running.add(self)

    @property
    def schema(self) -> pa.Schema:
        assert self.result is not None, "open() the statement first"
        return self.result.schema

    @property
    def cache_status(self) -> str:
        return self.result.cache_status if self.result is not None else BYPASS

    # --- the path -------------------------------------------------------------------------------

    def open(self, run: Callable[[], Result] | None = None) -> Statement:
        """Guard, policy and plan (the engine, or `run` for an answer made elsewhere), then the
        identity's rate limit. Blocks: call it off the event loop."""
        try:
            self._refuse_when_stopping()
            if self._alarm is None:
                self._arm(self.deadline)
            with stoppable(self._stopper()):
                result = run() if run is not None else self.gateway._plan(self.request)
            self._keep(result=result)
            self.gateway.limiter.admit(self.request.identity, self.governing)
        except Exception as error:
            raise self._fail(error) from None
        return self

    def open_at_once(self) -> bool:
        """Open the statement here and now when the engine has its answer at once (a keyed
        lookup, engine.lookup) and no limit can make it wait (no max_concurrent): a server
        on an event loop then needs no thread to open it, and `at_once` says its rows are in
        memory and few enough to be iterated and encoded there too. False: `open` it as
        usual."""
        if self.governing.limits.max_concurrent is not None:
            return False
        request = self.request
        try:
            self._refuse_when_stopping()
            result = self.gateway.engine.lookup(request.sql, request.parameters, request.identity)
            if result is None:
                return False
            self._keep(result=result)
            self.gateway.limiter.admit(request.identity, self.governing)
        except Exception as error:
            raise self._fail(error) from None
        self.at_once = result.num_rows <= AT_ONCE_ROWS
        return True

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        """The result's batches, once one of the identity's max_concurrent slots is free, and
        within its max_rows and max_bytes: a result that outgrows them fails, it is never cut
        short silently. Blocks: iterate off the event loop."""
        assert self.result is not None, "open() the statement first"
        try:
            limiter = self.gateway.limiter
            self._keep(release=limiter.occupy(self.request.identity, self.governing, self.deadline))
            # pyarrow computes nbytes per call (9 µs for a key-index answer's row, which the
            # lookup knows already: sizes.py)
            known = self.result.nbytes if isinstance(self.result, LookupResult) else None
            for batch in self.result:
                nbytes = known if known is not None else batch.nbytes
                rows, size = self.rows + batch.num_rows, self.bytes + nbytes
                breach = self.gateway.breach(self.request, self.governing, nbytes, rows, size)
                if breach is not None:
                    raise breach
                self.rows, self.bytes = rows, size
                yield batch
        except Exception as error:
            raise self._fail(error) from None
        self.close()

    def cancel(self) -> None:
        """Stop the engine's work (a client's cancel); the iteration then fails CANCELED."""
        self.cancelled = True
        self._stopper().set()
        if self.result is not None:
            self.result.cancel()

    def end(self, error: SidecarError) -> None:
        """Cancel the statement and record it with `error` now (the sidecar stops): the
        server's thread, once the engine lets go, fails with the same error."""
        self._ended = error
        self.cancel()
        self.close(error)

    def close(self, error: SidecarError | None = None) -> None:
        """The end of the statement, whether it ran out, failed or the client stopped early:
        stops what still runs, frees its concurrency slot, writes its audit line and metrics."""
        with self._lock:
            if self._finished:
                return
            self._finished = True
            release, self._release = self._release, None
        with self.gateway._running_lock:
            self.gateway._running.discard(self)
        self._disarm()
        self.gateway.inflight(self.request.interface).dec()
        if self.result is not None:
            self.result.cancel()
        if release is not None:
            release()
        if error is not None and error.code is ErrorCode.CANCELED and self._expired:
            error = self.timeout_error()
        self.gateway.record(self.request, error, self)

    # --- deadlines ------------------------------------------------------------------------------

    def restart_clock(self) -> None:
        """A new deadline from now: each pg Execute or FETCH, and a Flight DoGet, is timed on
        its own, as PostgreSQL times each statement of a cursor. A statement answered at once
        is iterated on the caller's thread, where no alarm could stop it: it gets none."""
        self._disarm()
        if self.at_once:
            self.deadline = time.monotonic() + self.timeout
        else:
            self._arm(time.monotonic() + self.timeout)

    def stop_clock(self) -> None:
        """No deadline while the client holds the statement between steps (a suspended pg
        portal, a Flight ticket not yet redeemed): only the sidecar's own work is timed."""
        self._disarm()
        self.deadline = math.inf

    def timeout_error(self) -> SidecarError:
        return timed_out(self.timeout, self.setting)

    async def off_loop(self, function: Callable[..., T], *args: Any) -> T:
        """Blocking work of this statement (planning, pulling, encoding) on a worker thread;
        at the deadline the statement ends with TIMEOUT and the thread is left behind."""
        with anyio.move_on_after(max(self.deadline - time.monotonic(), 0)):
            return await anyio.to_thread.run_sync(function, *args, abandon_on_cancel=True)
        raise self._expire_now()

    def within_deadline(self, function: Callable[..., T], *args: Any) -> T:
        """`off_loop` for servers on threads (Flight): the work runs on a helper thread that is
        abandoned at the deadline, so a source stuck in a read cannot hold the answer back."""
        job = HELPERS.run(function, *args)
        if not job.wait(max(self.deadline - time.monotonic(), 0)):
            raise self._expire_now()
        return job.outcome()

    def _arm(self, deadline: float) -> None:
        self.deadline = deadline
        self._alarm = self.gateway.watchdog.arm(deadline, self._expire)

    def _disarm(self) -> None:
        if self._alarm is not None:
            self._alarm.disarm()

    def _stopper(self) -> threading.Event:
        """The event that stops planning (interrupt.py): made on first need, since a
        statement answered at once is never planned."""
        with self._lock:
            if self._stop is None:
                self._stop = threading.Event()
            return self._stop

    def _expire(self) -> None:
        self._expired = True
        self.cancel()

    def _expire_now(self) -> SidecarError:
        self._expire()
        error = self.timeout_error()
        self.close(error)
        return error

    # --- bookkeeping ----------------------------------------------------------------------------

    def _keep(
        self, *, result: Result | None = None, release: Callable[[], None] | None = None
    ) -> None:
        """Hold what `open` acquired, unless the statement already ended (abandoned at its
        deadline or cancelled meanwhile): then give it back at once."""
        with self._lock:
            if not self._finished:
                if result is not None:
                    self.result = result
                self._release = release or self._release
                return
        if result is not None:
            result.cancel()
        if release is not None:
            release()
        raise SidecarError(ErrorCode.CANCELED, "the statement ended while it was being opened")

    def _refuse_when_stopping(self) -> None:
        if self.gateway.stopping:
            raise shutting_down(NO_NEW_STATEMENTS)

    def _fail(self, error: BaseException) -> SidecarError:
        if self._ended is not None:
            self.close(self._ended)
            return self._ended
        failure = agent_error(error)
        if self._expired and failure.code is ErrorCode.CANCELED:
            failure = self.timeout_error()
        self.close(failure)
        return failure


def agent_error(error: BaseException) -> SidecarError:
    """What the agent is told: a SidecarError as raised, anything else an INTERNAL error whose
    details go to the log (a bug must cost one statement, not the process)."""
    if isinstance(error, SidecarError):
        return error
    log.error("statement failed", exc_info=error)
    return SidecarError(
        ErrorCode.INTERNAL,
        REDACTOR.redact(f"{type(error).__name__}: {error}"),
        hint="this is a bug in the sidecar; the log has the details",
    )


def _reason(error: SidecarError) -> str:
    if isinstance(error, LimitExceeded):
        return error.limit
    if error.code is ErrorCode.TIMEOUT:
        return "query_timeout"
    return error.code.value


def oversized(size: int, limit: int) -> SidecarError:
    """The refusal of a batch larger than a server may encode (a quarter of the memory)."""
    return SidecarError(
        ErrorCode.OUT_OF_MEMORY,
        f"one batch of the result holds {size >> 20} MiB, more than the {limit >> 20} MiB one "
        f"batch may take (a {BATCH_SHARE}th of runtime.memory_limit)",
        hint="select fewer or smaller values per row (large values built per row, such as "
        "repeat() or lpad(), add up), or raise runtime.memory_limit",
    )
