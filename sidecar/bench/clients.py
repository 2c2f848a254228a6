"""One agent's connection, per interface: how it sends a query and how its failures are named.

Each agent holds one connection for the whole run, as an agent process would, using the client
people use for that interface: psycopg for the Postgres wire and for a PostgreSQL replica,
mysql-connector-python for a MySQL/MariaDB replica, the ADBC Flight SQL driver for Flight SQL,
httpx with Arrow IPC results for the HTTP API. Every row is received and counted, none kept.

Errors are grouped by kind, the protocol's own code where it has one (`SQLSTATE 57014`,
`MySQL 2013`, `ADBC UNAVAILABLE`, `HTTP 502`), so a summary says what went wrong at a glance.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import pyarrow.ipc

from sidecar.bench.replica import Address, connect

ARROW_STREAM = "application/vnd.apache.arrow.stream"
CONNECT_TIMEOUT = 10.0
QUERY_TIMEOUT = 120.0


class Client(Protocol):
    def execute(self, sql: str) -> int:
        """Send one query and receive its whole result; the number of rows."""
        ...

    def healthy(self) -> bool:
        """After an error: whether the connection can take the next query."""
        ...

    def close(self) -> None: ...


ClientFactory = Callable[[], Client]


class DbApiClient:
    """A DB-API connection in autocommit: the direct arm's drivers, and psycopg on the wire."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.cursor = connection.cursor()

    def execute(self, sql: str) -> int:
        self.cursor.execute(sql)
        return len(self.cursor.fetchall()) if self.cursor.description else 0

    def healthy(self) -> bool:
        is_connected = getattr(self.connection, "is_connected", None)
        if is_connected is not None:  # mysql-connector: a ping, which no counter counts
            return bool(is_connected())
        return not (self.connection.closed or self.connection.broken)

    def close(self) -> None:
        try:
            self.cursor.close()
        finally:
            self.connection.close()


class HttpStatusError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class HttpClient:
    """POST /v1/sql on one keep-alive connection, results as an Arrow IPC stream."""

    def __init__(self, url: str, api_key: str | None) -> None:
        import httpx

        headers = {"Accept": ARROW_STREAM, "Content-Type": "text/plain; charset=utf-8"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self.http = httpx.Client(
            base_url=url,
            headers=headers,
            timeout=httpx.Timeout(CONNECT_TIMEOUT, read=QUERY_TIMEOUT),
            limits=httpx.Limits(max_connections=1),
        )

    def execute(self, sql: str) -> int:
        response = self.http.post("/v1/sql", content=sql.encode())
        if response.is_error:
            try:
                message = str(response.json()["error"]["message"])
            except (ValueError, KeyError, TypeError):
                message = response.text[:200]
            raise HttpStatusError(response.status_code, message)
        with pyarrow.ipc.open_stream(response.content) as reader:
            return sum(batch.num_rows for batch in reader)

    def healthy(self) -> bool:
        return True

    def close(self) -> None:
        self.http.close()


class FlightClient:
    """ADBC's Flight SQL driver, as the README shows agents using it."""

    def __init__(self, url: str, api_key: str | None) -> None:
        import adbc_driver_flightsql.dbapi as flight_sql

        db_kwargs = {
            "adbc.flight.sql.rpc.timeout_seconds.query": str(QUERY_TIMEOUT),
            "adbc.flight.sql.rpc.timeout_seconds.fetch": str(QUERY_TIMEOUT),
        }
        if api_key:
            db_kwargs["adbc.flight.sql.authorization_header"] = f"Bearer {api_key}"
        self.connection = flight_sql.connect(url, db_kwargs=db_kwargs, autocommit=True)
        self.cursor = self.connection.cursor()

    def execute(self, sql: str) -> int:
        self.cursor.execute(sql)
        reader = self.cursor.fetch_record_batch()
        return sum(batch.num_rows for batch in reader)

    def healthy(self) -> bool:
        return True

    def close(self) -> None:
        try:
            self.cursor.close()
        finally:
            self.connection.close()


def direct(address: Address) -> ClientFactory:
    return lambda: DbApiClient(connect(address, CONNECT_TIMEOUT))


def postgres_wire(conninfo: str) -> ClientFactory:
    def open_client() -> Client:
        import psycopg

        return DbApiClient(
            psycopg.connect(
                conninfo,
                autocommit=True,
                connect_timeout=int(CONNECT_TIMEOUT),
                prepare_threshold=None,  # the simple protocol every time, as for any SQL text
            )
        )

    return open_client


def flight(url: str, api_key: str | None) -> ClientFactory:
    return lambda: FlightClient(url, api_key)


def http(url: str, api_key: str | None) -> ClientFactory:
    return lambda: HttpClient(url, api_key)


def error_kind(error: BaseException) -> str:
    """A short, stable name for a failure: the protocol's code where it has one."""
    sqlstate = getattr(error, "sqlstate", None)
    if isinstance(error, HttpStatusError):
        return f"HTTP {error.status}"
    status = getattr(error, "status_code", None)
    if status is not None and type(error).__module__.startswith("adbc"):
        return f"ADBC {getattr(status, 'name', status)}"
    if type(error).__module__.startswith("mysql") and getattr(error, "errno", None):
        return f"MySQL {error.errno}"  # type: ignore[attr-defined]
    if sqlstate:
        return f"SQLSTATE {sqlstate}"
    return type(error).__name__
