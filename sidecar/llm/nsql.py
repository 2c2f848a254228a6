"""POST /v1/nsql: a question in plain language, answered with SQL written by the model.

The model sees the tables with their columns and descriptions and writes one query, held to
the shape of a SELECT/WITH statement by a grammar, so even a small model cannot wander into
prose. The query runs like any other, through the read-only guard; when it fails, the error
and its hint go back to the model for one more try, which is how an agent would use the SQL
API itself. The answer carries the SQL, so the caller can check it, and every attempt.
"""

from __future__ import annotations

from typing import Any

from policies.identity import Identity
from sidecar.datatools import error_body
from sidecar.engine.types import sql_type
from sidecar.errors import SidecarError
from sidecar.llm.agent import generation_error
from sidecar.llm.models import ModelEntry, import_llama
from sidecar.llm.openai import NsqlRequest
from sidecar.llm.tools import ModelTools

ATTEMPTS = 2
MAX_SQL_TOKENS = 256
MAX_SCHEMA_CHARS = 6000
MAX_SCHEMA_COLUMNS = 2000
COLUMNS = (
    "SELECT table_name, column_name, data_type FROM information_schema.columns "
    "ORDER BY table_name, ordinal_position"
)
SQL_GRAMMAR = r"""root ::= start [^;]* ";"
start ::= "SELECT " | "WITH " | "select " | "with "
"""
PROMPT = """You translate questions into one read-only SQL query (PostgreSQL dialect) over \
these tables. Answer with the query only, ending with a semicolon.

{tables}"""


class NsqlFailed(Exception):
    """The model's queries all failed; the last error and every attempt go to the caller."""

    def __init__(self, error: SidecarError, attempts: list[dict[str, Any]]) -> None:
        super().__init__(error.message)
        self.error = error
        self.attempts = attempts


async def describe_tables(tools: ModelTools, identity: Identity, client: str) -> str:
    """One line per table or view: name(column type, ...) -- description.

    Read from information_schema as the caller, so the prompt holds exactly what the caller's
    policy shows: a hidden dataset or a denied column never reaches the model."""
    rows = await tools.query(COLUMNS, MAX_SCHEMA_COLUMNS, identity, client)
    columns: dict[str, list[str]] = {}
    for record in rows.records():
        column = f"{record['column_name']} {record['data_type']}"
        columns.setdefault(record["table_name"], []).append(column)
    lines = []
    for name, described in columns.items():
        line = f"{name}({', '.join(described)})"
        if description := tools.data.description(name):
            line += f" -- {description}"
        lines.append(line)
    return "\n".join(lines)[:MAX_SCHEMA_CHARS]


async def answer(
    model: ModelEntry, tools: ModelTools, request: NsqlRequest, identity: Identity, client: str = ""
) -> dict[str, Any]:
    """The SQL for `request.question` and its first rows; NsqlFailed when no attempt ran."""
    messages: list[dict[str, str]] = [
        {
            "role": "system",
            "content": PROMPT.format(tables=await describe_tables(tools, identity, client)),
        },
        {"role": "user", "content": request.question},
    ]
    attempts: list[dict[str, Any]] = []
    for attempt in range(1, ATTEMPTS + 1):
        sql = await _write_sql(model, messages, request)
        try:
            rows = await tools.query(sql, request.max_rows, identity, client)
        except SidecarError as failure:
            attempts.append({"sql": sql, "error": error_body(failure)})
            if attempt == ATTEMPTS:
                raise NsqlFailed(failure, attempts) from None
            messages += [
                {"role": "assistant", "content": sql + ";"},
                {"role": "user", "content": _retry_prompt(failure)},
            ]
            continue
        attempts.append({"sql": sql, "error": None})
        return {
            "object": "nsql.answer",
            "model": model.name,
            "question": request.question,
            "sql": sql,
            "columns": [{"name": f.name, "type": sql_type(f.type)} for f in rows.schema],
            "rows": rows.records(),
            "truncated": rows.truncated,
            "attempts": attempts,
        }
    raise AssertionError("unreachable: the last attempt returns or raises")


async def _write_sql(
    model: ModelEntry, messages: list[dict[str, str]], request: NsqlRequest
) -> str:
    options: dict[str, Any] = {
        "messages": list(messages),
        "model": model.name,
        "max_tokens": MAX_SQL_TOKENS,
        "grammar": import_llama().LlamaGrammar.from_string(SQL_GRAMMAR, verbose=False),
    }
    if request.temperature is not None:
        options["temperature"] = request.temperature
    if request.seed is not None:
        options["seed"] = request.seed

    def generate() -> str:
        try:
            response = model.llama.create_chat_completion(**options)
        except ValueError as error:
            raise generation_error(error) from None
        return response["choices"][0]["message"].get("content") or ""

    text = await model.queue.run(generate)
    return text.strip().rstrip(";").strip()


def _retry_prompt(error: SidecarError) -> str:
    text = f"That query failed: {error.message}"
    if error.hint:
        text += f" ({error.hint})"
    return text + ". Write a corrected query."
