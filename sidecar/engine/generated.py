"""How large a value a function call will generate, when its arguments say so.

`repeat('x', 1000000000)` is 31 bytes of SQL and a gigabyte of memory, allocated by DataFusion
outside its memory pool (the pool tracks operators, not the values a function returns). The
functions that build a value much larger than their arguments are few; where the size comes
from constants in the statement, it is computed here so the bounds can refuse the call before
it runs. Table functions (`FROM generate_series(...)`) stream their rows and are not values.
"""

from __future__ import annotations

import math

from sqlglot import exp

ELEMENT_BYTES = 8  # an estimate of one array element
_COUNTED_ARRAYS = {"array_repeat": 1, "list_repeat": 1, "array_resize": 1}
_RANGES = frozenset({"range", "generate_series"})
_TABLE_CONTEXTS = (exp.Table, exp.From, exp.Join, exp.Lateral)


def generated_bytes(node: exp.Expression) -> float | None:
    """The bytes `node` generates, if it is a generating call with constant sizes."""
    if isinstance(node, exp.Repeat):
        times = constant(node.args.get("times"))
        this = node.this
        width = len(this.this) if isinstance(this, exp.Literal) and this.is_string else 1
        return None if times is None else max(times, 0) * max(width, 1)
    if isinstance(node, exp.Pad):
        return constant(node.args.get("expression"))
    name = _name(node)
    if name in _COUNTED_ARRAYS:
        count = constant(node.expressions[_COUNTED_ARRAYS[name]]) if node.expressions else None
        return None if count is None else max(count, 0) * ELEMENT_BYTES
    if name in _RANGES and not isinstance(node.parent, _TABLE_CONTEXTS):
        return _range_bytes(node)
    return None


def constant(node: exp.Expression | None) -> float | None:
    """The value of a constant numeric expression (literals, arithmetic, casts), else None."""
    if node is None:
        return None
    if isinstance(node, exp.Literal) and not node.is_string:
        try:
            return float(node.this)
        except ValueError:
            return None
    if isinstance(node, exp.Paren | exp.Cast):
        return constant(node.this)
    if isinstance(node, exp.Neg):
        value = constant(node.this)
        return None if value is None else -value
    if isinstance(node, exp.Add | exp.Sub | exp.Mul | exp.Div | exp.Pow):
        left, right = constant(node.this), constant(node.expression)
        if left is None or right is None:
            return None
        return _arithmetic(node, left, right)
    return None


def _arithmetic(node: exp.Expression, left: float, right: float) -> float | None:
    try:
        if isinstance(node, exp.Add):
            return left + right
        if isinstance(node, exp.Sub):
            return left - right
        if isinstance(node, exp.Mul):
            return left * right
        if isinstance(node, exp.Div):
            return left / right
        return math.pow(left, right)
    except (ZeroDivisionError, OverflowError, ValueError):
        return math.inf


def _range_bytes(node: exp.Expression) -> float | None:
    if isinstance(node, exp.GenerateSeries | exp.ExplodingGenerateSeries):
        bounds = [node.args.get("start"), node.args.get("end"), node.args.get("step")]
    else:
        bounds = list(node.expressions) + [None] * (3 - len(node.expressions))
    values = [constant(bound) for bound in bounds[:2]]
    if len(bounds) < 2 or values[0] is None or values[1] is None:
        return None
    step = constant(bounds[2]) if bounds[2] is not None else 1.0
    if not step:
        return None
    return max((values[1] - values[0]) / step, 0) * ELEMENT_BYTES


def _name(node: exp.Expression) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.this).lower()
    if isinstance(node, exp.GenerateSeries | exp.ExplodingGenerateSeries):
        return "generate_series"
    return ""
