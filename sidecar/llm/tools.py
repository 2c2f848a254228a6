"""The data tools the sidecar offers a model: list_datasets, table_schema, sql, sample_data,
and search (ranked search of the datasets that have a search index, e.g. runbooks).

Every call becomes SQL on the query path every interface shares (sidecar.gateway), as the
caller's identity: a model gets exactly what the agent itself may read, behind the same guard,
policy and limits, with the same errors and an audit line per statement. A failed call is
not an HTTP error: the error and its hint go back to the model as the tool's result, so it can
correct itself the way an agent reading the SQL API would. Results are cut to what fits a
small context window (rows, cell length, total characters) and say so when cut.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, get_args

import pyarrow as pa
from sqlglot import exp

from policies.identity import Identity
from sidecar.config import DataTool
from sidecar.engine.planner import DIALECT
from sidecar.errors import ErrorCode, SidecarError
from sidecar.gateway import Gateway, QueryRequest, Statement
from sidecar.secrets import REDACTOR
from sidecar.servers import formats

log = logging.getLogger("sidecar.llm")
INTERFACE = "llm"
TOOL_NAMES: tuple[str, ...] = get_args(DataTool)
MAX_ROWS = 50
MAX_CELL = 200
MAX_CHARS = 6000
SAMPLE_ROWS = 5
MAX_SAMPLE_ROWS = 20
SEARCH_HITS = 3
MAX_SEARCH_HITS = 10


Query = Callable[[str, int], Awaitable["Rows"]]


@dataclass(frozen=True)
class ToolOutcome:
    """One executed call: what the model asked and the text it is given back."""

    id: str
    name: str
    arguments: str
    content: str
    ok: bool

    def visible(self) -> dict[str, Any]:
        """The call as the response shows it (message.executed_tool_calls)."""
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
            "output": self.content,
            "ok": self.ok,
        }


class DataTools:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.engine = gateway.engine

    def specs(self, enabled: Sequence[str], identity: Identity) -> list[dict[str, Any]]:
        """OpenAI tool definitions; table arguments enumerate the tables `identity` sees,
        which also lets the grammar of a forced call pick only names that exist."""
        grant = self.engine.access.grant(identity)
        tables = self.engine.catalog.table_names(grant)
        table = {"type": "string", "enum": tables} if tables else {"type": "string"}
        described = "; ".join(
            f"{name}: {text}" for name, text in self._descriptions(identity).items()
        )
        specs = {
            "list_datasets": (
                "List the tables and views you can query, with their descriptions.",
                {"type": "object", "properties": {}},
            ),
            "table_schema": (
                "Columns, types and descriptions of one table or view.",
                {"type": "object", "properties": {"table": table}, "required": ["table"]},
            ),
            "sql": (
                "Run one read-only SQL query (PostgreSQL dialect: SELECT/WITH) over the tables "
                f"and get up to {MAX_ROWS} rows back. Tables: {described or ', '.join(tables)}",
                {
                    "type": "object",
                    "properties": {"sql": {"type": "string"}},
                    "required": ["sql"],
                },
            ),
            "sample_data": (
                "A few rows of one table or view, to see what its values look like.",
                {
                    "type": "object",
                    "properties": {
                        "table": table,
                        "limit": {"type": "integer", "minimum": 1, "maximum": MAX_SAMPLE_ROWS},
                    },
                    "required": ["table"],
                },
            ),
        }
        searchable = self.engine.search.searchable(grant)
        if searchable:
            specs["search"] = (
                "Find the rows of a searchable dataset most about what you describe (ranked "
                "full-text and, where configured, semantic search), best first, each with a "
                f"snippet; use it to find e.g. the runbook for a symptom. Searchable: "
                f"{', '.join(searchable)}",
                {
                    "type": "object",
                    "properties": {
                        "dataset": {"type": "string", "enum": searchable},
                        "text": {"type": "string"},
                        "limit": {"type": "integer", "minimum": 1, "maximum": MAX_SEARCH_HITS},
                    },
                    "required": ["dataset", "text"],
                },
            )
        return [
            {
                "type": "function",
                "function": {"name": name, "description": text, "parameters": parameters},
            }
            for name, (text, parameters) in specs.items()
            if name in enabled
        ]

    async def call(
        self, call_id: str, name: str, arguments: str, identity: Identity, client: str = ""
    ) -> ToolOutcome:
        """Run one call the model made; failures become the result the model reads."""
        try:
            args = _arguments(name, arguments)
            content, ok = await self._execute(name, args, identity, client), True
        except SidecarError as error:
            content, ok = _error_text(error), False
        log.info("tool %s for %s: %s", name, identity.name, "ok" if ok else "error")
        return ToolOutcome(call_id, name, arguments, content, ok)

    async def query(self, sql: str, limit: int, identity: Identity, client: str = "") -> Rows:
        """At most `limit` rows of `sql` as `identity`, off the event loop and within its
        query timeout; the query is stopped once the rows are there."""
        statement = self.gateway.statement(QueryRequest(sql, identity, INTERFACE, client=client))
        try:
            await statement.off_loop(statement.open)
            batches, truncated = await statement.off_loop(_take, statement, limit)
        finally:
            statement.close()
        return Rows(statement.schema, batches, truncated)

    async def _execute(
        self, name: str, args: dict[str, Any], identity: Identity, client: str
    ) -> str:
        query = functools.partial(self.query, identity=identity, client=client)
        if name == "list_datasets":
            return await self._list_datasets(query)
        if name == "sql":
            sql = args.get("sql")
            if not isinstance(sql, str) or not sql.strip():
                raise SidecarError(
                    ErrorCode.INVALID_REQUEST, "sql needs a non-empty 'sql' string argument"
                )
            return (await query(sql, MAX_ROWS)).render()
        if name == "search":
            return (await query(self._search_sql(args, identity), MAX_SEARCH_HITS)).render()
        table = args.get("table")
        if not isinstance(table, str) or not table:
            raise SidecarError(
                ErrorCode.INVALID_REQUEST,
                f"{name} needs a 'table' argument",
                hint="call list_datasets for the table names",
            )
        relation = exp.Table(this=exp.to_identifier(table, quoted=True))
        if name == "table_schema":
            describe = f"DESCRIBE {relation.sql(dialect=DIALECT)}"
            return (await query(describe, MAX_ROWS)).render()
        limit = args.get("limit", SAMPLE_ROWS)
        limit = max(1, min(limit if isinstance(limit, int) else SAMPLE_ROWS, MAX_SAMPLE_ROWS))
        sample = exp.select("*").from_(relation).limit(limit)
        return (await query(sample.sql(dialect=DIALECT), limit)).render()

    def _search_sql(self, args: dict[str, Any], identity: Identity) -> str:
        """search() over the dataset: the columns `identity` sees but the long indexed
        passages' column, then score and snippet."""
        grant = self.engine.access.grant(identity)
        dataset, text = args.get("dataset"), args.get("text")
        if not isinstance(dataset, str) or not isinstance(text, str) or not text.strip():
            searchable = self.engine.search.searchable(grant)
            raise SidecarError(
                ErrorCode.INVALID_REQUEST,
                "search needs 'dataset' and a non-empty 'text' argument",
                hint="searchable: " + ", ".join(searchable),
            )
        limit = args.get("limit", SEARCH_HITS)
        limit = max(1, min(limit if isinstance(limit, int) else SEARCH_HITS, MAX_SEARCH_HITS))
        call = exp.Anonymous(
            this="search",
            expressions=[
                exp.Literal.string(dataset),
                exp.Literal.string(text),
                exp.Literal.number(limit),
            ],
        )
        entry = self.engine.search.entries.get(dataset.lower())
        skipped = {entry.settings.chunk_column, "chunk"} if entry else {"chunk"}
        names = entry.current.schema.names if entry and entry.current else []
        denied = {c for c, rule in grant.rules(dataset, names).items() if rule == "deny"}
        columns = [
            exp.column(name, quoted=True)
            for name in names
            if name not in skipped and name not in denied
        ] or [exp.Star()]
        return exp.select(*columns).from_(exp.Table(this=call)).sql(dialect=DIALECT)

    async def _list_datasets(self, query: Query) -> str:
        rows = await query(
            "SELECT table_name, table_type FROM information_schema.tables ORDER BY table_name",
            10_000,
        )
        descriptions = self._descriptions()  # the rows hold only what the caller sees
        tables = [
            {
                "name": row["table_name"],
                "kind": "view" if row["table_type"] == "VIEW" else "dataset",
                "description": descriptions.get(row["table_name"]),
            }
            for row in rows.records()
        ]
        return json.dumps({"tables": tables}, separators=(",", ":"))

    def _descriptions(self, identity: Identity | None = None) -> dict[str, str]:
        """Descriptions of the datasets and views, of those `identity` sees when given."""
        grant = self.engine.access.grant(identity) if identity is not None else None
        config = self.engine.config
        items = [*config.datasets, *config.views]
        return {
            item.name: item.description
            for item in items
            if item.description and (grant is None or grant.sees(item.name))
        }


@dataclass(frozen=True)
class Rows:
    """The first rows of a query result, and whether there were more."""

    schema: pa.Schema
    batches: list[pa.RecordBatch]
    truncated: bool

    def records(self) -> list[dict[str, Any]]:
        """Rows with values as the HTTP API's JSON has them (timestamps ISO, decimals numbers)."""
        encoded = b"".join(formats.encode(formats.JSON, self.schema, iter(self.batches)))
        return json.loads(encoded)

    def render(self) -> str:
        """Compact JSON for a model: column names once, then value lists, cut to fit."""
        rows = [[_cell(value) for value in record.values()] for record in self.records()]
        body: dict[str, Any] = {"columns": self.schema.names, "rows": rows}
        truncated = self.truncated
        text = _compact(body)
        while len(text) > MAX_CHARS and body["rows"]:
            body["rows"] = body["rows"][: len(body["rows"]) // 2]
            truncated = True
            text = _compact(body)
        if truncated:
            body["truncated"] = f"only the first {len(body['rows'])} rows are shown"
            text = _compact(body)
        return text


def _arguments(name: str, arguments: str) -> dict[str, Any]:
    if name not in TOOL_NAMES:
        raise SidecarError(
            ErrorCode.INVALID_REQUEST,
            f"unknown tool {name}",
            hint="available: " + ", ".join(TOOL_NAMES),
        )
    try:
        # Grammar-constrained generation can leave raw control characters in strings.
        parsed = json.loads(arguments or "{}", strict=False)
    except json.JSONDecodeError as error:
        raise SidecarError(
            ErrorCode.INVALID_REQUEST, f"the arguments are not valid JSON: {error.msg}"
        ) from None
    if not isinstance(parsed, dict):
        raise SidecarError(ErrorCode.INVALID_REQUEST, "the arguments must be a JSON object")
    return parsed


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


def _cell(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_CELL:
        return value[:MAX_CELL] + f"... ({len(value) - MAX_CELL} more characters)"
    return value


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


def error_body(error: SidecarError) -> dict[str, object]:
    """The error as the SQL API shows it, secrets masked."""
    body = error.to_dict()
    body["message"] = REDACTOR.redact(error.message)
    return body


def _error_text(error: SidecarError) -> str:
    return _compact({"error": error_body(error)})
