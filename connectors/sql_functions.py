"""Functions and operators of a whole query, written so that its SQL source computes exactly
what the engine would.

A whole query sent to a source is answered by the source's own functions, and SQL engines
disagree quietly: MySQL's HEX is upper case where to_hex is lower; `/` of two integers is
exact division in MySQL, Snowflake and DuckDB but truncates in PostgreSQL and the engine;
a cast of 2.5 to an integer rounds in each its own way (the engine as PostgreSQL); ROUND of
a DOUBLE to an integer rounds half to even in MySQL, PostgreSQL and the engine, away from zero
in DuckDB and Snowflake (and the engine's to digits); MySQL's GREATEST/LEAST and Snowflake's
CONCAT_WS answer NULL where the engine skips the NULL. Each is written in the source's exact
form where it has one, else `Untranslatable` keeps the query with the engine: pushing a query
may make it faster, never different. tests/integration/test_pushed_functions.py checks each
rule against the engine's own answer on every source.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import pyarrow as pa
from sqlglot import exp

from connectors.predicates import Untranslatable

Kind = Literal["integer", "float", "decimal", "other"]
Type = exp.DataType.Type
FLOAT_TYPES = {Type.FLOAT, Type.DOUBLE, Type.UDOUBLE}
DECIMAL_TYPES = exp.DataType.REAL_TYPES - FLOAT_TYPES
COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)
# Sources whose ROUND of a floating-point value rounds half to even (rint), not away from zero.
ROUNDS_FLOATS_TO_EVEN = {"mysql", "postgres"}
# Sources whose GREATEST/LEAST answer NULL when an argument is NULL (sqlglot writes
# Snowflake's as GREATEST_IGNORE_NULLS, which skips them as the engine does).
GREATEST_OF_NULL_IS_NULL = {"mysql"}


def source_form(
    statement: exp.Expression, dialect: str, types: Mapping[str, pa.DataType | None]
) -> exp.Expression:
    """`statement` with each function the source would compute differently rewritten to its
    exact form (in place); raises Untranslatable when a function has none. `types` holds the
    Arrow type of each column name of the query's tables (None where names clash)."""
    for node in list(statement.walk()):
        if isinstance(node, exp.LowerHex):
            _lower_hex(node, dialect, types)
        elif isinstance(node, exp.Div):
            _division(node, dialect, types)
        elif isinstance(node, exp.Mod) and _kind(node, types) == "float":
            _nonzero_divisor(node, dialect)
        elif isinstance(node, exp.Cast | exp.TryCast) and node.to.is_type(
            *exp.DataType.INTEGER_TYPES
        ):
            if _kind(node.this, types) not in ("integer", "other"):
                raise Untranslatable(f"{dialect} rounds a cast to an integer its own way")
        elif (
            isinstance(node, exp.Cast)
            and node.to.is_type(Type.TEXT, Type.VARCHAR)
            and _kind(node.this, types) in ("float", None)
            and dialect != "postgres"
        ):
            # the engine writes a double as PostgreSQL does (4, 1e-05), DuckDB 4.0 and 1e-5
            # (an operand of a type not told here may be one)
            raise Untranslatable(f"{dialect} writes a double as text another way")
        elif isinstance(node, exp.Round) and _kind(node.this, types) not in ("integer", "decimal"):
            # the engine rounds a double to an integer half to even (as PostgreSQL), to digits
            # half away from zero
            to_even = node.args.get("decimals") is None
            if (dialect in ROUNDS_FLOATS_TO_EVEN) != to_even:
                raise Untranslatable(f"{dialect} rounds a floating-point value another way")
        elif isinstance(node, COMPARISONS) and dialect == "duckdb" and _moves(node, types):
            # `id * 4611686018427387904 > 0` is `id > 0` there (its MoveConstantsRule), true
            # where the product overflows and the engine fails with 22003
            raise Untranslatable("duckdb moves a constant across an integer comparison")
        elif (
            isinstance(node, exp.Avg)
            and dialect == "duckdb"
            and _kind(node.this, types) == "decimal"
        ):
            # DuckDB averages a DECIMAL as a DOUBLE: 30 digits came back with 16
            raise Untranslatable("duckdb averages a decimal as a double")
        elif isinstance(node, exp.Greatest | exp.Least) and dialect in GREATEST_OF_NULL_IS_NULL:
            raise Untranslatable(f"{dialect}'s {node.key} of a NULL is NULL")
        elif isinstance(node, exp.ConcatWs) and dialect == "snowflake":
            raise Untranslatable("snowflake's CONCAT_WS of a NULL is NULL")
    return statement


def _lower_hex(node: exp.LowerHex, dialect: str, types: Mapping[str, pa.DataType | None]) -> None:
    if _kind(node.this, types) != "integer" or dialect not in ("postgres", "mysql", "duckdb"):
        raise Untranslatable(f"to_hex has no exact {dialect} form here")
    if dialect == "postgres":  # sqlglot writes LOWER(HEX(..)), which PostgreSQL does not have;
        # the engine writes a negative integer's 64 bits, PostgreSQL an INT's 32
        wide = exp.cast(node.this, exp.DataType.build("BIGINT"))
        node.replace(exp.Anonymous(this="TO_HEX", expressions=[wide]))


def _division(node: exp.Div, dialect: str, types: Mapping[str, pa.DataType | None]) -> None:
    left, right = _kind(node.left, types), _kind(node.right, types)
    if "float" in (left, right):
        _nonzero_divisor(node, dialect)  # double precision everywhere
        return
    if dialect == "postgres":
        return  # divides as the engine does: integers truncate, numerics are exact
    if (left, right) == ("integer", "integer") and dialect in ("mysql", "duckdb"):
        node.replace(exp.IntDiv(this=node.left, expression=node.right))  # DIV and // truncate
        return
    raise Untranslatable(f"{dialect} divides these operands with another result type")


def _moves(node: exp.Expression, types: Mapping[str, pa.DataType | None]) -> bool:
    """Whether a comparison is of a constant with integer `+`, `-` or `*` of a constant."""
    for this, other in ((node.this, node.expression), (node.expression, node.this)):
        arithmetic = this.unnest()
        if (
            _constant(other)
            and isinstance(arithmetic, exp.Add | exp.Sub | exp.Mul)
            and (_constant(arithmetic.left) or _constant(arithmetic.right))
            and _kind(arithmetic, types) == "integer"
        ):
            return True
    return False


def _constant(node: exp.Expression) -> bool:
    return not any(isinstance(part, exp.Column | exp.Query | exp.Func) for part in node.walk())


def _nonzero_divisor(node: exp.Div | exp.Mod, dialect: str) -> None:
    """A floating-point division or modulo by zero fails in the engine (as in PostgreSQL and
    Snowflake) and is Infinity or NaN in DuckDB: there its divisor fails on a zero too."""
    divisor = node.expression
    if dialect != "duckdb" or (divisor.is_number and divisor.to_py() != 0):
        return
    fail = exp.Anonymous(this="error", expressions=[exp.Literal.string("division by zero")])
    zero = exp.EQ(this=divisor.copy(), expression=exp.Literal.number(0))
    guarded = exp.case().when(zero, fail)
    divisor.replace(guarded)
    guarded.set("default", divisor)  # the divisor itself, still walked by source_form


def _kind(node: exp.Expression, types: Mapping[str, pa.DataType | None]) -> Kind | None:
    """What a numeric expression is, where it can be told without the engine; None otherwise."""
    if isinstance(node, exp.Paren | exp.Neg):
        return _kind(node.this, types)
    if isinstance(node, exp.Literal):
        if node.is_string:
            return "other"
        return "integer" if node.is_int else "decimal"
    if isinstance(node, exp.Column):
        found = types.get(node.name.lower())
        return _arrow_kind(found) if found is not None else None
    if isinstance(node, exp.Cast):
        if node.to.is_type(*exp.DataType.INTEGER_TYPES):
            return "integer"
        if node.to.is_type(*FLOAT_TYPES):
            return "float"
        return "decimal" if node.to.is_type(*DECIMAL_TYPES) else None
    if isinstance(node, exp.Add | exp.Sub | exp.Mul | exp.Mod):
        kinds = {_kind(node.left, types), _kind(node.right, types)}
        for kind in (None, "other", "float", "decimal"):
            if kind in kinds:
                return kind  # type: ignore[return-value]
        return "integer"
    return None


def _arrow_kind(data_type: pa.DataType) -> Kind:
    if pa.types.is_integer(data_type):
        return "integer"
    if pa.types.is_floating(data_type):
        return "float"
    return "decimal" if pa.types.is_decimal(data_type) else "other"
