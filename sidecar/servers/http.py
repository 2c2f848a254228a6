"""The HTTP API: SQL in, JSON / Arrow IPC / CSV out, plus health, status and metrics, and the
OpenAI-compatible model routes of sidecar.llm behind the same authentication.

Statements take the path every interface shares (sidecar.gateway: policy, limits, audit).
They run in worker threads (the engine and the sources are blocking) and results stream batch
by batch. The first batch is fetched before the response starts, so errors that happen while a
source opens, or a limit the first batch already passes, still become a proper status code
with a JSON error body; a later one breaks the response off (see `_stream`).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import math
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pyarrow as pa
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from policies.access import Grant
from policies.identity import ANONYMOUS_IDENTITY, Authenticator, Identity
from sidecar.datatools import Caller, DataTools, dataset_status
from sidecar.engine.catalog import DatasetEntry, State
from sidecar.engine.types import sql_type
from sidecar.errors import ErrorCode, SidecarError
from sidecar.gateway import Gateway, QueryRequest, Statement
from sidecar.llm import LlmApi
from sidecar.search import api as search_api
from sidecar.secrets import REDACTOR
from sidecar.servers import formats
from sidecar.servers.mcp import endpoint as mcp

log = logging.getLogger("sidecar.http")
INTERFACE = "http"
MAX_BODY = 1 << 20
OPEN_PATHS = ("/health", "/v1/ready")
STATUS = {
    ErrorCode.SYNTAX: 400,
    ErrorCode.UNDEFINED_TABLE: 404,
    ErrorCode.UNDEFINED_COLUMN: 400,
    ErrorCode.AMBIGUOUS_COLUMN: 400,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.INVALID_PARAMETER: 400,
    ErrorCode.INVALID_REQUEST: 400,
    ErrorCode.TIMEOUT: 504,
    ErrorCode.LIMIT_EXCEEDED: 400,
    ErrorCode.CANCELED: 400,
    ErrorCode.SOURCE: 502,
    ErrorCode.NOT_READY: 503,
    ErrorCode.SHUTTING_DOWN: 503,
    ErrorCode.QUERY: 400,
    ErrorCode.TOO_COMPLEX: 400,
    ErrorCode.OUT_OF_MEMORY: 400,
    ErrorCode.INTERNAL: 500,
}
_DONE = object()


class BrokenOff(Exception):
    """Ends a streamed response without its last chunk, after an error past the status line."""


def error_response(error: SidecarError) -> JSONResponse:
    headers = {}
    if error.code is ErrorCode.UNAUTHENTICATED:
        headers["WWW-Authenticate"] = "Bearer"
    if error.retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(error.retry_after)))
    return JSONResponse(
        {"error": _error_body(error)}, status_code=_status(error), headers=headers or None
    )


def _error_body(error: SidecarError) -> dict[str, object]:
    body = error.to_dict()
    body["message"] = REDACTOR.redact(error.message)
    return body


def _status(error: SidecarError) -> int:
    """429 for a refusal that passes with time (rate, concurrency), 503 for a source that asked
    for a wait (its rate limit: the agent did nothing wrong), else the code's status."""
    if error.code is ErrorCode.LIMIT_EXCEEDED and error.retry_after is not None:
        return 429
    if error.code is ErrorCode.SOURCE and error.retry_after is not None:
        return 503
    return STATUS[error.code]


class _BrokenOffFilter(logging.Filter):
    """uvicorn calls a response left without its last chunk an ASGI error; here that is on
    purpose, and BatchStream's warning says why. So is a response the stop cut once its grace
    was over (uvicorn cancels it, and logged the cancel with a traceback): its client had
    stopped reading, and its statement's audit line says it was ended."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError):
            return False
        return record.getMessage() != "ASGI callable returned without completing response."


logging.getLogger("uvicorn.error").addFilter(_BrokenOffFilter())


class BatchStream(StreamingResponse):
    """A streamed result; one that fails past its status line is broken off (no last chunk)."""

    async def stream_response(self, send: Send) -> None:
        try:
            await super().stream_response(send)
        except BrokenOff as broken:
            log.warning("response broken off: %s", REDACTOR.redact(str(broken.args[0])))


class AuthMiddleware:
    """Every path but the probes needs a key when runtime.auth.api_keys is set."""

    def __init__(self, app: ASGIApp, authenticator: Authenticator, gateway: Gateway) -> None:
        self.app = app
        self.authenticator = authenticator
        self.gateway = gateway

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        key = headers.get("x-api-key")
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            key = token.strip()
        try:
            scope.setdefault("state", {})["identity"] = self.authenticator.identify(key)
        except SidecarError as error:
            client = scope.get("client")
            address = f"{client[0]}:{client[1]}" if client else ""
            is_mcp = mcp.is_mcp(scope["path"])
            interface = mcp.INTERFACE if is_mcp else INTERFACE
            self.gateway.auth_failed(interface, address, "", error.message)
            refusal = mcp.refusal(error) if is_mcp else error_response(error)
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)


class HttpApi:
    def __init__(
        self, gateway: Gateway, authenticator: Authenticator, llm: LlmApi | None = None
    ) -> None:
        self.gateway = gateway
        self.engine = gateway.engine
        self.metrics = gateway.metrics
        self.authenticator = authenticator
        self.llm = llm
        self.tools = DataTools(gateway)

    def app(self) -> Starlette:
        mcp_endpoint = mcp.Endpoint(self._mcp_transport)
        routes = [
            Route("/health", self.health),
            Route("/v1/ready", self.ready),
            Route("/v1/sql", self.sql, methods=["POST"]),
            Route("/v1/search", self.search, methods=["POST"]),
            Route("/v1/datasets", self.datasets),
            Route("/v1/status", self.status),
            Route("/v1/datasets/{name}/acceleration/refresh", self.refresh, methods=["POST"]),
            Route("/metrics", self.prometheus),
            Route(mcp.PATH, mcp_endpoint),
            *(self.llm.routes() if self.llm is not None else []),
        ]
        middleware = [
            Middleware(AuthMiddleware, authenticator=self.authenticator, gateway=self.gateway)
        ]
        return Starlette(
            routes=routes,
            middleware=middleware,
            exception_handlers={ClientDisconnect: _client_gone},
            lifespan=lambda app: mcp_endpoint.running(),
        )

    def _mcp_transport(self) -> mcp.Transport:
        from sidecar.servers.mcp.server import McpServer

        return McpServer(self.tools, self.status_body).transport()

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def ready(self, request: Request) -> Response:
        """Open to probes, so under policies it names only what an anonymous caller sees."""
        grant = self.engine.access.grant(ANONYMOUS_IDENTITY)
        waiting = [e for e in self.engine.catalog.datasets.values() if not e.available]
        shown = [
            {
                "name": e.name,
                "state": e.state.value,
                "last_error": grant.readable_error(e.name, e.last_error),
            }
            for e in waiting
            if grant.sees(e.name)
        ]
        indexes = self.engine.search.waiting()
        body: dict[str, Any] = {"ready": not waiting and not indexes, "datasets": shown}
        stale = [
            {
                "name": e.name,
                "last_error": grant.readable_error(e.name, e.last_error),
                "next_refresh_at": e.next_refresh_at,
            }
            for e in self.engine.catalog.datasets.values()
            if e.state is State.STALE and grant.sees(e.name)
        ]
        if stale:  # answering from a copy whose refresh failed: ready, and retried
            body["stale"] = stale
        if indexes:
            body["search"] = [
                {
                    "name": i.dataset.name,
                    "state": i.state,
                    "last_error": grant.readable_error(i.dataset.name, i.error),
                }
                for i in indexes
                if grant.sees(i.dataset.name)
            ]
        return JSONResponse(body, status_code=200 if body["ready"] else 503)

    async def datasets(self, request: Request) -> Response:
        grant = self.engine.access.grant(_identity(request))
        relations = await anyio.to_thread.run_sync(self.engine.catalog.relations, grant)
        items: list[dict[str, Any]] = []
        for relation in relations:
            entry = relation.entry
            item: dict[str, Any] = {
                "name": relation.name,
                "kind": "dataset" if entry is not None else "view",
                "connector": entry.config.scheme if entry is not None else "view",
                "description": relation.description,
            }
            if entry is None:
                item["sql"] = relation.sql
            item["columns"] = _columns(relation.schema)
            items.append(item)
        return JSONResponse(items)

    async def status(self, request: Request) -> Response:
        return JSONResponse(self.status_body(_identity(request)))

    def status_body(self, identity: Identity) -> dict[str, Any]:
        """The sidecar's state as `identity` may see it: /v1/status, and MCP's status resource."""
        grant = self.engine.access.grant(identity)
        datasets = [
            self._dataset_status(entry, grant)
            for entry in self.engine.catalog.datasets.values()
            if grant.sees(entry.name)
        ]
        body: dict[str, Any] = {
            "name": self.engine.config.name,
            "ready": self.engine.ready,
            "datasets": datasets,
        }
        if self.llm is not None:
            body["models"] = self.llm.models.status()
        return body

    async def prometheus(self, request: Request) -> Response:
        grant = self.engine.access.grant(_identity(request))
        return Response(self.metrics.render(grant), media_type="text/plain; version=0.0.4")

    async def sql(self, request: Request) -> Response:
        media = formats.negotiate(request.headers.get("accept"))
        identity, client = _identity(request), _client(request)
        try:
            if media is None:
                raise SidecarError(
                    ErrorCode.INVALID_REQUEST,
                    f"cannot produce {request.headers.get('accept')}",
                    hint="accept one of: " + ", ".join(formats.MEDIA_TYPES),
                )
            sql, parameters = await _read_query(request)
            self.engine.bounds.check_parameters(parameters)
        except SidecarError as error:
            self.gateway.refuse(QueryRequest("", identity, INTERFACE, client=client), error)
            return error_response(error)
        statement = self.gateway.statement(
            QueryRequest(sql, identity, INTERFACE, parameters, client)
        )
        watcher = asyncio.ensure_future(_cancel_when_gone(request, statement))
        try:
            begun = await statement.off_loop(_begin, statement, media)
        except SidecarError as error:
            return error_response(error)
        except BaseException:
            statement.close(SidecarError(ErrorCode.CANCELED, "the client went away"))
            raise
        finally:
            watcher.cancel()
        headers = {"Results-Cache-Status": statement.cache_status}
        if isinstance(begun, bytes):
            return Response(begun, media_type=media, headers=headers)
        body = self._stream(media, statement, *begun)
        return BatchStream(body, media_type=media, headers=headers)

    def _dataset_status(self, entry: DatasetEntry, grant: Grant) -> dict[str, Any]:
        status = dataset_status(entry, grant)
        index = self.engine.search.entries.get(entry.name.lower())
        if index is not None:
            status["search"] = index.status(grant)
        return status

    async def search(self, request: Request) -> Response:
        """Ranked hits with scores and snippets; each dataset's search is one SQL statement on
        the query path, run as the caller within its query timeout."""
        started = time.perf_counter()
        caller = Caller(_identity(request), INTERFACE, _client(request))
        try:
            body = search_api.parse_request(_json(await _read_text(request), "a JSON object"))
            hits = await self.tools.search(body, caller)
        except SidecarError as error:
            return error_response(error)
        took = round((time.perf_counter() - started) * 1000, 3)
        return JSONResponse({"hits": hits, "took_ms": took})

    async def refresh(self, request: Request) -> Response:
        """On-demand refresh of an accelerated dataset; answers once the copy is fresh."""
        name = request.path_params["name"]
        identity = _identity(request)
        try:  # a refresh reads the whole source: it takes a rate token like a statement
            limiter = self.gateway.limiter
            limiter.admit(identity, limiter.governing(identity))
            entry = await anyio.to_thread.run_sync(self.engine.refresh, name, identity)
        except SidecarError as error:
            return error_response(error)
        grant = self.engine.access.grant(identity)
        return JSONResponse(self._dataset_status(entry, grant))

    async def _stream(
        self,
        media: str,
        statement: Statement,
        pulled: list[pa.RecordBatch],
        batches: Iterator[pa.RecordBatch],
    ) -> AsyncIterator[bytes]:
        """The encoded batches. The status line is out by now, so an error from here on (a limit
        passed mid-stream, a source failing) is written at the end of a text body and the
        response is broken off without its last chunk: every HTTP client then reports the
        transfer as incomplete, and an answer is never cut short silently."""
        chunks = formats.encode(media, statement.schema, _released(pulled, batches))
        try:
            while True:
                chunk = await statement.off_loop(next, chunks, _DONE)
                if chunk is _DONE:
                    break
                if chunk:
                    yield chunk
        except SidecarError as error:
            if media != formats.ARROW:
                yield b"\n" + json.dumps({"error": _error_body(error)}).encode() + b"\n"
            raise BrokenOff(error) from None
        finally:
            statement.close(SidecarError(ErrorCode.CANCELED, "the client went away"))


def _released(
    pulled: list[pa.RecordBatch], rest: Iterator[pa.RecordBatch]
) -> Iterator[pa.RecordBatch]:
    """`pulled`, each batch let go once handed on, then `rest`: a chain over the list kept the
    first two batches to the end of the stream."""
    while pulled:
        yield pulled.pop(0)
    yield from rest


async def _cancel_when_gone(request: Request, statement: Statement) -> None:
    """Cancel `statement` if its client hangs up before the first rows: until they are
    written nothing would notice, and an aggregate ran on to its timeout for nobody. The body
    is read by now, so the next ASGI message is the disconnect."""
    while (await request.receive())["type"] != "http.disconnect":
        pass
    statement.cancel()


def _begin(
    statement: Statement, media: str
) -> bytes | tuple[list[pa.RecordBatch], Iterator[pa.RecordBatch]]:
    """Open the statement and pull its first batches, in one step off the event loop: an answer
    of at most one batch (a small query's) comes back encoded whole, one hand-off to a thread
    instead of three; a longer one comes back as its first two batches and the rest, to be
    streamed. Errors until then still become a status code and a JSON error body."""
    statement.open()
    batches = iter(statement)
    pulled = list(itertools.islice(batches, 2))
    if len(pulled) == 2:
        return pulled, batches
    return b"".join(formats.encode(media, statement.schema, iter(pulled)))


async def _client_gone(request: Request, error: Exception) -> Response:
    """A client that hangs up before its request body is complete: one line, no traceback
    (and the answer goes nowhere)."""
    client = f"{request.client.host}:{request.client.port}" if request.client else "a client"
    log.warning(
        "%s %s from %s: the client disconnected before sending the whole request body",
        request.method,
        request.url.path,
        client,
    )
    return Response(status_code=400)


async def _read_text(request: Request) -> str:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise SidecarError(
                ErrorCode.INVALID_REQUEST,
                f"request body exceeds {MAX_BODY} bytes",
                hint="send shorter SQL; bind large values as parameters",
            )
    try:
        return body.decode()
    except UnicodeDecodeError:
        raise SidecarError(ErrorCode.INVALID_REQUEST, "request body is not UTF-8") from None


def _json(text: str, example: str) -> Any:
    try:
        return json.loads(text, parse_float=_double)
    except json.JSONDecodeError as error:
        raise SidecarError(
            ErrorCode.INVALID_REQUEST,
            f"invalid JSON body: {error.msg} at line {error.lineno} column {error.colno}",
            hint=f"send {example}",
        ) from None
    except RecursionError:  # [[[[...]]]] past the parser's depth: a 400, not a 500
        raise SidecarError(
            ErrorCode.INVALID_REQUEST,
            "invalid JSON body: it nests arrays or objects too deeply",
            hint=f"send {example}",
        ) from None


def _double(text: str) -> float:
    """A JSON number with a fraction or exponent; one past a double's range was infinity."""
    value = float(text)
    if math.isinf(value):
        raise SidecarError(
            ErrorCode.INVALID_REQUEST,
            f"the number {text[:40]} is out of range for type double precision",
            hint='send it as a string and cast it where it is used, e.g. "$1::numeric"',
        )
    return value


async def _read_query(request: Request) -> tuple[str, list[Any]]:
    text = await _read_text(request)
    if "json" not in request.headers.get("content-type", ""):
        return text, []
    payload = _json(text, '{"sql": "SELECT ...", "parameters": [...]} or plain SQL as text/plain')
    sql = payload.get("sql") if isinstance(payload, dict) else None
    parameters = payload.get("parameters", []) if isinstance(payload, dict) else None
    if not isinstance(sql, str) or not isinstance(parameters, list):
        raise SidecarError(
            ErrorCode.INVALID_REQUEST,
            'the JSON body needs "sql" (a string) and optionally "parameters" (a list)',
            hint='e.g. {"sql": "SELECT * FROM orders WHERE id = $1", "parameters": [42]}',
        )
    return sql, parameters


def _client(request: Request) -> str:
    return f"{request.client.host}:{request.client.port}" if request.client else ""


def _identity(request: Request) -> Identity:
    identity = request.scope.get("state", {}).get("identity")
    return identity if identity is not None else ANONYMOUS_IDENTITY


def _columns(schema: pa.Schema | None) -> list[dict[str, str]]:
    return [{"name": f.name, "type": sql_type(f.type)} for f in schema or []]
