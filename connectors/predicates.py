"""Which predicates a source can apply itself, and how to run them as Arrow filters.

The engine re-applies every predicate above the scan, so a pushed-down filter may never *drop* a
row the engine would keep. That is why `to_arrow` answers None whenever it is unsure instead of
guessing: SQL's three-valued logic (NULL), its implicit casts (`ts >= '2024-01-01'`) and its
float ordering (NaN above every number) all have to come out exactly as the engine computes them.
"""

from __future__ import annotations

import datetime as dt
import math
import operator
from collections.abc import Callable, Sequence
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import reduce
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pyarrow.acero import Declaration, FilterNodeOptions, TableSourceNodeOptions
from sqlglot import exp

Type = exp.DataType.Type

MAX_ARROW_CHAIN = 256  # operands of one AND/OR chain in a filter handed to Arrow
# Column types any comparison with a coerced literal binds on (`_binds`)
BINDING_TYPES = (pa.int64(), pa.float64(), pa.string(), pa.large_string(), pa.bool_())
COMPARISONS: dict[type[exp.Expression], Callable[[Any, Any], pc.Expression]] = {
    exp.EQ: operator.eq,
    exp.NEQ: operator.ne,
    exp.LT: operator.lt,
    exp.LTE: operator.le,
    exp.GT: operator.gt,
    exp.GTE: operator.ge,
}
MIRRORED: dict[type[exp.Expression], type[exp.Expression]] = {
    exp.EQ: exp.EQ,
    exp.NEQ: exp.NEQ,
    exp.LT: exp.GT,
    exp.LTE: exp.GTE,
    exp.GT: exp.LT,
    exp.GTE: exp.LTE,
}

DATE_TYPES = {Type.DATE, Type.DATE32}
NAIVE_TIMESTAMP_TYPES = {Type.TIMESTAMP, Type.TIMESTAMPNTZ, Type.DATETIME}
AWARE_TIMESTAMP_TYPES = {Type.TIMESTAMPTZ, Type.TIMESTAMPLTZ}
INTEGER_TYPES = exp.DataType.INTEGER_TYPES - {Type.BIT}
DECIMAL_TYPES = {Type.DECIMAL, Type.DECIMAL32, Type.DECIMAL64, Type.DECIMAL128, Type.DECIMAL256}
# CHAR(n) pads and FLOAT is 32 bits in some dialects and 64 in others: their values are not
# knowable without the engine, so casts to them are not treated as literals.
TEXT_TYPES = exp.DataType.TEXT_TYPES - {Type.CHAR, Type.NCHAR}

NULL_BOOL = pc.scalar(pa.scalar(None, pa.bool_()))


class Untranslatable(Exception):
    """A pushable predicate that has no exact Arrow equivalent for this schema."""


def is_pushable(predicate: exp.Expression) -> bool:
    """Whether the predicate only uses shapes every connector can reason about.

    That is column-versus-literal comparisons, IN lists, BETWEEN, IS [NOT] NULL and [I]LIKE with a
    literal pattern, combined with AND, OR and NOT. Whether a given source can also evaluate it
    exactly is a separate question (see `to_arrow`). A string holding a NUL character is never
    pushed: servers that read statements as C strings (PostgreSQL) cut the SQL text there, and
    the error would echo the statement the source was sent.
    """
    node = predicate.unnest()
    if any(isinstance(n, exp.Literal) and n.is_string and "\0" in n.this for n in node.walk()):
        return False
    if isinstance(node, exp.And | exp.Or):
        return is_pushable(node.left) and is_pushable(node.right)
    if isinstance(node, exp.Not):
        return is_pushable(node.this)
    if type(node) in COMPARISONS:
        return _comparison_operands(node) is not None
    if isinstance(node, exp.Is):
        return column_name(node.this) is not None and isinstance(node.expression, exp.Null)
    if isinstance(node, exp.In):
        return _is_literal_list(node)
    if isinstance(node, exp.Between):
        return (
            column_name(node.this) is not None
            and not node.args.get("symmetric")
            and _is_literal(node.args["low"])
            and _is_literal(node.args["high"])
        )
    if isinstance(node, exp.Like | exp.ILike):
        pattern = node.expression
        return (
            column_name(node.this) is not None
            and isinstance(pattern, exp.Literal)
            and pattern.is_string
        )
    return False


def _widest_chain(predicate: exp.Expression) -> int:
    """The most operands of one AND or OR chain in the predicate.

    Arrow canonicalizes a filter by folding each chain left-deep and then recursing through
    it, on whichever thread scans: a few thousand ORs overflowed a 2 MiB stack. Wider chains
    stay with the engine, which turns an OR of equalities into an IN list.
    """
    roots = (
        node for node in predicate.find_all(exp.And, exp.Or) if type(node.parent) is not type(node)
    )
    return max((sum(1 for _ in root.flatten()) for root in roots), default=0)


def literal_value(node: exp.Expression) -> Any:
    """The Python value of a literal, or ValueError if the node is not one.

    Integers stay `int` and decimals without an exponent become `Decimal`, because SQL reads
    `0.1` as an exact numeric; only `1e-1` is approximate and becomes `float`.
    """
    node = node.unnest()
    if isinstance(node, exp.Null):
        return None
    if isinstance(node, exp.Boolean):
        return bool(node.this)
    if isinstance(node, exp.Literal):
        return node.this if node.is_string else _number(node.this)
    if isinstance(node, exp.Neg):
        value = literal_value(node.this)
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            raise ValueError(f"cannot negate {node.this.sql()}")
        return -value
    if isinstance(node, exp.Cast):
        return _cast(literal_value(node.this), node.to)
    raise ValueError(f"{node.sql()} is not a literal")


def to_arrow(predicate: exp.Expression, schema: pa.Schema) -> pc.Expression | None:
    """An Arrow dataset filter that keeps exactly the rows for which the predicate is TRUE.

    The result is checked against an empty table of the schema, so a filter Arrow cannot bind
    (say, a decimal comparison that would overflow 38 digits) is reported here as None rather
    than failing in the middle of a scan.
    """
    if not is_pushable(predicate) or _widest_chain(predicate) > MAX_ARROW_CHAIN:
        return None
    try:
        expression = _translate(predicate, schema)
        if not _binds(predicate, schema):
            filter_table(schema.empty_table(), expression)
    except (Untranslatable, pa.ArrowException, ValueError, TypeError, OverflowError):
        return None
    return expression


def _binds(predicate: exp.Expression, schema: pa.Schema) -> bool:
    """Whether Arrow binds any translation of `predicate` for sure, so that trying it on an
    empty table (0.2 ms, most of a translation, asked again on each execution of a kept
    plan) can be skipped: every column it names is of a type whose literals `coerce` makes of
    the column's own type or a double, and no literal is a decimal."""
    for node in predicate.walk():
        if isinstance(node, exp.Column):
            index = schema.get_field_index(node.name)
            if index < 0 or schema.field(index).type not in BINDING_TYPES:
                return False
        elif isinstance(node, exp.Literal) and isinstance(literal_value(node), Decimal):
            return False
    return True


def _number(text: str) -> int | float | Decimal:
    if text.isdigit():
        return int(text)
    if "e" in text.lower():
        value = float(text)
        if not math.isfinite(value):  # 1e400: no source reads the `inf` it would render as
            raise ValueError(f"{text} is beyond a double's range")
        return value
    return Decimal(text)


def _cast(value: Any, to: exp.DataType) -> Any:
    """The value of `CAST(value AS to)`, for the casts whose result every engine agrees on."""
    if value is None:
        return None
    kind = to.this
    if kind in TEXT_TYPES and isinstance(value, str | int) and not isinstance(value, bool):
        return str(value)
    if kind == Type.BOOLEAN and isinstance(value, bool):
        return value
    if kind in INTEGER_TYPES:
        return _cast_integer(value)
    if kind == Type.DOUBLE:
        return _cast_double(value)
    if kind in DECIMAL_TYPES:
        return _cast_decimal(value, to)
    if kind in DATE_TYPES:
        return _cast_date(value)
    if kind in NAIVE_TIMESTAMP_TYPES | AWARE_TIMESTAMP_TYPES:
        return _cast_timestamp(value, aware=kind in AWARE_TIMESTAMP_TYPES)
    raise ValueError(f"cannot cast {value!r} to {to.sql()}")


def _cast_integer(value: Any) -> int:
    """Integral values only: engines disagree on whether CAST(1.5 AS INT) rounds or truncates."""
    if isinstance(value, bool):
        raise ValueError("booleans are not integers")
    if isinstance(value, str):
        return int(value.strip())
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal | float) and value == int(value):
        return int(value)
    raise ValueError(f"{value!r} is not an integer")


def _cast_double(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise ValueError(f"{value!r} is not a number")
    result = float(value)
    if not math.isfinite(result):
        raise ValueError("NaN and infinity compare differently from engine to engine")
    return result


def _cast_decimal(value: Any, to: exp.DataType) -> Decimal:
    """Exact decimals only: an unparameterised DECIMAL has a different default scale per engine."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise ValueError(f"{value!r} is not a decimal")
    try:
        number = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation as error:
        raise ValueError(f"{value!r} is not a decimal") from error
    params = [int(param.name) for param in to.expressions]
    if len(params) != 2:
        if number != number.to_integral_value():
            raise ValueError("the scale of an unparameterised DECIMAL differs between engines")
        return number
    precision, scale = params
    exponent = Decimal(1).scaleb(-scale)
    rounded = number.quantize(exponent, rounding=ROUND_HALF_UP)
    if len(rounded.as_tuple().digits) > precision:
        raise ValueError(f"{value} does not fit DECIMAL({precision},{scale})")
    return rounded


def _cast_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        raise ValueError("truncating a timestamp to a date depends on the session time zone")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        return dt.date.fromisoformat(value.strip())
    raise ValueError(f"{value!r} is not a date")


def _cast_timestamp(value: Any, *, aware: bool) -> dt.datetime:
    """A naive TIMESTAMPTZ literal or an offset in a plain TIMESTAMP is read in the session time
    zone, which only the engine knows; such literals are refused."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.strip())
    elif isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time())
    if not isinstance(value, dt.datetime):
        raise ValueError(f"{value!r} is not a timestamp")
    if (value.tzinfo is not None) != aware:
        raise ValueError("the meaning of this timestamp depends on the session time zone")
    return value


def filter_table(table: pa.Table, condition: pc.Expression) -> pa.Table:
    """`table.filter(condition)` on the calling thread: Arrow's thread pool costs more than it
    saves on the small tables of a lookup."""
    return Declaration.from_sequence(
        [
            Declaration("table_source", TableSourceNodeOptions(table)),
            Declaration("filter", FilterNodeOptions(condition)),
        ]
    ).to_table(use_threads=False)


def column_name(node: exp.Expression) -> str | None:
    """The name of an unqualified column (parentheses allowed), or None for anything else."""
    node = node.unnest()
    if isinstance(node, exp.Column) and not node.table and isinstance(node.this, exp.Identifier):
        return node.name
    return None


def required_column(node: exp.Expression) -> str:
    """Like `column_name`, for translators: anything else cannot be translated."""
    name = column_name(node)
    if name is None:
        raise Untranslatable("not a column")
    return name


def _is_literal(node: exp.Expression) -> bool:
    try:
        literal_value(node)
    except (ValueError, ArithmeticError):
        return False
    return True


def _is_literal_list(node: exp.In) -> bool:
    if any(node.args.get(key) for key in ("query", "unnest", "field")):
        return False
    values = node.expressions
    return column_name(node.this) is not None and bool(values) and all(map(_is_literal, values))


def _comparison_operands(
    node: exp.Expression,
) -> tuple[str, type[exp.Expression], exp.Expression] | None:
    """(column, operator, literal) with the column on the left, mirroring `5 < a` to `a > 5`."""
    left, right = node.this, node.expression
    if (column := column_name(left)) is not None and _is_literal(right):
        return column, type(node), right
    if (column := column_name(right)) is not None and _is_literal(left):
        return column, MIRRORED[type(node)], left
    return None


def _translate(node: exp.Expression, schema: pa.Schema) -> pc.Expression:
    node = node.unnest()
    if isinstance(node, exp.And):
        return _translate(node.left, schema) & _translate(node.right, schema)
    if isinstance(node, exp.Or):
        return _translate(node.left, schema) | _translate(node.right, schema)
    if isinstance(node, exp.Not):
        return ~_translate(node.this, schema)
    if type(node) in COMPARISONS:
        operands = _comparison_operands(node)
        if operands is None:
            raise Untranslatable(node.sql())
        column, op, literal = operands
        return _compare(column, op, literal_value(literal), schema)
    if isinstance(node, exp.Is):
        result = _field(column_name(node.this), schema)[0].is_null()
    elif isinstance(node, exp.In):
        result = _in(node, schema)
    elif isinstance(node, exp.Between):
        column = column_name(node.this)
        low = _compare(column, exp.GTE, literal_value(node.args["low"]), schema)
        high = _compare(column, exp.LTE, literal_value(node.args["high"]), schema)
        result = low & high
    elif isinstance(node, exp.Like | exp.ILike):
        result = _like(node, schema)
    else:
        raise Untranslatable(node.sql())
    return ~result if node.args.get("negate") else result


def _field(name: str | None, schema: pa.Schema) -> tuple[pc.Expression, pa.DataType]:
    index = schema.get_field_index(name) if name is not None else -1
    if name is None or index < 0:
        raise Untranslatable(f"no single column {name!r} in the schema")
    arrow_type = schema.field(index).type
    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    return pc.field(name), arrow_type


def _compare(
    column: str | None, op: type[exp.Expression], value: Any, schema: pa.Schema
) -> pc.Expression:
    """`column op value` with SQL semantics.

    Engines order NaN above every number (DuckDB, and DataFusion via Arrow's total order), where
    Arrow compute follows IEEE and says `NaN > 1` is false; `>` and `>=` add NaN back.
    """
    field, arrow_type = _field(column, schema)
    if value is None:
        return NULL_BOOL
    field, literal = _operands(field, arrow_type, value)
    result = COMPARISONS[op](field, literal)
    if pa.types.is_floating(arrow_type) and op in (exp.GT, exp.GTE):
        result = result | pc.is_nan(field)
    return result


def _operands(
    field: pc.Expression, arrow_type: pa.DataType, value: Any
) -> tuple[pc.Expression, pa.Scalar]:
    """Field and literal as SQL would compare them: a date meets a timestamp as a timestamp."""
    if pa.types.is_date(arrow_type) and isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            raise Untranslatable("a date compared with a zoned timestamp")
        return field.cast(pa.timestamp("us")), pa.scalar(value, pa.timestamp("us"))
    return field, coerce(value, arrow_type)


def coerce(value: Any, arrow_type: pa.DataType) -> pa.Scalar:
    """The literal as a scalar Arrow compares with a column of `arrow_type` the way SQL does.

    Strings are parsed into the column's type (`ts >= '2024-01-01'`), like the engine's implicit
    cast. Numbers keep their own type where Arrow widens both sides exactly, so `int_col > 1.5`
    is not truncated to `int_col > 1`. Raises Untranslatable when SQL would not compare them.
    """
    for matches, convert in COERCIONS:
        if matches(arrow_type):
            return convert(value, arrow_type)
    raise Untranslatable(f"no literals for {arrow_type} columns")


def _coerce_string(value: Any, arrow_type: pa.DataType) -> pa.Scalar:
    if not isinstance(value, str):
        raise Untranslatable(f"{value!r} compared with a string column")
    return pa.scalar(value, arrow_type)


def _coerce_boolean(value: Any, arrow_type: pa.DataType) -> pa.Scalar:
    if not isinstance(value, bool):
        raise Untranslatable(f"{value!r} compared with a boolean column")
    return pa.scalar(value, arrow_type)


def _coerce_integer(value: Any, arrow_type: pa.DataType) -> pa.Scalar:
    if isinstance(value, str):
        value = _parse(int, value)
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise Untranslatable(f"{value!r} compared with an integer column")
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        raise Untranslatable(f"{value} is beyond 64-bit integers")
    return _numeric_scalar(value)


def _coerce_floating(value: Any, arrow_type: pa.DataType) -> pa.Scalar:
    if isinstance(value, str):
        value = _parse(float, value)
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise Untranslatable(f"{value!r} compared with a floating-point column")
    number = float(value)
    if not math.isfinite(number):
        raise Untranslatable("NaN and infinity order differently in Arrow and SQL")
    return pa.scalar(number, pa.float64())


def _coerce_decimal(value: Any, arrow_type: pa.DataType) -> pa.Scalar:
    if isinstance(value, str):
        value = _parse(Decimal, value)
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise Untranslatable(f"{value!r} compared with a decimal column")
    return _numeric_scalar(Decimal(value) if isinstance(value, int) else value)


def _coerce_date(value: Any, arrow_type: pa.DataType) -> pa.Scalar:
    if isinstance(value, str):
        value = _parse(dt.date.fromisoformat, value)
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise Untranslatable(f"{value!r} compared with a date column")
    return pa.scalar(value, pa.date32())


def _coerce_timestamp(value: Any, arrow_type: pa.DataType) -> pa.Scalar:
    """Naive literals meet zoned columns only in UTC, the engine's session time zone; for any
    other column zone the engines disagree on which zone a naive literal is in."""
    if isinstance(value, str):
        value = _parse(dt.datetime.fromisoformat, value)
    elif isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time())
    if not isinstance(value, dt.datetime):
        raise Untranslatable(f"{value!r} compared with a timestamp column")
    zone = arrow_type.tz
    if zone is None and value.tzinfo is not None:
        raise Untranslatable("a zoned literal compared with a naive timestamp column")
    if zone is not None and value.tzinfo is None:
        if zone.upper() not in ("UTC", "ETC/UTC", "Z", "+00:00"):
            raise Untranslatable(f"a naive literal compared with a {zone} timestamp column")
        value = value.replace(tzinfo=dt.UTC)
    return pa.scalar(value, pa.timestamp("us", tz=zone))


def _numeric_scalar(value: int | float | Decimal) -> pa.Scalar:
    if isinstance(value, Decimal):
        if not value.is_finite() or len(value.as_tuple().digits) > 38:
            raise Untranslatable(f"{value} does not fit a 38-digit decimal")
        return pa.scalar(value)
    return pa.scalar(value, pa.int64() if isinstance(value, int) else pa.float64())


def _is_text(arrow_type: pa.DataType) -> bool:
    return (
        pa.types.is_string(arrow_type)
        or pa.types.is_large_string(arrow_type)
        or pa.types.is_string_view(arrow_type)
    )


def _parse(parser: Callable[[str], Any], text: str) -> Any:
    """A string literal read as the column's type, as the engine's implicit cast would."""
    try:
        return parser(text.strip())
    except (ValueError, ArithmeticError) as error:
        raise Untranslatable(f"{text!r} is not a value of the column's type") from error


COERCIONS: Sequence[
    tuple[Callable[[pa.DataType], bool], Callable[[Any, pa.DataType], pa.Scalar]]
] = (
    (_is_text, _coerce_string),
    (pa.types.is_boolean, _coerce_boolean),
    (pa.types.is_integer, _coerce_integer),
    (pa.types.is_floating, _coerce_floating),
    (pa.types.is_decimal, _coerce_decimal),
    (pa.types.is_date, _coerce_date),
    (pa.types.is_timestamp, _coerce_timestamp),
)


def _in(node: exp.In, schema: pa.Schema) -> pc.Expression:
    """SQL IN: NULL when the column is NULL, or when nothing matched and the list holds a NULL.

    Arrow's `is_in` answers false in both cases, which NOT would turn into true.
    """
    column = column_name(node.this)
    values = [literal_value(item) for item in node.expressions]
    present = [value for value in values if value is not None]
    member = _member(column, present, schema)
    return member | NULL_BOOL if len(present) < len(values) else member


def _member(column: str | None, values: list[Any], schema: pa.Schema) -> pc.Expression:
    """One `is_in` when every value round-trips exactly through the column's type (the common
    case), else an OR of equalities, each with its own SQL coercion: `float32_col IN (0.1)` must
    compare as doubles, not match the float32 nearest to 0.1.

    `is_in` hashes floats bit by bit, so -0.0 would miss 0; both zeros go in the set.
    """
    field, arrow_type = _field(column, schema)
    if not values:
        return NULL_BOOL
    try:
        wanted = [coerce(value, arrow_type).as_py() for value in values]
        exact = pa.array(wanted, arrow_type).to_pylist() == wanted
    except (Untranslatable, pa.ArrowException, TypeError, ValueError, OverflowError):
        exact = False
    if not exact:
        return reduce(operator.or_, [_compare(column, exp.EQ, value, schema) for value in values])
    if pa.types.is_floating(arrow_type) and 0.0 in wanted:
        wanted += [0.0, -0.0]
    value_set = pa.array(wanted, arrow_type)
    member = pc.is_in(field, value_set=value_set, skip_nulls=True)
    return pc.if_else(field.is_valid(), member, NULL_BOOL)


def _like(node: exp.Like | exp.ILike, schema: pa.Schema) -> pc.Expression:
    """Backslashes are refused: Arrow reads them as escapes, DuckDB's LIKE does not."""
    field, arrow_type = _field(column_name(node.this), schema)
    pattern = literal_value(node.expression)
    if not _is_text(arrow_type) or not isinstance(pattern, str) or "\\" in pattern:
        raise Untranslatable(node.sql())
    return pc.match_like(field, pattern, ignore_case=isinstance(node, exp.ILike))
