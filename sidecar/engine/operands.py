"""What the planner knows of an operand's type, for the rewrites whose reading depends on it.

PostgreSQL and DataFusion read a few operations differently by their operand's type (`AT TIME
ZONE` of a timestamp with a zone, a cast of a fraction to an integer), and the SQL text alone
does not say it. The planner knows each scan's schema: a column of a scan, a number literal,
a cast and arithmetic over them have a type it can tell; anything else (a subquery's column,
a function) is unknown, and its operation keeps DataFusion's reading.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from enum import Enum

import pyarrow as pa
from sqlglot import exp

from sidecar.engine.dialect import exact_type

ARITHMETIC = (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod)
ZONED_FUNCTIONS = ("now", "current_timestamp", "transaction_timestamp", "statement_timestamp")
Type = exp.DataType.Type
INTEGER_BITS = {Type.TINYINT: 8, Type.SMALLINT: 16, Type.INT: 32, Type.BIGINT: 64}
# functions whose answer is a double in DataFusion, whatever their arguments
DOUBLE_FUNCTIONS = (
    exp.Sqrt, exp.Cbrt, exp.Ln, exp.Log, exp.Exp, exp.Rand, exp.Stddev, exp.StddevPop,
    exp.StddevSamp, exp.Variance, exp.VariancePop, exp.Corr,
)  # fmt: skip


class Kind(Enum):
    INTEGER = "integer"
    DECIMAL = "decimal"
    FLOAT = "float"
    ZONED = "timestamp with a zone"
    NAIVE = "timestamp without a zone"
    DATE = "date"
    TIME = "time of day"


MOVABLE = (Kind.ZONED, Kind.NAIVE, Kind.DATE)
MAX_DEPTH = 16  # subqueries followed down from a column


class Operands:
    """The kinds of a statement's operands, from the (alias, schema) of the tables it reads."""

    def __init__(self, tables: Iterable[tuple[str, pa.Schema]]) -> None:
        self.schemas: dict[str, list[pa.Schema]] = {}
        for alias, schema in tables:
            self.schemas.setdefault(alias, []).append(schema)

    def kind(self, node: exp.Expression) -> Kind | None:
        node = self._resolved(node)
        if isinstance(node, exp.Column):
            return self._column(node)
        if isinstance(node, exp.Literal) and not node.is_string:  # as PostgreSQL types it
            return Kind.INTEGER if node.this.isdigit() and not exact_type(node) else Kind.DECIMAL
        if isinstance(node, exp.Neg | exp.Min | exp.Max):
            return self.kind(node.this)
        if isinstance(node, exp.Cast):
            return _declared(node.to)
        if isinstance(node, exp.AtTimeZone):
            inner = self.kind(node.this)
            if inner in (Kind.ZONED, Kind.NAIVE):
                return Kind.NAIVE if inner is Kind.ZONED else Kind.ZONED
            return None
        if isinstance(node, exp.CurrentDate):
            return Kind.DATE
        if isinstance(node, exp.Extract):  # a NUMERIC in PostgreSQL (a double in DataFusion)
            return Kind.DECIMAL
        if isinstance(node, exp.CurrentTimestamp) or (
            isinstance(node, exp.Anonymous) and node.name.lower() in ZONED_FUNCTIONS
        ):
            return Kind.ZONED
        if isinstance(node, exp.Add | exp.Sub) and (moved := self._moved(node)) is not None:
            return moved
        if isinstance(node, ARITHMETIC):
            kinds = {self.kind(node.this), self.kind(node.expression)}
            for kind in (None, Kind.FLOAT, Kind.DECIMAL, Kind.INTEGER):
                if kind in kinds:
                    return kind
        return None

    def _moved(self, node: exp.Add | exp.Sub) -> Kind | None:
        """The kind of a timestamp or date moved by an interval: the timestamp's, a
        timestamp without a zone for a date (as PostgreSQL types it)."""
        for this, other in ((node.this, node.expression), (node.expression, node.this)):
            if is_interval(other) and (kind := self.kind(this)) in MOVABLE:
                return Kind.NAIVE if kind is Kind.DATE else kind
        return None

    def bits(self, node: exp.Expression) -> int | None:
        """The width of the signed integer `node` is in DataFusion (which types an integer
        literal BIGINT, and arithmetic as its wider operand), or None for anything else."""
        node = self._resolved(node)
        if isinstance(node, exp.Column):
            return self._width(node, pa.types.is_signed_integer)
        if isinstance(node, exp.Literal):
            return 64 if node.is_int and int(node.this) < 1 << 63 else None
        if isinstance(node, exp.Cast):
            return next((b for t, b in INTEGER_BITS.items() if node.to.is_type(t)), None)
        if isinstance(node, exp.Neg):
            return self.bits(node.this)
        if isinstance(node, exp.Count):
            return 64
        if isinstance(node, exp.Min | exp.Max | exp.Window):
            return self.bits(node.this)
        if isinstance(node, exp.Sum):
            return 64 if self.bits(node.this) else None
        if isinstance(node, ARITHMETIC):
            left, right = self.bits(node.this), self.bits(node.expression)
            return max(left, right) if left and right else None
        return None

    def float_bits(self, node: exp.Expression) -> int | None:
        """The width of the floating-point number `node` is in DataFusion (which reads a number
        literal with a point or an exponent as a double, unless `exact_type`), or None for
        anything else or unknown."""
        node = self._resolved(node)
        if isinstance(node, exp.Column):
            return self._width(node, pa.types.is_floating)
        if isinstance(node, exp.Literal):
            return None if node.is_string or node.is_int or exact_type(node) else 64
        if isinstance(node, exp.Cast):
            if node.to.is_type(Type.FLOAT):
                return 32
            return 64 if node.to.is_type(Type.DOUBLE) else None
        if isinstance(node, exp.Neg | exp.Abs):
            return self.float_bits(node.this)
        if isinstance(node, DOUBLE_FUNCTIONS):
            return 64
        if isinstance(node, exp.Min | exp.Max):
            return self.float_bits(node.this)
        if isinstance(node, exp.Avg | exp.Sum):  # a double's (an integer's average too)
            integer = isinstance(node, exp.Avg) and self.bits(node.this) is not None
            return 64 if integer or self.float_bits(node.this) else None
        if isinstance(node, ARITHMETIC):
            widths = {self.float_bits(node.this), self.float_bits(node.expression)} - {None}
            return max(widths) if widths else None
        return None

    def _width(self, column: exp.Column, is_kind: Callable[[pa.DataType], bool]) -> int | None:
        """The bit width of `column`'s type, when `is_kind` holds for it."""
        data_type = self._type(column)
        return data_type.bit_width if data_type is not None and is_kind(data_type) else None

    def _type(self, column: exp.Column) -> pa.DataType | None:
        if column.table:
            candidates = self.schemas.get(column.table, [])
        elif self._derived(column):
            return None
        else:
            candidates = [schema for named in self.schemas.values() for schema in named]
        types = {
            schema.field(column.name).type
            for schema in candidates
            if schema.get_field_index(column.name) >= 0
        }
        return types.pop() if len(types) == 1 else None

    def _derived(self, column: exp.Column) -> bool:
        """Whether the select an unqualified `column` is in reads something else than the
        scans (a subquery, a CTE, a function), whose columns may shadow the scans' names:
        `SELECT id * 2 FROM (SELECT price AS id FROM t) s` multiplies a double."""
        return any(
            not isinstance(source, exp.Table) or source.alias_or_name not in self.schemas
            for source in _sources(column)
        )

    def _resolved(self, node: exp.Expression) -> exp.Expression:
        """`node` without parentheses, a scalar subquery as its item and a subquery's column
        as the item defining it (`_defined`), as far as these go."""
        node = _scalar(node.unnest())
        for _ in range(MAX_DEPTH):
            defined = self._defined(node) if isinstance(node, exp.Column) else None
            if defined is None:
                return node
            node = _scalar(defined.unnest())
        return node

    def _defined(self, column: exp.Column) -> exp.Expression | None:
        """The item of the one subquery `column`'s select reads (`SELECT id * 2 FROM (SELECT
        price AS id FROM t) s`: `price`) that defines it, typed in its stead."""
        sources = _sources(column)
        if len(sources) != 1 or not isinstance(sources[0], exp.Subquery):
            return None
        subquery = sources[0]
        if column.table and column.table != subquery.alias_or_name:
            return None
        select = subquery.this
        if not isinstance(select, exp.Select):
            return None
        items = [item for item in select.expressions if item.alias_or_name == column.name]
        return items[0].unalias() if len(items) == 1 else None

    def _column(self, column: exp.Column) -> Kind | None:
        data_type = self._type(column)
        return _arrow(data_type) if data_type is not None else None


def _arrow(data_type: pa.DataType) -> Kind | None:
    if pa.types.is_integer(data_type):
        return Kind.INTEGER
    if pa.types.is_floating(data_type):
        return Kind.FLOAT
    if pa.types.is_decimal(data_type):
        return Kind.DECIMAL
    if pa.types.is_timestamp(data_type):
        return Kind.ZONED if data_type.tz is not None else Kind.NAIVE
    if pa.types.is_time(data_type):
        return Kind.TIME
    return Kind.DATE if pa.types.is_date(data_type) else None


def _declared(to: exp.DataType) -> Kind | None:
    if to.is_type(*exp.DataType.INTEGER_TYPES):
        return Kind.INTEGER
    if to.is_type(*exp.DataType.REAL_TYPES) and not to.is_type(Type.DECIMAL, Type.BIGDECIMAL):
        return Kind.FLOAT
    if to.is_type(Type.DECIMAL, Type.BIGDECIMAL):
        return Kind.DECIMAL
    if to.is_type(Type.TIMESTAMPTZ):
        return Kind.ZONED
    if to.is_type(Type.DATE):
        return Kind.DATE
    if to.is_type(Type.TIME):
        return Kind.TIME
    return Kind.NAIVE if to.is_type(Type.TIMESTAMP) else None


def _sources(column: exp.Column) -> list[exp.Expression]:
    """What the select `column` is in reads: its FROM and its joins."""
    select = column.find_ancestor(exp.Select)
    if select is None:
        return []
    start = select.args.get("from_")
    sources = [start.this] if start is not None else []
    return sources + [join.this for join in select.args.get("joins") or []]


def _scalar(node: exp.Expression) -> exp.Expression:
    """The one item of a scalar subquery `(SELECT max(id) FROM t)`, else `node` itself."""
    select = node.this if isinstance(node, exp.Subquery) else node  # unnest() strips it
    if isinstance(select, exp.Select) and len(select.expressions) == 1:
        return select.expressions[0].unalias()
    return node


def is_interval(node: exp.Expression) -> bool:
    """An interval literal or a cast to INTERVAL."""
    node = node.unnest()
    return isinstance(node, exp.Interval) or (
        isinstance(node, exp.Cast) and node.to.is_type(Type.INTERVAL)
    )
