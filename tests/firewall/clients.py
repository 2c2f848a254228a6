"""One way to run a statement per interface, each answering the same `Answer`.

Every client is the real thing: httpx against /v1/sql, psycopg and asyncpg against the Postgres
wire, ADBC Flight SQL against the Flight server, the MCP SDK's client calling the sql tool at
/v1/mcp, and the model's data tools (the code a model's tool call runs) on a sidecar built in
this process from the same sidecar.yaml. A failure is read the way that protocol delivers it:
HTTP status and JSON body, SQLSTATE with its hint, ADBC's status code and text, the MCP tool
error's structured body, the tool's JSON error.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import adbc_driver_flightsql.dbapi as adbc
import adbc_driver_manager
import asyncpg
import httpx
import httpx2
import psycopg
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from sidecar.runtime import Sidecar

INTERFACES = ("http", "psycopg", "asyncpg", "adbc", "mcp", "tools")


@dataclass(frozen=True)
class Failure:
    """An error as one protocol delivered it. `wire` is the protocol's own code (HTTP status,
    SQLSTATE, ADBC status, the tool's error code); `broken` marks an HTTP response that failed
    after its status line and was cut off."""

    wire: str
    message: str
    hint: str
    retry_after: str | None = None
    broken: bool = False


@dataclass(frozen=True)
class Answer:
    rows: list[dict[str, Any]] | None = None
    failure: Failure | None = None


@dataclass(frozen=True)
class Endpoints:
    http: str
    pg_port: int
    flight: str
    tools: Sidecar


Run = Callable[[str, str, str], Answer]  # (identity, key, sql)


def runner(interface: str, endpoints: Endpoints) -> Run:
    runners: dict[str, Run] = {
        "http": lambda who, key, sql: http(endpoints.http, key, sql),
        "psycopg": lambda who, key, sql: pg(endpoints.pg_port, who, key, sql),
        "asyncpg": lambda who, key, sql: asyncio.run(apg(endpoints.pg_port, who, key, sql)),
        "adbc": lambda who, key, sql: flight(endpoints.flight, who, key, sql),
        "mcp": lambda who, key, sql: asyncio.run(mcp(endpoints.http, key, sql)),
        "tools": lambda who, key, sql: tools(endpoints.tools, key, sql),
    }
    return runners[interface]


def http(url: str, key: str, sql: str) -> Answer:
    headers = {"Authorization": f"Bearer {key}"}
    body = b""
    with httpx.stream("POST", f"{url}/v1/sql", json={"sql": sql}, headers=headers, timeout=30) as r:
        try:
            for chunk in r.iter_bytes():
                body += chunk
        except httpx.RemoteProtocolError:
            error = json.loads(body.rstrip().rsplit(b"\n", 1)[-1])["error"]
            return Answer(failure=_http_failure(str(r.status_code), error, None, broken=True))
        if r.status_code != 200:
            error = json.loads(body)["error"]
            return Answer(failure=_http_failure(str(r.status_code), error, r.headers))
    return Answer(rows=json.loads(body))


def _http_failure(
    status: str, error: dict[str, Any], headers: httpx.Headers | None, broken: bool = False
) -> Failure:
    retry = headers.get("retry-after") if headers is not None else None
    return Failure(status, error["message"], error.get("hint", ""), retry, broken)


def pg(port: int, who: str, key: str, sql: str) -> Answer:
    dsn = f"host=127.0.0.1 port={port} dbname=firewall user={who} password={key}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        try:
            cursor = conn.execute(sql)
        except psycopg.Error as error:
            return Answer(failure=_pg_failure(error))
        names = [column.name for column in cursor.description or []]
        try:
            return Answer(rows=[dict(zip(names, row, strict=True)) for row in cursor.fetchall()])
        except psycopg.Error as error:
            return Answer(failure=_pg_failure(error))


def _pg_failure(error: psycopg.Error) -> Failure:
    diag = error.diag
    return Failure(diag.sqlstate or "", diag.message_primary or "", diag.message_hint or "")


async def apg(port: int, who: str, key: str, sql: str) -> Answer:
    conn = await asyncpg.connect(
        host="127.0.0.1", port=port, user=who, password=key, database="firewall", ssl=False
    )
    try:
        records = await conn.fetch(sql)
    except asyncpg.PostgresError as error:
        return Answer(failure=Failure(error.sqlstate, error.message, error.hint or ""))
    finally:
        await conn.close()
    return Answer(rows=[dict(record) for record in records])


def flight(url: str, who: str, key: str, sql: str) -> Answer:
    kwargs = {"username": who, "password": key}
    with adbc.connect(url, db_kwargs=kwargs, autocommit=True) as conn, conn.cursor() as cursor:
        try:
            cursor.execute(sql)
            return Answer(rows=cursor.fetch_arrow_table().to_pylist())
        except adbc_driver_manager.Error as error:
            return Answer(failure=_adbc_failure(error))


def _adbc_failure(error: adbc_driver_manager.Error) -> Failure:
    """ADBC puts the server's message first; the sidecar's text has the hint on a HINT: line."""
    text = str(error)
    message, _, rest = text.partition("\nHINT: ")
    return Failure(error.status_code.name, message, rest.split("\n", 1)[0])


@asynccontextmanager
async def mcp_session(url: str, key: str) -> AsyncIterator[Client]:
    """The MCP SDK's client on the sidecar's /v1/mcp, with `key`."""
    headers = {"Authorization": f"Bearer {key}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(f"{url}/v1/mcp", http_client=http)) as client,
    ):
        yield client


async def mcp(url: str, key: str, sql: str) -> Answer:
    """The sql tool, asked for more rows than any probe reads: the identity's limits decide."""
    async with mcp_session(url, key) as client:
        result = await client.call_tool("sql", {"sql": sql, "max_rows": 1000})
    content = result.structured_content
    assert isinstance(content, dict)
    if result.is_error:
        error = content["error"]
        return Answer(failure=Failure(error["code"], error["message"], error.get("hint", "")))
    return Answer(rows=[dict(zip(content["columns"], row, strict=True)) for row in content["rows"]])


def tools(sidecar: Sidecar, key: str, sql: str) -> Answer:
    assert sidecar.http.llm is not None
    identity = sidecar.authenticator.identify(key)
    arguments = json.dumps({"sql": sql})
    outcome = on_loop(sidecar.http.llm.tools.call("call_1", "sql", arguments, identity, "tool"))
    content = json.loads(outcome.content)
    if not outcome.ok:
        error = content["error"]
        return Answer(failure=Failure(error["code"], error["message"], error.get("hint", "")))
    return Answer(rows=[dict(zip(content["columns"], row, strict=True)) for row in content["rows"]])


_loop = asyncio.new_event_loop()
threading.Thread(target=_loop.run_forever, name="tools-loop", daemon=True).start()


def on_loop(coroutine: Any) -> Any:
    """One event loop for every tool call, as in the server (asyncio.run per call would leave
    abandoned worker threads tied to loops that no longer exist)."""
    return asyncio.run_coroutine_threadsafe(coroutine, _loop).result(timeout=30)
