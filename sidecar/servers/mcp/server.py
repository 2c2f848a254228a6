"""The sidecar as a Model Context Protocol server: the official SDK's low-level server, served
over the streamable HTTP transport at /v1/mcp on the HTTP port.

It sits behind the HTTP server's AuthMiddleware, so an MCP client presents the same API key as
the SQL API (`Authorization: Bearer <key>`) and every handler runs as that key's identity. What
a caller is offered follows what it may see: the tools' dataset arguments enumerate its tables,
search is offered when one of them is searchable, and the resources are one `dataset://NAME`
per table or view it sees plus `sidecar://status`. Tools and resource reads run on the query
path (sidecar.datatools), audited under the interface `mcp`.

The low-level server is used rather than the SDK's decorator server because what is listed
depends on who asks. Sessions are bound to the identity that opened them: another key cannot
use a session id it learnt.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

import anyio
import mcp_types as types
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser, authorization_context
from mcp.server.auth.provider import AccessToken
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.server import Server
from mcp.server.streamable_http import MCP_SESSION_ID_HEADER
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.exceptions import MCPError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send

from policies.identity import ANONYMOUS_IDENTITY, Identity
from sidecar import __version__
from sidecar.datatools import Caller, DataTools, error_body
from sidecar.errors import ErrorCode, SidecarError
from sidecar.servers.mcp import INTERFACE, prompts, tools
from sidecar.servers.mcp.envelope import envelope_error

DATASET = "dataset://"
STATUS = "sidecar://status"
JSON = "application/json"
RESOURCE_NOT_FOUND = -32002
MAX_SESSIONS_PER_IDENTITY = 256  # of the SDK's 10,000 for the whole server
GONE = "sidecar.mcp.hangup"  # the scope key of a POST's Hangup
REQUEST_CANCELLED = -32800  # the SDK's answer to a request that ends without one
T = TypeVar("T")
INSTRUCTIONS = """\
Read-only SQL over the datasets of the agent sidecar "{name}": files, APIs and databases \
behind one PostgreSQL-dialect SQL engine. Start with list_datasets (or the dataset:// \
resources), describe_dataset before you query a table, then sql. Keep answers small: aggregate, \
filter and LIMIT. Errors say what is wrong and how to fix it; correct the query and retry."""

Status = Callable[[Identity], dict[str, Any]]


class McpServer:
    def __init__(self, data: DataTools, status: Status) -> None:
        self.data = data
        self.engine = data.engine
        self.status = status
        self.server: Server[Any] = Server(
            "agent-sidecar",
            version=__version__,
            title=f"Agent sidecar {self.engine.config.name}",
            instructions=INSTRUCTIONS.format(name=self.engine.config.name),
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
            on_list_resources=self._list_resources,
            on_read_resource=self._read_resource,
            on_list_prompts=self._list_prompts,
            on_get_prompt=self._get_prompt,
        )

    def transport(self) -> Transport:
        """The streamable HTTP transport for one app (the SDK's session manager runs once)."""
        return Transport(self.server)

    async def _list_tools(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        identity = _caller(ctx).identity
        listed = tools.listed(self.data.names(identity), self.data.searchable(identity))
        return types.ListToolsResult(tools=listed)

    async def _call_tool(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        spec = tools.TOOLS.get(params.name)
        if spec is None:
            raise MCPError(
                code=types.INVALID_PARAMS,
                message=f"unknown tool {params.name!r}; the tools are: " + ", ".join(tools.TOOLS),
            )
        return await _while_connected(
            ctx, tools.call(self.data, spec, params.arguments, _caller(ctx))
        )

    async def _list_resources(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        catalog = self.engine.catalog
        resources = [
            types.Resource(
                uri=f"{DATASET}{name}",
                name=name,
                title=f"{name} ({'view' if name.lower() in catalog.views else 'dataset'})",
                description=self.data.description(name),
                mime_type=JSON,
            )
            for name in self.data.names(_caller(ctx).identity)
        ]
        resources.append(
            types.Resource(
                uri=STATUS,
                name="status",
                title="Sidecar status",
                description="Whether the sidecar is ready, and each dataset's state, rows, load "
                "and refresh times, errors and search indexes.",
                mime_type=JSON,
            )
        )
        return types.ListResourcesResult(resources=resources)

    async def _read_resource(
        self, ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        caller = _caller(ctx)
        uri = str(params.uri)
        if uri == STATUS:
            body = self.status(caller.identity)
        elif uri.startswith(DATASET):
            try:
                body = await _while_connected(
                    ctx, self.data.describe(uri.removeprefix(DATASET), caller)
                )
            except SidecarError as error:
                raise _protocol_error(RESOURCE_NOT_FOUND, error) from None
        else:
            raise MCPError(
                code=RESOURCE_NOT_FOUND,
                message=f"unknown resource {uri}: the resources are dataset://<table> and {STATUS}",
            )
        text = json.dumps(body, default=str)
        return types.ReadResourceResult(
            contents=[types.TextResourceContents(uri=uri, mime_type=JSON, text=text)]
        )

    async def _list_prompts(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        return types.ListPromptsResult(prompts=[prompts.INVESTIGATE])

    async def _get_prompt(
        self, ctx: ServerRequestContext[Any], params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        if params.name != prompts.INVESTIGATE.name:
            raise MCPError(
                code=types.INVALID_PARAMS,
                message=f"unknown prompt {params.name!r}; the prompts are: "
                + prompts.INVESTIGATE.name,
            )
        try:
            return prompts.investigate(params.arguments)
        except SidecarError as error:
            raise _protocol_error(types.INVALID_PARAMS, error) from None


class Transport:
    """/v1/mcp: the SDK's streamable HTTP session manager. Its session-ownership check compares
    the `user` of each request with the one that opened the session; the identity the
    AuthMiddleware established is that user.

    The SDK caps the open sessions of the whole server; an identity may hold only a share of
    them, so one agent opening sessions in a loop cannot lock every other agent out."""

    def __init__(self, server: Server[Any]) -> None:
        self.sessions = StreamableHTTPSessionManager(server)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        identity = scope.get("state", {}).get("identity")
        if identity is not None:
            token = AccessToken(token="", client_id=identity.name, scopes=[])
            scope["user"] = user = AuthenticatedUser(token)
            if _opens_session(scope) and self.held(user) >= MAX_SESSIONS_PER_IDENTITY:
                await refusal(too_many_sessions(identity.name), 429)(scope, receive, send)
                return
        if scope.get("method") == "POST":
            body = await Request(scope, receive).body()
            if (invalid := envelope_error(body)) is not None:
                answer = refusal(
                    invalid.error, 400, code=invalid.code, request_id=invalid.request_id
                )
                await answer(scope, receive, send)
                return
            scope[GONE] = hangup = Hangup()
            receive = hangup.watch(_replay(body, receive))
        await self.sessions.handle_request(scope, receive, send)

    def held(self, user: AuthenticatedUser) -> int:
        """The sessions `user` holds open, read from the SDK's own registry of session owners
        (compared as the SDK compares them)."""
        live, requestor = self.sessions._server_instances, authorization_context(user)
        owners = self.sessions._session_owners.items()
        return sum(1 for session, owner in owners if session in live and owner == requestor)

    def running(self) -> AbstractAsyncContextManager[None]:
        """The sessions' lifetime: the HTTP app's lifespan."""
        return self.sessions.run()


def _replay(body: bytes, receive: Receive) -> Receive:
    """`receive` with the body already read handed out again, once, for the SDK to read."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed


class Hangup:
    """The client of one POST, and the requests it carried that still run: they are cancelled
    when it hangs up (the SDK's SSE response notices and ends the stream, but the request's
    handler runs in the session's task group and is never told)."""

    def __init__(self) -> None:
        self.gone = False
        self.running: set[anyio.CancelScope] = set()

    def watch(self, receive: Receive) -> Receive:
        async def watched() -> Message:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.gone = True
                for scope in self.running:
                    scope.cancel()
            return message

        return watched


async def _while_connected(ctx: ServerRequestContext[Any], work: Awaitable[T]) -> T:
    """`work`, cancelled if the client of the POST that carried the request hangs up: its
    statement is cancelled then (DataTools.query), as the HTTP API's is, rather than running
    to its timeout for nobody."""
    request = ctx.request
    hangup = request.scope.get(GONE) if isinstance(request, Request) else None
    if not isinstance(hangup, Hangup):
        return await work
    with anyio.CancelScope() as scope:
        hangup.running.add(scope)
        if hangup.gone:
            scope.cancel()
        try:
            return await work
        finally:
            hangup.running.discard(scope)
    raise MCPError(code=REQUEST_CANCELLED, message="the client went away")


def _opens_session(scope: Scope) -> bool:
    headers = dict(scope.get("headers") or ())
    return scope.get("method") == "POST" and MCP_SESSION_ID_HEADER.encode() not in headers


def too_many_sessions(identity: str) -> SidecarError:
    return SidecarError(
        ErrorCode.LIMIT_EXCEEDED,
        f'identity "{identity}" holds {MAX_SESSIONS_PER_IDENTITY} open MCP sessions, '
        "the most one identity may",
        hint="reuse a session, close those you are done with (DELETE /v1/mcp with their "
        "mcp-session-id header), or wait for idle ones to expire",
    )


def refusal(
    error: SidecarError,
    status: int = 401,
    *,
    code: int = types.INVALID_REQUEST,
    request_id: str | int | None = None,
) -> Response:
    """A refusal at /v1/mcp (a failed login: 401) with a JSON-RPC error body, which MCP clients
    show as the error's message (a plain JSON body would reach them as 'Server returned an
    error')."""
    failure = types.JSONRPCError(
        jsonrpc="2.0",
        id=request_id,
        error=types.ErrorData(code=code, message=_message(error), data=error_body(error)),
    )
    return JSONResponse(
        failure.model_dump(mode="json", by_alias=True, exclude_unset=True),
        status_code=status,
        headers={"WWW-Authenticate": "Bearer"} if status == 401 else None,
    )


def _caller(ctx: ServerRequestContext[Any]) -> Caller:
    request = ctx.request
    if not isinstance(request, Request):
        return Caller(ANONYMOUS_IDENTITY, INTERFACE)
    identity = request.scope.get("state", {}).get("identity") or ANONYMOUS_IDENTITY
    client = f"{request.client.host}:{request.client.port}" if request.client else ""
    return Caller(identity, INTERFACE, client)


def _protocol_error(code: int, error: SidecarError) -> MCPError:
    return MCPError(code=code, message=_message(error), data=error_body(error))


def _message(error: SidecarError) -> str:
    body = error_body(error)
    return f"{body['message']}; {error.hint}" if error.hint else str(body["message"])
