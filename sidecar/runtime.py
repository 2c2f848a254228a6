"""Composes one sidecar process: the engine, its servers, and dataset loading.

Servers start before datasets finish loading so /health answers at once (Kubernetes liveness)
while /v1/ready reports the datasets still on their way.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import Callable

import uvicorn

from policies.identity import Authenticator
from sidecar.config import Endpoint, SidecarConfig
from sidecar.engine import Engine
from sidecar.engine.catalog import DatasetEntry
from sidecar.metrics import Metrics
from sidecar.secrets import SecretError
from sidecar.servers.http import HttpApi


class StartupError(Exception):
    """The sidecar cannot start; the message says why and what to change."""


def listen(name: str, endpoint: Endpoint) -> socket.socket:
    """Bind before serving, so a taken port is one clear line instead of a server traceback."""
    try:
        sock = socket.create_server((endpoint.host, endpoint.port), reuse_port=False)
    except OSError as error:
        raise StartupError(
            f"cannot listen on {endpoint.host}:{endpoint.port} for {name}: "
            f"{os.strerror(error.errno) if error.errno else error}; "
            f"free the port or change runtime.{name}.port"
        ) from None
    sock.setblocking(False)
    return sock


class Sidecar:
    def __init__(self, config: SidecarConfig) -> None:
        self.config = config
        self.engine = Engine(config)
        self.metrics = Metrics(self.engine)
        try:
            self.authenticator = Authenticator(config.runtime.auth, config.base_dir)
        except SecretError as error:
            raise StartupError(f"runtime.auth.api_keys: {error}") from None
        self.http = HttpApi(self.engine, self.metrics, self.authenticator)

    def endpoints(self) -> list[str]:
        http = self.config.runtime.http
        return [f"HTTP    http://{http.host}:{http.port}  (POST /v1/sql, /v1/status, /metrics)"]

    async def serve(
        self,
        on_dataset: Callable[[DatasetEntry], None] | None = None,
        on_ready: Callable[[list[str]], None] | None = None,
    ) -> None:
        http = self.config.runtime.http
        sock = listen("http", http)
        server = uvicorn.Server(
            uvicorn.Config(
                self.http.app(),
                host=http.host,
                port=http.port,
                log_level="warning",
                lifespan="off",
            )
        )
        loader = threading.Thread(target=self.engine.load, args=(on_dataset,), daemon=True)
        loader.start()
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not serving.done():
            await asyncio.sleep(0.02)
        if server.started:
            await asyncio.to_thread(loader.join)
            if on_ready is not None:
                on_ready(self.endpoints())
        await serving
        self.engine.close()


def serve(
    config: SidecarConfig,
    *,
    on_dataset: Callable[[DatasetEntry], None] | None = None,
    on_ready: Callable[[list[str]], None] | None = None,
) -> None:
    asyncio.run(Sidecar(config).serve(on_dataset, on_ready))
