"""Elasticsearch mappings as Arrow schemas, and SQL predicates as exact Query DSL.

A mapping says what each field is indexed as, which decides both the column's type and what
can be pushed: a `keyword` compares byte by byte like SQL text, a `text` field is analysed
(so only full-text matching, or its keyword sub-field, may be used), a `float` is indexed
rounded to 32 bits (so comparing it at the source could disagree with the value in _source),
and `ignore_above` leaves long keywords unindexed (so only short equality is safe). An index
pattern's mappings are unified; a field typed differently across indices is read as text and
keeps its filters in the engine.

Like the MongoDB filters, each node is compiled for one polarity (rows where it is TRUE, or
FALSE) so that SQL's NULLs come out right: FALSE of `a = 1` is "a exists and is not 1".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pyarrow as pa

from connectors.documents import (
    COMPLEMENT,
    Compare,
    InList,
    IsNull,
    Like,
    Match,
    PolarCompiler,
    Unsupported,
    like_parts,
)

Query = dict[str, Any]
TIMESTAMP = pa.timestamp("ms", tz="UTC")
INTEGERS = {"long": pa.int64(), "integer": pa.int32(), "short": pa.int16(), "byte": pa.int8()}
# Indexed exactly as _source holds them, so a comparison at the source is the engine's.
EXACT_TYPES = {*INTEGERS, "double", "date", "boolean", "keyword"}
SCALAR_TYPES: dict[str, pa.DataType] = {
    **INTEGERS,
    "unsigned_long": pa.uint64(),
    "double": pa.float64(),
    "float": pa.float64(),
    "half_float": pa.float64(),
    "scaled_float": pa.float64(),
    "boolean": pa.bool_(),
    "date": TIMESTAMP,
    "date_nanos": pa.timestamp("us", tz="UTC"),
}
METADATA = {"_id": pa.string(), "_index": pa.string(), "_score": pa.float64()}


@dataclass(frozen=True)
class Column:
    """How one column is read from a hit and, if it can be, queried and sorted."""

    name: str
    path: str
    es_type: str
    exact_field: str | None = None
    ignore_above: int | None = None
    metadata: bool = False


@dataclass
class _Field:
    types: set[str] = field(default_factory=set)
    properties: dict[str, _Field] = field(default_factory=dict)
    exact: set[tuple[str | None, int | None]] = field(default_factory=set)


@dataclass(frozen=True)
class Mapped:
    schema: pa.Schema
    columns: dict[str, Column]


def from_mappings(mappings: Iterable[Mapping[str, Any]], *, flatten: bool) -> Mapped:
    """The unified schema of the indices' `properties`, with `_id`, `_index` and `_score`."""
    root = _Field()
    for properties in mappings:
        _merge(root, properties)
    fields: list[pa.Field] = []
    columns: dict[str, Column] = {}
    for name, node in _leaves(root, "", flatten):
        fields.append(pa.field(name, _arrow(node)))
        columns[name] = _column(name, node)
    for name, arrow_type in METADATA.items():
        if name not in columns:
            fields.append(pa.field(name, arrow_type))
            columns[name] = Column(name, name, name, exact_field=name, metadata=True)
    return Mapped(pa.schema(fields), columns)


def declared(schema: pa.Schema, mapped: Mapped) -> Mapped:
    """Declared columns read like the mapped ones. A declared type the mapped field compares
    like (any integer width, any timestamp over a `date`) keeps its pushdown; any other
    keeps the column's filters in the engine."""
    columns = {}
    for f in schema:
        found = mapped.columns.get(f.name)
        if found is not None and _compatible(f.type, mapped.schema.field(f.name).type):
            columns[f.name] = found
        else:
            columns[f.name] = Column(f.name, f.name, "", metadata=f.name in METADATA)
    return Mapped(schema, columns)


def _compatible(wanted: pa.DataType, mapped: pa.DataType) -> bool:
    if wanted.equals(mapped):
        return True
    if pa.types.is_integer(wanted) and pa.types.is_integer(mapped):
        return True
    return pa.types.is_timestamp(wanted) and pa.types.is_timestamp(mapped)


def _merge(node: _Field, properties: Mapping[str, Any]) -> None:
    for name, spec in properties.items():
        child = node.properties.setdefault(name, _Field())
        kind = spec.get("type", "object" if "properties" in spec else "unknown")
        child.types.add(kind)
        if "properties" in spec:
            _merge(child, spec["properties"])
        child.exact.add(_exact(kind, spec))


def _exact(kind: str, spec: Mapping[str, Any]) -> tuple[str | None, int | None]:
    """The field to query for exact values (itself or a keyword sub-field) and its limit."""
    if spec.get("index") is False:
        return None, None
    if kind == "keyword" and not spec.get("normalizer"):
        return "", spec.get("ignore_above")
    if kind in EXACT_TYPES - {"keyword"}:
        return "", None
    if kind == "text":
        for sub, sub_spec in (spec.get("fields") or {}).items():
            plain = sub_spec.get("index") is not False and not sub_spec.get("normalizer")
            if sub_spec.get("type") == "keyword" and plain:
                return sub, sub_spec.get("ignore_above")
    return None, None


def _leaves(node: _Field, prefix: str, flatten: bool) -> Iterable[tuple[str, _Field]]:
    for name, child in node.properties.items():
        path = prefix + name
        if flatten and child.types == {"object"}:
            yield from _leaves(child, path + ".", flatten)
        else:
            yield path, child


def _arrow(node: _Field) -> pa.DataType:
    types = node.types
    if types == {"object"} and node.properties:
        return pa.struct([pa.field(n, _arrow(c)) for n, c in node.properties.items()])
    if types == {"nested"} and node.properties:
        return pa.list_(pa.struct([pa.field(n, _arrow(c)) for n, c in node.properties.items()]))
    if len(types) == 1 and (kind := next(iter(types))) in SCALAR_TYPES:
        return SCALAR_TYPES[kind]
    if types and types <= set(INTEGERS):
        return pa.int64()
    if types and types <= set(INTEGERS) | {"double", "float", "half_float", "scaled_float"}:
        return pa.float64()
    return pa.string()


def _column(name: str, node: _Field) -> Column:
    """Integer fields of different widths across indices compare alike; the narrowest width
    bounds the literals, so no index is sent one it cannot parse."""
    types = node.types
    if types and types <= set(INTEGERS) and len(types) > 1:
        types = {min(types, key=lambda kind: INTEGERS[kind].bit_width)}
    if len(types) != 1:
        return Column(name, name, "")
    kind = next(iter(types))
    sub, limit = next(iter(node.exact)) if len(node.exact) == 1 else (None, None)
    if sub is None:
        return Column(name, name, kind)
    exact = f"{name}.{sub}" if sub else name
    return Column(name, name, kind, exact_field=exact, ignore_above=limit)


class QueryCompiler(PolarCompiler[Query]):
    """Condition trees as Query DSL over one dataset's columns."""

    def __init__(self, schema: pa.Schema, columns: Mapping[str, Column]) -> None:
        self.schema = schema
        self.columns = columns

    def all_of(self, parts: list[Query]) -> Query:
        return {"bool": {"filter": parts}}

    def any_of(self, parts: list[Query]) -> Query:
        return {"bool": {"should": parts, "minimum_should_match": 1}}

    def leaf(self, node: Compare | IsNull | InList | Like | Match, truth: bool) -> Query:
        if isinstance(node, IsNull):
            exists = {"exists": {"field": self._field(node.column, negated=True)}}
            return {"bool": {"must_not": [exists]}} if truth else exists
        if isinstance(node, Compare):
            return self._compare(node, truth)
        if isinstance(node, InList):
            target = self._field(node.column, negated=not truth, values=node.values)
            column = self.columns[node.column]
            if column.es_type == "date":
                ranges = [self._range(target, "eq", value, column) for value in node.values]
                matches = {"bool": {"should": ranges, "minimum_should_match": 1}}
            else:
                values = [self._literal(column, value) for value in node.values]
                matches = {"terms": {target: values}}
            return matches if truth else self._otherwise(node.column, matches)
        if isinstance(node, Like):
            return self._like(node, truth)
        raise Unsupported("a full-text match only as a whole condition")

    def match(self, node: Match) -> Query:
        """Relevance scoring: a match query on one column, a multi_match on several."""
        for name in node.columns:
            column = self.columns.get(name)
            if column is None or column.es_type not in ("text", "match_only_text", "keyword"):
                raise Unsupported(f"{name} is not a searchable text field")
        if len(node.columns) == 1:
            return {"match": {node.columns[0]: node.text}}
        return {"multi_match": {"query": node.text, "fields": list(node.columns)}}

    def sort_key(self, name: str, descending: bool, nulls_first: bool) -> Query | str | None:
        """The sort for a column if Elasticsearch orders it as SQL does (NULLs included)."""
        column = self.columns.get(name)
        if column is None:
            return None
        order = "desc" if descending else "asc"
        if name == "_score":
            return {"_score": {"order": order}}
        if column.metadata or column.exact_field is None or column.ignore_above is not None:
            return None
        missing = "_first" if nulls_first else "_last"
        spec = {"order": order, "missing": missing, "unmapped_type": _unmapped(column)}
        return {column.exact_field: spec}

    def _field(
        self, name: str, *, negated: bool, values: Iterable[Any] = (), op: str = "eq"
    ) -> str:
        column = self.columns.get(name)
        if column is None or column.exact_field is None or name == "_score":
            raise Unsupported(f"{name} is not indexed for exact matching")
        if column.metadata and (op not in ("eq", "ne") or negated):
            raise Unsupported(f"{name} takes only = and IN")
        if column.ignore_above is not None:
            short = all(isinstance(v, str) and len(v) <= column.ignore_above for v in values)
            if negated or op not in ("eq",) or not short:
                raise Unsupported(f"{name} keeps values over {column.ignore_above} unindexed")
        return column.exact_field

    def _compare(self, node: Compare, truth: bool) -> Query:
        column = self.columns.get(node.column)
        op = node.op if truth else COMPLEMENT[node.op]
        base = "eq" if op == "ne" else op
        target = self._field(node.column, negated=op == "ne", values=[node.value], op=base)
        assert column is not None
        if column.es_type == "boolean" and base != "eq":
            raise Unsupported("booleans take only = and <>")
        if column.es_type == "date" or base != "eq":
            matches = self._range(target, base, node.value, column)
        else:
            matches = {"term": {target: self._literal(column, node.value)}}
        return self._otherwise(node.column, matches) if op == "ne" else matches

    def _range(self, target: str, op: str, value: Any, column: Column) -> Query:
        literal = self._literal(column, value)
        bounds = {"gte": literal, "lte": literal} if op == "eq" else {op: literal}
        if column.es_type == "date":
            bounds["format"] = "epoch_millis"
        return {"range": {target: bounds}}

    def _otherwise(self, name: str, matches: Query) -> Query:
        """Rows with a value that does not match: the FALSE side of a match."""
        exists = {"exists": {"field": self._field(name, negated=True)}}
        return {"bool": {"filter": [exists], "must_not": [matches]}}

    def _like(self, node: Like, truth: bool) -> Query:
        column = self.columns.get(node.column)
        if node.case_insensitive or column is None or column.metadata:
            raise Unsupported("ILIKE, or LIKE on a metadata column")
        if column.es_type not in ("keyword", "text"):
            raise Unsupported("LIKE on a field that is not text")
        target = self._field(node.column, negated=not truth, op="like")
        parts = like_parts(node.pattern)
        if len(parts) == 2 and parts[1] == "%" and parts[0] not in "%_":
            matches: Query = {"prefix": {target: {"value": parts[0]}}}
        else:
            matches = {"wildcard": {target: {"value": wildcard(node.pattern)}}}
        return matches if truth else self._otherwise(node.column, matches)

    def _literal(self, column: Column, value: Any) -> Any:
        """The JSON value Elasticsearch compares as the engine compares the literal."""
        if column.es_type == "date":
            if not isinstance(value, dt.datetime) or value.microsecond % 1000:
                raise Unsupported("dates are compared to the millisecond")
            aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
            return int(aware.timestamp() * 1000)
        if column.es_type in INTEGERS:
            if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
                raise Unsupported("a non-number compared with an integer field")
            if value != int(value):
                raise Unsupported("a fraction compared with an integer field")
            number = int(value)
            bits = INTEGERS[column.es_type].bit_width
            if not -(2 ** (bits - 1)) <= number < 2 ** (bits - 1):
                raise Unsupported("a literal outside the field's range")
            return number
        if column.es_type == "double":
            return float(value)
        return value


def wildcard(pattern: str) -> str:
    """A LIKE pattern as a wildcard query: `%` is `*`, `_` is `?`, the rest escaped."""
    out = []
    for part in like_parts(pattern):
        if part == "%":
            out.append("*")
        elif part == "_":
            out.append("?")
        else:
            out.append(part.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?"))
    return "".join(out)


def _unmapped(column: Column) -> str:
    """The type to sort by in indices of a pattern that lack the field."""
    return "keyword" if column.es_type == "text" else column.es_type
