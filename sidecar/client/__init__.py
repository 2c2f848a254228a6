"""Clients of a running sidecar, as the CLI uses them: the HTTP API and Flight SQL.

The CLI keeps its commands and their rendering; how a statement reaches a sidecar and how its
errors come back lives here, so the servers and the CLI never import each other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa

from sidecar.client.errors import CONNECT_TIMEOUT, READ_TIMEOUT, ClientError, ServerError

if TYPE_CHECKING:
    from sidecar.client.http import ARROW_STREAM, HttpClient, normalize_url, server_error

FLIGHT_SCHEMES = ("grpc", "grpc+tcp", "grpc+tls")
# The HTTP client's names import httpx when first used: `sidecar run` imports the CLI, and
# with it this package, but never talks to a sidecar (about 3 MiB it would hold idle).
HTTP_NAMES = ("ARROW_STREAM", "HttpClient", "normalize_url", "server_error")


def __getattr__(name: str) -> Any:
    if name in HTTP_NAMES:
        from sidecar.client import http

        return getattr(http, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class SqlClient(Protocol):
    """What the shell needs from a transport: Flight SQL (FlightSqlClient) or HTTP."""

    url: str

    def query(self, sql: str) -> pa.Table: ...

    def close(self) -> None: ...


def sql_client(url: str, key: str | None) -> SqlClient:
    """Flight SQL for grpc:// addresses, the HTTP API for http:// ones (and bare host:port)."""
    if url.partition("://")[0] in FLIGHT_SCHEMES:
        from sidecar.client.flight import FlightSqlClient

        return FlightSqlClient(url, key)
    from sidecar.client.http import HttpClient

    return HttpClient(url, key)


__all__ = [
    "ARROW_STREAM",
    "CONNECT_TIMEOUT",
    "FLIGHT_SCHEMES",
    "READ_TIMEOUT",
    "ClientError",
    "HttpClient",
    "ServerError",
    "SqlClient",
    "normalize_url",
    "server_error",
    "sql_client",
]
