"""SQL predicates as MongoDB find() filters that keep exactly the rows SQL keeps.

SQL has three truth values and MongoDB two, so a NOT cannot become `$not`: `NOT (a = 1)` is
not TRUE where `a` is NULL or missing, while `{a: {$not: {$eq: 1}}}` matches those documents.
Every node is therefore translated for one polarity, "the rows where it is TRUE" or "the rows
where it is FALSE", and NOT just swaps them: FALSE of `a = 1` is `{a: {$nin: [1, null]}}`.

The other traps handled here: doubles (SQL orders NaN above every number, MongoDB below),
ObjectIds (the column shows text, the filter must send an ObjectId), dates declared as SQL
`date` over BSON datetimes (compared as whole days), and LIKE (a regular expression anchored
with a lookahead, since `$` in PCRE also matches before a final newline). ILIKE is left to the
engine: PCRE's case folding is not the engine's for non-ASCII text.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import pyarrow as pa
from bson import Decimal128, ObjectId

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
from connectors.mongodb.schema import Kind

Filter = dict[str, Any]
OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")
NAN = float("nan")


class FilterCompiler(PolarCompiler[Filter]):
    """Translates condition trees over one collection's columns, given each column's kind."""

    def __init__(self, schema: pa.Schema, kinds: dict[str, Kind], *, dotted: bool) -> None:
        self.schema = schema
        self.kinds = kinds
        self.dotted = dotted

    def all_of(self, parts: list[Filter]) -> Filter:
        return all_of(parts)

    def any_of(self, parts: list[Filter]) -> Filter:
        return {"$or": parts}

    def leaf(self, node: Compare | IsNull | InList | Like | Match, truth: bool) -> Filter:
        if isinstance(node, IsNull):
            path = self.path(node.column)
            return {path: None} if truth else {path: {"$ne": None}}
        if isinstance(node, InList):
            return self._in(node, truth)
        if isinstance(node, Compare):
            op = node.op if truth else COMPLEMENT[node.op]
            return self._compare(node.column, op, node.value)
        if isinstance(node, Like):
            return self._like(node, truth)
        raise Unsupported(f"{type(node).__name__} is not a MongoDB filter")

    def path(self, column: str) -> str:
        """The field path of a column; refused where MongoDB would read it differently."""
        if column not in self.kinds:
            raise Unsupported(f"{column} has no single BSON type in the sample")
        if column.startswith("$") or "\0" in column or ("." in column and not self.dotted):
            raise Unsupported(f"{column} cannot be named in a MongoDB filter")
        return column

    def _compare(self, column: str, op: str, value: Any) -> Filter:
        path, kind = self.path(column), self.kinds[column]
        if pa.types.is_date(self.schema.field(column).type):
            return _day_range(path, op, value)
        bson = self.literal(column, value)
        if op == "eq":
            return {path: bson}
        if op == "ne":
            return {path: {"$nin": [bson, None]}}
        condition = {path: {f"${op}": bson}}
        if kind is not Kind.DOUBLE:
            return condition
        if op in ("gt", "gte"):
            return {"$or": [condition, {path: NAN}]}
        return all_of([condition, {path: {"$ne": NAN}}])

    def _in(self, node: InList, truth: bool) -> Filter:
        path = self.path(node.column)
        if pa.types.is_date(self.schema.field(node.column).type):
            days = [_day_range(path, "eq", value) for value in node.values]
            if truth:
                return {"$or": days}
            return all_of([_day_range(path, "ne", value) for value in node.values])
        values = [self.literal(node.column, value) for value in node.values]
        return {path: {"$in": values}} if truth else {path: {"$nin": [*values, None]}}

    def _like(self, node: Like, truth: bool) -> Filter:
        path = self.path(node.column)
        if node.case_insensitive or self.kinds[node.column] is not Kind.STRING:
            raise Unsupported("ILIKE, or LIKE on a column that is not all strings")
        matches = {path: {"$regex": like_regex(node.pattern)}}
        return matches if truth else all_of([{path: {"$ne": None}}, {"$nor": [matches]}])

    def literal(self, column: str, value: Any) -> Any:
        """The BSON value a literal must be sent as to compare like the engine compares it."""
        kind = self.kinds[column]
        if kind is Kind.OBJECT_ID:
            if not isinstance(value, str) or not OBJECT_ID.match(value):
                raise Unsupported("only 24 lower-case hex digits can match an ObjectId")
            return ObjectId(value)
        if isinstance(value, Decimal):
            return _number(value)
        if isinstance(value, dt.datetime):
            if value.microsecond % 1000:
                raise Unsupported("BSON dates have millisecond precision")
            return value
        return value


def _number(value: Decimal) -> Any:
    """A float when that is exactly the decimal, else a Decimal128 (MongoDB compares numbers
    across types by value)."""
    if value == value.to_integral_value() and abs(value) < 2**63:
        return int(value)
    if Decimal(float(value)) == value:
        return float(value)
    return Decimal128(value)


def _day_range(path: str, op: str, day: Any) -> Filter:
    """A SQL `date` column over BSON datetimes shows each value's day; compare whole days."""
    if not isinstance(day, dt.date) or isinstance(day, dt.datetime):
        raise Unsupported("a date column compared with something else")
    start = dt.datetime.combine(day, dt.time())
    end = start + dt.timedelta(days=1)
    ranges = {
        "eq": {path: {"$gte": start, "$lt": end}},
        "ne": {"$or": [{path: {"$lt": start}}, {path: {"$gte": end}}]},
        "lt": {path: {"$lt": start}},
        "lte": {path: {"$lt": end}},
        "gt": {path: {"$gte": end}},
        "gte": {path: {"$gte": start}},
    }
    return ranges[op]


def like_regex(pattern: str) -> str:
    """`%` is any run and `_` any one character, newlines included; anchored at both ends."""
    wildcards = {"%": r"[\s\S]*", "_": r"[\s\S]"}
    body = "".join(wildcards.get(part) or re.escape(part) for part in like_parts(pattern))
    return "^" + body + r"(?![\s\S])"


def all_of(parts: list[Filter]) -> Filter:
    """One filter document when the parts name different fields (the form people write),
    else an explicit `$and`."""
    flat: list[Filter] = []
    for part in parts:
        flat.extend(part["$and"] if list(part) == ["$and"] else [part])
    keys = [key for part in flat for key in part]
    if len(flat) == 1:
        return flat[0]
    if len(keys) == len(set(keys)) and not any(key.startswith("$") for key in keys):
        return {key: value for part in flat for key, value in part.items()}
    return {"$and": flat}
