"""/v1/mcp as the HTTP app mounts it, before the MCP SDK is loaded.

The SDK costs about 30 MiB and a noticeable start-up time; a sidecar whose agents never speak
MCP should not pay for it. So the endpoint imports the server (sidecar.servers.mcp.server) on
its first request, off the event loop, and starts the SDK's session manager then, inside the
task group the HTTP app's lifespan holds open; the lifespan's end stops it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

import anyio
from anyio.abc import TaskGroup, TaskStatus
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from sidecar.errors import SidecarError
from sidecar.servers.mcp import INTERFACE as INTERFACE

PATH = "/v1/mcp"


class Transport(Protocol):
    """An ASGI app that serves MCP while its `running()` context is open."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None: ...

    def running(self) -> AbstractAsyncContextManager[None]: ...


class Endpoint:
    def __init__(self, build: Callable[[], Transport]) -> None:
        self.build = build
        self._transport: Transport | None = None
        self._tasks: TaskGroup | None = None
        # made in running(): anyio's primitives belong to the event loop that serves the app
        self._lock: anyio.Lock | None = None
        self._stop: anyio.Event | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        transport = self._transport or await self._start()
        await transport(scope, receive, send)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The HTTP app's lifespan: what the first request starts ends with it."""
        stop = self._stop = anyio.Event()
        self._lock = anyio.Lock()
        async with anyio.create_task_group() as tasks:
            self._tasks = tasks
            try:
                yield
            finally:
                stop.set()

    async def _start(self) -> Transport:
        assert self._lock is not None and self._tasks is not None, "serve the app's lifespan"
        async with self._lock:
            if self._transport is None:
                transport = await anyio.to_thread.run_sync(self.build)
                await self._tasks.start(self._serve, transport)
                self._transport = transport
            return self._transport

    async def _serve(self, transport: Transport, *, task_status: TaskStatus[None]) -> None:
        assert self._stop is not None
        async with transport.running():
            task_status.started()
            await self._stop.wait()


def refusal(error: SidecarError) -> Response:
    """A failed login at /v1/mcp, in the protocol's terms (see server.refusal)."""
    from sidecar.servers.mcp.server import refusal

    return refusal(error)


def is_mcp(path: str) -> bool:
    return path == PATH or path.startswith(PATH + "/")
