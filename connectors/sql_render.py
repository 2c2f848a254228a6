"""Predicates and sort keys rewritten so that a SQL source computes exactly what the engine would.

A pushed filter that keeps fewer rows than the engine would loses data, and one that keeps more
breaks a pushed LIMIT. SQL engines disagree in quiet ways: MySQL compares text case-blind and
ignores trailing spaces, PostgreSQL orders text by the database locale, SQLite's LIKE ignores
case, and an untyped literal such as '2024-01-01 10:00' is silently truncated when compared
with a DATE column in PostgreSQL. So every literal is re-typed from the column's Arrow type
(the engine's own implicit cast, see `predicates.coerce`), text columns are wrapped to compare
byte by byte where the dialect would not, and anything else is refused: refused predicates
simply stay in DataFusion.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pyarrow as pa
from sqlglot import exp

from connectors.predicates import (
    COMPARISONS,
    Untranslatable,
    coerce,
    column_name,
    is_pushable,
    literal_value,
    required_column,
)

Wrap = Callable[[exp.Expression], exp.Expression]
ORDERING = (exp.LT, exp.LTE, exp.GT, exp.GTE)


def _same(column: exp.Expression) -> exp.Expression:
    return column


def _binary(column: exp.Expression) -> exp.Expression:
    """MySQL: a binary string compares byte by byte, with no case folding and no pad space."""
    return exp.cast(column, exp.DataType.build("BINARY"))


def _c_collation(column: exp.Expression) -> exp.Expression:
    """PostgreSQL: the C collation orders by code point, like the engine; equality and LIKE are
    already exact under any deterministic collation."""
    return exp.Collate(this=column, expression=exp.column("C", quoted=True))


@dataclass(frozen=True)
class Rules:
    """Where a dialect's comparisons differ from the engine's, and how to make them agree.

    `text_equal` / `text_order` wrap a text column for equality (=, <>, IN, LIKE) and ordering
    (<, >, BETWEEN, ORDER BY); None means text predicates of that kind are not pushed. `stored`
    turns a literal, already typed as its column, into the value the source stores for it (a
    source that keeps decimals or timestamps as integers compares with integers).
    """

    text_equal: Wrap | None = None
    text_order: Wrap | None = None
    like: bool = False
    ilike: bool = False
    like_underscore: bool = True
    booleans: bool = True
    temporals: bool = True
    zoned_literal_offset: bool = True
    stored: Callable[[pa.Field, pa.Scalar], Any] | None = None

    @property
    def exact_text(self) -> bool:
        """Text compares and sorts as the engine's does with no wrapping at all, so a whole
        query with text predicates, joins, groups or sorts may run at the source as written."""
        return self.text_equal is _same and self.text_order is _same


RULES: dict[str, Rules] = {
    "postgres": Rules(_same, _c_collation, like=True, ilike=True),
    "snowflake": Rules(_same, _same, like=True, ilike=True),
    "duckdb": Rules(_same, _same, like=True, ilike=True),
    # LIKE on bytes is exact only without `_`, which would match one byte, not one character.
    # TINYINT(1) holds any small integer, so `flag = TRUE` (flag = 1) misses a stored 2.
    "mysql": Rules(
        _binary,
        _binary,
        like=True,
        like_underscore=False,
        booleans=False,
        zoned_literal_offset=False,
    ),
    # Text is compared bytewise by default, but LIKE ignores ASCII case and dates are strings.
    "sqlite": Rules(_same, _same, temporals=False),
}
UNKNOWN = Rules(booleans=False, temporals=False)


def rules_for(dialect: str) -> Rules:
    return RULES.get(dialect, UNKNOWN)


def render_filter(
    predicate: exp.Expression, schema: pa.Schema, rules: Rules
) -> exp.Expression | None:
    """The predicate as the source must receive it to keep exactly the engine's rows, or None."""
    if not is_pushable(predicate):
        return None
    try:
        return _render(predicate.unnest(), schema, rules)
    except Untranslatable:
        return None


def render_order(ordered: exp.Ordered, schema: pa.Schema, rules: Rules) -> exp.Ordered | None:
    """A sort key the source orders exactly like the engine (NULL placement is transpiled by
    sqlglot from the engine's defaults), or None."""
    name = column_name(ordered.this)
    if name is None:
        return None
    try:
        key = _wrapped(name, schema, rules, ordering=True)
    except Untranslatable:
        return None
    rendered = ordered.copy()
    rendered.set("this", key)
    return rendered


def _render(node: exp.Expression, schema: pa.Schema, rules: Rules) -> exp.Expression:
    node = node.unnest()
    if isinstance(node, exp.And | exp.Or):
        parts = [_render(node.left, schema, rules), _render(node.right, schema, rules)]
        joined = exp.and_(*parts) if isinstance(node, exp.And) else exp.or_(*parts)
        return exp.Paren(this=joined)
    if isinstance(node, exp.Not):
        inner = _render(node.this, schema, rules)
        return exp.Not(this=inner if isinstance(inner, exp.Paren) else exp.Paren(this=inner))
    rendered = node.copy()
    if type(node) in COMPARISONS:
        column_key, literal_key = "this", "expression"
        if column_name(node.this) is None:
            column_key, literal_key = literal_key, column_key
        name = column_name(node.args[column_key])
        ordering = isinstance(node, ORDERING)
        rendered.set(column_key, _wrapped(name, schema, rules, ordering=ordering))
        rendered.set(literal_key, _literal(node.args[literal_key], name, schema, rules))
    elif isinstance(node, exp.Is):
        rendered.set("this", exp.column(required_column(node.this), quoted=True))
    elif isinstance(node, exp.In):
        name = column_name(node.this)
        rendered.set("this", _wrapped(name, schema, rules, ordering=False))
        rendered.set("expressions", [_literal(v, name, schema, rules) for v in node.expressions])
    elif isinstance(node, exp.Between):
        name = column_name(node.this)
        rendered.set("this", _wrapped(name, schema, rules, ordering=True))
        for bound in ("low", "high"):
            rendered.set(bound, _literal(node.args[bound], name, schema, rules))
    elif isinstance(node, exp.Like | exp.ILike):
        _check_like(node, rules)
        name = column_name(node.this)
        if not _is_text(_type(name, schema)):
            raise Untranslatable("LIKE on a column that is not text")
        rendered.set("this", _wrapped(name, schema, rules, ordering=False))
    else:
        raise Untranslatable(node.sql())
    return rendered


def _check_like(node: exp.Like | exp.ILike, rules: Rules) -> None:
    pattern = literal_value(node.expression)
    if not isinstance(pattern, str) or "\\" in pattern or node.args.get("escape"):
        raise Untranslatable("LIKE escapes differ between engines")
    if not (rules.ilike if isinstance(node, exp.ILike) else rules.like):
        raise Untranslatable("this source's LIKE is not the engine's")
    if "_" in pattern and not rules.like_underscore:
        raise Untranslatable("`_` matches a byte, not a character, here")


def _wrapped(
    name: str | None, schema: pa.Schema, rules: Rules, *, ordering: bool
) -> exp.Expression:
    """The column reference, wrapped for the dialect; Untranslatable for unsupported types."""
    if name is None:
        raise Untranslatable("not a column")
    arrow_type = _type(name, schema)
    column = exp.column(name, quoted=True)
    if _is_text(arrow_type):
        wrap = rules.text_order if ordering else rules.text_equal
        if wrap is None:
            raise Untranslatable("text comparisons differ at this source")
        return wrap(column)
    if pa.types.is_boolean(arrow_type) and not rules.booleans:
        raise Untranslatable("booleans are small integers at this source")
    temporal = pa.types.is_date(arrow_type) or pa.types.is_timestamp(arrow_type)
    if temporal and not rules.temporals:
        raise Untranslatable("dates and times are not typed at this source")
    exact_number = (
        pa.types.is_integer(arrow_type)
        or pa.types.is_float64(arrow_type)
        or pa.types.is_decimal(arrow_type)
    )
    if not (exact_number or temporal or pa.types.is_boolean(arrow_type) or _is_text(arrow_type)):
        # float32 is compared as float32 or as float64 depending on the engine.
        raise Untranslatable(f"no exact comparisons for {arrow_type} columns")
    return column


def _literal(
    node: exp.Expression, name: str | None, schema: pa.Schema, rules: Rules
) -> exp.Expression:
    """The literal re-typed as the engine reads it against this column."""
    value = literal_value(node)
    if value is None:
        return exp.Null()
    typed = coerce(value, _type(name, schema))
    if rules.stored is not None:
        assert name is not None
        return _sql_literal(rules.stored(schema.field(name), typed), rules)
    return _sql_literal(typed.as_py(), rules)


def _sql_literal(value: Any, rules: Rules) -> exp.Expression:
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int):
        return exp.Literal.number(value)
    if isinstance(value, float):
        return exp.Literal.number(repr(value))
    if isinstance(value, Decimal):
        return exp.Literal.number(format(value, "f"))
    if isinstance(value, str):
        return exp.Literal.string(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            return exp.cast(exp.Literal.string(value.isoformat(" ")), exp.DataType.Type.TIMESTAMP)
        utc = value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ")
        if not rules.zoned_literal_offset:
            return exp.Literal.string(utc)
        return exp.cast(exp.Literal.string(utc + "+00:00"), exp.DataType.Type.TIMESTAMPTZ)
    if isinstance(value, dt.date):
        return exp.cast(exp.Literal.string(value.isoformat()), exp.DataType.Type.DATE)
    raise Untranslatable(f"no SQL literal for {value!r}")


def _type(name: str | None, schema: pa.Schema) -> pa.DataType:
    index = schema.get_field_index(name) if name is not None else -1
    if index < 0:
        raise Untranslatable(f"no column {name!r}")
    arrow_type = schema.field(index).type
    return arrow_type.value_type if pa.types.is_dictionary(arrow_type) else arrow_type


def _is_text(arrow_type: pa.DataType) -> bool:
    return (
        pa.types.is_string(arrow_type)
        or pa.types.is_large_string(arrow_type)
        or pa.types.is_string_view(arrow_type)
    )
