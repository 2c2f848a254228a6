"""Result column names as PostgreSQL gives them: `count(*)` is "count", `1::int` is "int4".

DataFusion and DuckDB name an unaliased expression after its text ("count(*)", "count_star()");
drivers, pandas and BI tools key on names, so the wire server renames columns the way
PostgreSQL's FigureColname does. Statements with `*` keep the engine's names: those are the
columns' own names already.
"""

from __future__ import annotations

import re

from sqlglot import exp

from sidecar.servers.pgwire import types

UNKNOWN = "?column?"
FUNCTION_CALL = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\(")
KEYWORD_NAMES: dict[type[exp.Expression], str] = {
    exp.Case: "case",
    exp.Coalesce: "coalesce",
    exp.Nullif: "nullif",
    exp.Greatest: "greatest",
    exp.Least: "least",
    exp.Exists: "exists",
    exp.Array: "array",
    exp.CurrentDate: "current_date",
    exp.CurrentTimestamp: "current_timestamp",
    exp.CurrentTime: "current_time",
    exp.Interval: "interval",
    exp.Boolean: "bool",
}


def output_names(statement: exp.Expression) -> list[str] | None:
    """One name per output column, or None when the engine's names should stand."""
    select = statement
    while isinstance(select, exp.SetOperation | exp.Subquery):
        select = select.this
    if not isinstance(select, exp.Select):
        return None
    names = []
    for projection in select.expressions:
        if isinstance(projection, exp.Star) or (
            isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star)
        ):
            return None
        names.append(_name(projection)[0])
    return names


def _name(node: exp.Expression) -> tuple[str, int]:
    """The name and how strongly it was chosen (2: a real name, 1: a fallback, 0: none)."""
    if isinstance(node, exp.Alias):
        return _identifier(node.args["alias"]), 2
    if isinstance(node, exp.Column):
        return _identifier(node.this), 2
    if isinstance(node, exp.Paren):
        return _name(node.this)
    if isinstance(node, exp.Window):
        return _name(node.this)
    if isinstance(node, exp.Cast):
        name, strength = _name(node.this)
        if strength >= 2:
            return name, strength
        return _type_name(node.to), 1
    for kind, name in KEYWORD_NAMES.items():
        if isinstance(node, kind):
            return name, 1 if kind is exp.Case else 2
    if isinstance(node, exp.Dot) and isinstance(node.expression, exp.Func):
        return _name(node.expression)
    if isinstance(node, exp.Anonymous):
        return node.name.lower(), 2
    if isinstance(node, exp.Func) and not isinstance(node, exp.Binary | exp.Unary):
        called = FUNCTION_CALL.match(node.sql(dialect="postgres"))
        return (called.group(1) if called else node.sql_name()).lower(), 2
    if isinstance(node, exp.Subquery):
        inner = output_names(node.this)
        return (inner[0], 2) if inner else (UNKNOWN, 0)
    return UNKNOWN, 0


def _identifier(identifier: exp.Expression) -> str:
    if isinstance(identifier, exp.Identifier) and identifier.quoted:
        return identifier.name
    return identifier.name.lower()


def _type_name(data_type: exp.DataType) -> str:
    found = types.SQL_TYPES.get(data_type.this) if isinstance(data_type, exp.DataType) else None
    return found.name if found else data_type.sql(dialect="postgres").lower()
