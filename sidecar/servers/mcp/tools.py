"""The MCP tools: their names, argument schemas and descriptions written for a model, and the
text a model reads back.

The work itself is sidecar.datatools (the same code as the model's own tools), so a tool runs
on the query path as the caller. Arguments are pydantic models: their JSON Schema is the
tool's inputSchema, and a call is validated against it here, so a bad argument comes back as
a tool error naming the argument, which a model can correct. A tool that fails (bad SQL, a
refusal, a limit) answers an MCP tool error (isError) whose text is the SQL API's error body:
the message, the hint and the position. Successful answers carry a compact text table for
the model and the same rows as structuredContent for programs.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import mcp_types as types
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sidecar.datatools import Caller, DataTools, Rows, cut, error_body, error_text
from sidecar.errors import SidecarError, invalid_request
from sidecar.search import api as search_api

MAX_ROWS = 50
MAX_ROWS_LIMIT = 1000
SAMPLE_ROWS = 5
MAX_SAMPLE_ROWS = 20
MAX_CHARS = 20_000
READ_ONLY = types.ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)


class Arguments(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NoArguments(Arguments):
    pass


class DatasetArguments(Arguments):
    dataset: str = Field(description="A table or view name, as list_datasets shows it.")


class SqlArguments(Arguments):
    sql: str = Field(description="One read-only query: SELECT or WITH, PostgreSQL dialect.")
    max_rows: int = Field(
        default=MAX_ROWS,
        ge=1,
        le=MAX_ROWS_LIMIT,
        description="At most this many rows come back; the answer says when there were more.",
    )


class SampleArguments(DatasetArguments):
    rows: int = Field(default=SAMPLE_ROWS, ge=1, le=MAX_SAMPLE_ROWS, description="How many rows.")


class ExplainArguments(Arguments):
    sql: str = Field(description="The query to explain (SELECT or WITH).")
    analyze: bool = Field(
        default=False,
        description="Also run it and show the rows each source returned (EXPLAIN ANALYZE).",
    )


Run = Callable[[DataTools, Any, Caller], Awaitable["Answer"]]


@dataclass(frozen=True)
class Answer:
    """What a tool gives back: text for the model, the same data structured for programs."""

    text: str
    data: dict[str, Any]


@dataclass(frozen=True)
class ToolSpec:
    name: str
    title: str
    description: str
    arguments: type[BaseModel]
    run: Run


async def _list_datasets(tools: DataTools, args: NoArguments, caller: Caller) -> Answer:
    datasets = await tools.datasets(caller)
    rows = [[d["name"], d["kind"], d["rows"], d["description"]] for d in datasets]
    text = table(["name", "kind", "rows", "description"], rows, null="")
    return Answer(f"{text}\n({len(datasets)} tables and views)", {"datasets": datasets})


async def _describe(tools: DataTools, args: DatasetArguments, caller: Caller) -> Answer:
    described = await tools.describe(args.dataset, caller)
    head = [f"{described['name']} ({described['kind']})"]
    if described.get("description"):
        head.append(described["description"])
    if described["rows"] is not None:
        head.append(f"rows: {described['rows']:,}")
    freshness = described.get("freshness")
    if freshness is not None:
        head.append("freshness: " + ", ".join(f"{k} {v}" for k, v in freshness.items() if v))
    columns = [
        [c["name"], c["type"], "yes" if c["nullable"] else "no", c["description"]]
        for c in described["columns"]
    ]
    text = table(["column", "type", "nullable", "description"], columns, null="")
    return Answer("\n".join(head) + "\n\n" + text, described)


async def _sql(tools: DataTools, args: SqlArguments, caller: Caller) -> Answer:
    return rows_answer(await tools.sql(args.sql, args.max_rows, caller))


async def _sample(tools: DataTools, args: SampleArguments, caller: Caller) -> Answer:
    return rows_answer(await tools.sample(args.dataset, args.rows, caller))


async def _search(tools: DataTools, args: search_api.SearchRequest, caller: Caller) -> Answer:
    hits = await tools.search(args, caller)
    lines = []
    for number, hit in enumerate(hits, start=1):
        row = {name: cut(value) for name, value in hit["row"].items()}
        hit["row"] = row
        hit["chunk"] = cut(hit["chunk"])
        lines.append(f"{number}. {hit['dataset']} {hit['key']} (score {hit['score']:.3g})")
        lines.append("   " + " ".join(str(hit["snippet"]).split()))
        lines.append("   " + json.dumps(row, default=str))
    text = "\n".join(lines) if lines else "no hits: try other words, or mode hybrid"
    return Answer(text, {"hits": hits})


async def _explain(tools: DataTools, args: ExplainArguments, caller: Caller) -> Answer:
    plans = await tools.explain(args.sql, args.analyze, caller)
    text = "\n\n".join(f"{plan['plan_type']}:\n{plan['plan']}" for plan in plans)
    return Answer(text, {"plans": plans})


TOOLS = {
    spec.name: spec
    for spec in (
        ToolSpec(
            "list_datasets",
            "List datasets",
            "List the tables and views you can query with SQL, each with its description and "
            "row count (where known). Start here when you do not know the data yet.",
            NoArguments,
            _list_datasets,
        ),
        ToolSpec(
            "describe_dataset",
            "Describe a dataset",
            "Describe one table or view before you query it: its columns with their types and "
            "descriptions, its row count, and how fresh its data is (read live from the source, "
            "or a local copy refreshed at a given time).",
            DatasetArguments,
            _describe,
        ),
        ToolSpec(
            "sql",
            "Run SQL",
            "Run one read-only SQL query (PostgreSQL dialect; SELECT or WITH) over the datasets "
            "and get the first rows back as a table. Joins across datasets work, whatever "
            "source each comes from. The answer says when rows were left out: aggregate, filter "
            "or add LIMIT rather than reading everything. An error names what is wrong and how "
            "to fix it (the unknown column and the ones that exist, the position of a syntax "
            "error): correct the query and try again.",
            SqlArguments,
            _sql,
        ),
        ToolSpec(
            "sample",
            "Sample a dataset",
            "A few rows of a table or view, to see what its values look like before you write "
            "SQL over it.",
            SampleArguments,
            _sample,
        ),
        ToolSpec(
            "search",
            "Search documents",
            "Search the documents of searchable datasets (runbooks, tickets, notes) for what "
            "you describe: ranked hits, best first, each with a snippet of the matching passage "
            "and its row. Use it to find, e.g., the runbook for a symptom or an error message.",
            search_api.SearchRequest,
            _search,
        ),
        ToolSpec(
            "explain",
            "Explain a query",
            "Show how a query would run, without running it: what each source is sent (the "
            "columns, filters and limits pushed down to it) and the logical and physical plans. "
            "Use it when a query is slow or its answer surprises you.",
            ExplainArguments,
            _explain,
        ),
    )
}


def listed(names: Sequence[str], searchable: Sequence[str]) -> list[types.Tool]:
    """The tools as a caller who sees `names` gets them: dataset arguments enumerate those
    names, and search is offered only when some of them are searchable."""
    tools = []
    for spec in TOOLS.values():
        if spec.name == "search" and not searchable:
            continue
        schema = spec.arguments.model_json_schema()
        properties = schema.get("properties", {})
        if "dataset" in properties and names:
            properties["dataset"]["enum"] = list(names)
        if "datasets" in properties:
            properties["datasets"]["items"]["enum"] = list(searchable)
            properties["datasets"]["description"] += " Searchable: " + ", ".join(searchable)
        tools.append(
            types.Tool(
                name=spec.name,
                title=spec.title,
                description=spec.description,
                input_schema=schema,
                annotations=READ_ONLY,
            )
        )
    return tools


async def call(
    tools: DataTools, spec: ToolSpec, arguments: dict[str, Any] | None, caller: Caller
) -> types.CallToolResult:
    """Run one call; whatever goes wrong in it is the tool's error, for the model to read."""
    try:
        answer = await spec.run(tools, _arguments(spec, arguments or {}), caller)
    except SidecarError as error:
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=error_text(error))],
            structured_content={"error": error_body(error)},
            is_error=True,
        )
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=answer.text)], structured_content=answer.data
    )


def rows_answer(rows: Rows) -> Answer:
    values, truncated = rows.compact(MAX_CHARS)
    text = table(rows.schema.names, values)
    if truncated:
        note = (
            f"(the first {len(values)} rows; there are more: aggregate, filter or add LIMIT, "
            "or raise max_rows)"
        )
    else:
        note = f"({len(values)} row{'' if len(values) == 1 else 's'})"
    data = {"columns": rows.schema.names, "rows": values, "truncated": truncated}
    return Answer(f"{text}\n{note}", data)


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]], null: str = "NULL") -> str:
    """A Markdown table: what models read best, with no padding to spend tokens on."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_text(value, null) for value in row) + " |" for row in rows]
    return "\n".join(lines)


def _arguments(spec: ToolSpec, arguments: dict[str, Any]) -> Any:
    if spec.arguments is search_api.SearchRequest:
        return search_api.parse_request(arguments)
    try:
        return spec.arguments.model_validate(arguments)
    except ValidationError as error:
        takes = ", ".join(spec.arguments.model_fields) or "nothing"
        raise invalid_request(error, f"{spec.name} takes {takes}", "arguments") from None


def _text(value: Any, null: str) -> str:
    if value is None:
        return null
    if isinstance(value, bool):
        return "true" if value else "false"
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", "\\n")
