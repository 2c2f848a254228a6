"""Operations PostgreSQL reads by their operand's type, marked for DataFusion's text.

- `timestamptz AT TIME ZONE 'America/New_York'` is the wall-clock time there, a timestamp
  without a zone (`2024-01-01 07:00:00` for noon UTC); DataFusion only relabels the instant
  with the zone, so every client received noon UTC again. A timestamp without a zone is read
  alike by both (its wall time in that zone, as an instant).
- A cast of a fraction to an integer rounds in PostgreSQL (`CAST(5.7 AS INT)` is 6; a double
  halfway goes to the even neighbour, `2.5` to 2, a NUMERIC away from zero, to 3); DataFusion
  truncates (5). `round()` of a double is half to even there too (`round(2.5::float8)` is
  2), half away from zero in DataFusion.

- Integer `+`, `-`, `*`, unary `-` and SUM of a BIGINT fail on overflow in PostgreSQL (22003
  `bigint out of range`); DataFusion wraps around (`checked`).
- A double or a timestamp cast to text is PostgreSQL's text (`4`, `1e-05`, `2024-01-01
  12:00:00+00`), Arrow's `4.0`, `0.00001`, `2024-01-01T12:00:00Z` (`pg_text`).
- `date + interval` (and `-`) is a timestamp in PostgreSQL (`date '2024-01-01' + interval
  '2 hours'` is 02:00 that day); DataFusion's is a date, the hours dropped.
- A division or modulo by zero fails in PostgreSQL whatever the type (22012 `division by
  zero`); DataFusion's of a double is Infinity (NaN), so its divisor is checked (`checked`).

The planner, knowing the scans' schemas (`operands`), marks each such operation whose operand
it can type (`mark`), and `dialect` writes the marked ones as PostgreSQL reads them. An operand
it cannot type (a subquery's column) keeps DataFusion's reading.
"""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa
from sqlglot import exp

from sidecar.engine import checked, pg_text
from sidecar.engine.dialect import (
    AS_TEXT,
    CHECKED,
    CHECKED_OPERATIONS,
    LOCAL_TIME,
    NONZERO,
    ROUNDED,
    STAMPED,
)
from sidecar.engine.operands import Kind, Operands, is_interval


def mark(statement: exp.Expression, tables: Iterable[tuple[str, pa.Schema]]) -> None:
    """Mark the operations of `statement` whose reading depends on an operand's type;
    `tables` are the (alias, schema) of the tables it reads."""
    operands = Operands(tables)
    _concatenated_as_text(statement, operands)
    kinds = (exp.AtTimeZone, exp.Cast, exp.Round, exp.Div, exp.Mod, *CHECKED_OPERATIONS)
    for node in statement.find_all(*kinds):
        if isinstance(node, exp.Add | exp.Sub) and (side := _date_side(node, operands)):
            node.meta[STAMPED] = side
        elif isinstance(node, CHECKED_OPERATIONS):
            _check(node, operands)
        elif isinstance(node, exp.Div | exp.Mod):
            bits = operands.float_bits(node)
            if bits is not None and not _nonzero_number(node.expression):
                node.meta[NONZERO] = bits
        elif isinstance(node, exp.AtTimeZone):
            if operands.kind(node.this) is Kind.ZONED:
                node.meta[LOCAL_TIME] = True
        elif isinstance(node, exp.Round):
            if node.args.get("decimals") is None and operands.kind(node.this) is Kind.FLOAT:
                node.meta[ROUNDED] = Kind.FLOAT.value
        elif type(node) is exp.Cast and _is_text(node.to):
            # a number literal is a NUMERIC in PostgreSQL, its text the digits as written
            if operands.float_bits(node.this) == 64 and not node.this.unnest().is_number:
                node.meta[AS_TEXT] = pg_text.FLOAT
            elif operands.kind(node.this) in TIMESTAMPS:
                node.meta[AS_TEXT] = TIMESTAMPS[operands.kind(node.this)]
        elif type(node) is exp.Cast and node.to.is_type(*exp.DataType.INTEGER_TYPES):
            kind = operands.kind(node.this)
            if kind in (Kind.FLOAT, Kind.DECIMAL):
                node.meta[ROUNDED] = kind.value


def _concatenated_as_text(statement: exp.Expression, operands: Operands) -> None:
    """A double or a timestamp concatenated to text (`||`, concat) as the explicit cast to
    text PostgreSQL reads it as, which `mark` then marks: `'x' || price` was 'x4.0'."""
    for node in list(statement.find_all(exp.DPipe, exp.Concat, exp.ConcatWs)):
        parts = [node.this, node.expression] if isinstance(node, exp.DPipe) else node.expressions
        for part in parts:
            numeric = operands.float_bits(part) == 64 and not part.unnest().is_number
            if numeric or operands.kind(part) in TIMESTAMPS:
                part.replace(exp.cast(part.copy(), exp.DataType.Type.TEXT))


TIMESTAMPS = {
    Kind.NAIVE: pg_text.TIMESTAMP,
    Kind.ZONED: pg_text.ZONED_TIMESTAMP,
    Kind.TIME: pg_text.TIME,
}


def _is_text(to: exp.DataType) -> bool:
    """TEXT, or VARCHAR of no length."""
    return to.is_type(exp.DataType.Type.TEXT, exp.DataType.Type.VARCHAR) and not to.expressions


def _date_side(node: exp.Add | exp.Sub, operands: Operands) -> str | None:
    """The operand ("this" or "expression") of `date ± interval` that is the date."""
    for side, other in (("this", "expression"), ("expression", "this")):
        if is_interval(node.args[other]) and operands.kind(node.args[side]) is Kind.DATE:
            return side
    return None


def _nonzero_number(node: exp.Expression) -> bool:
    """Whether `node` is a number literal other than zero (a divisor that needs no check)."""
    return node.is_number and node.to_py() != 0


def _check(node: exp.Expression, operands: Operands) -> None:
    """Mark integer arithmetic with its width, and a SUM of BIGINTs, to be checked for
    overflow; not a SUM of DISTINCT values or one under FILTER or OVER, whose parts could not
    be summed apart."""
    if isinstance(node, exp.Sum):
        argument = node.this
        if isinstance(node.parent, exp.Filter | exp.Window) or isinstance(argument, exp.Distinct):
            return
        if operands.bits(argument) == 64:
            node.meta[CHECKED] = 64
        return
    bits = operands.bits(node)
    if bits is not None:
        node.meta[CHECKED] = bits


def opaque(statement: exp.Expression) -> exp.Expression:
    """`statement` (a copy the planner reads pushdown from) with each checked integer `+`
    and `-` that a comparison reads written as its checked function: sqlglot's simplification
    moves a constant across it (`0 < 9223372036854775801 + id` became `id >
    -9223372036854775801`), a filter true where the sum overflows; a function stays with the
    engine, which fails on it as PostgreSQL does."""
    for node in list(statement.find_all(exp.Add, exp.Sub)):
        bits = node.meta.get(CHECKED) if node._meta else None
        if bits is not None and isinstance(node.parent, exp.Predicate):
            operation = "add" if isinstance(node, exp.Add) else "subtract"
            operands = [node.this, node.expression]
            node.replace(exp.Anonymous(this=checked.name(operation, bits), expressions=operands))
    return statement
