"""A real HTTP API on 127.0.0.1 for connector tests: scripted replies, recorded requests.

Tests talk to it over a socket exactly as the sidecar talks to a remote API, so timeouts,
retries, headers and pagination are exercised end to end instead of against a mocked client.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True)
class Request:
    """One request as the server saw it; header names are lower-cased."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass(frozen=True)
class Reply:
    """A response: `body` is sent as JSON unless it is already str or bytes."""

    body: Any = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, bytes):
            return self.body, "application/octet-stream"
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain; charset=utf-8"
        return json.dumps(self.body).encode(), "application/json"


Route = Callable[[Request], Reply]


def in_order(*replies: Reply) -> Route:
    """Serve the replies one per request, repeating the last; for retry scenarios."""
    remaining = list(replies)

    def route(request: Request) -> Reply:
        return remaining.pop(0) if len(remaining) > 1 else remaining[0]

    return route


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that time out hang up mid-reply on purpose; that is not a test failure."""


class ApiServer:
    """`tls=(cert.pem, key.pem)` serves HTTPS with that certificate instead of plain HTTP."""

    def __init__(self, tls: tuple[Path, Path] | None = None) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Request] = []
        self._server = _QuietServer(("127.0.0.1", 0), self._handler())
        self._scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            self._scheme = "https"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    def __enter__(self) -> ApiServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def url(self, path: str) -> str:
        host, port = self._server.server_address[:2]
        return f"{self._scheme}://{host}:{port}{path}"

    def route(self, path: str, route: Route | Reply) -> None:
        self.routes[path] = route if callable(route) else (lambda _request: route)

    def hits(self, path: str) -> list[Request]:
        return [request for request in self.requests if request.path == path]

    def _reply(self, request: Request) -> Reply:
        self.requests.append(request)
        route = self.routes.get(request.path)
        if route is None:
            return Reply({"message": "Not Found"}, status=404)
        return route(request)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: with Nagle's algorithm the body waits for
            # the client's delayed ACK, 40 ms on every keep-alive request.
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                request = Request(
                    path=parts.path,
                    query=dict(parse_qsl(parts.query, keep_blank_values=True)),
                    headers={name.lower(): value for name, value in self.headers.items()},
                )
                reply = api._reply(request)
                time.sleep(reply.delay)
                body, content_type = reply.encoded()
                self.send_response(reply.status)
                headers = {"Content-Type": content_type, **reply.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Keep pytest output clean."""

        return Handler
