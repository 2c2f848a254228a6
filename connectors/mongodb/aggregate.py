"""`SELECT keys, COUNT/SUM/AVG/MIN/MAX … WHERE … GROUP BY keys` as one MongoDB aggregate.

A grouped query over one collection need not ship every document: `$match` then `$group`
returns one document per group. The engine decides when to ask (the query's core must be a
single-collection SELECT; ORDER BY, LIMIT and HAVING it can apply above the result), and this
module decides whether the core fits, refusing anything it cannot make exactly SQL:

- NULL and missing keys are one group, as in SQL (`$ifNull` in compound keys);
- `SUM` of no values is NULL, not MongoDB's 0, so a count of values travels with each sum;
- `COUNT(x)` counts values, not documents;
- `MIN`/`MAX` and grouping only on kinds MongoDB orders and compares like SQL (not doubles,
  whose NaN MongoDB orders lowest);
- sums travel as wide as the engine's own (`BIGINT`, `DOUBLE`, `DECIMAL(38, s)`), and `AVG`
  only of integers and doubles: MongoDB averages Decimal128 exactly, the engine to a scale;
- a query without GROUP BY returns one row even over no documents.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from bson import json_util
from sqlglot import exp

from connectors.documents import Unsupported
from connectors.mongodb.filters import all_of
from connectors.mongodb.schema import ORDERED_KINDS, Kind

NUMERIC = frozenset({Kind.INT, Kind.DOUBLE, Kind.DECIMAL})
BLOCKERS = ("joins", "having", "distinct", "order", "limit", "offset", "with_", "laterals")


@dataclass(frozen=True)
class Output:
    value: Any
    arrow: pa.DataType
    counts: bool = False


@dataclass(frozen=True)
class Aggregation:
    """The pipeline for a grouped query, and the columns of the rows it returns."""

    pipeline: list[dict[str, Any]]
    schema: pa.Schema
    grouped: bool
    empty: dict[str, Any]

    def text(self) -> str:
        return f"aggregate({json_util.dumps(self.pipeline)})"


def plan(
    select: exp.Expression,
    schema: pa.Schema,
    kinds: dict[str, Kind],
    where: Callable[[exp.Expression], dict[str, Any]],
) -> Aggregation | None:
    """The aggregation for `select`, or None when it does not fit (see the module docstring).

    `where` turns one WHERE conjunct into a find() filter, raising Unsupported if it cannot.
    """
    if not isinstance(select, exp.Select) or any(select.args.get(key) for key in BLOCKERS):
        return None
    source = select.args.get("from_")
    if source is None or not isinstance(source.this, exp.Table):
        return None
    alias = source.this.alias_or_name
    try:
        return _plan(select, schema, kinds, where, alias)
    except Unsupported:
        return None


def _plan(
    select: exp.Select,
    schema: pa.Schema,
    kinds: dict[str, Kind],
    where: Callable[[exp.Expression], dict[str, Any]],
    alias: str,
) -> Aggregation:
    def column(node: exp.Expression) -> str:
        if not isinstance(node, exp.Column) or node.table not in ("", alias):
            raise Unsupported(node.sql())
        if node.name not in schema.names or "." in node.name or node.name.startswith("$"):
            raise Unsupported(node.name)
        return node.name

    group = select.args.get("group")
    keys = [column(key) for key in (group.expressions if group else [])]
    if any(kinds.get(key) not in ORDERED_KINDS for key in keys):
        raise Unsupported("a key MongoDB does not group like SQL")
    stages: list[dict[str, Any]] = []
    condition = select.args.get("where")
    if condition is not None:
        parts = (
            condition.this.flatten() if isinstance(condition.this, exp.And) else [condition.this]
        )
        stages.append({"$match": all_of([where(_unqualified(part)) for part in parts])})
    if len(keys) == 1:
        group_id: Any = f"${keys[0]}"
    else:
        group_id = {key: {"$ifNull": [f"${key}", None]} for key in keys} if keys else None
    accumulators: dict[str, Any] = {}
    outputs: list[Output] = []
    for position, projection in enumerate(select.expressions):
        node = projection.this if isinstance(projection, exp.Alias) else projection
        field = f"c{position}"
        if isinstance(node, exp.Column):
            key = column(node)
            if key not in keys:
                raise Unsupported(f"{key} is neither grouped nor aggregated")
            value = "$_id" if len(keys) == 1 else f"$_id.{key}"
            outputs.append(Output(value, schema.field(key).type))
            continue
        outputs.append(_aggregate(node, field, column, schema, kinds, accumulators))
    stages.append({"$group": {"_id": group_id, **accumulators}})
    stages.append({"$project": {"_id": 0, **{f"o{i}": o.value for i, o in enumerate(outputs)}}})
    arrow = pa.schema([pa.field(f"o{i}", o.arrow) for i, o in enumerate(outputs)])
    empty = {f"o{i}": 0 if o.counts else None for i, o in enumerate(outputs)}
    return Aggregation(stages, arrow, grouped=bool(keys), empty=empty)


def _aggregate(
    node: exp.Expression,
    field: str,
    column: Callable[[exp.Expression], str],
    schema: pa.Schema,
    kinds: dict[str, Kind],
    accumulators: dict[str, Any],
) -> Output:
    """The accumulators for one aggregate call, and the expression that reads its result."""
    if isinstance(node, exp.Count) and not isinstance(node.this, exp.Distinct):
        if isinstance(node.this, exp.Star):
            accumulators[field] = {"$sum": 1}
        else:
            accumulators[field] = _count(column(node.this))
        return Output(f"${field}", pa.int64(), counts=True)
    if not isinstance(node, exp.Sum | exp.Avg | exp.Min | exp.Max):
        raise Unsupported(node.sql())
    name = column(node.this)
    kind = kinds.get(name)
    if isinstance(node, exp.Min | exp.Max):
        if kind not in ORDERED_KINDS:
            raise Unsupported(f"{name} does not order like SQL in MongoDB")
        accumulators[field] = {"$min" if isinstance(node, exp.Min) else "$max": f"${name}"}
        return Output(f"${field}", schema.field(name).type)
    if kind not in NUMERIC:
        raise Unsupported(f"{name} is not numeric in every document")
    declared = schema.field(name).type
    if isinstance(node, exp.Avg):
        if kind is Kind.DECIMAL or pa.types.is_decimal(declared):
            raise Unsupported(f"{name} is a decimal, averaged to another scale by MongoDB")
        accumulators[field] = {"$avg": f"${name}"}
        return Output(f"${field}", pa.float64())
    accumulators[field] = {"$sum": f"${name}"}
    accumulators[f"{field}n"] = _count(name)
    return Output({"$cond": [{"$gt": [f"${field}n", 0]}, f"${field}", None]}, _sum_type(declared))


def _sum_type(declared: pa.DataType) -> pa.DataType:
    """A sum as wide as the engine's: a narrow declared type could not hold it."""
    if pa.types.is_integer(declared):
        return pa.int64()
    if pa.types.is_decimal(declared):
        return pa.decimal128(38, declared.scale)
    return pa.float64()


def _count(name: str) -> dict[str, Any]:
    return {"$sum": {"$cond": [{"$eq": [{"$ifNull": [f"${name}", None]}, None]}, 0, 1]}}


def _unqualified(node: exp.Expression) -> exp.Expression:
    copy = node.copy()
    for column in list(copy.find_all(exp.Column)):
        column.replace(exp.column(column.name, quoted=True))
    return copy
