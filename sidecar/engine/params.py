"""Query parameters, bound as typed SQL literals before planning.

Binding into the tree (not into the text) keeps values out of the SQL grammar, so a parameter
can never become syntax; and because the bound literals are visible to the planner, filters on
parameters are pushed down to sources just like literal ones. Each bound literal is marked with
its parameter's number (`SLOT` in its meta, kept by every copy the planner makes), so a plan can
be executed again with other values without being made again (`sidecar.engine.plans`).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pyarrow as pa
from sqlglot import exp

from sidecar.errors import ErrorCode, SidecarError

SLOT = "parameter"
NUMERIC_DIGITS = 38  # the widest NUMERIC every engine a query may reach holds (DuckDB's too)
# Lists in lists a parameter may hold: Arrow's C interface refuses types past 64 levels, and
# DataFusion's parser takes time exponential in the depth of a literal near its recursion
# limit (a list 300 deep planned on, uninterruptible, after its statement's timeout).
LIST_DEPTH = 32


def bind(statement: exp.Expression, values: Sequence[Any]) -> exp.Expression:
    """Replace `$n` and `?` placeholders with literals; every placeholder must get a value."""
    placeholders = _placeholders(statement)
    if not placeholders:
        if values:
            raise SidecarError(
                ErrorCode.INVALID_PARAMETER,
                f"{len(values)} parameter(s) given but the query has no placeholders",
                hint="reference parameters as $1, $2, ... or remove them from the request",
            )
        return statement
    sequential = 0
    for node in placeholders:
        if isinstance(node, exp.Parameter):
            index = _index(node)
        else:
            sequential += 1
            index = sequential
        if not 1 <= index <= len(values):
            raise SidecarError(
                ErrorCode.INVALID_PARAMETER,
                f"parameter ${index} has no value: {len(values)} parameter(s) given",
                hint="pass one value per placeholder, in order",
            )
        bound = parameter(values[index - 1], index)
        bound.meta[SLOT] = index
        node.replace(bound)
    return statement


def parameter_count(statement: exp.Expression) -> int:
    """How many values `bind` needs: the highest `$n`, or one per `?`."""
    sequential = highest = 0
    for node in _placeholders(statement):
        if isinstance(node, exp.Parameter):
            highest = max(highest, _index(node))
        else:
            sequential += 1
    return max(highest, sequential)


def _placeholders(statement: exp.Expression) -> list[exp.Expression]:
    """Every placeholder, the `?`s in the order they are written: the parser (policies.guard)
    records each one's offset, since no walk of sqlglot's tree is in text order."""
    found = [
        node
        for node in statement.find_all(exp.Parameter, exp.Placeholder)
        if not isinstance(node.parent, exp.Parameter)
    ]
    return sorted(found, key=lambda node: node.meta.get("start", -1))


def _index(node: exp.Parameter) -> int:
    try:
        return int(node.this.name)
    except (TypeError, ValueError):
        raise SidecarError(
            ErrorCode.INVALID_PARAMETER,
            f"unsupported placeholder {node.sql()}",
            hint="use positional placeholders $1, $2, ...",
        ) from None


def parameter(value: Any, index: int) -> exp.Expression:
    """The literal of parameter `index`, whose errors name it."""
    try:
        _check_depth(value)
        return literal(value)
    except SidecarError as error:
        raise SidecarError(
            error.code, f"parameter ${index}: {error.message}", hint=error.hint
        ) from None


def literal(value: Any) -> exp.Expression:
    """A SQL literal with the value's type, so comparisons behave as the caller meant."""
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int):
        return exp.Literal.number(value) if -(1 << 63) <= value < 1 << 63 else _numeric(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return exp.Literal.number(repr(value))
        return exp.cast(exp.Literal.string(str(value)), "double")
    if isinstance(value, Decimal):
        return exp.cast(exp.Literal.string(str(value)), "numeric")
    if isinstance(value, str):
        return exp.Literal.string(value)
    if isinstance(value, bytes):
        return exp.func("decode", exp.Literal.string(value.hex()), exp.Literal.string("hex"))
    if isinstance(value, dt.datetime):
        kind = "timestamptz" if value.tzinfo else "timestamp"
        return exp.cast(exp.Literal.string(value.isoformat(sep=" ")), kind)
    if isinstance(value, dt.date):
        return exp.cast(exp.Literal.string(value.isoformat()), "date")
    if isinstance(value, dt.time) and value.tzinfo is None:
        return exp.cast(exp.Literal.string(value.isoformat()), "time")
    if isinstance(value, dt.timedelta):
        micros = value.seconds * 1_000_000 + value.microseconds
        return _interval(0, value.days, micros * 1000)
    if isinstance(value, pa.MonthDayNano):  # a tuple, but no list: an Arrow interval
        return _interval(value.months, value.days, value.nanoseconds)
    if isinstance(value, list | tuple):
        return exp.Array(expressions=[literal(item) for item in value])
    raise SidecarError(
        ErrorCode.INVALID_PARAMETER,
        f"unsupported parameter type {type(value).__name__}",
        hint="parameters may be null, booleans, numbers, strings, bytes, dates, times, "
        "timestamps, intervals or lists",
    )


def _interval(months: int, days: int, nanoseconds: int) -> exp.Expression:
    """An interval in the words DataFusion reads whatever the signs (PostgreSQL's
    '1 day 00:00:05' it does not)."""
    text = f"{months} months {days} days {nanoseconds} nanoseconds"
    return exp.cast(exp.Literal.string(text), "interval")


def _check_depth(value: Any) -> None:
    """Refuse lists nested past LIST_DEPTH, measured without recursion."""
    level: list[Any] = [value]
    depth = 0
    while level := [item for items in level if isinstance(items, list | tuple) for item in items]:
        depth += 1
        if depth > LIST_DEPTH:
            raise SidecarError(
                ErrorCode.INVALID_PARAMETER,
                f"lists are nested more than {LIST_DEPTH} levels deep",
                hint="pass flatter values: a list of lists as rows, or nested data as a JSON "
                "string",
            )


def _numeric(value: int) -> exp.Expression:
    """An integer past BIGINT as an exact NUMERIC: written as a number, the planner would read
    it as a float (or an unsigned BIGINT) and round it. One type for every such value, so
    they share a plan (sidecar.engine.plans)."""
    digits = len(str(abs(value)))
    if digits > NUMERIC_DIGITS:
        raise SidecarError(
            ErrorCode.INVALID_PARAMETER,
            f"the integer has {digits} digits, more than the {NUMERIC_DIGITS} a NUMERIC holds",
            hint=f"pass integers of at most {NUMERIC_DIGITS} digits, or the value as a string "
            "and compare it as text",
        )
    return exp.cast(exp.Literal.string(str(value)), f"decimal({NUMERIC_DIGITS}, 0)")
