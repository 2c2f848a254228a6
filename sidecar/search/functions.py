"""The SQL table functions: `text_search`, `vector_search` and `search` (hybrid).

    SELECT title, score, snippet FROM text_search('guides', 'pool exhausted', 5)

Each call becomes one scan of the query plan, like a table: its rows are the hits, best first,
with the dataset's columns plus `score`, `snippet` and `chunk`, so they join, filter and sort
like any other table. The dataset is resolved through the catalog, as a table name would be,
and the search text is parsed while the query is planned, so a typo in either is reported
with its position in the SQL before anything runs; the search itself runs when the scan is
read. EXPLAIN shows the call, the index and its size.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import pyarrow as pa
from sqlglot import exp
from sqlglot.errors import SqlglotError

from connectors.base import Connector, DatasetSource, ScanRequest
from policies.access import MASK_TEXT, Grant
from sidecar.engine.dialect import DUCKDB
from sidecar.engine.restriction import rows_where
from sidecar.errors import ErrorCode, SidecarError
from sidecar.search import query
from sidecar.search.index import Hit, SearchIndex, Visible
from sidecar.search.indexes import SearchIndexes

MODES = {"text_search": "text", "vector_search": "vector", "search": "hybrid"}
DEFAULT_LIMIT = 10
MAX_LIMIT = 10_000
ROW_NUMBER = "__search_row"
USAGE = "e.g. text_search('guides', 'pool exhausted', 5): a dataset, the search text, a limit"


@dataclass(frozen=True)
class SearchCall:
    """One table function call as written: which search, of what, for what, how many."""

    function: str
    dataset: str
    text: str
    limit: int
    tree: query.Group | None

    @property
    def mode(self) -> str:
        return MODES[self.function]


def function_name(node: exp.Expression) -> str | None:
    """The search function a table reference calls, if it calls one."""
    if isinstance(node, exp.Anonymous):
        name = node.name.lower()
    elif isinstance(node, exp.Func):
        name = node.sql_name().lower()
    else:
        return None
    return name if name in MODES else None


def arguments(node: exp.Func) -> list[exp.Expression]:
    """Positional arguments, whether sqlglot knows the function (SEARCH, VECTOR_SEARCH are
    BigQuery's) or not."""
    if isinstance(node, exp.Anonymous):
        return list(node.expressions)
    values: list[exp.Expression] = []
    for key in node.arg_types:
        value = node.args.get(key)
        if value is not None:
            values.extend(value if isinstance(value, list) else [value])
    return values


def parse_call(node: exp.Func, fields: Sequence[str] | None = None) -> SearchCall:
    """Validate the arguments (literals only) and parse the search text against `fields`."""
    name = function_name(node)
    assert name is not None
    args = arguments(node)
    if not 2 <= len(args) <= 3:
        raise SidecarError(
            ErrorCode.QUERY,
            f"{name}() takes 2 or 3 arguments, {len(args)} given",
            hint=USAGE,
            position=_position(node),
        )
    dataset = _string(args[0], name, "the dataset name")
    text = _string(args[1], name, "the search text")
    limit = DEFAULT_LIMIT
    if len(args) == 3:
        limit_arg = args[2]
        if not (isinstance(limit_arg, exp.Literal) and not limit_arg.is_string):
            raise _argument_error(name, "the limit", "a whole number", limit_arg)
        try:
            limit = int(limit_arg.this)
        except ValueError:
            raise _argument_error(name, "the limit", "a whole number", limit_arg) from None
        if not 1 <= limit <= MAX_LIMIT:
            raise SidecarError(
                ErrorCode.QUERY,
                f"{name}() limit must be between 1 and {MAX_LIMIT}, not {limit}",
                hint=USAGE,
                position=_position(limit_arg),
            )
    tree = None
    if fields is not None:
        try:
            tree = query.parse(text, list(fields))
        except query.SearchSyntaxError as error:
            start = _position(args[1])
            raise SidecarError(
                ErrorCode.SYNTAX,
                f"{error.message} (character {error.position} of the search text)",
                hint=error.hint or query.SYNTAX,
                position=start + error.position - 1 if start is not None else None,
            ) from None
    return SearchCall(name, dataset, text, limit, tree)


def bind_function(
    indexes: SearchIndexes, node: exp.Func, grant: Grant, definer: bool = False
) -> tuple[str, Connector] | None:
    """The planner's hook: a search call's relation name and scan, None for other functions.

    Only columns the caller's policy leaves as they are can be searched: a match on a masked
    column would tell what it holds. A call inside a view resolves as its definer would."""
    name = function_name(node)
    if name is None:
        return None
    connector = bind(indexes, node, grant=grant, definer=definer)
    return f"{name}({connector.call.dataset})", connector


def bind(
    indexes: SearchIndexes,
    node: exp.Func,
    columns: Sequence[str] | None = None,
    *,
    grant: Grant | None = None,
    definer: bool = False,
) -> SearchConnector:
    """The scan of one call; `columns` limits the searchable columns (all when None).

    The dataset is resolved by the catalog exactly as a table name in FROM would be."""
    call = parse_call(node)
    dataset_arg = arguments(node)[0]
    try:
        table = exp.to_table(call.dataset)
    except SqlglotError:
        table = exp.Table(this=exp.to_identifier(call.dataset))
    try:
        resolved = indexes.catalog.resolve(table, None if definer else grant)
    except SidecarError as error:
        error.position = _position(dataset_arg)
        raise
    if resolved.dataset is None:
        raise SidecarError(
            ErrorCode.QUERY,
            f"{resolved.name} is not a dataset: only datasets with a search: block are searchable",
            hint="searchable: " + (", ".join(indexes.searchable(grant)) or "none"),
            position=_position(dataset_arg),
        )
    index = indexes.get(resolved.name, grant)
    rules = grant.rules(resolved.name, index.rows.schema.names) if grant is not None else {}
    searchable = [
        c for c in index.settings.text if (columns is None or c in columns) and c not in rules
    ]
    vectors = index.settings.vectors
    policy = SearchPolicy(
        chunk_rule=rules.get(index.settings.chunk_column),
        vectors_rule=rules.get(vectors.column) if vectors is not None else None,
        row_filter=grant.row_filter(resolved.name) if grant is not None else None,
        sized=(grant is None or grant.counts_rows(resolved.name))
        and "deny" not in rules.values()
        and index.settings.chunk_column not in rules,
    )
    call = parse_call(node, searchable)
    return SearchConnector(call, index, indexes, searchable, policy)


@dataclass(frozen=True)
class SearchPolicy:
    """What the caller's policy changes in a search, beyond the hit rows' own columns (which
    the planner masks like any scan): a masked column is neither matched (the searchable
    columns leave it out) nor compared by vector, its passages are not shown as `chunk` nor
    as the snippet of a vector hit (the compared column need not be the chunked one), and
    only rows the row filter lets through are ranked, so the limit counts visible rows.
    EXPLAIN tells the index's size only when it is `sized`: under a row filter its row count
    would tell how many rows are hidden, and its chunk count how long texts it may not read
    are."""

    chunk_rule: str | None = None
    vectors_rule: str | None = None
    row_filter: exp.Expression | None = None
    sized: bool = True


class SearchConnector(Connector):
    """The hits of one call as a table; the search runs when the scan is opened."""

    schemes: ClassVar[tuple[str, ...]] = ("search",)

    def __init__(
        self,
        call: SearchCall,
        index: SearchIndex,
        indexes: SearchIndexes,
        columns: Sequence[str],
        policy: SearchPolicy | None = None,
    ) -> None:
        super().__init__(DatasetSource(name=call.dataset, scheme="search", location=call.dataset))
        self.call = call
        self.index = index
        self.indexes = indexes
        self.columns = list(columns)
        self.policy = policy or SearchPolicy()

    def schema(self) -> pa.Schema:
        return self.index.schema

    def hits(self) -> list[Hit]:
        call, index = self.call, self.index
        visible = self._visible()
        openings = self.policy.chunk_rule is None
        if call.mode != "vector" and not self.columns and index.text is not None:
            raise SidecarError(
                ErrorCode.FORBIDDEN,
                f"no text column of {call.dataset} can be searched under your access policy",
                hint="the columns it masks are not searched; ask the operator",
            )
        if call.mode == "text":
            assert call.tree is not None
            return index.text_hits(call.tree, call.limit, self.columns, visible)
        vector = self._vector()
        if call.mode == "vector":
            if vector is None:
                raise SidecarError(
                    ErrorCode.INVALID_REQUEST,
                    f"{call.dataset} has no vector index",
                    hint="add vectors: {column: ..., model: ...} to its search: block, "
                    "or use text_search",
                )
            return index.vector_hits(vector, call.limit, visible, openings)
        assert call.tree is not None
        return index.hybrid_hits(call.tree, vector, call.limit, self.columns, visible, openings)

    def _vector(self) -> Sequence[float] | None:
        if self.index.vectors is None:
            return None
        settings = self.index.settings.vectors
        assert settings is not None
        if self.policy.vectors_rule is not None:
            if self.call.mode == "hybrid":
                return None
            ruled = (  # a denied column does not exist for the caller: it is not named
                "a column your access policy does not give you"
                if self.policy.vectors_rule == "deny"
                else f"{settings.column}, which your access policy masks"
            )
            raise SidecarError(
                ErrorCode.FORBIDDEN,
                f"vector search of {self.call.dataset} compares with {ruled}",
                hint="use text_search over the columns you can read",
            )
        vector = self.indexes.embed_query(self.call.dataset, self.call.text)
        if vector is None:
            raise SidecarError(
                ErrorCode.NOT_READY,
                f"the embedding model of {self.call.dataset} is not available",
                hint="GET /v1/models shows the model's state",
            )
        return vector

    def _visible(self) -> Visible | None:
        """What the caller's policy lets it see of the index (None: all of it as it is): the
        rows its row filter lets through now, and whether the chunked column is hidden."""
        condition = self.policy.row_filter
        hidden = self.policy.chunk_rule is not None
        if condition is None and not hidden:
            return None
        rows = None
        if condition is not None:

            def find() -> set[int]:
                table = self.index.rows
                numbers = pa.array(range(table.num_rows), pa.int64())
                visible = rows_where(table.append_column(ROW_NUMBER, numbers), name, condition)
                return set(visible.column(ROW_NUMBER).to_pylist())

            name = self.call.dataset
            # a filter of columns and literals only (no function: now(), random()) answers the
            # same over the same rows
            stable = not any(isinstance(node, exp.Func) for node in condition.walk())
            rows = self.index.positions(condition.sql(dialect=DUCKDB) if stable else None, find)
        return self.index.visible(rows, hidden)

    def scan(self, request: ScanRequest) -> pa.RecordBatchReader:
        table = self.index.table(self.hits())
        if self.policy.chunk_rule is not None:
            position = table.schema.get_field_index("chunk")
            hidden = MASK_TEXT if self.policy.chunk_rule == "mask" else None
            table = table.set_column(
                position, "chunk", pa.array([hidden] * table.num_rows, pa.string())
            )
        if request.projection is not None:
            table = table.select(list(request.projection))
        return pa.RecordBatchReader.from_batches(table.schema, table.to_batches())

    def describe(self, request: ScanRequest) -> str:
        index, call = self.index, self.call
        engines = []
        if call.mode in ("text", "hybrid") and index.text is not None:
            engines.append(f"BM25 over {', '.join(self.columns)} (tantivy)")
        compared = index.vectors is not None and self.policy.vectors_rule is None
        if call.mode in ("vector", "hybrid") and compared:
            vectors = index.settings.vectors
            assert vectors is not None
            engines.append(f"HNSW over {vectors.column} embedded by {vectors.model} (usearch)")
        fused = ", fused by reciprocal rank" if len(engines) > 1 else ""
        built = dt.datetime.fromtimestamp(index.built_at, dt.UTC).isoformat(timespec="seconds")
        size = f"{index.rows.num_rows} rows in {index.chunk_count} chunks, " * self.policy.sized
        return (
            f"{call.function} {call.text!r} limit={call.limit}: {' + '.join(engines)}{fused}; "
            f"{size}built {built}; " + super().describe(request)
        )


def _string(node: exp.Expression, function: str, what: str) -> str:
    if isinstance(node, exp.Literal) and node.is_string:
        return node.this
    raise _argument_error(function, what, "a string literal", node)


def _argument_error(function: str, what: str, expected: str, node: exp.Expression) -> SidecarError:
    return SidecarError(
        ErrorCode.QUERY,
        f"{function}(): {what} must be {expected}, not {node.sql('postgres')}",
        hint=USAGE + "; $1-style parameters work too",
        position=_position(node),
    )


def _position(node: exp.Expression) -> int | None:
    """1-based offset of a node in the SQL; for a string literal, of its first character."""
    start = node.meta.get("start")
    if not isinstance(start, int):
        return None
    return start + 1 + int(isinstance(node, exp.Literal) and node.is_string)
