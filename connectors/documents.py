"""What document and search sources share: predicates as a small typed tree, and strict values.

MongoDB and Elasticsearch each have a query language of their own, but both need the same two
things from a SQL predicate: which column, which comparison, and the literal already typed the
way the engine would compare it (`ts >= '2024-01-01'` is a timestamp, `n > 1.5` stays 1.5).
`condition` turns a pushable sqlglot predicate into that tree once, using the engine's own
coercion rules from `connectors.predicates`, so a source translating it cannot disagree with
DataFusion about what a literal means. BETWEEN becomes two comparisons (equal under SQL's
three-valued logic), so a source has fewer shapes to get exactly right.

The second half fits JSON-like documents into Arrow types without Arrow's silent conversions:
`pa.array([2.5], pa.int64())` truncates to 2, so every value is checked here first and a value
that does not fit is an error naming the field, never a quietly different number.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Generic, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from connectors import predicates
from connectors.base import Connector, ScanRequest, SourceError, project

OPERATORS: dict[type[exp.Expression], str] = {
    exp.EQ: "eq",
    exp.NEQ: "ne",
    exp.LT: "lt",
    exp.LTE: "lte",
    exp.GT: "gt",
    exp.GTE: "gte",
}
MIRRORED = {"eq": "eq", "ne": "ne", "lt": "gt", "lte": "gte", "gt": "lt", "gte": "lte"}
# NOT (c < v) is c >= v once c is known not to be NULL, which every comparison implies.
COMPLEMENT = {"eq": "ne", "ne": "eq", "lt": "gte", "lte": "gt", "gt": "lte", "gte": "lt"}
TIMESTAMP = pa.timestamp("us", tz="UTC")
Compiled = TypeVar("Compiled")  # what a source filters with: a MongoDB filter, Query DSL
Plan = TypeVar("Plan")  # what a scan asks the source: MongoDB finds, an Elasticsearch search


class Unsupported(Exception):
    """A predicate shape or literal a source cannot apply exactly."""


@dataclass(frozen=True)
class Compare:
    column: str
    op: str
    value: Any


@dataclass(frozen=True)
class IsNull:
    column: str


@dataclass(frozen=True)
class InList:
    column: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Like:
    column: str
    pattern: str
    case_insensitive: bool


@dataclass(frozen=True)
class Match:
    """Full-text relevance: `column @@ 'text'` or `MATCH(a, b) AGAINST ('text')`."""

    columns: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class And:
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    part: Node


Node = Compare | IsNull | InList | Like | Match | And | Or | Not


class PolarCompiler(ABC, Generic[Compiled]):
    """Compiles a condition tree for one polarity: the documents where it is TRUE, or where it
    is FALSE. SQL has three truth values and a document store two, so NOT cannot become the
    store's negation (that would also match NULL and missing fields): NOT swaps the polarity,
    and AND and OR swap with it (De Morgan). A source says how it joins parts and how it
    matches one leaf for a given polarity."""

    def compile(self, node: Node, truth: bool = True) -> Compiled:
        """Documents where `node` is TRUE (truth) or FALSE (not truth); never where NULL."""
        if isinstance(node, Not):
            return self.compile(node.part, not truth)
        if isinstance(node, And | Or):
            parts = [self.compile(part, truth) for part in node.parts]
            return self.all_of(parts) if isinstance(node, And) == truth else self.any_of(parts)
        return self.leaf(node, truth)

    @abstractmethod
    def all_of(self, parts: list[Compiled]) -> Compiled:
        """Documents every part matches."""

    @abstractmethod
    def any_of(self, parts: list[Compiled]) -> Compiled:
        """Documents at least one part matches."""

    @abstractmethod
    def leaf(self, node: Compare | IsNull | InList | Like | Match, truth: bool) -> Compiled:
        """Documents where one comparison, IS NULL, IN or LIKE is TRUE (truth) or FALSE."""


class DocumentConnector(Connector, Generic[Plan]):
    """A source asked in its own query language: a filter is pushed exactly when it
    translates, and a scan streams the pages of the plan made for the request."""

    def accepts_filter(self, predicate: exp.Expression) -> bool:
        try:
            self.translate_filter(predicate)
        except Unsupported:
            return False
        return True

    def scan(self, request: ScanRequest) -> pa.RecordBatchReader:
        schema = project(self.schema(), request.projection)
        plan = self.plan(request)
        return pa.RecordBatchReader.from_batches(schema, self.read(schema, plan))

    @abstractmethod
    def translate_filter(self, predicate: exp.Expression) -> Any:
        """The predicate in the source's language; raises Unsupported if it cannot be exact."""

    @abstractmethod
    def plan(self, request: ScanRequest) -> Plan:
        """What to ask the source for this scan (also shown by `describe`)."""

    @abstractmethod
    def read(self, schema: pa.Schema, plan: Plan) -> Iterator[pa.RecordBatch]:
        """The plan's answers as batches of `schema`, page by page."""


def condition(predicate: exp.Expression, schema: pa.Schema) -> Node:
    """The predicate as a tree with typed literals; raises Unsupported for anything else.

    A full-text match is only accepted as the whole predicate: under OR or NOT the engine would
    have to evaluate it for the rows the source did not select, and it cannot.
    """
    node = predicate.unnest()
    if isinstance(node, exp.MatchAgainst):
        return _match(node, schema)
    return _condition(node, schema)


def _condition(predicate: exp.Expression, schema: pa.Schema) -> Node:
    node = predicate.unnest()
    if not predicates.is_pushable(node):
        raise Unsupported(node.sql())
    if isinstance(node, exp.And):
        return And((_condition(node.left, schema), _condition(node.right, schema)))
    if isinstance(node, exp.Or):
        return Or((_condition(node.left, schema), _condition(node.right, schema)))
    if isinstance(node, exp.Not):
        return Not(_condition(node.this, schema))
    result = _leaf(node, schema)
    return Not(result) if node.args.get("negate") else result


def _leaf(node: exp.Expression, schema: pa.Schema) -> Node:
    if type(node) in OPERATORS:
        left, right, op = node.this, node.expression, OPERATORS[type(node)]
        if not isinstance(left.unnest(), exp.Column):
            left, right, op = right, left, MIRRORED[op]
        column = _column(left, schema)
        return Compare(column, op, typed(right, schema.field(column).type))
    if isinstance(node, exp.Is):
        return IsNull(_column(node.this, schema))
    if isinstance(node, exp.In):
        column = _column(node.this, schema)
        arrow_type = schema.field(column).type
        return InList(column, tuple(typed(item, arrow_type) for item in node.expressions))
    if isinstance(node, exp.Between):
        column = _column(node.this, schema)
        arrow_type = schema.field(column).type
        low = Compare(column, "gte", typed(node.args["low"], arrow_type))
        return And((low, Compare(column, "lte", typed(node.args["high"], arrow_type))))
    if isinstance(node, exp.Like | exp.ILike):
        column = _column(node.this, schema)
        pattern = predicates.literal_value(node.expression)
        if not pa.types.is_string(schema.field(column).type) or "\\" in pattern:
            raise Unsupported("LIKE on a non-text column, or with a backslash")
        return Like(column, pattern, isinstance(node, exp.ILike))
    raise Unsupported(node.sql())


def _match(node: exp.MatchAgainst, schema: pa.Schema) -> Match:
    query = node.this
    if not isinstance(query, exp.Literal) or not query.is_string or node.args.get("modifier"):
        raise Unsupported("full-text match needs a plain text literal")
    columns = tuple(_column(column, schema) for column in node.expressions)
    if not columns or not all(pa.types.is_string(schema.field(c).type) for c in columns):
        raise Unsupported("full-text match needs text columns")
    return Match(columns, query.this)


def _column(node: exp.Expression, schema: pa.Schema) -> str:
    node = node.unnest()
    if not isinstance(node, exp.Column) or node.table or node.name not in schema.names:
        raise Unsupported(f"{node.sql()} is not a column of this dataset")
    return node.name


def typed(node: exp.Expression, arrow_type: pa.DataType) -> Any:
    """The literal as the Python value the engine compares the column with.

    NULL literals are refused: `c = NULL` and `c IN (1, NULL)` are never TRUE, a shape no
    agent means and not worth a translation of its own in every source.
    """
    try:
        value = predicates.literal_value(node)
        if value is None:
            raise Unsupported("NULL literal")
        return predicates.coerce(value, arrow_type).as_py()
    except (predicates.Untranslatable, ValueError, ArithmeticError, pa.ArrowException) as error:
        raise Unsupported(str(error)) from None


def like_parts(pattern: str) -> list[str]:
    """A LIKE pattern as literal runs and the wildcards `%` and `_`, in order."""
    parts: list[str] = []
    run = ""
    for char in pattern:
        if char in "%_":
            if run:
                parts.append(run)
                run = ""
            parts.append(char)
        else:
            run += char
    return [*parts, run] if run else parts


# --- Values ----------------------------------------------------------------------------------


class Misfit(Exception):
    """A source value that does not fit its column's type."""

    def __init__(self, value: Any, arrow_type: pa.DataType) -> None:
        super().__init__(f"{_shown(value)} does not fit type {arrow_type}")


Normalize = Callable[[Any], Any]


def identity(value: Any) -> Any:
    return value


def to_batch(
    rows: Sequence[Mapping[str, Any]],
    schema: pa.Schema,
    lookup: Callable[[Mapping[str, Any], str], Any],
    normalize: Normalize = identity,
    hint: str | None = None,
) -> pa.RecordBatch:
    """A record batch of `rows`, each column read with `lookup(row, name)` and fitted strictly."""
    columns = []
    for field in schema:
        try:
            values = [fit(lookup(row, field.name), field.type, normalize) for row in rows]
        except Misfit as error:
            raise SourceError(
                f"field '{field.name}': {error}",
                hint=hint or "declare the column with a type that fits in the dataset's columns:",
            ) from None
        columns.append(nulls_down(pa.array(values, type=field.type)))
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def nulls_down(array: pa.Array) -> pa.Array:
    """Make the fields of a NULL struct NULL too.

    pyarrow fills them with "" or 0 under the struct's NULL, and the engine's field access
    (`address['city']`) reads the field without looking at the struct, so a missing address
    would show an empty city instead of NULL.
    """
    if pa.types.is_struct(array.type):
        valid = array.is_valid()
        children = [
            nulls_down(pc.if_else(valid, array.field(i), pa.scalar(None, f.type)))
            for i, f in enumerate(array.type)
        ]
        return pa.StructArray.from_arrays(children, fields=list(array.type), mask=pc.invert(valid))
    if pa.types.is_list(array.type) and _has_struct(array.type.value_type):
        values = nulls_down(array.values)
        return pa.ListArray.from_arrays(
            array.offsets, values, type=array.type, mask=pc.invert(array.is_valid())
        )
    return array


def _has_struct(arrow_type: pa.DataType) -> bool:
    if pa.types.is_struct(arrow_type):
        return True
    return pa.types.is_list(arrow_type) and _has_struct(arrow_type.value_type)


def fit(value: Any, arrow_type: pa.DataType, normalize: Normalize = identity) -> Any:
    """The value as Arrow will store it in a column of `arrow_type`, or Misfit.

    Text columns take anything (objects and arrays as JSON), because a text column is what a
    field of mixed types becomes; every other type takes only values it holds exactly.
    """
    value = normalize(value)
    if value is None:
        return None
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return value if isinstance(value, str) else as_text(value, normalize)
    if pa.types.is_struct(arrow_type):
        if not isinstance(value, Mapping):
            raise Misfit(value, arrow_type)
        return {f.name: fit(value.get(f.name), f.type, normalize) for f in arrow_type}
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        if not isinstance(value, list | tuple):
            raise Misfit(value, arrow_type)
        return [fit(item, arrow_type.value_type, normalize) for item in value]
    for matches, convert in SCALARS:
        if matches(arrow_type):
            return convert(value, arrow_type)
    raise Misfit(value, arrow_type)


def as_text(value: Any, normalize: Normalize = identity) -> str:
    """Compact JSON for objects and arrays, the plain text of scalars (`true`, `1.5`)."""

    def plain(item: Any) -> Any:
        item = normalize(item)
        if isinstance(item, Mapping):
            return {str(k): plain(v) for k, v in item.items()}
        if isinstance(item, list | tuple):
            return [plain(v) for v in item]
        if isinstance(item, dt.datetime | dt.date):
            return item.isoformat()
        if isinstance(item, Decimal):
            return str(item)
        if isinstance(item, bytes):
            return item.hex()
        return item

    normalized = plain(value)
    if isinstance(normalized, str):
        return normalized
    return json.dumps(normalized, separators=(",", ":"), ensure_ascii=False, default=str)


def _boolean(value: Any, arrow_type: pa.DataType) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise Misfit(value, arrow_type)


def _integer(value: Any, arrow_type: pa.DataType) -> int:
    number: Any = value
    if isinstance(value, str):
        try:
            number = int(value)
        except ValueError:
            raise Misfit(value, arrow_type) from None
    if isinstance(number, float | Decimal) and math.isfinite(number) and number == int(number):
        number = int(number)
    if isinstance(number, bool) or not isinstance(number, int):
        raise Misfit(value, arrow_type)
    bits = arrow_type.bit_width
    if pa.types.is_unsigned_integer(arrow_type):
        low, high = 0, 2**bits
    else:
        low, high = -(2 ** (bits - 1)), 2 ** (bits - 1)
    if not low <= number < high:
        raise Misfit(value, arrow_type)
    return number


def _floating(value: Any, arrow_type: pa.DataType) -> float:
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise Misfit(value, arrow_type) from None
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise Misfit(value, arrow_type)
    return float(value)


def _decimal(value: Any, arrow_type: pa.DataType) -> Decimal:
    """Exact only: 1.234 does not fit decimal(12,2), where Arrow would refuse mid-batch."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise Misfit(value, arrow_type)
    try:
        number = Decimal(str(value)) if isinstance(value, float | str) else Decimal(value)
        scaled = number.quantize(Decimal(1).scaleb(-arrow_type.scale))
    except ArithmeticError:
        raise Misfit(value, arrow_type) from None
    if scaled != number or len(scaled.as_tuple().digits) > arrow_type.precision:
        raise Misfit(value, arrow_type)
    return scaled


def _timestamp(value: Any, arrow_type: pa.DataType) -> dt.datetime:
    """Naive values are UTC: that is how BSON dates arrive, and how the engine's session reads."""
    when = instant(value, arrow_type)
    if arrow_type.tz is None:
        return when.astimezone(dt.UTC).replace(tzinfo=None) if when.tzinfo else when
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def instant(value: Any, arrow_type: pa.DataType = TIMESTAMP) -> dt.datetime:
    """Datetimes, ISO-8601 text and epoch milliseconds: how JSON sources write instants."""
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time())
    if isinstance(value, int | float) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value / 1000, dt.UTC)
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return dt.datetime.fromtimestamp(int(text) / 1000, dt.UTC)
        try:
            return dt.datetime.fromisoformat(text)
        except ValueError:
            pass
    raise Misfit(value, arrow_type)


def _date(value: Any, arrow_type: pa.DataType) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip()[:10])
        except ValueError:
            pass
    raise Misfit(value, arrow_type)


def _binary(value: Any, arrow_type: pa.DataType) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise Misfit(value, arrow_type)


SCALARS: Sequence[tuple[Callable[[pa.DataType], bool], Callable[[Any, pa.DataType], Any]]] = (
    (pa.types.is_boolean, _boolean),
    (pa.types.is_integer, _integer),
    (pa.types.is_floating, _floating),
    (pa.types.is_decimal, _decimal),
    (pa.types.is_timestamp, _timestamp),
    (pa.types.is_date, _date),
    (lambda t: pa.types.is_binary(t) or pa.types.is_large_binary(t), _binary),
)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:80] + "…"
