"""uvicorn serving an ASGI application (the HTTP API) with the servers' start()/close() shape.

uvicorn's own `serve()` runs until a signal and handles SIGINT/SIGTERM itself; here its steps
are taken one by one instead (startup, the once-a-second tick that keeps the Date header
current, shutdown), so the runtime decides when to stop and stops every server alike.
"""

from __future__ import annotations

import asyncio
import socket

import uvicorn

from sidecar.config import Endpoint
from sidecar.servers.lifecycle import StartupError, listen


class AsgiServer:
    def __init__(self, name: str, endpoint: Endpoint, config: uvicorn.Config) -> None:
        """`config` is loaded (its app, protocol and TLS settings checked)."""
        self.name = name
        self.endpoint = endpoint
        self.server = uvicorn.Server(config)
        self.sockets: list[socket.socket] = []
        self.ticking: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Bind, run the application's lifespan startup, then take connections."""
        sock = listen(self.name, self.endpoint)
        self.server.lifespan = self.server.config.lifespan_class(self.server.config)
        try:
            await self.server.startup(sockets=[sock])
        except SystemExit:  # uvicorn's answer to a failed lifespan startup
            sock.close()
            raise StartupError(
                f"the {self.name} application failed to start; see the log above"
            ) from None
        self.sockets = [sock]
        self.ticking = asyncio.create_task(self.server.main_loop())

    async def close(self) -> None:
        """Stop taking connections, let open requests finish, run the lifespan shutdown."""
        self.server.should_exit = True
        if self.ticking is not None:
            await self.ticking
        await self.server.shutdown(sockets=self.sockets)
