"""One dataset reference as one caller may see it: its columns, its masked values, its rows.

The policy is applied inside the scan, beneath DataFusion: the table DataFusion plans over
already *is* the filtered, masked relation. No predicate, join, aggregate, window, sort or cache
of the query can see a hidden row or an original masked value, and no optimiser can move a
predicate of the query below the row filter, because the two are not in the same plan.

The row filter is pushed to the source like any predicate when the connector takes it exactly
(then the source sends only the caller's rows); otherwise the sidecar evaluates it over the
scan's stream before anything else sees it. Masks are computed on the Arrow batches:
`mask` gives '****' for text and NULL otherwise, `hash` an HMAC of the value's text, and a
denied column read through a view (which runs with its definer's visibility) gives NULL.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import pyarrow as pa
from sqlglot import exp

from policies.access import MASK_TEXT, Grant, Hasher
from sidecar.engine.dialect import DUCKDB
from sidecar.errors import ErrorCode, SidecarError

if TYPE_CHECKING:
    import duckdb

log = logging.getLogger("sidecar.policy")
# Where a source's error starts quoting the statement it was sent: libpq/ADBC's "Query was:",
# PostgreSQL's LINE/DETAIL/CONTEXT lines, MySQL's "near '...'" (replaced, not cut).
_ECHO = re.compile(r"(?im)^\s*(?:query was|line \d+|detail|context|statement|query|hint)\s*:")
_NEAR = re.compile(r"near '.*?' at line \d+", re.DOTALL)
HIDDEN = "null"
BATCH_ROWS = 65536


@dataclass(frozen=True)
class Restriction:
    """`schema` is the relation as the caller sees it; `masks` maps its columns to `mask`,
    `hash` or `null`. Of the row filter, `pushed` goes to the source with the scan and
    `residual` is what the sidecar evaluates itself (`at_source` decides which is which)."""

    relation: str
    schema: pa.Schema
    masks: dict[str, str] = field(default_factory=dict)
    row_filter: exp.Expression | None = None
    residual: exp.Expression | None = None
    hasher: Hasher | None = None
    pushed: tuple[exp.Expression, ...] = ()
    denied: frozenset[str] = frozenset()

    @classmethod
    def of(
        cls, grant: Grant, relation: str, source: pa.Schema, *, definer: bool
    ) -> Restriction | None:
        """The restriction of one reference, or None when the caller sees it as it is.

        `definer` marks references inside a view: the view's definer sees every column, so a
        column the caller may not see reads as NULL there instead of not existing."""
        if not grant.restricted:
            return None
        rules = grant.rules(relation, source.names)
        row_filter = grant.row_filter(relation)
        if not rules and row_filter is None:
            return None
        fields, masks = [], {}
        for column in source:
            rule = rules.get(column.name)
            if rule == "deny" and not definer:
                continue
            if rule is not None:
                masks[column.name] = HIDDEN if rule == "deny" else rule
            fields.append(column.with_type(pa.string()) if rule == "hash" else column)
        denied = frozenset(name for name, rule in rules.items() if rule == "deny")
        return cls(
            relation, pa.schema(fields), masks, row_filter, row_filter, grant.hasher, (), denied
        )

    @property
    def transforms(self) -> bool:
        """Whether the caller's rows or values differ from the source's (not only columns)."""
        return bool(self.masks) or self.row_filter is not None

    def at_source(self, accepts: Callable[[exp.Expression], bool]) -> Restriction:
        """Split the row filter into the conjuncts the source takes exactly and the rest."""
        if self.row_filter is None:
            return self
        node = self.row_filter.unnest()
        conjuncts = list(node.flatten()) if isinstance(node, exp.And) else [node]
        pushed = tuple(c for c in conjuncts if accepts(c))
        rest = [c for c in conjuncts if c not in pushed]
        return replace(self, pushed=pushed, residual=exp.and_(*rest) if rest else None)

    def filter_columns(self) -> set[str]:
        if self.row_filter is None:
            return set()
        return {column.name for column in self.row_filter.find_all(exp.Column)}

    def describe(self, operator: bool = False) -> str:
        """The policy as EXPLAIN shows it; the filter's text only to the operator."""
        parts = []
        if self.row_filter is not None:
            where = "by the source" if self.residual is None else "by the sidecar"
            if self.pushed and self.residual is not None:
                where = "partly by the source, the rest by the sidecar"
            text = f" {self.row_filter.sql(dialect='postgres')}" if operator else ""
            parts.append(f"row filter{text} applied {where}")
        for rule, label in (("mask", "masked"), ("hash", "hashed"), (HIDDEN, "NULL (denied)")):
            columns = [name for name, kind in self.masks.items() if kind == rule]
            if columns:
                parts.append(f"{label}: {', '.join(columns)}")
        return "; ".join(parts)

    def scrub(self, message: str) -> str:
        """A source's error as the caller may read it: what failed, in the source's words,
        without the statement it echoes (where the row filter's text stands), the filter's
        values (its identity's attributes) or the names of columns denied to the caller."""
        text = _ECHO.split(message, maxsplit=1)[0].strip()
        text = _NEAR.sub("near (the statement sent, not shown under an access policy)", text)
        hidden = set(self.denied)
        if self.row_filter is not None:
            hidden |= {str(node.this) for node in self.row_filter.find_all(exp.Literal)}
        for word in sorted((w for w in hidden if w), key=len, reverse=True):
            text = re.sub(rf"(?<!\w){re.escape(word)}(?!\w)", "***", text, flags=re.IGNORECASE)
        return text

    def source_columns(self, wanted: Sequence[str], source: pa.Schema) -> list[str]:
        """The source columns a scan of `wanted` reads: masked-out values are not fetched,
        the row filter's columns always are (it runs on the original values)."""
        needed = {c for c in wanted if self.masks.get(c) not in ("mask", HIDDEN)}
        needed |= self.filter_columns()
        names = [name for name in source.names if name in needed]
        return names or source.names[:1]

    def apply(self, reader: pa.RecordBatchReader, wanted: Sequence[str]) -> pa.RecordBatchReader:
        """The caller's rows of a source stream, holding exactly `wanted`, masked."""
        if self.residual is not None:
            reader = _filtered(reader, self.relation, self.residual)
        output = pa.schema([self.schema.field(name) for name in wanted])
        return pa.RecordBatchReader.from_batches(output, self._masked(reader, output))

    def _masked(self, reader: pa.RecordBatchReader, output: pa.Schema) -> Iterator[pa.RecordBatch]:
        try:
            for batch in reader:
                columns = [self._column(batch, target) for target in output]
                yield pa.RecordBatch.from_arrays(columns, schema=output)
        finally:
            reader.close()

    def _column(self, batch: pa.RecordBatch, target: pa.Field) -> pa.Array:
        rule = self.masks.get(target.name)
        rows = batch.num_rows
        if rule is None:
            return batch.column(target.name)
        if rule == "hash":
            if self.hasher is None:
                raise SidecarError(
                    ErrorCode.INTERNAL,
                    f"{self.relation}.{target.name} is hashed but no hash key is configured",
                    hint="set runtime.auth.hash_key",
                )
            return self.hasher.array(batch.column(target.name))
        if rule == "mask" and _is_text(target.type):
            masked = pa.array([MASK_TEXT]).take(pa.array([0] * rows, pa.int32()))
            return masked.cast(target.type)
        return pa.nulls(rows, target.type)


def rows_where(table: pa.Table, relation: str, condition: exp.Expression) -> pa.Table:
    """The rows of an in-memory table a row filter lets through: a search index ranks only
    the caller's rows, so its limit counts rows the caller may see."""
    return _filtered(table.to_reader(), relation, condition).read_all()


def _filtered(
    reader: pa.RecordBatchReader, relation: str, condition: exp.Expression
) -> pa.RecordBatchReader:
    """The rows of `reader` where `condition` holds, for filters the source does not take.

    DuckDB evaluates it, streaming: DataFusion cannot be entered again from inside one of its
    own scans, and DuckDB already answers for accelerated datasets, so its SQL is the engine's.
    """
    import duckdb  # only a config with such a row filter needs DuckDB (footprint.py)

    schema = reader.schema
    cursor = _evaluator().cursor()
    try:
        filtered = cursor.from_arrow(reader).filter(condition.sql(dialect=DUCKDB))
        output = filtered.to_arrow_reader(BATCH_ROWS)
    except duckdb.Error as error:
        cursor.close()
        raise _filter_failed(relation, error) from None

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            for batch in output:
                yield batch if batch.schema.equals(schema) else batch.cast(schema)
        except duckdb.Error as error:
            raise _filter_failed(relation, error) from None
        finally:
            output.close()
            cursor.close()

    return pa.RecordBatchReader.from_batches(schema, batches())


def _filter_failed(relation: str, error: Exception) -> SidecarError:
    """Why is logged for the operator; the caller learns only that its policy failed."""
    log.warning("row filter on %s failed: %s", relation, error)
    return SidecarError(
        ErrorCode.QUERY,
        f"the access policy's row filter on {relation} failed",
        hint="ask the operator: `sidecar config check --connect` checks the policies",
    )


@functools.cache
def _evaluator() -> duckdb.DuckDBPyConnection:
    """One in-memory DuckDB for every row filter, unable to read files or load extensions."""
    import duckdb

    connection = duckdb.connect(
        ":memory:",
        config={
            "enable_external_access": False,
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        },
    )
    connection.execute("SET lock_configuration = true")
    return connection


def _is_text(kind: pa.DataType) -> bool:
    if pa.types.is_dictionary(kind):
        return _is_text(kind.value_type)
    return (
        pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)
    )
