"""The data tools the sidecar offers a model: list_datasets, table_schema, sql, sample_data,
and search (ranked search of the datasets that have a search index, e.g. runbooks).

The work is sidecar.datatools, the same code as the MCP server's tools: every call becomes SQL
on the query path every interface shares (sidecar.gateway), as the caller's identity, so a
model gets exactly what the agent itself may read, behind the same guard, policy and limits,
with the same errors and an audit line per statement. This module names the tools for the
model and renders their answers as compact JSON. A failed call is not an HTTP error: the error
and its hint go back to the model as the tool's result, so it can correct itself the way an
agent reading the SQL API would. Results are cut to what fits a small context window (rows,
cell length, total characters) and say so when cut.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, get_args

from sqlglot import exp

from policies.identity import Identity
from sidecar.config import DataTool
from sidecar.datatools import Caller, DataTools, Rows, error_text
from sidecar.engine.planner import DIALECT
from sidecar.errors import ErrorCode, SidecarError
from sidecar.gateway import Gateway

log = logging.getLogger("sidecar.llm")
INTERFACE = "llm"
TOOL_NAMES: tuple[str, ...] = get_args(DataTool)
MAX_ROWS = 50
SAMPLE_ROWS = 5
MAX_SAMPLE_ROWS = 20
SEARCH_HITS = 3
MAX_SEARCH_HITS = 10


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


class ModelTools:
    def __init__(self, gateway: Gateway) -> None:
        self.data = DataTools(gateway)
        self.engine = gateway.engine

    def specs(self, enabled: Sequence[str], identity: Identity) -> list[dict[str, Any]]:
        """OpenAI tool definitions; table arguments enumerate the tables `identity` sees,
        which also lets the grammar of a forced call pick only names that exist."""
        tables = self.data.names(identity)
        table = {"type": "string", "enum": tables} if tables else {"type": "string"}
        described = "; ".join(
            f"{name}: {text}"
            for name in tables
            if (text := self.data.description(name)) is not None
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
        searchable = self.data.searchable(identity)
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
            content, ok = await self._execute(name, args, Caller(identity, INTERFACE, client)), True
        except SidecarError as error:
            content, ok = error_text(error), False
        log.info("tool %s for %s: %s", name, identity.name, "ok" if ok else "error")
        return ToolOutcome(call_id, name, arguments, content, ok)

    async def query(self, sql: str, limit: int, identity: Identity, client: str = "") -> Rows:
        """At most `limit` rows of `sql` as `identity` (nsql's answers)."""
        return await self.data.query(sql, limit, Caller(identity, INTERFACE, client))

    async def _execute(self, name: str, args: dict[str, Any], caller: Caller) -> str:
        if name == "list_datasets":
            datasets = await self.data.datasets(caller)
            return _compact({"tables": datasets})
        if name == "sql":
            sql = args.get("sql")
            if not isinstance(sql, str) or not sql.strip():
                raise SidecarError(
                    ErrorCode.INVALID_REQUEST, "sql needs a non-empty 'sql' string argument"
                )
            return render(await self.data.sql(sql, MAX_ROWS, caller))
        if name == "search":
            sql = self._search_sql(args, caller.identity)
            return render(await self.data.query(sql, MAX_SEARCH_HITS, caller))
        table = args.get("table")
        if not isinstance(table, str) or not table:
            raise SidecarError(
                ErrorCode.INVALID_REQUEST,
                f"{name} needs a 'table' argument",
                hint="call list_datasets for the table names",
            )
        if name == "table_schema":
            return _compact(await self.data.describe(table, caller))
        limit = args.get("limit", SAMPLE_ROWS)
        limit = max(1, min(limit if isinstance(limit, int) else SAMPLE_ROWS, MAX_SAMPLE_ROWS))
        return render(await self.data.sample(table, limit, caller))

    def _search_sql(self, args: dict[str, Any], identity: Identity) -> str:
        """search() over the dataset: the columns `identity` sees but the long indexed
        passages' column, then score and snippet."""
        grant = self.engine.access.grant(identity)
        dataset, text = args.get("dataset"), args.get("text")
        if not isinstance(dataset, str) or not isinstance(text, str) or not text.strip():
            searchable = self.data.searchable(identity)
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


def render(rows: Rows) -> str:
    """Compact JSON for a model: column names once, then value lists, cut to fit."""
    values, truncated = rows.compact()
    body: dict[str, Any] = {"columns": rows.schema.names, "rows": values}
    if truncated:
        body["truncated"] = f"only the first {len(values)} rows are shown"
    return _compact(body)


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
    except RecursionError:
        raise SidecarError(
            ErrorCode.INVALID_REQUEST, "the arguments nest arrays or objects too deeply"
        ) from None
    if not isinstance(parsed, dict):
        raise SidecarError(ErrorCode.INVALID_REQUEST, "the arguments must be a JSON object")
    return parsed


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)
