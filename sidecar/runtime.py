"""Composes one sidecar process: the engine, its servers, and dataset and model loading.

Servers start before datasets finish loading so /health answers at once (Kubernetes liveness)
while /v1/ready reports the datasets still on their way. Models load alongside; one that
cannot (llama-cpp-python missing, a bad file) is reported, never fatal, so SQL keeps working.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import ssl
import threading
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import uvicorn

from policies.identity import Authenticator
from sidecar import stacks
from sidecar.config import Endpoint, SidecarConfig, Tls
from sidecar.engine import Engine
from sidecar.engine.catalog import DatasetEntry
from sidecar.gateway import AuditLog, Gateway
from sidecar.llm import LlmApi, ModelService
from sidecar.metrics import Metrics
from sidecar.secrets import SecretError
from sidecar.servers.flight.server import FlightSqlServer
from sidecar.servers.http import HttpApi
from sidecar.servers.pgwire import PgServer
from sidecar.servers.request_timeout import with_request_timeout


class StartupError(Exception):
    """The sidecar cannot start; the message says why and what to change."""


def listen(name: str, endpoint: Endpoint) -> socket.socket:
    """Bind before serving, so a taken port is one clear line instead of a server traceback.

    The socket is re-wrapped with its protocol spelled out: accepted connections inherit it,
    and asyncio only turns Nagle off (TCP_NODELAY) on sockets that say they are TCP; without
    it every small response waited ~40 ms for the client's delayed ACK.
    """
    try:
        sock = socket.create_server((endpoint.host, endpoint.port), reuse_port=False)
    except OSError as error:
        raise StartupError(
            f"cannot listen on {endpoint.host}:{endpoint.port} for {name}: "
            f"{os.strerror(error.errno) if error.errno else error}; "
            f"free the port or change runtime.{name}.port"
        ) from None
    sock = socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())
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
        try:
            audit = AuditLog(config.audit, config.base_dir)
        except OSError as error:
            raise StartupError(f"audit.path: cannot write the audit log: {error}") from None
        self.gateway = Gateway(self.engine, self.metrics, audit)
        models_dir = config.base_dir / config.runtime.data_dir / "models"
        self.models = ModelService(config.models, config.base_dir, models_dir)
        self.engine.search.embedder = self.models.embed
        llm = LlmApi(self.models, self.gateway)
        self.http = HttpApi(self.gateway, self.authenticator, llm)
        self.flight: FlightSqlServer | None = None
        self.pg = self._pg_server() if config.runtime.pg.enabled else None

    def endpoints(self) -> list[str]:
        http = self.config.runtime.http
        web = "https" if http.tls else "http"
        lines = [f"HTTP    {web}://{http.host}:{http.port}  (POST /v1/sql, /v1/status, /metrics)"]
        if self.flight is not None:
            scheme = "grpc+tls" if self.config.runtime.tls else "grpc"
            host = self.config.runtime.flight.host
            url = f"{scheme}://{host}:{self.flight.port}"
            lines.append(f"Flight  {url}  (Arrow Flight SQL: ADBC, sidecar sql)")
        if self.pg is not None:
            pg = self.config.runtime.pg
            tls = ", TLS" if self.config.runtime.tls else ""
            url = f"postgresql://{pg.host}:{pg.port}/{self.config.name}"
            lines.append(f"PG      {url}  (psql, drivers, BI tools{tls})")
        for model in self.models.models.values():
            state = model.state.value + (f": {model.error}" if model.error else "")
            url = f"{web}://{http.host}:{http.port}/v1"
            lines.append(f"Model   {url}  {model.name} (OpenAI-compatible; {state})")
        return lines

    def _pg_server(self) -> PgServer:
        try:
            return PgServer(
                self.gateway, self.authenticator, self.config.runtime, self.config.base_dir
            )
        except (OSError, ssl.SSLError) as error:
            raise StartupError(
                f"runtime.tls: cannot load the certificate and key for the Postgres wire: {error}"
            ) from None

    def _http_config(self) -> uvicorn.Config:
        """uvicorn's settings; with runtime.http.tls it serves HTTPS (the key is checked now,
        so a bad certificate is one clear line at start-up)."""
        http = self.config.runtime.http
        files: dict[str, str] = {}
        if http.tls is not None:
            read_tls(http.tls, self.config.base_dir, "runtime.http.tls")
            files = {
                "ssl_certfile": str(self.config.base_dir / http.tls.cert),
                "ssl_keyfile": str(self.config.base_dir / http.tls.key),
            }
        config = uvicorn.Config(
            self.http.app(),
            host=http.host,
            port=http.port,
            log_level="warning",
            lifespan="on",
            limit_concurrency=http.max_connections,
            **files,
        )
        try:
            config.load()
        except ssl.SSLError as error:
            raise StartupError(
                f"runtime.http.tls: cannot use the certificate and key: {error}"
            ) from None
        config.http_protocol_class = with_request_timeout(
            config.http_protocol_class, http.request_timeout
        )
        return config

    def start_flight(self) -> FlightSqlServer | None:
        """pyarrow.flight serves on its own threads from the moment the server is built."""
        endpoint = self.config.runtime.flight
        if not endpoint.enabled:
            return None
        # On a taken port gRPC only says "Server did not start properly": check it first.
        listen("flight", endpoint).close()
        tls = self.config.runtime.tls
        scheme = "grpc+tls" if tls else "grpc"
        try:
            return FlightSqlServer(
                self.gateway,
                self.authenticator,
                f"{scheme}://{endpoint.host}:{endpoint.port}",
                tls=None if tls is None else read_tls(tls, self.config.base_dir),
                max_calls=endpoint.max_connections,
            )
        except pa.ArrowException as error:
            raise StartupError(f"cannot start the Flight SQL server: {error}") from None

    async def serve(
        self,
        on_dataset: Callable[[DatasetEntry], None] | None = None,
        on_ready: Callable[[list[str]], None] | None = None,
    ) -> None:
        http = self.config.runtime.http
        sock = listen("http", http)
        pg_server = None
        if self.pg is not None:
            pg_server = await self.pg.start(listen("pg", self.config.runtime.pg))
        self.flight = self.start_flight()
        server = uvicorn.Server(self._http_config())
        loader = threading.Thread(target=self.engine.load, args=(on_dataset,), daemon=True)
        loader.start()
        model_loader = threading.Thread(target=self.models.load, daemon=True)
        model_loader.start()
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        try:
            while not server.started and not serving.done():
                await asyncio.sleep(0.02)
            if server.started:
                await asyncio.to_thread(loader.join)
                await asyncio.to_thread(model_loader.join)
                if on_ready is not None:
                    on_ready(self.endpoints())
            await serving
        finally:
            if self.flight is not None:
                await asyncio.to_thread(self.flight.shutdown)
            if pg_server is not None and self.pg is not None:
                pg_server.close()
                self.pg.close()
            self.models.close()
            self.engine.close()
            self.gateway.close()


def read_tls(tls: Tls, base_dir: Path, setting: str = "runtime.tls") -> tuple[bytes, bytes]:
    """The certificate chain and key, PEM; relative paths are from sidecar.yaml's folder."""
    pair = []
    for name, path in (("cert", tls.cert), ("key", tls.key)):
        try:
            pair.append((base_dir / path).read_bytes())
        except OSError as error:
            raise StartupError(
                f"{setting}.{name}: cannot read {path}: {error.strerror or error}"
            ) from None
    return pair[0], pair[1]


def serve(
    config: SidecarConfig,
    *,
    on_dataset: Callable[[DatasetEntry], None] | None = None,
    on_ready: Callable[[list[str]], None] | None = None,
) -> None:
    stacks.enlarge(config.runtime.max_expression_depth)
    # uvicorn turns SIGTERM into a graceful stop, then raises it again once it has stopped;
    # ignored by then, it cannot kill the process before Sidecar.serve has closed the servers,
    # the copies and the audit log (a pod's stop must lose no audit line).
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    asyncio.run(Sidecar(config).serve(on_dataset, on_ready))
