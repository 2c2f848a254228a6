"""`POST /v1/search`: ranked hits over one or more datasets, as SQL underneath.

    {"datasets": ["guides"], "text": "pool exhausted", "limit": 5, "mode": "hybrid",
     "where": "path LIKE 'payment%'"}

Each dataset's search is one query through the engine (guard, catalog, the caller's identity),
`SELECT * FROM <function>(...) WHERE (<where>) ORDER BY score DESC LIMIT n`, so the HTTP API
answers exactly what the table functions answer. The filter applies before the limit: when it
drops hits, the search is repeated deeper until `limit` hits pass or the index is exhausted.
Hits of several datasets are merged by reciprocal rank (their scores are not comparable);
each keeps its own dataset's score.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import sqlglot
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from policies.access import Grant
from policies.guard import syntax_error
from sidecar.errors import ErrorCode, SidecarError, invalid_request
from sidecar.search import query
from sidecar.search.functions import MAX_LIMIT
from sidecar.search.fusion import reciprocal_rank_fusion
from sidecar.search.indexes import SearchIndexes

FUNCTIONS = {"text": "text_search", "vector": "vector_search", "hybrid": "search"}
ALIAS = "hits"
MAX_DATASETS = 64  # each dataset is a statement of its own: a request cannot fan out further
# Runs one statement as the caller; returns its rows as JSON-ready dicts.
Run = Callable[[str], list[dict[str, Any]]]


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    datasets: list[str] = Field(
        min_length=1,
        max_length=MAX_DATASETS,
        description="The searchable datasets to search (each once).",
    )
    text: str = Field(
        description=f"What to find; hits with more of the words rank higher. The {query.SYNTAX}."
    )
    limit: int = Field(default=10, ge=1, le=1000, description="How many hits, best first.")
    mode: Literal["text", "vector", "hybrid"] = Field(
        default="text",
        description="text: ranked full-text (BM25); vector: by meaning (needs a vectors index); "
        "hybrid: both, fused by rank.",
    )
    where: str | None = Field(
        default=None,
        description="A SQL condition on the dataset's columns that hits must meet "
        "(\"path LIKE 'payment%'\").",
    )
    columns: list[str] | None = Field(
        default=None, description="Dataset columns to return with each hit (default: all)."
    )


def parse_request(body: Any) -> SearchRequest:
    try:
        return SearchRequest.model_validate(body)
    except ValidationError as error:
        raise invalid_request(
            error,
            hint='e.g. {"datasets": ["guides"], "text": "pool exhausted", "limit": 5, '
            '"mode": "text|vector|hybrid", "where": "path LIKE \'payment%\'"}',
        ) from None


def search(
    request: SearchRequest, indexes: SearchIndexes, run: Run, grant: Grant
) -> list[dict[str, Any]]:
    """The merged hits: {dataset, key, score, snippet, chunk, row} each, best first."""
    _check_where(request.where)
    rankings = []
    for dataset in dict.fromkeys(request.datasets):
        _check_text(request.text, indexes, dataset, grant)
        rankings.append(_search_one(request, indexes, dataset, run))
    if len(rankings) == 1:
        return rankings[0]
    fused = reciprocal_rank_fusion(
        [[(number, position) for position in range(len(r))] for number, r in enumerate(rankings)]
    )
    return [rankings[number][position] for (number, position), _ in fused[: request.limit]]


def _search_one(
    request: SearchRequest, indexes: SearchIndexes, dataset: str, run: Run
) -> list[dict[str, Any]]:
    depth = request.limit
    size = _size(indexes, dataset)
    while True:
        sql = statement(request, dataset, depth)
        try:
            records = run(sql)
        except SidecarError as error:
            raise _located(error, sql, request) from None
        if request.where is None or len(records) >= request.limit or depth >= size:
            break
        depth = min(depth * 4, max(size, 1), MAX_LIMIT)
    return [_hit(dataset, record, indexes, request.columns) for record in records]


def statement(request: SearchRequest, dataset: str, depth: int) -> str:
    """The SQL of one dataset's search; `where` verbatim on its own lines, so its positions
    can be told back relative to it and a trailing -- comment cannot swallow the rest."""
    function = exp.Anonymous(
        this=FUNCTIONS[request.mode],
        expressions=[
            exp.Literal.string(dataset),
            exp.Literal.string(request.text),
            exp.Literal.number(depth),
        ],
    )
    head = f"SELECT * FROM {function.sql('postgres')} AS {ALIAS}"
    where = f" WHERE (\n{request.where}\n)" if request.where is not None else ""
    return f"{head}{where} ORDER BY score DESC LIMIT {request.limit}"


def _check_where(where: str | None) -> None:
    """One boolean expression, or a 400 pointing into `where` itself."""
    if where is None:
        return
    if not where.strip():
        raise SidecarError(
            ErrorCode.INVALID_REQUEST, "where is empty", hint="drop it, or write a SQL condition"
        )
    try:
        sqlglot.parse_one(where, read="postgres", into=exp.Condition)
    except RecursionError:
        raise SidecarError(
            ErrorCode.TOO_COMPLEX,
            "where nests too deeply to be read",
            hint="flatten the condition: fewer nested parentheses, calls and operators",
        ) from None
    except (ParseError, TokenError) as error:
        found = syntax_error(where, error)
        raise SidecarError(
            ErrorCode.SYNTAX,
            f"where is not one SQL condition: {found.message}",
            hint="e.g. \"path LIKE 'payment%' AND modified_at > '2026-01-01'\"",
            position=found.position,
        ) from None


def _check_text(text: str, indexes: SearchIndexes, dataset: str, grant: Grant) -> None:
    """Search-text errors located in the text, before any SQL is written around it. `name:`
    refers only to the columns the caller may search (as the SQL function parses it): for a
    dataset it cannot see, or a column its policy masks or denies, `name:` is a plain word, so
    no error tells that they exist."""
    entry = indexes.entries.get(dataset.lower())
    fields: list[str] = []
    if entry is not None and grant.sees(entry.dataset.name):
        rules = grant.rules(entry.dataset.name, entry.settings.text)
        fields = [column for column in entry.settings.text if column not in rules]
    try:
        query.parse(text, fields)
    except query.SearchSyntaxError as error:
        raise SidecarError(
            ErrorCode.SYNTAX,
            f"text: {error.message} (character {error.position})",
            hint=error.hint or query.SYNTAX,
            position=error.position,
        ) from None


def _located(error: SidecarError, sql: str, request: SearchRequest) -> SidecarError:
    """An error inside the `where` filter points into `where`; other positions mean nothing
    to the caller, who never wrote this SQL."""
    position, error.position = error.position, None
    if request.where is not None and position is not None:
        start = sql.rindex(f"\n{request.where}\n)") + 2
        if start <= position < start + len(request.where):
            error.position = position - start + 1
            error.message = f"where: {error.message}"
    return error


def _size(indexes: SearchIndexes, dataset: str) -> int:
    entry = indexes.entries.get(dataset.lower())
    index = entry.current if entry else None
    return index.rows.num_rows if index is not None else 0


def _hit(
    dataset: str, record: dict[str, Any], indexes: SearchIndexes, columns: Sequence[str] | None
) -> dict[str, Any]:
    entry = indexes.entries.get(dataset.lower())
    key = entry.settings.key if entry else None
    score, snippet, chunk = record.pop("score"), record.pop("snippet"), record.pop("chunk")
    identifier = record.get(key) if key else None
    if columns is not None:
        unknown = [name for name in columns if name not in record]
        if unknown:
            raise SidecarError(
                ErrorCode.INVALID_REQUEST,
                f"columns: {', '.join(unknown)} not in {dataset}",
                hint="its columns: " + ", ".join(record),
            )
        record = {name: record[name] for name in columns}
    return {
        "dataset": entry.dataset.name if entry else dataset,
        "key": identifier,
        "score": score,
        "snippet": snippet,
        "chunk": chunk,
        "row": record,
    }
