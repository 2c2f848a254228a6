"""`sidecar mcp`: the sidecar's MCP server on stdin/stdout, for clients that launch a command
(Claude Desktop, Cursor, IDE agents), as a proxy to a running sidecar's /v1/mcp.

An SDK server on stdio forwards each request through an SDK client to the sidecar with the API
key, so the tools, the identity, the policies and the audit are exactly those of /v1/mcp: the
proxy holds no data and knows no dataset. The connection is made at start and again whenever
it was lost, so a sidecar that starts later or restarts is picked up; until then every request
fails with what to do, and nothing but MCP is ever written to stdout.
"""

from __future__ import annotations

import logging
import os
import select
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import anyio
import httpx2
import mcp_types as types
from anyio.abc import TaskGroup, TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.server import Server
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import MCPError
from mcp.shared.message import SessionMessage
from pydantic import ValidationError

from sidecar import __version__
from sidecar.servers.mcp.envelope import message_error

log = logging.getLogger("sidecar.mcp")
# The MCP SDK's own client defaults: a streamed answer may be read for minutes.
TIMEOUT = httpx2.Timeout(30.0, read=300.0)
CANCELLED = "notifications/cancelled"
READER_POLL = 0.25  # seconds between looks at whether the client still reads stdout
T = TypeVar("T")
R = TypeVar("R", bound=types.Result)


class Unreachable(Exception):
    """The sidecar could not be reached; the message says where and what to check."""


class Proxy:
    def __init__(self, url: str, api_key: str | None) -> None:
        self.url = url
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client: Client | None = None
        self._stop: anyio.Event | None = None
        self._lock = anyio.Lock()
        self._tasks: TaskGroup | None = None

    async def serve(self) -> None:
        """Serve MCP on stdio until the client closes stdin and every request read is answered,
        or until it stops reading stdout (it quit): then what still runs is dropped, and the
        connection to the sidecar with it, which cancels the sidecar's work."""
        reader = _Reader(sys.stdout.fileno())  # before stdio_server moves fd 1 aside
        async with anyio.create_task_group() as tasks:
            self._tasks = tasks
            tasks.start_soon(reader.watch, tasks.cancel_scope)
            instructions = None
            try:
                instructions = (await self._remote()).instructions
            except (Unreachable, MCPError) as error:
                log.warning("%s; requests will fail until it answers", error)
            server = self._server(instructions)
            async with stdio_server() as (read, write):
                forward, inbound = anyio.create_memory_object_stream[SessionMessage | Exception]()
                outbound, answers = anyio.create_memory_object_stream[SessionMessage]()
                pending = _Pending()
                tasks.start_soon(_sieve, read, write, forward, pending)
                tasks.start_soon(_answer, answers, write, pending)
                await server.run(inbound, outbound, server.create_initialization_options())
                await outbound.aclose()
            await self._disconnect()
            tasks.cancel_scope.cancel()  # the reader's watch

    def _server(self, instructions: str | None) -> Server[Any]:
        """Each request is asked of the sidecar as it came; the answers lose only the sidecar's
        own `_meta` (its server info), since this process is the client's server."""

        def relay(
            ask: Callable[[Client, Any], Awaitable[R]],
        ) -> Callable[[ServerRequestContext[Any], Any], Awaitable[R]]:
            async def handler(ctx: ServerRequestContext[Any], params: Any) -> R:
                answer = await self._forward(lambda client: ask(client, params))
                return answer.model_copy(update={"meta": None})

            return handler

        return Server(
            "agent-sidecar",
            version=__version__,
            title="Agent sidecar",
            instructions=instructions,
            on_list_tools=relay(lambda c, p: c.list_tools(cursor=_cursor(p))),
            on_call_tool=relay(lambda c, p: c.call_tool(p.name, p.arguments)),
            on_list_resources=relay(lambda c, p: c.list_resources(cursor=_cursor(p))),
            on_read_resource=relay(lambda c, p: c.read_resource(str(p.uri))),
            on_list_prompts=relay(lambda c, p: c.list_prompts(cursor=_cursor(p))),
            on_get_prompt=relay(lambda c, p: c.get_prompt(p.name, p.arguments)),
        )

    async def _forward(self, request: Callable[[Client], Awaitable[T]]) -> T:
        """One request to the sidecar. Its own errors (a refused key, an unknown tool) pass
        through as they are; a lost connection is made again once; a sidecar that cannot be
        reached is an error that says what to check."""
        for attempt in range(2):
            try:
                return await request(await self._remote())
            except MCPError as error:
                if error.code != types.CONNECTION_CLOSED:
                    raise
                await self._disconnect()
                if attempt:
                    raise MCPError(code=types.INTERNAL_ERROR, message=self._unreachable()) from None
            except Unreachable as error:
                raise MCPError(code=types.INTERNAL_ERROR, message=str(error)) from None
            except Exception as error:
                log.warning("request to %s failed: %s", self.url, _first(error))
                await self._disconnect()
                if attempt:
                    raise MCPError(code=types.INTERNAL_ERROR, message=self._unreachable()) from None
        raise AssertionError("unreachable")

    async def _remote(self) -> Client:
        async with self._lock:
            if self._client is None:
                assert self._tasks is not None
                self._client = await self._tasks.start(self._hold)
            return self._client

    async def _hold(self, *, task_status: TaskStatus[Client]) -> None:
        """Owns one connection (the SDK's client is entered and left in the same task) until
        `_disconnect` ends it or it breaks. A connection that cannot be made fails `start`
        with the sidecar's own refusal (MCPError) or Unreachable; one that breaks later is
        only forgotten, and the next request makes a new one."""
        stop = anyio.Event()
        started = False
        try:
            async with self._connected() as client:
                self._stop = stop
                task_status.started(client)
                started = True
                await stop.wait()
        except Exception as error:
            cause = _first(error)
            if started:
                log.warning("the connection to %s ended: %s", self.url, cause)
                if self._stop is stop:
                    self._client, self._stop = None, None
                return
            if isinstance(cause, MCPError):
                raise cause from None
            raise Unreachable(self._unreachable()) from None

    @asynccontextmanager
    async def _connected(self) -> AsyncIterator[Client]:
        async with (
            httpx2.AsyncClient(headers=self.headers, timeout=TIMEOUT) as http,
            Client(streamable_http_client(self.url, http_client=http), cache=None) as client,
        ):
            yield client

    async def _disconnect(self) -> None:
        async with self._lock:
            if self._stop is not None:
                self._stop.set()
            self._client, self._stop = None, None

    def _unreachable(self) -> str:
        return (
            f"cannot reach the sidecar at {self.url}: is `sidecar run` running there? "
            "(set --url or SIDECAR_URL)"
        )


def _first(error: BaseException) -> BaseException:
    """The first error inside task-group wrappers: what actually went wrong."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return error


class _Pending:
    """The ids of the requests read from stdin and not answered yet."""

    def __init__(self) -> None:
        self.ids: set[types.RequestId] = set()
        self.none = anyio.Event()
        self.none.set()

    def asked(self, message: SessionMessage) -> None:
        """A request waits for its answer; one the client cancels gets none."""
        sent = message.message
        if isinstance(sent, types.JSONRPCRequest):
            self.ids.add(sent.id)
            if self.none.is_set():
                self.none = anyio.Event()
        elif isinstance(sent, types.JSONRPCNotification) and sent.method == CANCELLED:
            self.ids.discard((sent.params or {}).get("requestId"))  # type: ignore[arg-type]
            if not self.ids:
                self.none.set()

    def answered(self, message: SessionMessage) -> None:
        if isinstance(message.message, types.JSONRPCResponse | types.JSONRPCError):
            self.ids.discard(message.message.id)
            if not self.ids:
                self.none.set()


class _Reader:
    """Whether the client still reads stdout: a pipe whose reading end was closed polls as
    POLLERR on its writing end (a file or a terminal never does)."""

    def __init__(self, fd: int) -> None:
        self.fd = os.dup(fd)

    async def watch(self, scope: anyio.CancelScope) -> None:
        poller = select.poll()
        poller.register(self.fd, 0)  # no event asked for: only errors and hang-ups come back
        try:
            while not poller.poll(0):
                await anyio.sleep(READER_POLL)
            log.warning("the client stopped reading: what still runs is dropped")
            scope.cancel()
        finally:
            os.close(self.fd)


async def _answer(
    answers: MemoryObjectReceiveStream[SessionMessage],
    write: MemoryObjectSendStream[SessionMessage],
    pending: _Pending,
) -> None:
    """The server's messages out to stdout, noting which requests they answer; stdout ends
    after the last one (the SDK's stdio writer waits for that)."""
    async with write, answers:
        async for message in answers:
            await write.send(message)
            pending.answered(message)


async def _sieve(
    read: MemoryObjectReceiveStream[SessionMessage | Exception],
    write: MemoryObjectSendStream[SessionMessage],
    forward: MemoryObjectSendStream[SessionMessage | Exception],
    pending: _Pending,
) -> None:
    """Messages from stdin to the server. A line that is not one JSON-RPC message gets
    JSON-RPC's own error (id null), as /v1/mcp answers it; the SDK's stdio server only logs
    it, so a client waiting on such a request waited for ever. At the end of stdin the server
    is told only once every request is answered: the SDK's server ends at once, dropping the
    answers still being worked on."""
    async with forward:
        async for item in read:
            if isinstance(item, SessionMessage):
                pending.asked(item)
                await forward.send(item)
                continue
            await write.send(SessionMessage(_refusal(item)))
        await pending.none.wait()


def _refusal(failure: Exception) -> types.JSONRPCError:
    """JSON-RPC's answer to a line the SDK could not read as a message: a parse error, the
    envelope's own error when the line is a JSON object (params that are not an object are
    invalid params of that request, under its id: answered with id null, a client waiting on
    it waited for ever), else an invalid request."""
    errors = failure.errors() if isinstance(failure, ValidationError) else []
    if any(error["type"] == "json_invalid" for error in errors):
        parse = types.ErrorData(code=types.PARSE_ERROR, message="Parse error: the line is not JSON")
        return types.JSONRPCError(jsonrpc="2.0", id=None, error=parse)
    # each member of the message union that misses a field reports the whole object as input
    whole = next((error["input"] for error in errors if isinstance(error["input"], dict)), None)
    refused = message_error(whole) if whole is not None else None
    if refused is not None:
        reason, hint = refused.error.message, refused.error.hint
        error = types.ErrorData(code=refused.code, message=f"{reason}; {hint}" if hint else reason)
        return types.JSONRPCError(jsonrpc="2.0", id=refused.request_id, error=error)
    invalid = types.ErrorData(
        code=types.INVALID_REQUEST,
        message="Invalid Request: not one JSON-RPC 2.0 message (a request's id is a "
        "string or an integer; batches are not supported)",
    )
    return types.JSONRPCError(jsonrpc="2.0", id=None, error=invalid)


def _cursor(params: types.PaginatedRequestParams | None) -> str | None:
    return params.cursor if params is not None else None


def endpoint(url: str) -> str:
    """The MCP endpoint of a sidecar's HTTP address (http://127.0.0.1:8090 or its /v1/mcp)."""
    url = url.rstrip("/")
    return url if url.endswith("/v1/mcp") else f"{url}/v1/mcp"


def run(url: str, api_key: str | None) -> None:
    anyio.run(Proxy(endpoint(url), api_key).serve)
