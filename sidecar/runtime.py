"""Composes one sidecar process: the engine, its servers, and dataset and model loading.

Servers start before datasets finish loading so /health answers at once (Kubernetes liveness)
while /v1/ready reports the datasets still on their way. Models load alongside; one that
cannot (llama-cpp-python missing, a bad file) is reported, never fatal, so SQL keeps working.
"""

from __future__ import annotations

import asyncio
import os
import signal
import ssl
import threading
from collections.abc import Callable, Coroutine
from contextlib import AsyncExitStack
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import uvicorn

from policies.identity import Authenticator
from sidecar import stacks
from sidecar.config import SidecarConfig, Tls
from sidecar.engine import Engine
from sidecar.engine.catalog import DatasetEntry
from sidecar.gateway import AuditLog, Gateway
from sidecar.llm import LlmApi, ModelService
from sidecar.metrics import Metrics
from sidecar.secrets import SecretError
from sidecar.servers.asgi import AsgiServer
from sidecar.servers.flight.server import FlightSqlServer
from sidecar.servers.http import HttpApi
from sidecar.servers.lifecycle import Server, StartupError
from sidecar.servers.pgwire import PgServer
from sidecar.servers.request_timeout import with_request_timeout


class Sidecar:
    def __init__(self, config: SidecarConfig) -> None:
        self.config = config
        try:
            self.engine = Engine(config)
        except OSError as error:  # a file-mode copy's folder cannot be made
            raise StartupError(
                f"runtime.data_dir: cannot keep the local copies' files: {error}; point "
                "runtime.data_dir (or the copy's acceleration.file) at a writable folder"
            ) from None
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
        self.flight = self._flight_server() if config.runtime.flight.enabled else None
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
            # A response still open once the grace is over and its statement cancelled is one
            # whose client stopped reading: its write waits on the client, forever, and held
            # the stop until the exit timer ended the process, the other servers unclosed.
            timeout_graceful_shutdown=self.config.runtime.shutdown_grace + CLOSE_MARGIN,
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

    def _flight_server(self) -> FlightSqlServer:
        tls = self.config.runtime.tls
        return FlightSqlServer(
            self.gateway,
            self.authenticator,
            self.config.runtime.flight,
            tls=None if tls is None else read_tls(tls, self.config.base_dir),
            cut_after=self.config.runtime.shutdown_grace + CLOSE_MARGIN,
        )

    def servers(self) -> list[Server]:
        """In start-up order: the HTTP API last, so that once it answers (probes, the CLI's
        wait) the Flight and Postgres ports listen too; closing it first fails the probes
        before anything else stops."""
        servers: list[Server] = []
        if self.pg is not None:
            servers.append(self.pg)
        if self.flight is not None:
            servers.append(self.flight)
        servers.append(AsgiServer("http", self.config.runtime.http, self._http_config()))
        return servers

    async def serve(
        self,
        stop: asyncio.Event,
        on_dataset: Callable[[DatasetEntry], None] | None = None,
        on_ready: Callable[[list[str]], None] | None = None,
    ) -> None:
        """Serve until `stop` is set. Servers start in order and close in reverse, also when
        one fails to start; the models, the engine and the audit log close after them.

        Once stopped, new statements are refused at once and those in progress have
        runtime.shutdown_grace to finish before they are cancelled: waiting for them up to
        their query_timeout (60 s) outlasted a pod's termination grace period (30 s), whose
        SIGKILL lost their audit lines."""
        async with AsyncExitStack() as running:
            running.callback(self.gateway.close)
            running.callback(self.engine.close)
            running.callback(self.models.close)
            grace_ends: list[asyncio.TimerHandle] = []  # set once stopped; unset once closed
            running.callback(lambda: grace_ends and grace_ends[0].cancel())
            for server in self.servers():
                await server.start()
                running.push_async_callback(server.close)
            loader = threading.Thread(target=self.engine.load, args=(on_dataset,), daemon=True)
            loader.start()
            model_loader = threading.Thread(target=self.models.load, daemon=True)
            model_loader.start()
            await asyncio.to_thread(loader.join)
            await asyncio.to_thread(model_loader.join)
            if on_ready is not None and not stop.is_set():
                on_ready(self.endpoints())
            await stop.wait()
            self.gateway.stop()
            grace_ends.append(
                asyncio.get_running_loop().call_later(
                    self.config.runtime.shutdown_grace,
                    self.gateway.cancel_running,
                    "the sidecar stopped (runtime.shutdown_grace ran out)",
                )
            )


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


T = TypeVar("T")
CLOSE_MARGIN = 1.0  # seconds past runtime.shutdown_grace before open responses and streams are cut
EXIT_MARGIN = 10.0  # seconds past runtime.shutdown_grace for the servers and audit log to close


def serve(
    config: SidecarConfig,
    *,
    on_dataset: Callable[[DatasetEntry], None] | None = None,
    on_ready: Callable[[list[str]], None] | None = None,
) -> None:
    """Serve until SIGTERM (a pod's stop: returns once everything is closed, losing no audit
    line) or Ctrl-C (the same, then KeyboardInterrupt, which the CLI turns into exit 130)."""
    stacks.enlarge(config.runtime.max_expression_depth)
    sidecar = Sidecar(config)
    if _run(until_signalled(sidecar, on_dataset, on_ready)) == signal.SIGINT:
        raise KeyboardInterrupt


def _run(main: Coroutine[Any, Any, T]) -> T:
    """Run the servers on uvloop's event loop where it is installed (not on Windows): its
    socket callbacks are C, and a repeated lookup on the pg wire, answered in one of them,
    costs a sixth less CPU than on asyncio's own loop (benchmarks/README.md, Concurrency)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


async def until_signalled(
    sidecar: Sidecar,
    on_dataset: Callable[[DatasetEntry], None] | None,
    on_ready: Callable[[list[str]], None] | None,
) -> int:
    """`sidecar.serve` until the first SIGTERM or SIGINT, which it returns; a second Ctrl-C
    stops waiting for open connections to finish (KeyboardInterrupt at once)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    received: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if received and signum == signal.SIGINT:
            raise KeyboardInterrupt
        if not received:
            bound = sidecar.config.runtime.shutdown_grace + EXIT_MARGIN
            exit_within(bound, 130 if signum == signal.SIGINT else 0)
        received.append(signum)
        loop.call_soon_threadsafe(stop.set)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        await sidecar.serve(stop, on_dataset, on_ready)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return received[0]


def exit_within(seconds: float, code: int) -> None:
    """End the process `seconds` from now if it has not ended by then. Statements are
    cancelled when runtime.shutdown_grace runs out and their audit lines written, but a
    thread stuck in native work that cannot be interrupted (DataFusion planning a statement
    of 70,000 columns) would hold the interpreter's exit, which joins it: a stop then took
    half an hour. The timer's thread is a daemon, so a process that exits sooner is not
    held by it either."""
    timer = threading.Timer(seconds, os._exit, args=(code,))
    timer.daemon = True
    timer.start()
