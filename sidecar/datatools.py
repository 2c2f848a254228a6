"""The data tools an agent is offered, whatever carries the call: list the datasets, describe
one, sample it, run SQL, search, explain a query.

One implementation behind the model's tools (sidecar.llm.tools) and the MCP server
(sidecar.servers.mcp): each protocol only names the tools, checks their arguments and renders
the answers. Every operation that reads the catalog or the data is a statement on the query
path every interface shares (sidecar.gateway), run as the caller: the policies, the guard,
the limits, the audit line and the metrics apply to an agent's tool exactly as to its SQL.
Results are the first rows of a statement, which then ends, so sources stop early.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import asdict, dataclass
from typing import Any

import anyio
import pyarrow as pa
from sqlglot import exp

from policies.access import Grant
from policies.guard import explained
from policies.identity import Identity
from sidecar.engine.catalog import DatasetEntry
from sidecar.engine.planner import DIALECT
from sidecar.errors import ErrorCode, SidecarError
from sidecar.gateway import Gateway, QueryRequest, Statement
from sidecar.search import api as search_api
from sidecar.secrets import REDACTOR
from sidecar.servers import formats

MAX_CELL = 200
MAX_CHARS = 6000
MAX_CATALOG_ROWS = 10_000
MAX_NAME = 255  # longer than any table name; such a name is refused, not echoed whole
ECHOED = 64  # characters of a refused name an error repeats
EXPLAIN = re.compile(r"\s*EXPLAIN\s", re.IGNORECASE)


@dataclass(frozen=True)
class Caller:
    """Who runs a tool and through what: the identity, the interface named in audit lines and
    metrics (llm, mcp, http), the client's address."""

    identity: Identity
    interface: str
    client: str = ""


@dataclass(frozen=True)
class Rows:
    """The first rows of a statement's result, and whether there were more."""

    schema: pa.Schema
    batches: list[pa.RecordBatch]
    truncated: bool

    def records(self) -> list[dict[str, Any]]:
        """Rows with values as the HTTP API's JSON has them (ISO timestamps, exact decimals)."""
        encoded = b"".join(formats.encode(formats.JSON, self.schema, iter(self.batches)))
        return json.loads(encoded)

    def values(self) -> list[list[Any]]:
        """Row value lists, long texts cut to MAX_CELL characters."""
        return [[cut(value) for value in record.values()] for record in self.records()]

    def compact(self, max_chars: int = MAX_CHARS) -> tuple[list[list[Any]], bool]:
        """As many rows as fit in about `max_chars` characters of JSON (halving until they do),
        and whether any were left out: what fits a model's context."""
        rows, truncated = self.values(), self.truncated
        while len(_compact({"columns": self.schema.names, "rows": rows})) > max_chars and rows:
            rows, truncated = rows[: len(rows) // 2], True
        return rows, truncated


class DataTools:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.engine = gateway.engine

    async def query(self, sql: str, limit: int, caller: Caller) -> Rows:
        """At most `limit` rows of `sql` as the caller, off the event loop and within its query
        timeout; the statement ends once the rows are there."""
        request = QueryRequest(sql, caller.identity, caller.interface, client=caller.client)
        statement = self.gateway.statement(request)
        try:
            await statement.off_loop(statement.open)
            batches, truncated = await statement.off_loop(_take, statement, limit)
        except anyio.get_cancelled_exc_class():
            # the caller went away (an MCP client hung up): the abandoned thread must stop too
            statement.cancel()
            statement.close(SidecarError(ErrorCode.CANCELED, "the client went away"))
            raise
        finally:
            statement.close()
        return Rows(statement.schema, batches, truncated)

    async def sql(self, sql: str, limit: int, caller: Caller) -> Rows:
        if not sql.strip():
            raise SidecarError(
                ErrorCode.INVALID_REQUEST,
                "the SQL is empty",
                hint="write one SELECT (or WITH) statement; list_datasets shows the tables",
            )
        return await self.query(sql, limit, caller)

    async def datasets(self, caller: Caller) -> list[dict[str, Any]]:
        """The tables and views the caller can read (information_schema, as the caller), each
        with its kind, description and, where known, row count."""
        rows = await self.query(
            "SELECT table_name, table_type FROM information_schema.tables ORDER BY table_name",
            MAX_CATALOG_ROWS,
            caller,
        )
        grant = self.engine.access.grant(caller.identity)
        return [
            {
                "name": record["table_name"],
                "kind": "view" if record["table_type"] == "VIEW" else "dataset",
                "description": self.description(record["table_name"]),
                "rows": self._rows(record["table_name"], grant),
            }
            for record in rows.records()
        ]

    async def describe(self, name: str, caller: Caller) -> dict[str, Any]:
        """A table's or view's columns (name, type, nullable, description) as the caller reads
        them (DESCRIBE, as the caller), its description, row count and freshness."""
        rows = await self.query(f"DESCRIBE {_relation(name).sql(dialect=DIALECT)}", 10_000, caller)
        columns = [
            {
                "name": record["column_name"],
                "type": record["data_type"],
                "nullable": record["is_nullable"] == "YES",
                "description": record["description"],
            }
            for record in rows.records()
        ]
        catalog, grant = self.engine.catalog, self.engine.access.grant(caller.identity)
        entry = catalog.datasets.get(name.lower())
        view = catalog.views.get(name.lower())
        described: dict[str, Any] = {
            "name": entry.name if entry else view.name if view else name,
            "kind": "dataset" if entry else "view",
            "description": self.description(name),
            "columns": columns,
            "rows": self._rows(name, grant),
        }
        if entry is not None:
            described["connector"] = entry.config.scheme
            described["freshness"] = freshness(entry, grant)
        return described

    async def sample(self, name: str, limit: int, caller: Caller) -> Rows:
        sample = exp.select("*").from_(_relation(name)).limit(limit)
        return await self.query(sample.sql(dialect=DIALECT), limit, caller)

    async def explain(self, sql: str, analyze: bool, caller: Caller) -> list[dict[str, str]]:
        """EXPLAIN [ANALYZE] of `sql`: what each source is sent, the logical and physical plans.
        The query is planned on its own first, so its errors are the ones running it would give
        (positions within it), not EXPLAIN's."""
        if not sql.strip():
            raise SidecarError(
                ErrorCode.INVALID_REQUEST, "the SQL is empty", hint="pass the query to explain"
            )
        if EXPLAIN.match(sql):  # EXPLAIN written out as well, with any of its options
            asked = explained(sql)
            sql, analyze = asked.query, analyze or asked.analyze
        request = QueryRequest(sql, caller.identity, caller.interface, client=caller.client)
        await anyio.to_thread.run_sync(self.gateway.describe, request, abandon_on_cancel=True)
        prefix = "EXPLAIN ANALYZE " if analyze else "EXPLAIN "
        rows = await self.query(prefix + sql, 10, caller)
        return [{"plan_type": r["plan_type"], "plan": r["plan"]} for r in rows.records()]

    async def search(
        self, request: search_api.SearchRequest, caller: Caller
    ) -> list[dict[str, Any]]:
        """Ranked hits, as POST /v1/search answers them: each dataset's search is a statement on
        the query path, run as the caller."""

        def records(sql: str) -> list[dict[str, Any]]:
            query = QueryRequest(sql, caller.identity, caller.interface, client=caller.client)
            statement = self.gateway.statement(query)
            try:
                statement.open()
                encoded = b"".join(formats.encode(formats.JSON, statement.schema, iter(statement)))
            finally:
                statement.close()
            return json.loads(encoded)

        grant = self.engine.access.grant(caller.identity)
        return await anyio.to_thread.run_sync(
            search_api.search, request, self.engine.search, records, grant
        )

    def names(self, identity: Identity) -> list[str]:
        """The tables and views `identity` sees (its policy's visibility), for tool schemas and
        resource lists."""
        return self.engine.catalog.table_names(self.engine.access.grant(identity))

    def searchable(self, identity: Identity) -> list[str]:
        """The searchable datasets `identity` sees."""
        return self.engine.search.searchable(self.engine.access.grant(identity))

    def description(self, name: str) -> str | None:
        config = self.engine.config
        for item in (*config.datasets, *config.views):
            if item.name.lower() == name.lower():
                return item.description
        return None

    def _rows(self, name: str, grant: Grant) -> int | None:
        entry = self.engine.catalog.datasets.get(name.lower())
        return dataset_status(entry, grant)["rows"] if entry is not None else None


def dataset_status(entry: DatasetEntry, grant: Grant) -> dict[str, Any]:
    """A dataset's state as /v1/status shows it to `grant`: rows (unless a row filter hides
    some of them from it), load time, the local copy's refreshes."""
    status: dict[str, Any] = {
        "name": entry.name,
        "connector": entry.config.scheme,
        "state": entry.state.value,
        "available": entry.available,
        "rows": entry.rows,
        "last_error": grant.readable_error(entry.name, entry.last_error),
        "loaded_at": entry.loaded_at,
        "load_seconds": entry.load_seconds,
    }
    copy = entry.copy
    if copy is not None:
        status["acceleration"] = asdict(copy.status)
        error = status["acceleration"]["last_error"]
        status["acceleration"]["last_error"] = grant.readable_error(entry.name, error)
    if not grant.counts_rows(entry.name):
        status["rows"] = None
        if copy is not None:
            status["acceleration"]["rows"] = None
    return status


def freshness(entry: DatasetEntry, grant: Grant) -> dict[str, Any]:
    """How current a dataset's answers are, in words and UTC times a model reads: a dataset
    without acceleration is read from its source by every query; an accelerated one is a
    local copy as of its last refresh."""
    status = dataset_status(entry, grant)
    fresh: dict[str, Any] = {"state": status["state"]}
    acceleration = status.get("acceleration")
    if acceleration is None:
        fresh["served"] = "live: every query reads the source"
    else:
        fresh["served"] = f"from a local copy ({acceleration['mode']} refresh)"
        fresh["refreshed_at"] = _utc(acceleration["last_refresh_at"])
        fresh["next_refresh_at"] = _utc(acceleration["next_refresh_at"])
    fresh["loaded_at"] = _utc(status["loaded_at"])
    if status["last_error"]:
        fresh["last_error"] = status["last_error"]
    return fresh


def error_body(error: SidecarError) -> dict[str, object]:
    """The error as the SQL API shows it, secrets masked."""
    body = error.to_dict()
    body["message"] = REDACTOR.redact(error.message)
    return body


def error_text(error: SidecarError) -> str:
    return _compact({"error": error_body(error)})


def _relation(name: str) -> exp.Table:
    if not name:
        raise SidecarError(
            ErrorCode.INVALID_REQUEST,
            "a table name is needed",
            hint="call list_datasets for the table names",
        )
    if len(name) > MAX_NAME:
        raise SidecarError(
            ErrorCode.UNDEFINED_TABLE,
            f"no table is named {name[:ECHOED]!r}... ({len(name)} characters)",
            hint="call list_datasets for the table names",
        )
    return exp.Table(this=exp.to_identifier(name, quoted=True))


def _take(statement: Statement, limit: int) -> tuple[list[pa.RecordBatch], bool]:
    """Up to `limit` rows; past that the statement ends, so sources stop early."""
    batches: list[pa.RecordBatch] = []
    rows = 0
    for batch in statement:
        if rows + batch.num_rows > limit:
            batches.append(batch.slice(0, limit - rows))
            statement.close()
            return batches, True
        batches.append(batch)
        rows += batch.num_rows
    return batches, False


def cut(value: Any) -> Any:
    """A long text cut to MAX_CELL characters, saying how much was left out."""
    if isinstance(value, str) and len(value) > MAX_CELL:
        return value[:MAX_CELL] + f"... ({len(value) - MAX_CELL} more characters)"
    return value


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


def _utc(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat(timespec="seconds")
